"""Named-account list service: validation, import, versions, diff, preview, publish, reviews."""

import csv
import io
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
import sqlalchemy as sa
import time_machine
from flask import Flask

from conflict import index_cache, lists
from conflict.lists import (
    AccountRow,
    ListError,
    ListValidationError,
    diff_rows,
    import_list,
    open_district_reviews,
    open_reviews_for,
    parse_csv,
    preview_version,
    publish,
    sign_off_review,
)
from models import (
    AuditEvent,
    ConflictFinding,
    DistrictReview,
    NamedAccount,
    NamedAccountList,
    OutboxMessage,
    WebhookEndpoint,
    utcnow,
)
from models.db import db
from tests.factories import make_district, make_partner, make_registration, make_user

HEADER = ["account_id", "name", "domain", "aliases", "segment", "district", "pc_count"]
HEADER += ["mcs_owner_email"]

BASE_ROWS: list[dict[str, Any]] = [
    {
        "account_id": "A1",
        "name": "Contoso Ltd",
        "domain": "https://www.contoso.com/about",
        "aliases": "Contoso;Contoso Group",
        "segment": "strategic",
        "district": "northeast",
        "pc_count": "12000",
        "mcs_owner_email": "Owner.One@MCS.example.com",
    },
    {
        "account_id": "A2",
        "name": "Fabrikam Inc",
        "domain": "fabrikam.com",
        "segment": "major",
        "district": "northeast",
        "pc_count": "8,500",
        "mcs_owner_email": "owner.two@mcs.example.com",
    },
    {
        "account_id": "A3",
        "name": "Northwind Traders",
        "domain": "northwindtraders.com",
        "segment": "corporate",
        "district": "great_lakes",
        "pc_count": "4500",
        "mcs_owner_email": "owner.three@mcs.example.com",
    },
]

# Every recheck call made through the publish seam in these tests.
RECHECKS: list[dict[str, Any]] = []


def recording_recheck(sess: Any, *, list_version: Any, actor_id: int | None) -> str:
    """Stand in for conflict.service.recheck_open_registrations and record the call."""
    RECHECKS.append(
        {"list_id": list_version.id, "status": list_version.status, "actor_id": actor_id}
    )
    return "rechecked"


@pytest.fixture(autouse=True)
def fake_recheck(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Route publish's re-check to a recorder (the real one is tested on its own)."""
    RECHECKS.clear()
    monkeypatch.setattr(lists, "RECHECK_TARGET", f"{__name__}:recording_recheck")
    index_cache.clear()
    yield
    index_cache.clear()


def csv_bytes(
    rows: list[dict[str, Any]], header: list[str] | None = None, *, bom: bool = False
) -> bytes:
    """Render rows as CSV bytes (UTF-8, optionally with a byte-order mark)."""
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=header or HEADER, lineterminator="\n")
    writer.writeheader()
    for row in rows:
        writer.writerow({k: row.get(k, "") for k in header or HEADER})
    data = out.getvalue().encode("utf-8")
    return (b"\xef\xbb\xbf" + data) if bom else data


def counts() -> tuple[int, int]:
    """Return the number of list versions and named-account rows."""
    versions = db.session.execute(sa.select(sa.func.count()).select_from(NamedAccountList))
    accounts = db.session.execute(sa.select(sa.func.count()).select_from(NamedAccount))
    return versions.scalar_one(), accounts.scalar_one()


def publish_rows(rows: list[dict[str, Any]], **kw: Any) -> NamedAccountList:
    """Import rows and publish them (effective yesterday unless given)."""
    result = import_list(
        db.session,
        csv_bytes(rows),
        actor_id=None,
        publish_now=True,
        effective_from=kw.pop("effective_from", utcnow().date() - timedelta(days=1)),
        **kw,
    )
    assert result.version is not None
    db.session.commit()
    return result.version


def districts() -> None:
    """Create the two districts the sample rows use."""
    make_district("northeast", "east")
    make_district("great_lakes", "central")


# -- parsing ----------------------------------------------------------------------------------


