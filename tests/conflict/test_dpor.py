"""Several partners on one customer: partner of record per workload, seat credits, totals."""

import re
from types import SimpleNamespace

import pytest
import sqlalchemy as sa
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy.exc import IntegrityError

from conflict import dpor
from conflict.schemas import RegistrationCreate
from conflict.service import submit_registration
from models import AuditEvent, DporDesignation, SeatCredit, User
from models.db import db
from tests.factories import csrf_from, login, make_district, make_registration, make_user


@pytest.fixture()
def people(ctx: Flask) -> SimpleNamespace:
    make_district("northeast", "east")
    ns = SimpleNamespace(
        admin=make_user("admin"),
        reviewer=make_user("reviewer"),
        alice=make_user("partner"),
        bob=make_user("partner"),
        carol=make_user("partner"),
    )
    db.session.commit()
    return ns


def active(customer: str, workload: str) -> list[DporDesignation]:
    return list(
        db.session.execute(
            sa.select(DporDesignation).where(
                DporDesignation.customer_key == dpor.customer_key_for(customer),
                DporDesignation.workload == workload,
                DporDesignation.active.is_(True),
            )
        ).scalars()
    )


# The service ----------------------------------------------------------------------------------


def test_customer_key_matches_the_registrations(people: SimpleNamespace) -> None:
    result = submit_registration(
        db.session,
        RegistrationCreate(customer_name="Contoso, Ltd.", workloads=["exchange"]),
        user=people.alice,
    )
    assert result.registration.customer_key == dpor.customer_key_for("CONTOSO LTD")


def test_one_partner_of_record_per_customer_and_workload(people: SimpleNamespace) -> None:
    first = dpor.designate_dpor(
        db.session,
        user=people.admin,
        partner_id=people.alice.partner_id,
        workload="exchange",
        customer_name="Contoso Ltd",
    )
    db.session.commit()
    # Re-designating ends the previous partner's designation.
    second = dpor.designate_dpor(
        db.session,
        user=people.reviewer,
        partner_id=people.bob.partner_id,
        workload="exchange",
        customer_name="Contoso, Ltd.",
    )
    db.session.commit()
    assert [d.id for d in active("Contoso", "exchange")] == [second.id]
    db.session.refresh(first)
    assert first.active is False and first.ended_at is not None
    # Another workload on the same customer has its own partner of record.
    yammer = dpor.designate_dpor(
        db.session,
        user=people.admin,
        partner_id=people.carol.partner_id,
        workload="yammer",
        customer_name="Contoso",
    )
    db.session.commit()
    assert [d.id for d in active("Contoso", "yammer")] == [yammer.id]
    assert [d.id for d in active("Contoso", "exchange")] == [second.id]
    # Designating the current partner again changes nothing.
    again = dpor.designate_dpor(
        db.session,
        user=people.admin,
        partner_id=people.bob.partner_id,
        workload="exchange",
        customer_name="Contoso",
    )
    assert again.id == second.id
    history = dpor.designation_history(db.session, dpor.customer_key_for("Contoso"))
    assert len(history) == 3
    audits = (
        db.session.execute(sa.select(AuditEvent).where(AuditEvent.action == "dpor.designated"))
        .scalars()
        .all()
    )
    assert len(audits) == 3


def test_the_database_refuses_two_active_designations(people: SimpleNamespace) -> None:
    key = dpor.customer_key_for("Contoso")
    for partner in (people.alice, people.bob):
        db.session.add(
            DporDesignation(
                customer_key=key,
                customer_name="Contoso",
                workload="exchange",
                partner_id=partner.partner_id,
            )
        )
    with pytest.raises(IntegrityError):
        db.session.flush()
    db.session.rollback()


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"workload": "teleportation"}, "workload"),
        ({"partner_id": 999_999}, "partner_id"),
        ({"customer_name": " "}, "customer_name"),
    ],
)
def test_designation_input_is_checked(
    people: SimpleNamespace, kwargs: dict[str, object], field: str
) -> None:
    args: dict[str, object] = {
        "partner_id": people.alice.partner_id,
        "workload": "exchange",
        "customer_name": "Contoso",
        **kwargs,
    }
    with pytest.raises(dpor.DporError) as err:
        dpor.designate_dpor(db.session, user=people.admin, **args)  # type: ignore[arg-type]
    assert err.value.field == field


