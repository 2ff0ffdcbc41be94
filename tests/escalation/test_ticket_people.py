"""Everyone a ticket's opening involves, in one statement: reviewers, Gold coordinator, parties."""

import re
from typing import Any

import sqlalchemy as sa
from flask import current_app

from escalation.ticket_people import TicketPeople, read_ticket_people
from models import User, utcnow
from models.db import db
from tests.conflict.test_registrations_api import statements
from tests.escalation.test_service import open_for, reviewer
from tests.factories import make_partner, make_registration, make_ticket, make_user


def read(**kw: Any) -> TicketPeople:
    """Read with the defaults of a partner's conflict ticket."""
    args: dict[str, Any] = {
        "partner_ids": (),
        "mcs_owner_email": None,
        "submitter_ids": (),
        "with_reviewers": True,
    }
    return read_ticket_people(db.session, **(args | kw))


def test_the_active_reviewers_are_read_and_inactive_ones_left_out(
    world: dict[str, Any],
) -> None:
    district, regional = reviewer(), reviewer(level=2, districts=(), region="east")
    reviewer(is_active=False)
    with statements(current_app) as seen:
        people = read()
    assert len(seen) == 1
    assert people.reviewers == [district, regional]
    assert read(with_reviewers=False).reviewers == []


def test_the_least_loaded_reviewer_of_the_district_takes_a_new_ticket(
    world: dict[str, Any],
) -> None:
    busy, free = reviewer(), reviewer()
    reviewer(districts=("pacific",))  # elsewhere, and idle: never the owner here
    make_ticket(world["reg"], owner_id=free.id, rule="A")
    make_ticket(world["reg"], owner_id=busy.id, rule="B")
    make_ticket(world["reg"], owner_id=busy.id, rule="C", status="in_review")
    make_ticket(
        world["reg"],
        owner_id=free.id,
        rule="D",
        status="decided",
        resolution="partner_leads",
        rationale="The partner was there first.",
        decided_at=utcnow(),
    )
    assert open_for(world["reg"]).owner_id == free.id


def test_the_first_gold_party_names_the_coordinator(world: dict[str, Any]) -> None:
    first, second = reviewer(), reviewer()
    silver = make_partner("Silver Co", points=60, technical_coordinator_id=first.id)
    gold_a = make_partner("Gold A", points=130, technical_coordinator_id=second.id)
    gold_b = make_partner("Gold B", points=200, technical_coordinator_id=first.id)
    assert read(partner_ids=(silver.id, gold_a.id)).coordinator_id == second.id
    assert read(partner_ids=(gold_b.id, gold_a.id)).coordinator_id == first.id
    assert read(partner_ids=(silver.id, None)).coordinator_id is None
    # Without reviewers to route to, nobody is read for routing.
    assert read(partner_ids=(gold_a.id,), with_reviewers=False).coordinator_id is None


def test_the_party_is_the_active_partner_users_then_the_owner_then_mcs_submitters(
    world: dict[str, Any],
) -> None:
    other = make_partner("Other Co")
    o_user = make_user("partner", partner_id=other.id)
    make_user("partner", partner_id=other.id, is_active=False)
    owner = make_user("mcs", email="owner@mcs.test")
    people = read(
        partner_ids=(world["partner"].id, other.id),
        mcs_owner_email=" Owner@MCS.test ",
        submitter_ids=(world["mcs"].id,),
        with_reviewers=False,
    )
    assert people.reviewers == []
    assert people.party == [world["p_user"], world["p_user2"], o_user, owner, world["mcs"]]
    # An owner address nobody signs in with stays a bare address.
    nobody = read(mcs_owner_email="nobody@mcs.test", with_reviewers=False)
    assert nobody.party == ["nobody@mcs.test"]


def test_nothing_to_read_runs_no_statement(world: dict[str, Any]) -> None:
    with statements(current_app) as seen:
        people = read(with_reviewers=False)
    assert seen == [] and people == TicketPeople([], None, [])


def test_an_opened_ticket_tells_every_party_and_routes_in_one_read(world: dict[str, Any]) -> None:
    level1 = reviewer()
    mcs_reg = make_registration(world["mcs"], customer_name="Contoso", district="northeast")
    with statements(current_app) as seen:
        ticket = open_for(world["reg"], "MCS_OVERLAP", other_registration_id=mcs_reg.id)
    user_reads = [s for s in seen if s.lstrip().upper().startswith("SELECT")]
    assert ticket.owner_id == level1.id
    from_user = [s for s in user_reads if re.search(r'\bFROM "?user"?\s', s)]
    assert len(from_user) == 1, "\n".join(user_reads)
    db.session.flush()
    recipients = db.session.execute(
        sa.text("SELECT recipient FROM outbox_message WHERE event = 'ticket.opened'")
    ).scalars()
    expected = db.session.execute(
        sa.select(User.email).where(
            User.id.in_([world["p_user"].id, world["p_user2"].id, world["mcs"].id])
        )
    ).scalars()
    assert sorted(recipients) == sorted([*expected, "owner@mcs.test"])