def test_parse_normalises_fields_and_accepts_bom() -> None:
    parsed = parse_csv(csv_bytes(BASE_ROWS, bom=True))
    first = parsed.rows[0]
    assert first.name == "Contoso Ltd"
    assert first.domain == "contoso.com"
    assert first.aliases == ("Contoso", "Contoso Group")
    assert first.segment == "strategic"
    assert first.mcs_owner_email == "owner.one@mcs.example.com"
    assert parsed.rows[1].pc_count == 8500
    assert parse_csv(csv_bytes(BASE_ROWS)).content_hash == parsed.content_hash


def test_content_hash_ignores_row_order_but_not_content() -> None:
    forward = parse_csv(csv_bytes(BASE_ROWS)).content_hash
    backward = parse_csv(csv_bytes(list(reversed(BASE_ROWS)))).content_hash
    changed = parse_csv(csv_bytes([*BASE_ROWS[:2], BASE_ROWS[2] | {"pc_count": "4501"}]))
    assert forward == backward
    assert changed.content_hash != forward


def test_missing_account_id_is_derived_stably() -> None:
    header = ["name", "domain"]
    one = parse_csv(csv_bytes([{"name": "Contoso, Inc."}], header)).rows[0]
    two = parse_csv(csv_bytes([{"name": "CONTOSO INC"}], header)).rows[0]
    assert one.account_id == two.account_id
    assert one.account_id.startswith("N-")


def test_columns_may_come_in_any_order_with_only_name() -> None:
    parsed = parse_csv(b"Name\nContoso\nFabrikam\n")
    assert [r.name for r in parsed.rows] == ["Contoso", "Fabrikam"]


def test_unknown_district_is_accepted_when_no_districts_are_defined() -> None:
    parsed = parse_csv(csv_bytes([BASE_ROWS[0] | {"district": "atlantis"}]), districts=None)
    assert parsed.rows[0].district == "atlantis"


