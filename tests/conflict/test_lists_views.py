"""Named-account list pages, the account look-up, the accounts commands and the list API."""

import io
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from flask import Flask
from flask.testing import FlaskClient

from conflict.list_cli import accounts_cli
from models import DistrictReview, NamedAccountList, User, utcnow
from models.db import db
from tests.conflict.test_lists import (
    BASE_ROWS,
    RECHECKS,
    counts,
    csv_bytes,
    districts,
    fake_recheck,
    publish_rows,
)
from tests.factories import csrf_from, login, make_api_token, make_user, post_form

__all__ = ["fake_recheck"]  # the autouse fixture, shared with the service tests

BAD_CSV = csv_bytes(
    [
        BASE_ROWS[0] | {"segment": "enterprise"},
        BASE_ROWS[1],
        BASE_ROWS[2] | {"pc_count": "-10", "domain": "not a domain"},
    ]
)

# A quote that is never closed once swallowed the rest of the file into one account's name.
BROKEN_CSV = b'name,domain\n"unterminated,quote\n'
BROKEN_MESSAGE = "a quoted field starts on this line and is never closed"


def _user(app: Flask, role: str, **kw: Any) -> User:
    with app.app_context():
        user = make_user(role, **kw)
        db.session.commit()
        db.session.refresh(user)
        db.session.expunge(user)
        return user


def _signed_in(app: Flask, client: FlaskClient, role: str, **kw: Any) -> User:
    user = _user(app, role, **kw)
    assert login(client, user.email).status_code == 302
    return user


def _setup(app: Flask, *, publish: bool = True) -> int | None:
    with app.app_context():
        districts()
        version_id = publish_rows(BASE_ROWS).id if publish else None
        db.session.commit()
        return version_id


def _counts(app: Flask) -> tuple[int, int]:
    with app.app_context():
        return counts()


# -- admin pages ------------------------------------------------------------------------------


def test_admin_sees_history_and_uploads_a_draft(app: Flask, client: FlaskClient) -> None:
    current = _setup(app)
    _signed_in(app, client, "admin")
    page = client.get("/admin/lists")
    html = page.get_data(as_text=True)
    assert page.status_code == 200
    assert "<title>Named-account lists" in html
    assert f"#{current}" in html and "Published" in html
    resp = post_form(
        client,
        "/admin/lists",
        {
            "file": (
                io.BytesIO(csv_bytes([BASE_ROWS[0] | {"pc_count": "13000"}, BASE_ROWS[1]])),
                "h2.csv",
            ),
            "label": "H2 list",
        },
        content_type="multipart/form-data",
    )
    assert resp.status_code == 302
    with app.app_context():
        draft = db.session.execute(
            sa.select(NamedAccountList).where(NamedAccountList.label == "H2 list")
        ).scalar_one()
        assert draft.status == "draft" and draft.account_count == 2
    version_page = client.get(resp.headers["Location"])
    html = version_page.get_data(as_text=True)
    assert "Changes against" in html and "Northwind Traders" in html  # removed account
    # Districts read by name, as everywhere else, not as their codes.
    assert "<td>Great Lakes</td>" in html and "<td>great_lakes</td>" not in html
    assert "PC count: 12,000 &rarr; 13,000" in html
    assert "Impact on open registrations" in html
    assert "Publish this version" in html


def test_bad_upload_shows_every_bad_line_and_imports_nothing(
    app: Flask, client: FlaskClient
) -> None:
    _setup(app)
    before = _counts(app)
    _signed_in(app, client, "admin")
    resp = post_form(
        client,
        "/admin/lists",
        {"file": (io.BytesIO(BAD_CSV), "bad.csv")},
        content_type="multipart/form-data",
    )
    html = resp.get_data(as_text=True)
    assert resp.status_code == 422
    assert "2 bad line(s). Nothing was imported." in html
    assert "<td>2</td><td>segment</td><td>unknown segment &#39;enterprise&#39;" in html
    assert "<td>4</td><td>domain</td>" in html
    assert "<td>4</td><td>pc_count</td><td>PC count must not be negative" in html
    assert _counts(app) == before


def test_upload_of_a_broken_csv_shows_the_line_and_imports_nothing(
    app: Flask, client: FlaskClient
) -> None:
    _setup(app)
    before = _counts(app)
    _signed_in(app, client, "admin")
    resp = post_form(
        client,
        "/admin/lists",
        {"file": (io.BytesIO(BROKEN_CSV), "broken.csv"), "publish": "y"},
        content_type="multipart/form-data",
    )
    html = resp.get_data(as_text=True)
    assert resp.status_code == 422
    assert "1 bad line(s). Nothing was imported." in html
    assert f"<td>2</td><td>name</td><td>{BROKEN_MESSAGE}" in html
    assert _counts(app) == before


