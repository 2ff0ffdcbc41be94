"""Named-account import: repeated domains, bounded error lists, ASCII digits, upload options."""

import io
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient

from conflict import lists
from conflict.list_cli import accounts_cli
from conflict.lists import MAX_LISTED_ERRORS, ListValidationError, decode_csv, parse_csv
from conflict.normalize import normalize_domain
from tests.conflict.test_lists import BASE_ROWS, csv_bytes, fake_recheck
from tests.conflict.test_lists_views import _counts, _setup, _signed_in, _token
from tests.factories import post_form

__all__ = ["fake_recheck"]  # the autouse fixture, shared with the service tests

URL = "/api/v1/named-account-lists"

# "Other Co" claims Caterpillar's web domain under another spelling of it.
DUP_DOMAIN_CSV = csv_bytes(
    [
        {"account_id": "C1", "name": "Caterpillar Inc.", "domain": "caterpillar.com"},
        {"account_id": "C2", "name": "Other Co", "domain": "https://www.Caterpillar.com/about"},
        {"account_id": "C3", "name": "Fabrikam Inc", "domain": "fabrikam.com"},
        {"account_id": "C4", "name": "Third Co", "domain": "sales@caterpillar.com"},
    ],
    ["account_id", "name", "domain"],
)
DUP_DOMAIN_ERRORS = [
    (3, "domain", "duplicate domain 'caterpillar.com' (first on line 2)"),
    (5, "domain", "duplicate domain 'caterpillar.com' (first on line 2)"),
]


def _refusal(data: bytes) -> ListValidationError:
    with pytest.raises(ListValidationError) as info:
        parse_csv(data)
    return info.value


def _triples(exc: ListValidationError) -> list[tuple[int, str | None, str]]:
    return [(e.line, e.column, e.message) for e in exc.errors]


def _repeated_names(lines: int) -> bytes:
    """Return a list whose every line after the first repeats the first account's name."""
    return b"name,segment\n" + b"Contoso Ltd,major\n" * lines


# -- 1. one web domain, one account -----------------------------------------------------------


@pytest.mark.parametrize(
    ("first", "second"),
    [
        ("caterpillar.com", "caterpillar.com"),
        ("caterpillar.com", "https://www.Caterpillar.com/about"),
        ("CATERPILLAR.COM.", "sales@caterpillar.com"),
        ("cat.com", "https://shop.cat.com/"),
        ("b\u00fccher.de", "xn--bcher-kva.de"),
    ],
    ids=["same", "url", "e-mail", "subdomain", "idn"],
)
def test_a_domain_repeated_in_any_spelling_is_refused(first: str, second: str) -> None:
    # The reader compares domains as the matcher indexes them.
    domain = normalize_domain(first)
    assert domain is not None and normalize_domain(second) == domain
    data = csv_bytes(
        [{"name": "Caterpillar Inc.", "domain": first}, {"name": "Other Co", "domain": second}],
        ["name", "domain"],
    )
    [(line, column, message)] = _triples(_refusal(data))
    assert (line, column) == (3, "domain")
    assert f"duplicate domain {domain!r} (first on line 2)" in message


def test_every_line_repeating_a_domain_names_the_line_it_repeats() -> None:
    exc = _refusal(DUP_DOMAIN_CSV)
    got = _triples(exc)
    assert [(line, column) for line, column, _ in got] == [(3, "domain"), (5, "domain")]
    for (_, _, message), (_, _, want) in zip(got, DUP_DOMAIN_ERRORS, strict=True):
        assert want in message
    assert str(exc) == "2 bad line(s); nothing was imported"


def test_distinct_and_blank_domains_are_accepted() -> None:
    data = csv_bytes(
        [
            {"name": "Caterpillar Inc.", "domain": "caterpillar.com"},
            {"name": "Caterpillar Financial", "domain": "catfinancial.com"},
            {"name": "No Domain One"},
            {"name": "No Domain Two"},
        ],
        ["name", "domain"],
    )
    assert [r.domain for r in parse_csv(data).rows] == [
        "caterpillar.com",
        "catfinancial.com",
        None,
        None,
    ]


def test_a_row_repeating_one_line_by_account_id_and_domain_gets_one_error() -> None:
    data = csv_bytes([BASE_ROWS[0], BASE_ROWS[1], BASE_ROWS[0] | {"name": "Contoso Again"}])
    assert _triples(_refusal(data)) == [
        (4, "account_id", "duplicate account_id 'A1' (first on line 2)")
    ]


def test_a_row_repeating_two_lines_names_both() -> None:
    data = csv_bytes([BASE_ROWS[0], BASE_ROWS[1], BASE_ROWS[1] | {"account_id": "A1"}])
    got = _triples(_refusal(data))
    assert [(line, column) for line, column, _ in got] == [(4, "account_id"), (4, "domain")]
    assert "first on line 2" in got[0][2] and "first on line 3" in got[1][2]