BAD_FILES: list[tuple[str, bytes, list[tuple[int, str | None, str]]]] = [
    ("empty", b"", [(1, None, "empty")]),
    ("blank lines only", b"\n\r\n  \n", [(1, None, "empty")]),
    ("bom only", b"\xef\xbb\xbf", [(1, None, "empty")]),
    ("no name column", b"account_id,domain\nA1,contoso.com\n", [(1, "name", "no 'name' column")]),
    (
        "header without name, data as header",
        b"Contoso,contoso.com\n",
        [(1, "name", "not a header")],
    ),
    ("header only", b"name,domain\n", [(1, None, "no accounts")]),
    (
        "latin-1",
        "name,domain\nContoso,contoso.com\nSoci\u00e9t\u00e9 G\u00e9n\u00e9rale,sg.fr\n".encode(
            "latin-1"
        ),
        [(3, None, "not valid UTF-8")],
    ),
    ("utf-16", "name\nContoso\n".encode("utf-16"), [(1, None, "UTF-16")]),
    (
        "bad segment",
        csv_bytes([BASE_ROWS[0] | {"segment": "enterprise"}]),
        [(2, "segment", "unknown segment 'enterprise'")],
    ),
    (
        "non-numeric pc count",
        csv_bytes([BASE_ROWS[0] | {"pc_count": "lots"}]),
        [(2, "pc_count", "whole number")],
    ),
    (
        "fractional pc count",
        csv_bytes([BASE_ROWS[0] | {"pc_count": "4000.5"}]),
        [(2, "pc_count", "whole number")],
    ),
    (
        "negative pc count",
        csv_bytes([BASE_ROWS[0] | {"pc_count": "-5"}]),
        [(2, "pc_count", "negative")],
    ),
    (
        "duplicate account_id",
        csv_bytes([BASE_ROWS[0], BASE_ROWS[1] | {"account_id": "A1"}]),
        [(3, "account_id", "duplicate account_id 'A1' (first on line 2)")],
    ),
    (
        "duplicate derived account_id",
        csv_bytes([{"name": "Contoso Ltd"}, {"name": "CONTOSO LIMITED"}], ["name"]),
        [(3, "account_id", "same name as line 2")],
    ),
    (
        "malformed domain",
        csv_bytes([BASE_ROWS[0] | {"domain": "not a domain"}]),
        [(2, "domain", "not a valid web domain")],
    ),
    (
        "free-mail domain",
        csv_bytes([BASE_ROWS[0] | {"domain": "gmail.com"}]),
        [(2, "domain", "generic mail provider")],
    ),
    (
        "malformed e-mail",
        csv_bytes([BASE_ROWS[0] | {"mcs_owner_email": "owner-at-example"}]),
        [(2, "mcs_owner_email", "not a valid e-mail")],
    ),
    (
        "blank name",
        csv_bytes([BASE_ROWS[0], BASE_ROWS[1] | {"name": "   "}]),
        [(3, "name", "blank")],
    ),
    (
        "unknown column",
        b"name,segmnt\nContoso,major\n",
        [(1, "segmnt", "unknown column")],
    ),
    (
        "too many fields",
        b"name,domain\nContoso,contoso.com,extra\n",
        [(2, None, "3 fields but the header has 2")],
    ),
    (
        "unterminated quote",
        b'name,domain\n"unterminated,quote\n',
        [(2, "name", "quoted field starts on this line and is never closed")],
    ),
    (
        "unterminated quote without a final newline",
        b'name,domain\n"unterminated,quote',
        [(2, "name", "runs to the end of the file (line 2)")],
    ),
    (
        "quote left open in a later field swallows the rest of the file",
        b'name,domain\nContoso,contoso.com\nFabrikam,"fabrikam.com\nNorthwind,northwind.com\n',
        [(3, "domain", "never closed, so it runs to the end of the file (line 4)")],
    ),
    (
        "quote left open after a quoted field with a line break",
        b'name,domain\n"Contoso\nLtd","contoso.com\nNorthwind,northwind.com\n',
        [(3, "domain", "never closed")],
    ),
    (
        "quote left open in the header",
        b'"name,domain\nContoso,contoso.com\n',
        [(1, None, "never closed")],
    ),
    (
        "quote left open past the field size limit",
        b'name\nContoso\n"Fabrikam\n' + b"Northwind Traders\n" * 8000,
        [(3, "name", "more than 131,072 characters (past line")],
    ),
    (
        "text after a closing quote",
        b'name,domain\nContoso,contoso.com\n"Fabrikam" Inc,fabrikam.com\n',
        [(3, "name", "unexpected ' ' after the closing quote")],
    ),
    (
        "undoubled quote inside a quoted field",
        b'name,domain\n"Fabrikam "Fab" Inc",fabrikam.com\n',
        [(2, "name", "unexpected 'F' after the closing quote")],
    ),
    (
        "row errors before a structural fault are kept",
        csv_bytes([BASE_ROWS[0] | {"segment": "enterprise"}]) + b'"A2,Fabrikam Inc\n',
        [(2, "segment", "unknown segment"), (3, "account_id", "never closed")],
    ),
    (
        "nul byte",
        b"name,domain\nContoso,contoso.com\nFabri\x00kam,fabrikam.com\n",
        [(3, None, "NUL byte at position 6")],
    ),
    (
        "utf-16 without a byte-order mark",
        "name\nContoso\n".encode("utf-16-le"),
        [(1, None, "NUL byte"), (2, None, "NUL byte"), (3, None, "NUL byte")],
    ),
]


def _assert_errors(errors: list[Any], expected: list[tuple[int, str | None, str]]) -> None:
    got = [(e.line, e.column, e.message) for e in errors]
    assert len(got) == len(expected), got
    for (line, column, message), (want_line, want_column, want_text) in zip(
        got, expected, strict=True
    ):
        assert (line, column) == (want_line, want_column), got
        assert want_text in message, got


@pytest.mark.parametrize(
    ("data", "expected"), [c[1:] for c in BAD_FILES], ids=[c[0] for c in BAD_FILES]
)
def test_bad_file_is_refused_whole_and_nothing_is_stored(
    ctx: Flask, data: bytes, expected: list[tuple[int, str | None, str]]
) -> None:
    districts()
    publish_rows(BASE_ROWS)
    before = counts()
    with pytest.raises(ListValidationError) as info:
        import_list(db.session, data, actor_id=None)
    _assert_errors(info.value.errors, expected)
    db.session.rollback()
    assert counts() == before


