"""The registration service: decisions persisted with findings, tickets, idempotency, re-checks."""

import json
from datetime import timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa
from flask import Flask

from conflict.registrations import expire_registrations
from conflict.schemas import RegistrationCreate
from conflict.service import (
    SubmissionError,
    check_registration,
    recheck_open_registrations,
    request_extension,
    request_override,
    submit_registration,
    withdraw_registration,
)
from models import (
    AuditEvent,
    ConflictFinding,
    NamedAccountList,
    OutboxMessage,
    Registration,
    Ticket,
    User,
    utcnow,
)
from models.db import db
from tests.factories import make_district, make_list, make_user

ACCOUNTS = [
    {
        "name": "Caterpillar Inc.",
        "domain": "caterpillar.com",
        "district": "northeast",
        "mcs_owner_email": "owner@mcs.example.com",
        "pc_count": 90_000,
    },
    {"name": "General Motors", "domain": "gm.com", "district": "northeast"},
]


def reg_input(**kw: object) -> RegistrationCreate:
    data: dict[str, object] = {"customer_name": "Wayne Enterprises", "workloads": ["exchange"]}
    data.update(kw)
    return RegistrationCreate.model_validate(data)


@pytest.fixture()
def world(ctx: Flask) -> None:
    make_district("northeast", "east")
    make_user("reviewer", districts=["northeast"])
    make_list(ACCOUNTS)
    db.session.commit()


def test_unnamed_customer_is_approved_with_expiry(world: None) -> None:
    user = make_user("partner")
    result = submit_registration(db.session, reg_input(), user=user)
    db.session.commit()
    reg = result.registration
    assert result.created and reg.status == "approved" and result.tickets == []
    assert reg.expires_at is not None
    assert reg.expires_at - reg.submitted_at == timedelta(days=90)
    assert reg.policy_version_id is not None and reg.list_version_id is not None
    mail = db.session.execute(sa.select(OutboxMessage)).scalars().all()
    assert [m.template for m in mail] == ["registration_received"]
    assert db.session.execute(
        sa.select(AuditEvent).where(AuditEvent.action == "registration.submitted")
    ).scalar_one()


def test_named_account_opens_a_ticket_with_evidence(world: None) -> None:
    user = make_user("partner")
    result = submit_registration(
        db.session,
        reg_input(customer_name="Caterpillar", customer_domain="www.caterpillar.com"),
        user=user,
    )
    db.session.commit()
    reg = result.registration
    assert reg.status == "in_conflict"
    finding = db.session.execute(
        sa.select(ConflictFinding).where(ConflictFinding.registration_id == reg.id)
    ).scalar_one()
    assert finding.rule == "NAMED_ACCOUNT" and finding.method == "domain"
    assert finding.account_name == "Caterpillar Inc." and finding.score == 100
    assert finding.list_version_id == reg.list_version_id
    assert len(result.tickets) == 1
    ticket = result.tickets[0]
    assert ticket.rule == "NAMED_ACCOUNT" and ticket.district == "northeast"
    assert finding.ticket_id == ticket.id


def test_idempotency_key_returns_the_first_registration(world: None) -> None:
    user = make_user("partner")
    first = submit_registration(db.session, reg_input(), user=user, idempotency_key="n1")
    db.session.commit()
    again = submit_registration(db.session, reg_input(), user=user, idempotency_key="n1")
    assert not again.created and again.registration.id == first.registration.id
    assert db.session.execute(sa.select(sa.func.count()).select_from(Registration)).scalar() == 1


@pytest.mark.parametrize(
    ("role", "party", "message"),
    [("partner", "mcs", "Partners"), ("mcs", "partner", "MCS"), ("reviewer", None, "Reviewers")],
)
def test_party_must_fit_the_role(world: None, role: str, party: str | None, message: str) -> None:
    user = make_user(role)
    with pytest.raises(SubmissionError, match=message):
        submit_registration(db.session, reg_input(party=party), user=user)


def test_unknown_district_is_refused(world: None) -> None:
    with pytest.raises(SubmissionError) as err:
        submit_registration(db.session, reg_input(district="atlantis"), user=make_user("partner"))
    assert err.value.field == "district"


def test_partner_overlap_and_different_workloads(world: None) -> None:
    a, b, c = make_user("partner"), make_user("partner"), make_user("partner")
    first = submit_registration(db.session, reg_input(workloads=["exchange"]), user=a)
    second = submit_registration(db.session, reg_input(workloads=["exchange", "yammer"]), user=b)
    third = submit_registration(db.session, reg_input(workloads=["sharepoint"]), user=c)
    db.session.commit()
    assert first.registration.status == "approved"
    assert second.registration.status == "in_conflict"
    finding = db.session.execute(
        sa.select(ConflictFinding).where(ConflictFinding.registration_id == second.registration.id)
    ).scalar_one()
    assert finding.rule == "PARTNER_OVERLAP"
    assert finding.other_registration_id == first.registration.id
    assert third.registration.status == "approved"