def test_upload_with_publish_publishes(app: Flask, client: FlaskClient) -> None:
    first = _setup(app)
    _signed_in(app, client, "admin")
    resp = post_form(
        client,
        "/admin/lists",
        {
            "file": (io.BytesIO(csv_bytes(BASE_ROWS[:1])), "h2.csv"),
            "publish": "y",
            "effective_from": utcnow().date().isoformat(),
        },
        content_type="multipart/form-data",
    )
    assert resp.status_code == 302
    with app.app_context():
        statuses = dict(
            db.session.execute(sa.select(NamedAccountList.id, NamedAccountList.status)).all()
        )
    assert statuses[first] == "superseded"  # type: ignore[index]
    assert sorted(statuses.values()) == ["published", "superseded"]


def test_publish_button_needs_csrf_and_publishes(app: Flask, client: FlaskClient) -> None:
    _setup(app)
    with app.app_context():
        from conflict.lists import import_list

        draft = import_list(db.session, csv_bytes(BASE_ROWS[:2]), actor_id=None).version
        db.session.commit()
        assert draft is not None
        draft_id = draft.id
    admin = _signed_in(app, client, "admin")
    url = f"/admin/lists/{draft_id}/publish"
    assert client.post(url, data={"effective_from": utcnow().date().isoformat()}).status_code == 400
    resp = post_form(
        client,
        f"/admin/lists/{draft_id}",
        {"effective_from": utcnow().date().isoformat()},
        action=url,
    )
    assert resp.status_code == 302
    with app.app_context():
        assert db.session.get(NamedAccountList, draft_id).status == "published"  # type: ignore[union-attr]
    assert RECHECKS[-1] == {"list_id": draft_id, "status": "published", "actor_id": admin.id}
    page = client.get(resp.headers["Location"]).get_data(as_text=True)
    assert "district review(s) opened" in page
    assert "Publish this version" not in page


def test_publishing_in_the_future_is_refused_on_the_page(app: Flask, client: FlaskClient) -> None:
    _setup(app, publish=False)
    with app.app_context():
        from conflict.lists import import_list

        draft = import_list(db.session, csv_bytes(BASE_ROWS), actor_id=None).version
        db.session.commit()
        assert draft is not None
        draft_id = draft.id
    _signed_in(app, client, "admin")
    resp = post_form(
        client,
        f"/admin/lists/{draft_id}",
        {"effective_from": (utcnow().date() + timedelta(days=10)).isoformat()},
        action=f"/admin/lists/{draft_id}/publish",
        follow_redirects=True,
    )
    assert "Not published" in resp.get_data(as_text=True)
    with app.app_context():
        assert db.session.get(NamedAccountList, draft_id).status == "draft"  # type: ignore[union-attr]


@pytest.mark.parametrize(
    "path", ["/admin/lists", "/admin/lists/1", "/admin/lists/reviews", "/admin/lists/reviews/1"]
)
def test_partners_get_404_and_mcs_403_on_list_pages(
    app: Flask, client: FlaskClient, path: str
) -> None:
    _setup(app)
    _signed_in(app, client, "partner")
    assert client.get(path).status_code == 404
    client.post("/logout", data={"csrf_token": csrf_from(client.get("/accounts/lookup").text)})
    _signed_in(app, client, "mcs")
    assert client.get(path).status_code == 403


def test_reviewer_signs_off_own_district_only(app: Flask, client: FlaskClient) -> None:
    _setup(app)
    with app.app_context():
        ids = dict(db.session.execute(sa.select(DistrictReview.district, DistrictReview.id)).all())
    _signed_in(app, client, "reviewer", level=1, districts=["northeast"])
    listing = client.get("/admin/lists/reviews").get_data(as_text=True)
    assert "Northeast" in listing and "Great Lakes" not in listing
    assert client.get(f"/admin/lists/reviews/{ids['great_lakes']}").status_code == 403
    page = client.get(f"/admin/lists/reviews/{ids['northeast']}")
    assert page.status_code == 200
    assert "Changes for this district" in page.text
    resp = post_form(
        client,
        f"/admin/lists/reviews/{ids['northeast']}",
        {"notes": "Reviewed with partners."},
        follow_redirects=True,
    )
    assert "signed off" in resp.text
    assert "Reviewed with partners." in resp.text
    with app.app_context():
        review = db.session.get(DistrictReview, ids["northeast"])
        assert review is not None and review.status == "signed_off"
        other = db.session.get(DistrictReview, ids["great_lakes"])
        assert other is not None and other.status == "open"