def test_well_formed_quoting_and_padded_rows_are_accepted() -> None:
    data = (
        b'name,domain,aliases\r\n"Fabrikam ""Fab"" Inc",fabrikam.com,"Fab, Inc;Fabrikam"\r\n'
        b'"Contoso\r\nLtd",contoso.com,,\r\n'
    )
    rows = parse_csv(data).rows
    assert [(r.name, r.aliases) for r in rows] == [
        ('Fabrikam "Fab" Inc', ("Fab, Inc", "Fabrikam")),
        ("Contoso Ltd", ()),
    ]


def test_unknown_district_is_refused_when_districts_exist(ctx: Flask) -> None:
    districts()
    with pytest.raises(ListValidationError) as info:
        import_list(db.session, csv_bytes([BASE_ROWS[0] | {"district": "atlantis"}]), actor_id=None)
    _assert_errors(info.value.errors, [(2, "district", "unknown district 'atlantis'")])
    db.session.rollback()
    assert counts() == (0, 0)


def test_every_bad_line_is_reported_with_its_own_number(ctx: Flask) -> None:
    districts()
    rows = [
        BASE_ROWS[0],
        BASE_ROWS[1] | {"segment": "huge", "pc_count": "-1"},
        BASE_ROWS[2],
        {"account_id": "A4", "name": "", "mcs_owner_email": "nobody"},
        BASE_ROWS[2] | {"account_id": "A3"},
    ]
    data = csv_bytes(rows).replace(b"Northwind Traders,", b'"Northwind\nTraders",', 1)
    with pytest.raises(ListValidationError) as info:
        import_list(db.session, data, actor_id=None)
    _assert_errors(
        info.value.errors,
        [
            (3, "segment", "unknown segment"),
            (3, "pc_count", "negative"),
            # The quoted name spans lines 4-5, so the next record starts on line 6.
            (6, "name", "blank"),
            (6, "mcs_owner_email", "not a valid e-mail"),
            (7, "account_id", "first on line 4"),
        ],
    )
    assert str(info.value) == "3 bad line(s); nothing was imported"
    db.session.rollback()
    assert counts() == (0, 0)


# -- import and versions ----------------------------------------------------------------------


def test_import_stores_a_draft_with_hash_and_count(ctx: Flask) -> None:
    districts()
    result = import_list(db.session, csv_bytes(BASE_ROWS, bom=True), actor_id=None, label="H1")
    db.session.commit()
    version = result.version
    assert result.created and version is not None
    assert (version.status, version.label, version.account_count) == ("draft", "H1", 3)
    assert version.content_hash == parse_csv(csv_bytes(BASE_ROWS)).content_hash
    stored = db.session.execute(
        sa.select(NamedAccount).where(NamedAccount.account_id == "A1")
    ).scalar_one()
    assert stored.domain == "contoso.com"
    assert stored.aliases == ["Contoso", "Contoso Group"]
    assert stored.pc_count == 12000
    audit = db.session.execute(
        sa.select(AuditEvent).where(AuditEvent.action == "list.imported")
    ).scalar_one()
    assert audit.data["account_count"] == 3


def test_same_content_as_effective_version_makes_no_new_version(ctx: Flask) -> None:
    districts()
    current = publish_rows(BASE_ROWS)
    before = counts()
    result = import_list(db.session, csv_bytes(list(reversed(BASE_ROWS))), actor_id=None)
    assert not result.created
    assert result.version is not None and result.version.id == current.id
    assert "same content as the effective version" in result.message
    assert counts() == before


def test_same_content_as_a_draft_reuses_the_draft(ctx: Flask) -> None:
    districts()
    first = import_list(db.session, csv_bytes(BASE_ROWS), actor_id=None)
    db.session.commit()
    again = import_list(db.session, csv_bytes(BASE_ROWS), actor_id=None)
    assert not again.created
    assert again.version is not None and first.version is not None
    assert again.version.id == first.version.id
    assert counts() == (1, 3)