def test_dry_run_stores_nothing(world: None) -> None:
    decision = check_registration(
        db.session, reg_input(customer_name="Caterpillar Inc"), user=make_user("partner")
    )
    assert decision.rules == ("NAMED_ACCOUNT",)
    db.session.commit()
    assert db.session.execute(sa.select(sa.func.count()).select_from(Registration)).scalar() == 0


def test_withdraw_and_extension_rules(world: None) -> None:
    user = make_user("partner")
    reg = submit_registration(db.session, reg_input(), user=user).registration
    with pytest.raises(SubmissionError):
        withdraw_registration(db.session, reg, user=user, reason="")
    with pytest.raises(SubmissionError):
        withdraw_registration(db.session, reg, user=make_user("partner"), reason="not mine at all")
    old_expiry = reg.expires_at
    request_extension(db.session, reg, user=user, reason="customer board meets in March")
    assert reg.expires_at is not None and old_expiry is not None and reg.expires_at > old_expiry
    with pytest.raises(SubmissionError, match="already"):
        request_extension(db.session, reg, user=user, reason="once more please")
    withdraw_registration(db.session, reg, user=user, reason="customer chose another vendor")
    db.session.commit()
    assert reg.status == "withdrawn" and reg.withdrawn_reason


def test_recheck_opens_and_releases_named_conflicts(world: None) -> None:
    user = make_user("partner")
    plain = submit_registration(db.session, reg_input(customer_name="Wayne Enterprises"), user=user)
    named = submit_registration(
        db.session, reg_input(customer_name="General Motors Co"), user=make_user("partner")
    )
    db.session.commit()
    assert plain.registration.status == "approved"
    assert named.registration.status == "in_conflict"
    old = db.session.execute(
        sa.select(NamedAccountList).where(NamedAccountList.status == "published")
    ).scalar_one()
    old.status = "superseded"
    db.session.flush()
    new_list = make_list([{"name": "Wayne Enterprises Inc", "district": "northeast"}])
    summary = recheck_open_registrations(db.session, list_version=new_list, actor_id=None)
    db.session.commit()
    assert summary.new_conflicts == [plain.registration.id]
    assert summary.released == [named.registration.id]
    assert plain.registration.status == "in_conflict"
    released = db.session.execute(
        sa.select(ConflictFinding).where(ConflictFinding.registration_id == named.registration.id)
    ).scalar_one()
    assert released.active is False and released.released_at is not None
    tickets = (
        db.session.execute(sa.select(Ticket).where(Ticket.registration_id == plain.registration.id))
        .scalars()
        .all()
    )
    assert len(tickets) == 1
    # Re-running the same re-check changes nothing: it is idempotent.
    again = recheck_open_registrations(db.session, list_version=new_list, actor_id=None)
    assert again.new_conflicts == [] and again.released == []


def test_expiry_reminder_then_expiry(world: None) -> None:
    user = make_user("partner")
    reg = submit_registration(db.session, reg_input(), user=user).registration
    db.session.commit()
    assert reg.expires_at is not None
    soon = reg.expires_at - timedelta(days=3)
    assert expire_registrations(db.session, soon) == 1  # the reminder
    assert expire_registrations(db.session, soon) == 0  # once
    assert expire_registrations(db.session, reg.expires_at + timedelta(seconds=1)) == 1
    db.session.commit()
    db.session.refresh(reg)
    assert reg.status == "expired" and reg.reminder_sent_at is not None
    templates = db.session.execute(sa.select(OutboxMessage.template)).scalars().all()
    assert "expiry_reminder" in templates


def test_check_command_prints_the_decision(app: Flask, world: None) -> None:
    runner = app.test_cli_runner()
    result = runner.invoke(args=["check", "--name", "Caterpillar Inc", "--pcs", "5000"])
    assert result.exit_code == 0, result.output
    body = json.loads(result.output)
    assert body["outcome"] == "in_conflict"
    finding = body["findings"][0]
    assert finding["rule"] == "NAMED_ACCOUNT" and finding["account_name"] == "Caterpillar Inc."
    assert {"account_id", "method", "score", "message"} <= set(finding)
    mcs = runner.invoke(args=["check", "--name", "Tiny Shop", "--pcs", "4000", "--party", "mcs"])
    assert json.loads(mcs.output)["findings"][0]["rule"] == "MCS_SIZE_THRESHOLD"


