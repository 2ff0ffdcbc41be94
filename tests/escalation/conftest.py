"""Fixtures shared by the escalation tests."""

from collections.abc import Iterator
from typing import Any

import pytest
from flask import Flask

from tests.factories import make_district, make_partner, make_registration, make_user


@pytest.fixture()
def world(ctx: Flask) -> Iterator[dict[str, Any]]:
    """Two districts in one region, a partner with two users, MCS and reviewers."""
    make_district("northeast", "east")
    make_district("midatlantic", "east")
    make_district("pacific", "west", timezone="America/Los_Angeles")
    partner = make_partner("Fabrikam Partners", points=60)
    p_user = make_user("partner", partner_id=partner.id)
    p_user2 = make_user("partner", partner_id=partner.id)
    mcs = make_user("mcs", email="seller@mcs.test")
    reg = make_registration(p_user, customer_name="Contoso", district="northeast")
    yield {
        "partner": partner,
        "p_user": p_user,
        "p_user2": p_user2,
        "mcs": mcs,
        "reg": reg,
    }