def test_publishing_supersedes_the_previous_version_and_keeps_history(ctx: Flask) -> None:
    districts()
    first = publish_rows(BASE_ROWS, effective_from=date(2026, 1, 18))
    second = publish_rows(BASE_ROWS[:2], effective_from=date(2026, 7, 18))
    db.session.refresh(first)
    assert first.status == "superseded" and first.superseded_at is not None
    assert second.status == "published" and second.effective_from == date(2026, 7, 18)
    published = db.session.execute(
        sa.select(NamedAccountList.id).where(NamedAccountList.status == "published")
    ).scalars()
    assert list(published) == [second.id]
    # History keeps every version's accounts.
    assert counts() == (2, 5)
    assert lists.previous_version(db.session, second).id == first.id  # type: ignore[union-attr]


def test_the_database_refuses_two_published_versions(ctx: Flask) -> None:
    districts()
    publish_rows(BASE_ROWS)
    with pytest.raises(sa.exc.IntegrityError):
        db.session.add(
            NamedAccountList(
                label="rogue",
                status="published",
                content_hash="x" * 64,
                effective_from=utcnow().date(),
                published_at=utcnow(),
            )
        )
        db.session.flush()
    db.session.rollback()


def test_only_drafts_can_be_published(ctx: Flask) -> None:
    districts()
    version = publish_rows(BASE_ROWS)
    with pytest.raises(ListError, match="not a draft"):
        publish(db.session, version, effective_from=utcnow().date(), actor_id=None)


def test_effective_date_may_not_be_in_the_future_or_before_the_current_one(ctx: Flask) -> None:
    districts()
    publish_rows(BASE_ROWS, effective_from=date(2026, 1, 18))
    before = counts()
    with pytest.raises(ListError, match="in the future"):
        import_list(
            db.session,
            csv_bytes(BASE_ROWS[:1]),
            actor_id=None,
            publish_now=True,
            effective_from=utcnow().date() + timedelta(days=3),
        )
    db.session.rollback()
    assert counts() == before
    draft = import_list(db.session, csv_bytes(BASE_ROWS[:1]), actor_id=None).version
    assert draft is not None
    with pytest.raises(ListError, match="before the current version"):
        publish(db.session, draft, effective_from=date(2025, 12, 1), actor_id=None)


# -- diff and impact preview ------------------------------------------------------------------


def test_diff_reports_added_removed_and_changed_fields() -> None:
    old = {r.account_id: r for r in parse_csv(csv_bytes(BASE_ROWS)).rows}
    new_rows = [
        BASE_ROWS[0] | {"pc_count": "13000", "aliases": "Contoso"},
        BASE_ROWS[1],
        {"account_id": "A9", "name": "Tailspin Toys", "segment": "major"},
    ]
    new = {r.account_id: r for r in parse_csv(csv_bytes(new_rows)).rows}
    diff = diff_rows(old, new)
    assert [r.account_id for r in diff.added] == ["A9"]
    assert [r.account_id for r in diff.removed] == ["A3"]
    assert [(c.account_id, c.fields) for c in diff.changed] == [("A1", ("aliases", "pc_count"))]
    assert diff.counts() == {"added": 1, "removed": 1, "changed": 1}
    northeast = diff.for_district("northeast")
    assert northeast.counts() == {"added": 0, "removed": 0, "changed": 1}
    assert diff.for_district("great_lakes").counts() == {"added": 0, "removed": 1, "changed": 0}


def test_diff_version_against_the_effective_one(ctx: Flask) -> None:
    districts()
    current = publish_rows(BASE_ROWS)
    draft = import_list(db.session, csv_bytes(BASE_ROWS[:2]), actor_id=None).version
    assert draft is not None
    diff = lists.diff_version(db.session, draft)
    assert diff.against_id == current.id
    assert [r.account_id for r in diff.removed] == ["A3"]
    assert not diff.added and not diff.changed


def _finding(reg_id: int, ref: str, name: str) -> None:
    db.session.add(
        ConflictFinding(
            registration_id=reg_id,
            rule="NAMED_ACCOUNT",
            severity="conflict",
            message=f"{name} is a named account",
            account_ref=ref,
            account_name=name,
        )
    )
    db.session.flush()