# -- look-up ----------------------------------------------------------------------------------


@pytest.mark.parametrize("role", ["partner", "mcs", "reviewer", "admin"])
def test_every_role_may_look_up(app: Flask, client: FlaskClient, role: str) -> None:
    _setup(app)
    _signed_in(app, client, role)
    page = client.get("/accounts/lookup")
    assert page.status_code == 200
    assert 'name="q"' in page.text and '<label for="q">' in page.text


def _answer(html: str) -> str:
    start = html.index('id="lookup-answer"')
    return html[start : html.index("</section>", start)]


def test_partner_lookup_answers_without_revealing_the_list(app: Flask, client: FlaskClient) -> None:
    _setup(app)
    _signed_in(app, client, "partner")
    reserved = client.get("/accounts/lookup", query_string={"q": "contoso.com"}).text
    answer = _answer(reserved)
    assert "Reserved — a named account" in answer
    assert "Contoso Ltd" in answer and "owner.one@mcs.example.com" in answer
    # Only the one matched account: no other account anywhere on the page.
    for other in ("Fabrikam", "Northwind", "owner.two", "owner.three"):
        assert other not in reserved
    # No list identifiers, methods or scores for partners.
    for hidden in ("A1", "score", "Match:", "domain"):
        assert hidden not in answer
    free = client.get("/accounts/lookup", query_string={"q": "Tailspin Toys"}).text
    assert "Not reserved" in _answer(free)
    review = client.get("/accounts/lookup", query_string={"q": "Northwind Traders Europe"}).text
    answer = _answer(review)
    assert "Needs review — a similar named account exists" in answer
    assert "ask your channel manager" in answer.lower()
    assert "owner.three" not in review and "Northwind Traders<" not in review
    for hidden in ("Northwind", "A3", "score", "87"):
        assert hidden not in answer


def test_staff_lookup_shows_method_and_score(app: Flask, client: FlaskClient) -> None:
    _setup(app)
    _signed_in(app, client, "reviewer")
    page = client.get("/accounts/lookup", query_string={"q": "Northwind Traders Europe"}).text
    assert "Needs review" in page and "Match: Fuzzy, score 87.0" in page


def test_lookup_without_a_published_list(app: Flask, client: FlaskClient) -> None:
    _setup(app, publish=False)
    _signed_in(app, client, "partner")
    page = client.get("/accounts/lookup", query_string={"q": "Contoso"}).text
    assert "No list in effect" in page


def test_lookup_is_rate_limited_per_user(app: Flask, client: FlaskClient) -> None:
    _setup(app)
    _signed_in(app, client, "partner")
    app.config["LOOKUP_RATE_LIMIT"] = "3 per minute"
    try:
        codes = [
            client.get("/accounts/lookup", query_string={"q": f"Company {i}"}).status_code
            for i in range(4)
        ]
        # The empty form does not count.
        assert client.get("/accounts/lookup").status_code == 200
    finally:
        del app.config["LOOKUP_RATE_LIMIT"]
    assert codes == [200, 200, 200, 429]


# -- command line -----------------------------------------------------------------------------


def test_cli_import_and_publish(app: Flask, tmp_path: Path) -> None:
    _setup(app, publish=False)
    path = tmp_path / "accounts.csv"
    path.write_bytes(csv_bytes(BASE_ROWS, bom=True))
    runner = app.test_cli_runner()
    result = runner.invoke(
        accounts_cli,
        ["import", str(path), "--publish", "--effective-from", "2026-01-18"],
    )
    assert result.exit_code == 0, result.output
    assert "Stored draft" in result.output and "Published" in result.output
    with app.app_context():
        version = db.session.execute(
            sa.select(NamedAccountList).where(NamedAccountList.status == "published")
        ).scalar_one()
        assert version.effective_from == date(2026, 1, 18)
        assert version.account_count == 3 and version.source == "cli"
    again = runner.invoke(accounts_cli, ["import", str(path)])
    assert again.exit_code == 0
    assert "same content as the effective version" in again.output
    assert _counts(app) == (1, 3)


def test_cli_import_refuses_a_bad_file_with_every_line(app: Flask, tmp_path: Path) -> None:
    _setup(app)
    before = _counts(app)
    path = tmp_path / "bad.csv"
    path.write_bytes(BAD_CSV)
    result = app.test_cli_runner().invoke(accounts_cli, ["import", str(path), "--publish"])
    assert result.exit_code == 2
    out = result.output
    assert "line 2, column segment: unknown segment 'enterprise'" in out
    assert "line 4, column domain: 'not a domain' is not a valid web domain" in out
    assert "line 4, column pc_count: PC count must not be negative" in out
    assert "Nothing was imported: 2 bad line(s)." in out
    assert _counts(app) == before