def test_only_staff_designate_and_registration_must_match(people: SimpleNamespace) -> None:
    with pytest.raises(dpor.DporError):
        dpor.designate_dpor(
            db.session,
            user=people.alice,
            partner_id=people.alice.partner_id,
            workload="exchange",
            customer_name="Contoso",
        )
    reg = make_registration(people.alice, customer_name="Contoso", workloads=["exchange"])
    with pytest.raises(dpor.DporError, match="registering partner"):
        dpor.designate_dpor(
            db.session,
            user=people.admin,
            partner_id=people.bob.partner_id,
            workload="exchange",
            registration=reg,
        )
    with pytest.raises(dpor.DporError, match="does not cover"):
        dpor.designate_dpor(
            db.session,
            user=people.admin,
            partner_id=people.alice.partner_id,
            workload="yammer",
            registration=reg,
        )


def test_seat_credits_with_evidence_and_totals(people: SimpleNamespace) -> None:
    def credit(partner: User, workload: str, seats: int, source: str, **kw: object) -> SeatCredit:
        return dpor.record_seat_credit(
            db.session,
            user=people.reviewer,
            partner_id=partner.partner_id,
            customer_name=str(kw.pop("customer", "Contoso")),
            workload=workload,
            seats=seats,
            source=source,
            evidence_ref="CSP-ORDER-1",
            **kw,  # type: ignore[arg-type]
        )

    credit(people.alice, "yammer", 200, "csp")
    credit(people.alice, "skype", 50, "delegated_admin")
    credit(people.alice, "sql_server", 30, "ea_open", customer="Fabrikam")
    credit(people.alice, "azure", 5, "fasttrack", competency="security")
    credit(people.bob, "exchange", 999, "csp")
    db.session.commit()
    summary = dpor.partner_credits(db.session, people.alice.partner_id)
    assert summary.total == 285
    assert summary.by_workload == {"azure": 5, "skype": 50, "sql_server": 30, "yammer": 200}
    assert summary.by_competency == {
        "data_management": 30,
        "information_worker": 250,
        "security": 5,
    }
    assert {c.source for c in summary.credits} == {"csp", "delegated_admin", "ea_open", "fasttrack"}


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"source": "hearsay"}, "source"),
        ({"seats": 0}, "seats"),
        ({"evidence_ref": "  "}, "evidence_ref"),
        ({"competency": "juggling"}, "competency"),
        ({"workload": "teleportation"}, "workload"),
    ],
)
def test_seat_credit_input_is_checked(
    people: SimpleNamespace, kwargs: dict[str, object], field: str
) -> None:
    args: dict[str, object] = {
        "partner_id": people.alice.partner_id,
        "customer_name": "Contoso",
        "workload": "yammer",
        "seats": 10,
        "source": "csp",
        "evidence_ref": "X-1",
        **kwargs,
    }
    with pytest.raises(dpor.DporError) as err:
        dpor.record_seat_credit(db.session, user=people.admin, **args)  # type: ignore[arg-type]
    assert err.value.field == field


# The pages ------------------------------------------------------------------------------------


@pytest.fixture()
def web(app: Flask) -> SimpleNamespace:
    with app.app_context():
        make_district("northeast", "east")
        admin = make_user("admin")
        reviewer = make_user("reviewer")
        mcs = make_user("mcs")
        alice, bob = make_user("partner"), make_user("partner")
        reg = make_registration(
            alice,
            customer_name="Contoso",
            customer_key=dpor.customer_key_for("Contoso"),
            workloads=["exchange", "yammer"],
            district="northeast",
        )
        db.session.commit()
        return SimpleNamespace(
            admin=admin.email,
            reviewer=reviewer.email,
            mcs=mcs.email,
            alice=alice.email,
            alice_partner=alice.partner_id,
            bob=bob.email,
            bob_partner=bob.partner_id,
            reg_id=reg.id,
        )