def test_impact_preview_finds_new_and_released_conflicts(ctx: Flask) -> None:
    districts()
    publish_rows(BASE_ROWS)
    partner = make_user("partner")
    mcs = make_user("mcs")
    # Conflicting now (Northwind) and dropped from the new list: released.
    northwind = make_registration(partner, customer_name="Northwind Traders", status="in_conflict")
    _finding(northwind.id, "A3", "Northwind Traders")  # type: ignore[arg-type]
    # Still on the list: stays.
    contoso = make_registration(partner, customer_name="Contoso", status="in_conflict")
    _finding(contoso.id, "A1", "Contoso Ltd")  # type: ignore[arg-type]
    # Added to the list: becomes a conflict (matched by domain).
    tailspin = make_registration(
        partner, customer_name="Tailspin", customer_domain="www.tailspintoys.com"
    )
    # Not affected: MCS engagements, closed registrations, unrelated customers.
    make_registration(mcs, customer_name="Tailspin Toys")
    make_registration(
        partner, customer_name="Tailspin Toys", status="withdrawn", withdrawn_reason="lost"
    )
    make_registration(partner, customer_name="Wide World Importers")
    new_rows = [
        BASE_ROWS[0],
        BASE_ROWS[1],
        {"account_id": "A9", "name": "Tailspin Toys", "domain": "tailspintoys.com"},
    ]
    draft = import_list(db.session, csv_bytes(new_rows), actor_id=None).version
    assert draft is not None
    preview = preview_version(db.session, draft)
    assert preview.checked == 4
    assert [(i.registration_id, i.account_ref, i.method) for i in preview.newly_conflicting] == [
        (tailspin.id, "A9", "domain")
    ]
    assert [(i.registration_id, i.account_ref) for i in preview.released] == [(northwind.id, "A3")]
    assert preview.still_conflicting == 1


# -- publish ----------------------------------------------------------------------------------


def test_publish_audits_notifies_opens_reviews_and_rechecks(ctx: Flask) -> None:
    districts()
    admin = make_user("admin")
    make_user("admin", is_active=False)
    db.session.add(WebhookEndpoint(url="https://hooks.example.com/x", secret="s" * 32))
    first = publish_rows(BASE_ROWS)
    RECHECKS.clear()
    db.session.execute(sa.delete(OutboxMessage))
    draft = import_list(db.session, csv_bytes(BASE_ROWS[:2]), actor_id=admin.id).version
    assert draft is not None
    result = publish(db.session, draft, effective_from=utcnow().date(), actor_id=admin.id)
    db.session.commit()
    assert result.superseded is not None and result.superseded.id == first.id
    assert result.diff_counts == {"added": 0, "removed": 1, "changed": 0}
    assert result.reviews_opened == 2
    assert result.recheck == "rechecked" and result.recheck_ran
    # The re-check ran inside the publish, seeing the new version as published.
    assert [{"list_id": draft.id, "status": "published", "actor_id": admin.id}] == RECHECKS
    audit = db.session.execute(
        sa.select(AuditEvent).where(
            AuditEvent.action == "list.published", AuditEvent.object_id == str(draft.id)
        )
    ).scalar_one()
    assert audit.actor_id == admin.id
    assert audit.data["superseded_id"] == first.id and audit.data["removed"] == 1
    mails = (
        db.session.execute(
            sa.select(OutboxMessage).where(OutboxMessage.template == "list_published")
        )
        .scalars()
        .all()
    )
    assert [m.recipient for m in mails] == [admin.email]
    assert mails[0].context["headline"] and mails[0].context["lines"]
    assert mails[0].context["url"].endswith(f"/admin/lists/{draft.id}")
    hooks = (
        db.session.execute(sa.select(OutboxMessage).where(OutboxMessage.channel == "webhook"))
        .scalars()
        .all()
    )
    assert [h.event for h in hooks] == ["named_account_list.published"]
    assert hooks[0].context["data"]["id"] == draft.id