def test_cli_import_refuses_a_repeated_domain(app: Flask, tmp_path: Path) -> None:
    _setup(app)
    before = _counts(app)
    path = tmp_path / "dup.csv"
    path.write_bytes(DUP_DOMAIN_CSV)
    result = app.test_cli_runner().invoke(accounts_cli, ["import", str(path), "--publish"])
    assert result.exit_code == 2, result.output
    for line, column, message in DUP_DOMAIN_ERRORS:
        assert f"line {line}, column {column}: {message}" in result.stderr
    assert "Nothing was imported: 2 bad line(s)." in result.stderr
    assert _counts(app) == before


def test_api_upload_refuses_a_repeated_domain(app: Flask, client: FlaskClient) -> None:
    _setup(app)
    before = _counts(app)
    resp = client.post(
        f"{URL}?publish=true",
        data=DUP_DOMAIN_CSV,
        headers=_token(app, "admin") | {"Content-Type": "text/csv"},
    )
    assert resp.status_code == 422, resp.get_data(as_text=True)
    error = resp.get_json()["error"]
    assert error["code"] == "invalid_file"
    got = [(e["line"], e["column"]) for e in error["details"]["errors"]]
    assert got == [(3, "domain"), (5, "domain")]
    assert error["details"]["bad_lines"] == 2 and error["details"]["unlisted_bad_lines"] == 0
    assert _counts(app) == before


def test_web_upload_refuses_a_repeated_domain(app: Flask, client: FlaskClient) -> None:
    _setup(app)
    before = _counts(app)
    _signed_in(app, client, "admin")
    resp = post_form(
        client,
        "/admin/lists",
        {"file": (io.BytesIO(DUP_DOMAIN_CSV), "dup.csv"), "publish": "y"},
        content_type="multipart/form-data",
    )
    html = resp.get_data(as_text=True)
    assert resp.status_code == 422
    assert "2 bad line(s). Nothing was imported." in html
    assert "<td>3</td><td>domain</td><td>duplicate domain &#39;caterpillar.com&#39;" in html
    assert "<td>5</td><td>domain</td>" in html
    assert _counts(app) == before


# -- 2. a bounded list of problems, every bad line counted ------------------------------------


def test_a_long_refusal_lists_the_first_problems_and_counts_every_bad_line() -> None:
    exc = _refusal(_repeated_names(1000))
    assert len(exc.errors) == MAX_LISTED_ERRORS
    assert [e.line for e in exc.errors] == list(range(3, 3 + MAX_LISTED_ERRORS))
    assert all("same name as line 2" in e.message for e in exc.errors)
    assert exc.bad_lines == 999
    assert exc.unlisted_lines == 999 - MAX_LISTED_ERRORS
    assert str(exc) == "999 bad line(s); nothing was imported"
    note = exc.closing_note()
    assert note is not None
    assert f"first {MAX_LISTED_ERRORS} problems" in note and "799 more line(s)" in note
    assert "999 bad lines in all" in note


def test_a_short_refusal_lists_everything_and_has_no_closing_note() -> None:
    exc = _refusal(_repeated_names(3))
    assert exc.bad_lines == 2 and exc.unlisted_lines == 0 and exc.closing_note() is None


def test_the_count_stays_right_past_the_cap_for_distinct_bad_lines() -> None:
    # Distinct bad lines (no exact repeats), mixed with good ones and lines with two problems.
    rows = []
    for i in range(600):
        if i % 3 == 0:
            rows.append({"name": f"Good {i}", "segment": "major"})
        elif i % 3 == 1:
            rows.append({"name": f"Bad {i}", "segment": "huge"})
        else:
            rows.append({"name": f"Worse {i}", "segment": "huge", "pc_count": "-1"})
    exc = _refusal(csv_bytes(rows, ["name", "segment", "pc_count"]))
    assert exc.bad_lines == 400
    assert len(exc.errors) <= MAX_LISTED_ERRORS
    listed_lines = {e.line for e in exc.errors}
    assert exc.unlisted_lines == 400 - len(listed_lines)
    # A line is listed with all of its problems or not at all.
    for line in listed_lines:
        per_line = [e for e in exc.errors if e.line == line]
        assert len(per_line) == (2 if (line - 2) % 3 == 2 else 1), line