def test_reviewer_records_dpor_and_seats_from_the_registration_page(
    app: Flask, client: FlaskClient, web: SimpleNamespace
) -> None:
    login(client, web.reviewer)
    url = f"/registrations/{web.reg_id}"
    page = client.get(url).get_data(as_text=True)
    assert "Record the partner of record" in page and "Credit seats" in page
    token = csrf_from(page)
    resp = client.post(
        f"{url}/dpor",
        data={"csrf_token": token, "dpor-workload": "yammer", "dpor-partner_id": web.alice_partner},
    )
    assert resp.status_code == 303 and resp.headers["Location"] == url
    resp = client.post(
        f"{url}/seat-credits",
        data={
            "csrf_token": token,
            "credit-partner_id": web.alice_partner,
            "credit-workload": "exchange",
            "credit-seats": "120",
            "credit-source": "ea_open",
            "credit-evidence_ref": "EA-778",
            "credit-competency": "",
        },
    )
    assert resp.status_code == 303
    bad = client.post(
        f"{url}/dpor",
        data={
            "csrf_token": token,
            "dpor-workload": "dynamics",
            "dpor-partner_id": web.alice_partner,
        },
        follow_redirects=True,
    )
    assert b"Choose one of the options offered" in bad.data
    with app.app_context():
        (designation,) = active("Contoso", "yammer")
        assert (
            designation.partner_id == web.alice_partner
            and designation.registration_id == web.reg_id
        )
        credit = db.session.execute(sa.select(SeatCredit)).scalar_one()
        assert (credit.seats, credit.source, credit.competency) == (
            120,
            "ea_open",
            "information_worker",
        )
    # The partner sees its designation on its registration page and its credits on its page.
    client.post("/logout", data={"csrf_token": token})
    login(client, web.alice)
    mine = client.get(url).get_data(as_text=True)
    assert "Digital Partner of Record" in mine and "Record the partner of record" not in mine
    credits = client.get(f"/partners/{web.alice_partner}/credits").get_data(as_text=True)
    assert "EA-778" in credits and "120" in credits and "Information worker" in credits


def test_customer_page_for_staff_with_several_partners(
    app: Flask, client: FlaskClient, web: SimpleNamespace
) -> None:
    login(client, web.admin)
    page = client.get("/customers?name=Contoso")
    assert page.status_code == 200
    token = csrf_from(page.get_data(as_text=True))
    for partner in (web.alice_partner, web.bob_partner):
        resp = client.post(
            "/customers/dpor",
            data={
                "csrf_token": token,
                "dpor-customer_name": "Contoso",
                "dpor-workload": "sharepoint",
                "dpor-partner_id": partner,
            },
        )
        assert resp.status_code == 303
    resp = client.post(
        "/customers/seat-credits",
        data={
            "csrf_token": token,
            "credit-customer_name": "Contoso",
            "credit-partner_id": web.bob_partner,
            "credit-workload": "skype",
            "credit-seats": "0",
            "credit-source": "csp",
            "credit-evidence_ref": "CSP-1",
        },
    )
    assert resp.status_code == 422 and b"Enter at least one seat." in resp.data
    with app.app_context():
        (current,) = active("Contoso", "sharepoint")
        assert current.partner_id == web.bob_partner
    body = client.get("/customers?name=Contoso").get_data(as_text=True)
    assert body.count(">current<") == 1
    assert re.search(r"SharePoint</td><td>Partner \d+</td>", body)


def test_partner_credit_pages_are_isolated(
    app: Flask, client: FlaskClient, web: SimpleNamespace
) -> None:
    login(client, web.alice)
    assert client.get(f"/partners/{web.alice_partner}/credits").status_code == 200
    assert client.get(f"/partners/{web.bob_partner}/credits").status_code == 404
    assert client.get("/partners/999999/credits").status_code == 404
    assert client.get("/customers?name=Contoso").status_code == 404
    token = csrf_from(client.get("/registrations").get_data(as_text=True))
    data = {"csrf_token": token, "dpor-workload": "exchange", "dpor-partner_id": web.alice_partner}
    assert client.post(f"/registrations/{web.reg_id}/dpor", data=data).status_code == 404
    assert client.post("/customers/dpor", data=data).status_code == 404
    client.post("/logout", data={"csrf_token": token})
    login(client, web.admin)
    assert client.get(f"/partners/{web.bob_partner}/credits").status_code == 200
    client.post(
        "/logout", data={"csrf_token": csrf_from(client.get("/profile").get_data(as_text=True))}
    )
    login(client, web.mcs)
    assert client.get("/customers?name=Contoso").status_code == 403