def test_publish_without_the_recheck_service_still_publishes(
    ctx: Flask, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(lists, "RECHECK_TARGET", "conflict.not_installed:recheck")
    draft = import_list(db.session, csv_bytes(BASE_ROWS[:1]), actor_id=None).version
    assert draft is not None
    result = publish(db.session, draft, effective_from=utcnow().date(), actor_id=None)
    assert draft.status == "published"
    assert result.recheck is None and not result.recheck_ran


def test_a_failing_recheck_rolls_the_whole_publish_back(
    ctx: Flask, monkeypatch: pytest.MonkeyPatch
) -> None:
    districts()
    first = publish_rows(BASE_ROWS)
    draft = import_list(db.session, csv_bytes(BASE_ROWS[:1]), actor_id=None).version
    db.session.commit()
    assert draft is not None
    monkeypatch.setattr(lists, "RECHECK_TARGET", f"{__name__}:exploding_recheck")
    with pytest.raises(RuntimeError):
        publish(db.session, draft, effective_from=utcnow().date(), actor_id=None)
    db.session.rollback()
    assert db.session.get(NamedAccountList, first.id).status == "published"  # type: ignore[union-attr]
    assert db.session.get(NamedAccountList, draft.id).status == "draft"  # type: ignore[union-attr]
    reviews = db.session.execute(sa.select(sa.func.count()).select_from(DistrictReview))
    assert reviews.scalar_one() == 2  # from the first publish only


def exploding_recheck(sess: Any, *, list_version: Any, actor_id: int | None) -> None:
    """Fail the way a broken re-check would."""
    raise RuntimeError("re-check failed")


def test_publish_runs_the_real_recheck_service(ctx: Flask, monkeypatch: pytest.MonkeyPatch) -> None:
    pytest.importorskip("escalation.service")
    monkeypatch.setattr(lists, "RECHECK_TARGET", "conflict.service:recheck_open_registrations")
    districts()
    publish_rows(BASE_ROWS[:1])
    partner = make_user("partner", partner_id=make_partner(district="northeast").id)
    reg = make_registration(partner, customer_name="Fabrikam, Inc.", district="northeast")
    draft = import_list(db.session, csv_bytes(BASE_ROWS[:2]), actor_id=None).version
    assert draft is not None
    result = publish(db.session, draft, effective_from=utcnow().date(), actor_id=None)
    db.session.commit()
    assert result.recheck_ran
    assert reg.id in result.recheck.new_conflicts


# -- district reviews -------------------------------------------------------------------------


def test_district_reviews_open_once_per_district_and_notify(ctx: Flask) -> None:
    districts()
    east_partner = make_partner(district="northeast")
    partner_user = make_user("partner", partner_id=east_partner.id)
    make_user("partner", partner_id=make_partner(district="great_lakes").id)
    level1 = make_user("reviewer", level=1, districts=["northeast"])
    level2 = make_user("reviewer", level=2, region="east", districts=[])
    make_user("reviewer", level=1, districts=["great_lakes"])
    version = publish_rows(BASE_ROWS, effective_from=date(2026, 1, 18))
    reviews = (
        db.session.execute(sa.select(DistrictReview).order_by(DistrictReview.district))
        .scalars()
        .all()
    )
    assert [(r.list_id, r.district, r.status) for r in reviews] == [
        (version.id, "great_lakes", "open"),
        (version.id, "northeast", "open"),
    ]
    # Opened now, long after the list took effect: due at the end of the period it is in now
    # (18 January 2026, then every six months), not at a date already past.
    assert reviews[0].due_at == datetime(2027, 1, 18, tzinfo=UTC)
    # Idempotent: the job finds nothing more to open.
    assert open_district_reviews(db.session, utcnow()) == 0
    # A district added later gets its review on the next run.
    make_district("pacific", "west")
    assert open_district_reviews(db.session, utcnow()) == 1
    assert open_district_reviews(db.session, utcnow()) == 0
    db.session.commit()
    northeast_mail = db.session.execute(
        sa.select(OutboxMessage.recipient).where(
            OutboxMessage.template == "district_review_opened",
            OutboxMessage.context["district"].as_string() == "northeast",
        )
    ).scalars()
    assert sorted(northeast_mail) == sorted([partner_user.email, level1.email, level2.email])


def test_a_review_opened_in_the_first_period_is_due_at_its_end(ctx: Flask) -> None:
    districts()
    with time_machine.travel(datetime(2026, 2, 1, 12, tzinfo=UTC), tick=False):
        publish_rows(BASE_ROWS, effective_from=date(2026, 1, 18))
    due = db.session.execute(sa.select(DistrictReview.due_at)).scalars().all()
    assert due and set(due) == {datetime(2026, 7, 18, tzinfo=UTC)}


def test_no_reviews_without_a_published_list(ctx: Flask) -> None:
    districts()
    assert open_district_reviews(db.session, utcnow()) == 0


def test_due_date_clamps_to_month_end() -> None:
    assert lists.add_months(date(2026, 8, 31), 6) == date(2027, 2, 28)
    assert lists.add_months(date(2026, 1, 18), 6) == date(2026, 7, 18)


@pytest.mark.parametrize(
    ("role", "kw", "allowed"),
    [
        ("admin", {}, True),
        ("reviewer", {"level": 1, "districts": ["northeast"]}, True),
        ("reviewer", {"level": 1, "districts": ["great_lakes"]}, False),
        ("reviewer", {"level": 2, "region": "east", "districts": []}, True),
        ("reviewer", {"level": 2, "region": "central", "districts": []}, False),
        ("reviewer", {"level": 3, "districts": []}, True),
        ("mcs", {}, False),
        ("partner", {}, False),
    ],
)
def test_sign_off_permissions(ctx: Flask, role: str, kw: dict[str, Any], allowed: bool) -> None:
    districts()
    publish_rows(BASE_ROWS)
    review = db.session.execute(
        sa.select(DistrictReview).where(DistrictReview.district == "northeast")
    ).scalar_one()
    user = make_user(role, **kw)
    assert (review in open_reviews_for(db.session, user)) is allowed
    if not allowed:
        with pytest.raises(PermissionError):
            sign_off_review(db.session, review, user=user, notes="x")
        assert review.status == "open"
        return
    sign_off_review(db.session, review, user=user, notes="  Agreed with partners.  ")
    db.session.commit()
    assert review.status == "signed_off"
    assert review.notes == "Agreed with partners."
    assert review.signed_off_by_id == user.id and review.signed_off_at is not None
    assert review not in open_reviews_for(db.session, user)
    with pytest.raises(ListError, match="already signed off"):
        sign_off_review(db.session, review, user=user, notes="again")


# -- index cache and look-up ------------------------------------------------------------------


def test_index_cache_rebuilds_only_when_the_effective_version_changes(ctx: Flask) -> None:
    empty = index_cache.get_index(db.session)
    assert empty.list_version_id is None and len(empty) == 0
    districts()
    first = publish_rows(BASE_ROWS)
    index = index_cache.get_index(db.session)
    assert index.list_version_id == first.id and len(index) == 3
    assert index_cache.get_index(db.session) is index
    second = publish_rows(BASE_ROWS[:1])
    rebuilt = index_cache.get_index(db.session)
    assert rebuilt is not index
    assert rebuilt.list_version_id == second.id and len(rebuilt) == 1
    assert index_cache.build_index(db.session, first.id).list_version_id == first.id


@pytest.mark.parametrize(
    ("query", "status", "name"),
    [
        ("Contoso Ltd.", "reserved", "Contoso Ltd"),
        ("https://www.fabrikam.com/contact", "reserved", "Fabrikam Inc"),
        ("contoso group", "reserved", "Contoso Ltd"),
        ("Tailspin Toys", "not_reserved", None),
        ("Northwind Traders Europe", "needs_review", None),
        ("fabrikam.de", "needs_review", None),
    ],
)
def test_lookup_answers(query: str, status: str, name: str | None) -> None:
    rows = parse_csv(csv_bytes(BASE_ROWS)).rows
    index = lists.AccountIndex.build([r.to_account(i) for i, r in enumerate(rows)], 7)
    answer = lists.lookup_account(index, query, match_score=92.0, review_score=85.0)
    assert answer.status == status
    assert answer.account_name == name
    if status != "reserved":
        assert answer.mcs_owner_email is None and answer.account_ref is None


def test_account_row_round_trip() -> None:
    row = AccountRow("A1", "Contoso", "contoso.com", ("C",), "major", "northeast", 5, "a@b.com")
    assert row.to_account(3).aliases == ("C",)
    assert row.values(9)["aliases"] == ["C"]