def test_cli_import_refuses_latin1(app: Flask, tmp_path: Path) -> None:
    path = tmp_path / "latin1.csv"
    path.write_bytes("name\nCafé Rouge\nSociété Générale\n".encode("latin-1"))
    result = app.test_cli_runner().invoke(accounts_cli, ["import", str(path)])
    assert result.exit_code == 2
    assert "line 2: not valid UTF-8" in result.output
    assert "line 3: not valid UTF-8" in result.output
    assert _counts(app) == (0, 0)


def test_cli_import_and_diff_refuse_a_broken_csv(app: Flask, tmp_path: Path) -> None:
    _setup(app)
    before = _counts(app)
    path = tmp_path / "broken.csv"
    path.write_bytes(BROKEN_CSV)
    runner = app.test_cli_runner()
    for args in (["import", str(path)], ["import", str(path), "--publish"], ["diff", str(path)]):
        result = runner.invoke(accounts_cli, args)
        assert result.exit_code == 2, (args, result.output)
        assert f"line 2, column name: {BROKEN_MESSAGE}" in result.stderr
        assert "Stored draft" not in result.stdout and "added" not in result.stdout
    assert "Nothing was imported: 1 bad line(s)." in result.stderr
    assert _counts(app) == before


def test_cli_refuses_future_effective_date(app: Flask, tmp_path: Path) -> None:
    path = tmp_path / "accounts.csv"
    path.write_bytes(csv_bytes(BASE_ROWS))
    future = (utcnow().date() + timedelta(days=5)).isoformat()
    result = app.test_cli_runner().invoke(
        accounts_cli, ["import", str(path), "--publish", "--effective-from", future]
    )
    assert result.exit_code == 2 and "in the future" in result.output
    assert _counts(app) == (0, 0)


def test_cli_diff_prints_changes_and_impact_and_stores_nothing(app: Flask, tmp_path: Path) -> None:
    _setup(app)
    before = _counts(app)
    path = tmp_path / "next.csv"
    path.write_bytes(
        csv_bytes([BASE_ROWS[0] | {"pc_count": "20000"}, BASE_ROWS[1], {"name": "Tailspin Toys"}])
    )
    result = app.test_cli_runner().invoke(accounts_cli, ["diff", str(path)])
    assert result.exit_code == 0, result.output
    assert "1 added, 1 removed, 1 changed" in result.output
    assert "- A3  Northwind Traders" in result.output
    assert "~ A1  Contoso Ltd: pc_count" in result.output
    assert "+ N-" in result.output and "Tailspin Toys" in result.output
    assert "Impact on 0 open partner registrations" in result.output
    assert _counts(app) == before
    bad = tmp_path / "bad.csv"
    bad.write_bytes(BAD_CSV)
    refused = app.test_cli_runner().invoke(accounts_cli, ["diff", str(bad)])
    assert refused.exit_code == 2 and "line 2, column segment" in refused.output


# -- API --------------------------------------------------------------------------------------


def _token(app: Flask, role: str, **kw: Any) -> dict[str, str]:
    with app.app_context():
        _, token = make_api_token(make_user(role, **kw))
        db.session.commit()
    return {"Authorization": f"Bearer {token}"}


def test_api_lists_versions_with_keyset_pages(app: Flask, client: FlaskClient) -> None:
    with app.app_context():
        districts()
        for n in range(3):
            publish_rows(BASE_ROWS[: n + 1])
    headers = _token(app, "admin")
    first = client.get("/api/v1/named-account-lists?limit=2", headers=headers)
    assert first.status_code == 200
    body = first.get_json()
    assert [v["status"] for v in body["items"]] == ["published", "superseded"]
    assert body["items"][0]["account_count"] == 3
    assert body["next_cursor"]
    second = client.get(
        f"/api/v1/named-account-lists?limit=2&cursor={body['next_cursor']}", headers=headers
    ).get_json()
    assert [v["account_count"] for v in second["items"]] == [1]
    assert second["next_cursor"] is None
    published = client.get("/api/v1/named-account-lists?status=published", headers=headers)
    assert len(published.get_json()["items"]) == 1
    bad = client.get("/api/v1/named-account-lists?limit=0", headers=headers)
    assert bad.status_code == 422 and bad.get_json()["error"]["code"] == "invalid"