def test_check_file_one_line_per_row_and_bad_lines(app: Flask, world: None, tmp_path: Path) -> None:
    good = tmp_path / "good.csv"
    good.write_text(
        "customer_name,customer_domain,pc_count,workloads,party,partner_id\n"
        "Caterpillar,,5000,exchange,partner,\n"
        "Unknown Gadgets LLC,,300,azure;exchange,partner,\n"
        "Small Shop,,200,dotnet_server,mcs,\n",
        encoding="utf-8",
    )
    runner = app.test_cli_runner()
    result = runner.invoke(args=["check-file", str(good)])
    assert result.exit_code == 0, result.output
    lines = [json.loads(line) for line in result.output.strip().splitlines()]
    assert [row["row"] for row in lines] == [1, 2, 3]
    assert lines[0]["findings"][0]["rule"] == "NAMED_ACCOUNT"
    assert lines[1]["findings"] == []
    assert lines[2]["findings"][0]["rule"] == "MCS_SIZE_THRESHOLD"
    bad = tmp_path / "bad.csv"
    bad.write_text("customer_name,pc_count\nAcme,lots\n,5\n", encoding="utf-8")
    result = runner.invoke(args=["check-file", str(bad)])
    assert result.exit_code == 2
    assert "line 2" in result.output and "line 3" in result.output


def test_check_file_counts_lines_across_quoted_breaks_and_refuses_broken_quoting(
    app: Flask, world: None, tmp_path: Path
) -> None:
    runner = app.test_cli_runner()
    spans = tmp_path / "spans.csv"
    spans.write_text(
        'customer_name,pc_count,workloads\n"Tailspin\nToys",300,\nAcme,lots,\n'
        "Fabrikam,5,exchange,surplus\n",
        encoding="utf-8",
    )
    result = runner.invoke(args=["check-file", str(spans)])
    assert result.exit_code == 2
    # The first record spans lines 2-3, so Acme is on line 4 and Fabrikam on line 5.
    assert "line 2: customer_name: remove the line break" in result.output
    assert "line 4: pc_count" in result.output and "line 3:" not in result.output
    assert "line 5: the row has more cells than the header" in result.output
    assert result.stdout == ""  # a file with errors gets no decisions at all

    broken = tmp_path / "broken.csv"
    broken.write_text(
        'customer_name,pc_count\nContoso,300\n"Woodgrove Bank,200\nNorthwind,100\n',
        encoding="utf-8",
    )
    result = runner.invoke(args=["check-file", str(broken)])
    assert result.exit_code == 2
    assert "line 3: the CSV is broken from here" in result.output
    assert "Northwind" not in result.output


def test_submitted_at_is_now(world: None) -> None:
    before = utcnow()
    reg = submit_registration(db.session, reg_input(), user=make_user("partner")).registration
    assert before <= reg.submitted_at <= utcnow()


def test_no_bid_block_can_ask_for_a_level_three_override(world: None) -> None:
    from escalation.service import decide

    partner = make_user("partner")
    submit_registration(
        db.session,
        reg_input(customer_name="Humongous Insurance", workloads=["dotnet_server"], pc_count=4500),
        user=partner,
    )
    seller = make_user("mcs")
    blocked = submit_registration(
        db.session,
        reg_input(customer_name="Humongous Insurance", workloads=["azure"], pc_count=4500),
        user=seller,
    ).registration
    assert blocked.status == "rejected" and blocked.party == "mcs"
    with pytest.raises(SubmissionError):
        request_override(db.session, blocked, user=seller, reason="short")
    ticket = request_override(
        db.session,
        blocked,
        user=seller,
        reason="The customer asked MCS to architect the .NET move.",
    )
    assert ticket.type == "exception" and ticket.rule == "NO_BID_DOTNET"
    assert blocked.status == "in_exception_review"
    national = make_user("reviewer", level=3, districts=[])
    # Only level 3 may grant it, so it opens there.
    assert ticket.level == 3
    decide(
        db.session,
        ticket,
        actor=national,
        resolution="exception_granted",
        rationale="Strategic .NET migration; partner keeps the middleware work.",
    )
    db.session.commit()
    assert blocked.status == "approved"


def test_partners_never_see_another_partners_registration_in_findings(world: None) -> None:
    from conflict.service import registration_json

    first = submit_registration(
        db.session, reg_input(workloads=["exchange"]), user=make_user("partner")
    )
    viewer = make_user("partner")
    second = submit_registration(db.session, reg_input(workloads=["exchange"]), user=viewer)
    db.session.commit()
    body = registration_json(db.session, second.registration, viewer=viewer)
    finding = body["findings"][0]
    assert finding["rule"] == "PARTNER_OVERLAP"
    assert finding["other_registration_id"] is None
    assert str(first.registration.id) not in str(finding["evidence"])
    assert set(finding["evidence"]) <= {
        "overlapping_workloads",
        "leader_is_this_registration",
        "reason",
        "district",
    }
    staff = registration_json(db.session, second.registration, viewer=make_user("admin"))
    assert staff["findings"][0]["other_registration_id"] == first.registration.id