def test_exact_repeats_past_the_cap_are_counted_without_being_checked_again(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    calls: list[int] = []
    real = lists._validate_row

    def counting(line: int, *args: Any) -> Any:
        calls.append(line)
        return real(line, *args)

    monkeypatch.setattr(lists, "_validate_row", counting)
    # After the repeats, a different bad line and a good one: both still checked.
    data = _repeated_names(1000) + b"Fabrikam Inc,huge\nNorthwind Traders,major\n"
    exc = _refusal(data)
    assert exc.bad_lines == 1000
    assert len(calls) < 300
    assert calls[-2:] == [1002, 1003]


@pytest.mark.parametrize(
    ("data", "words"),
    [
        (b"name\n" + "Soci\u00e9t\u00e9\n".encode("latin-1") * 500, "not valid UTF-8"),
        (b"name\n" + b"Fab\x00rikam\n" * 500, "NUL byte"),
    ],
    ids=["latin-1", "nul bytes"],
)
def test_unreadable_files_are_capped_too(data: bytes, words: str) -> None:
    exc = _refusal(data)
    assert len(exc.errors) == MAX_LISTED_ERRORS and exc.bad_lines == 500
    assert all(words in e.message for e in exc.errors)


def test_a_header_with_many_unknown_columns_is_capped() -> None:
    header = "name," + ",".join(f"col{i}" for i in range(500))
    exc = _refusal(f"{header}\nContoso\n".encode())
    assert len(exc.errors) == MAX_LISTED_ERRORS and exc.bad_lines == 1


def test_decoding_alone_still_lists_every_line_unless_limited() -> None:
    # check-file reads with decode_csv and reports every line itself.
    data = b"name\n" + "Caf\u00e9\n".encode("latin-1") * 300
    with pytest.raises(ListValidationError) as info:
        decode_csv(data)
    assert len(info.value.errors) == 300


def test_cli_prints_a_bounded_list_with_a_closing_line(app: Flask, tmp_path: Path) -> None:
    path = tmp_path / "repeats.csv"
    path.write_bytes(_repeated_names(5000))
    result = app.test_cli_runner().invoke(accounts_cli, ["import", str(path)])
    assert result.exit_code == 2
    lines = result.stderr.splitlines()
    listed = [line for line in lines if line.startswith("line ")]
    assert len(listed) == MAX_LISTED_ERRORS
    assert "4,799 more line(s) have errors (4,999 bad lines in all)" in result.stderr
    assert lines[-1] == "Nothing was imported: 4,999 bad line(s)."
    assert len(lines) < MAX_LISTED_ERRORS + 10
    assert _counts(app) == (0, 0)


def test_api_answers_a_bounded_list_with_the_counts(app: Flask, client: FlaskClient) -> None:
    resp = client.post(
        URL,
        data=_repeated_names(5000),
        headers=_token(app, "admin") | {"Content-Type": "text/csv"},
    )
    assert resp.status_code == 422
    assert len(resp.get_data()) < 100_000
    error = resp.get_json()["error"]
    assert error["message"] == "4,999 bad line(s); nothing was imported"
    details = error["details"]
    assert len(details["errors"]) == MAX_LISTED_ERRORS
    assert details["bad_lines"] == 4999
    assert details["unlisted_bad_lines"] == 4999 - MAX_LISTED_ERRORS
    assert _counts(app) == (0, 0)


def test_web_shows_a_bounded_list_with_the_closing_note(app: Flask, client: FlaskClient) -> None:
    _signed_in(app, client, "admin")
    resp = post_form(
        client,
        "/admin/lists",
        {"file": (io.BytesIO(_repeated_names(5000)), "repeats.csv")},
        content_type="multipart/form-data",
    )
    html = resp.get_data(as_text=True)
    assert resp.status_code == 422
    assert "4,999 bad line(s). Nothing was imported." in html
    assert html.count("same name as line 2") == MAX_LISTED_ERRORS
    assert "4,799 more line(s) have errors (4,999 bad lines in all)" in html
    assert _counts(app) == (0, 0)


# -- 3. effective_from needs publish on the API too -------------------------------------------


@pytest.mark.parametrize(
    ("query", "form"),
    [
        ("?effective_from=2020-01-01", None),
        ("?effective_from=2020-01-01&publish=false", None),
        ("", {"effective_from": "2020-01-01"}),
    ],
    ids=["query", "publish false", "form field"],
)
def test_api_refuses_effective_from_without_publish(
    app: Flask, client: FlaskClient, query: str, form: dict[str, str] | None
) -> None:
    headers = _token(app, "admin")
    if form is None:
        resp = client.post(
            URL + query,
            data=csv_bytes(BASE_ROWS),
            headers=headers | {"Content-Type": "text/csv"},
        )
    else:
        resp = client.post(
            URL + query,
            data={**form, "file": (io.BytesIO(csv_bytes(BASE_ROWS)), "list.csv")},
            content_type="multipart/form-data",
            headers=headers,
        )
    assert resp.status_code == 422, resp.get_data(as_text=True)
    error = resp.get_json()["error"]
    assert error["message"] == "effective_from only applies with publish."
    assert error["details"]["fields"] == {
        "effective_from": "effective_from only applies with publish"
    }
    assert _counts(app) == (0, 0)


# -- 4. PC counts in ASCII digits only ---------------------------------------------------------


@pytest.mark.parametrize(
    "value",
    ["\u0663\u0664", "\uff13\uff14", "\u0969\u096a", "1\u0663", "\u0663,\u0664\u0660\u0660"],
    ids=["arabic-indic", "full-width", "devanagari", "mixed", "arabic-indic grouped"],
)
def test_pc_count_in_other_digits_is_refused_with_its_line(value: str) -> None:
    data = csv_bytes([BASE_ROWS[1], BASE_ROWS[2] | {"pc_count": value}])
    [(line, column, message)] = _triples(_refusal(data))
    assert (line, column) == (3, "pc_count")
    assert "digits 0-9" in message and repr(value) in message


@pytest.mark.parametrize(
    ("value", "count"), [("34", 34), ("8,500", 8500), ("12 000", 12000), ("", None)]
)
def test_pc_count_in_ascii_digits_is_still_accepted(value: str, count: int | None) -> None:
    [row] = parse_csv(csv_bytes([BASE_ROWS[0] | {"pc_count": value}])).rows
    assert row.pc_count == count


def test_a_pc_count_too_long_for_int_is_refused_not_crashed() -> None:
    [(line, column, message)] = _triples(
        _refusal(csv_bytes([BASE_ROWS[0] | {"pc_count": "9" * 5000}]))
    )
    assert (line, column) == (2, "pc_count") and "implausibly large" in message


def test_cli_import_refuses_arabic_indic_digits(app: Flask, tmp_path: Path) -> None:
    path = tmp_path / "digits.csv"
    path.write_bytes(csv_bytes([BASE_ROWS[0] | {"pc_count": "\u0663\u0664"}]))
    result = app.test_cli_runner().invoke(accounts_cli, ["import", str(path)])
    assert result.exit_code == 2
    assert "line 2, column pc_count: PC count must be written with the digits 0-9" in result.stderr
    assert _counts(app) == (0, 0)


# -- 5. the OpenAPI document describes the upload body ----------------------------------------


def test_the_document_describes_the_upload_body(client: FlaskClient) -> None:
    doc = client.get("/api/v1/openapi.json").get_json()
    operation = doc["paths"][URL]["post"]
    body = operation["requestBody"]
    assert body["required"] is True
    ref = body["content"]["multipart/form-data"]["schema"]["$ref"]
    schema = doc["components"]["schemas"][ref.rsplit("/", 1)[-1]]
    assert schema["properties"]["file"]["type"] == "string"
    assert schema["properties"]["file"]["format"] == "binary"
    assert "file" in schema["required"]
    assert {"publish", "effective_from", "label"} <= set(schema["properties"])
    assert "text/csv" in operation["description"]


def test_an_upload_built_from_the_document_works(app: Flask, client: FlaskClient) -> None:
    doc = client.get("/api/v1/openapi.json").get_json()
    body = doc["paths"][URL]["post"]["requestBody"]
    content_type = "multipart/form-data"
    ref = body["content"][content_type]["schema"]["$ref"]
    schema = doc["components"]["schemas"][ref.rsplit("/", 1)[-1]]
    [file_field] = [k for k, v in schema["properties"].items() if v.get("format") == "binary"]
    resp = client.post(
        URL,
        data={file_field: (io.BytesIO(csv_bytes(BASE_ROWS)), "list.csv"), "label": "From doc"},
        content_type=content_type,
        headers=_token(app, "admin"),
    )
    assert resp.status_code == 201, resp.get_data(as_text=True)
    assert resp.get_json()["version"]["label"] == "From doc"


def test_a_multipart_upload_without_the_file_is_still_told_how_to_send_it(
    app: Flask, client: FlaskClient
) -> None:
    resp = client.post(
        URL,
        data={"label": "No file"},
        content_type="multipart/form-data",
        headers=_token(app, "admin"),
    )
    assert resp.status_code == 400
    assert 'multipart field "file"' in resp.get_json()["error"]["message"]


def test_a_csv_body_as_the_document_describes_it_works(app: Flask, client: FlaskClient) -> None:
    doc = client.get("/api/v1/openapi.json").get_json()
    assert "text/csv" in doc["paths"][URL]["post"]["requestBody"]["content"]
    resp = client.post(
        URL,
        data=csv_bytes(BASE_ROWS),
        content_type="text/csv",
        headers=_token(app, "admin"),
    )
    assert resp.status_code == 201, resp.get_data(as_text=True)