def test_api_upload_multipart_and_csv_body(app: Flask, client: FlaskClient) -> None:
    _setup(app, publish=False)
    headers = _token(app, "admin")
    resp = client.post(
        "/api/v1/named-account-lists",
        data={"file": (io.BytesIO(csv_bytes(BASE_ROWS)), "h1.csv")},
        headers=headers,
        content_type="multipart/form-data",
    )
    assert resp.status_code == 201, resp.get_json()
    body = resp.get_json()
    assert body["created"] and not body["published"]
    assert body["version"]["status"] == "draft" and body["version"]["account_count"] == 3
    resp = client.post(
        "/api/v1/named-account-lists?publish=true&effective_from=2026-01-18",
        data=csv_bytes(BASE_ROWS[:2]),
        headers=headers | {"Content-Type": "text/csv"},
    )
    assert resp.status_code == 201, resp.get_json()
    version = resp.get_json()["version"]
    assert version["status"] == "published" and version["effective_from"] == "2026-01-18"
    same = client.post(
        "/api/v1/named-account-lists",
        data=csv_bytes(BASE_ROWS[:2]),
        headers=headers | {"Content-Type": "text/csv"},
    )
    assert same.status_code == 200 and not same.get_json()["created"]


def test_api_upload_refuses_a_bad_file_with_every_error(app: Flask, client: FlaskClient) -> None:
    _setup(app)
    before = _counts(app)
    headers = _token(app, "admin")
    resp = client.post(
        "/api/v1/named-account-lists",
        data=BAD_CSV,
        headers=headers | {"Content-Type": "text/csv"},
    )
    assert resp.status_code == 422
    error = resp.get_json()["error"]
    assert error["code"] == "invalid_file"
    assert [(e["line"], e["column"]) for e in error["details"]["errors"]] == [
        (2, "segment"),
        (4, "domain"),
        (4, "pc_count"),
    ]
    assert all(e["message"] for e in error["details"]["errors"])
    assert _counts(app) == before
    missing = client.post("/api/v1/named-account-lists", headers=headers)
    assert missing.status_code == 400
    bad_option = client.post(
        "/api/v1/named-account-lists?effective_from=soon",
        data=csv_bytes(BASE_ROWS),
        headers=headers | {"Content-Type": "text/csv"},
    )
    assert bad_option.status_code == 422
    assert "effective_from" in bad_option.get_json()["error"]["details"]["fields"]


@pytest.mark.parametrize(
    ("data", "error"),
    [
        (BROKEN_CSV, {"line": 2, "column": "name", "message": BROKEN_MESSAGE}),
        (
            b"name,domain\nContoso,contoso.com\nFabri\x00kam,fabrikam.com\n",
            {"line": 3, "column": None, "message": "contains a NUL byte at position 6"},
        ),
        (
            b'name,domain\n"Fabrikam" Inc,fabrikam.com\n',
            {"line": 2, "column": "name", "message": "after the closing quote"},
        ),
    ],
    ids=["unterminated quote", "nul byte", "text after a closing quote"],
)
def test_api_upload_refuses_a_broken_csv(
    app: Flask, client: FlaskClient, data: bytes, error: dict[str, Any]
) -> None:
    _setup(app)
    before = _counts(app)
    resp = client.post(
        "/api/v1/named-account-lists?publish=true",
        data=data,
        headers=_token(app, "admin") | {"Content-Type": "text/csv"},
    )
    assert resp.status_code == 422, resp.get_data(as_text=True)
    body = resp.get_json()["error"]
    assert body["code"] == "invalid_file"
    assert body["message"] == "1 bad line(s); nothing was imported"
    [got] = body["details"]["errors"]
    assert (got["line"], got["column"]) == (error["line"], error["column"])
    assert error["message"] in got["message"]
    assert _counts(app) == before


@pytest.mark.parametrize(("role", "status"), [("partner", 404), ("mcs", 403), ("reviewer", 403)])
def test_api_is_admin_only(app: Flask, client: FlaskClient, role: str, status: int) -> None:
    headers = _token(app, role)
    assert client.get("/api/v1/named-account-lists", headers=headers).status_code == status
    resp = client.post(
        "/api/v1/named-account-lists",
        data=csv_bytes(BASE_ROWS),
        headers=headers | {"Content-Type": "text/csv"},
    )
    assert resp.status_code == status
    assert _counts(app) == (0, 0)
    assert client.get("/api/v1/named-account-lists").status_code == 401


def test_api_routes_are_in_the_openapi_document(app: Flask, client: FlaskClient) -> None:
    doc = client.get("/api/v1/openapi.json").get_json()
    assert {"get", "post"} <= set(doc["paths"]["/api/v1/named-account-lists"])