def test_a_rule_found_twice_opens_one_ticket_that_both_findings_share(world: None) -> None:
    a, b, c = make_user("partner"), make_user("partner"), make_user("partner")
    first = submit_registration(db.session, reg_input(workloads=["exchange"]), user=a)
    second = submit_registration(db.session, reg_input(workloads=["exchange"]), user=b)
    third = submit_registration(db.session, reg_input(workloads=["exchange"]), user=c)
    db.session.commit()
    findings = (
        db.session.execute(
            sa.select(ConflictFinding).where(
                ConflictFinding.registration_id == third.registration.id
            )
        )
        .scalars()
        .all()
    )
    assert {f.rule for f in findings} == {"PARTNER_OVERLAP"}
    assert {f.other_registration_id for f in findings} == {
        first.registration.id,
        second.registration.id,
    }
    (ticket,) = third.tickets
    assert {f.ticket_id for f in findings} == {ticket.id}
    assert (
        db.session.execute(
            sa.select(sa.func.count())
            .select_from(Ticket)
            .where(Ticket.registration_id == third.registration.id)
        ).scalar_one()
        == 1
    )


def test_an_mcs_engagement_over_several_partners_opens_a_ticket_with_each(world: None) -> None:
    from escalation.service import decide

    certified, gold = make_user("partner"), make_user("partner")
    big = {"customer_name": "Qwerty Big Corp", "pc_count": 9_000, "district": "northeast"}
    held = [
        submit_registration(db.session, reg_input(**big, workloads=["sql_server"]), user=certified),
        submit_registration(db.session, reg_input(**big, workloads=["azure"]), user=gold),
        submit_registration(db.session, reg_input(**big, workloads=["exchange"]), user=gold),
    ]
    seller = make_user("mcs")
    mcs = submit_registration(
        db.session, reg_input(**big, workloads=["windows_server"]), user=seller
    )
    db.session.commit()
    assert mcs.registration.status == "in_conflict"
    assert [f.rule for f in mcs.findings] == ["MCS_OVERLAP"] * 3
    # Each partner registration is the other side of a ticket of its own.
    by_other = {t.other_registration_id: t for t in mcs.tickets}
    assert set(by_other) == {h.registration.id for h in held}
    assert {f.ticket_id for f in mcs.findings} == {t.id for t in mcs.tickets}
    for h in held:
        ticket = by_other[h.registration.id]
        assert ticket.rule == "MCS_OVERLAP" and ticket.other_partner_id == h.registration.partner_id
    assert {t.other_partner_id for t in mcs.tickets} == {certified.partner_id, gold.partner_id}

    reviewer = db.session.execute(sa.select(User).where(User.role == "reviewer")).scalar_one()
    first, *rest = (by_other[h.registration.id] for h in held)
    decide(
        db.session,
        first,
        actor=reviewer,
        resolution="mcs_leads",
        rationale="MCS has run this customer's server estate for years.",
    )
    db.session.commit()
    assert held[0].registration.status == "rejected"
    assert [h.registration.status for h in held[1:]] == ["approved", "approved"]
    # The engagement goes ahead only when its last open question is decided.
    assert mcs.registration.status == "in_conflict"
    for ticket, h in zip(rest, held[1:], strict=True):
        decide(
            db.session,
            ticket,
            actor=reviewer,
            resolution="mcs_leads",
            rationale="MCS has run this customer's server estate for years.",
        )
        db.session.commit()
        assert h.registration.status == "rejected"
    assert mcs.registration.status == "approved"


def test_the_mcs_owner_with_an_account_gets_the_conflict_mail_as_they_chose(world: None) -> None:
    owner = make_user("mcs", email="owner@mcs.example.com")
    owner.notify_mode = "digest"
    db.session.commit()
    result = submit_registration(
        db.session,
        reg_input(customer_name="Caterpillar", customer_domain="caterpillar.com"),
        user=make_user("partner"),
    )
    db.session.commit()
    (ticket,) = result.tickets
    to_owner = db.session.execute(
        sa.select(OutboxMessage).where(
            OutboxMessage.recipient == "owner@mcs.example.com",
            OutboxMessage.template == "conflict_opened",
        )
    ).scalar_one()
    assert to_owner.recipient_user_id == owner.id and to_owner.status == "held"
    assert to_owner.context["ticket_id"] == ticket.id
