"""flask check and flask check-file refuse what the API refuses: exit 2, every problem named."""

import json
from pathlib import Path

import pytest
from flask import Flask
from flask.testing import FlaskCliRunner

from models.db import db
from tests.factories import make_district, make_list, make_partner

HEADER = "customer_name,customer_domain,pc_count,workloads,party,partner_id\n"


@pytest.fixture()
def runner(app: Flask) -> FlaskCliRunner:
    with app.app_context():
        make_district("northeast", "east")
        make_list([{"name": "Caterpillar Inc.", "domain": "caterpillar.com"}])
        make_partner("Contoso Partners")
        db.session.commit()
    return app.test_cli_runner()


def _partner_id(app: Flask) -> int:
    import sqlalchemy as sa

    from models import Partner

    with app.app_context():
        return db.session.execute(sa.select(Partner.id)).scalar_one()


# --- flask check -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("args", "words"),
    [
        (["--name", "X", "--workload", "azure"], "--name: use at least 2 characters"),
        (["--name", "Acme", "--workload", "azure", "--district", "mars"], "--district: unknown"),
        (
            ["--name", "Acme", "--workload", "azure", "--partner-id", "999"],
            "--partner-id: no partner",
        ),
        (
            ["--name", "Acme", "--workload", "azure", "--dotnet-early-adoption"],
            "--value: an early .NET adoption flag needs an estimated value",
        ),
        (["--name", "Acme", "--workload", "azure", "--domain", "gmail.com"], "--domain: enter"),
        (["--name", "Acme", "--workload", "azure", "--pcs", "99999999999"], "--pcs:"),
        (["--name", "Evil\r\nBcc: x@example.com", "--workload", "azure"], "the line break"),
        (["--name", "Acme \u202eLtd", "--workload", "azure"], "text-direction control"),
        (
            ["--name", "Acme", "--workload", "azure", "--party", "mcs", "--partner-id", "1"],
            "--partner-id: only a partner registration has a partner",
        ),
    ],
)
def test_check_refuses_what_the_api_refuses(
    runner: FlaskCliRunner, args: list[str], words: str
) -> None:
    result = runner.invoke(args=["check", *args])
    assert result.exit_code == 2, result.output
    assert words in result.stderr, result.stderr
    assert result.stdout == ""
    assert "Traceback" not in result.output


def test_check_names_every_problem_at_once(runner: FlaskCliRunner) -> None:
    result = runner.invoke(
        args=[
            "check",
            *("--name", "X", "--dotnet-early-adoption"),
            *("--district", "mars", "--partner-id", "999"),
        ]
    )
    assert result.exit_code == 2
    for option in ("--name", "--value", "--district", "--partner-id"):
        assert f"Error: {option}:" in result.stderr, result.stderr


def test_check_needs_no_workload(runner: FlaskCliRunner) -> None:
    # SPEC's check command takes --workload as optional: the rules then see no workload.
    result = runner.invoke(args=["check", "--name", "Caterpillar Inc", "--pcs", "5000"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["outcome"] == "in_conflict"


def test_check_with_good_input_prints_the_decision(app: Flask, runner: FlaskCliRunner) -> None:
    pid = _partner_id(app)
    args = ["check", "--name", "Caterpillar Inc", "--workload", "exchange", "--pcs", "5000"]
    result = runner.invoke(
        args=[
            *args,
            "--district",
            "northeast",
            "--partner-id",
            str(pid),
            "--domain",
            "caterpillar.com",
        ]
    )
    assert result.exit_code == 0, result.output
    body = json.loads(result.stdout)
    assert body["customer_name"] == "Caterpillar Inc"
    assert body["findings"][0]["rule"] == "NAMED_ACCOUNT"


# --- flask check-file: the file's text --------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "words"),
    [
        (b"customer_name,workloads\nCaf\xe9 Ltd,azure\n", "line 2: not valid UTF-8 (byte 0xe9"),
        (
            "customer_name,workloads\nCafé Ltd,azure\n".encode("utf-16"),
            "line 1: the file is UTF-16; save it as UTF-8",
        ),
        (
            "customer_name,workloads\nAcme Ltd,azure\n".encode("utf-16-le"),
            "line 1: contains a NUL byte",
        ),
        (b"", "line 1: the file is empty"),
        (b"customer_name,workloads\n", "the file has a header but no rows"),
    ],
)
def test_a_file_that_is_not_utf8_text_is_refused_with_its_line(
    runner: FlaskCliRunner, tmp_path: Path, raw: bytes, words: str
) -> None:
    path = tmp_path / "regs.csv"
    path.write_bytes(raw)
    result = runner.invoke(args=["check-file", str(path)])
    assert result.exit_code == 2, result.output
    assert words in result.stderr, result.stderr
    assert "Traceback" not in result.output and result.stdout == ""


def test_a_file_with_a_byte_order_mark_is_read(runner: FlaskCliRunner, tmp_path: Path) -> None:
    path = tmp_path / "regs.csv"
    path.write_bytes(b"\xef\xbb\xbfcustomer_name,workloads\nCaf\xc3\xa9 Ltd,azure\n")
    result = runner.invoke(args=["check-file", str(path)])
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["customer_name"] == "Café Ltd"


# --- flask check-file: columns and values -----------------------------------------------------


def test_unknown_columns_are_named_with_the_known_ones(
    runner: FlaskCliRunner, tmp_path: Path
) -> None:
    path = tmp_path / "regs.csv"
    path.write_text("customer_name,domain,pcs,workload\nAcme,acme.com,10,azure\n")
    result = runner.invoke(args=["check-file", str(path)])
    assert result.exit_code == 2, result.output
    for column in ("domain", "pcs", "workload"):
        assert f"line 1: unknown column {column!r} (expected columns: customer_name," in (
            result.stderr
        )
    assert result.stdout == ""


def test_a_header_without_customer_name_or_with_a_column_twice_is_refused(
    runner: FlaskCliRunner, tmp_path: Path
) -> None:
    path = tmp_path / "regs.csv"
    path.write_text("workloads,workloads\nazure,azure\n")
    result = runner.invoke(args=["check-file", str(path)])
    assert result.exit_code == 2
    assert "column 'workloads' appears twice" in result.stderr
    assert "the header has no 'customer_name' column" in result.stderr


def test_every_bad_line_is_listed_and_no_decision_printed(
    app: Flask, runner: FlaskCliRunner, tmp_path: Path
) -> None:
    pid = _partner_id(app)
    path = tmp_path / "regs.csv"
    path.write_text(
        HEADER
        + f"Good Customer Ltd,goodcustomer.com,10,azure,partner,{pid}\n"  # line 2: fine
        + "Gmail Users Inc,gmail.com,10,azure,partner,\n"  # 3: free-mail domain
        + "Vague Domain Inc,not a domain,10,azure,partner,\n"  # 4: not a domain
        + "Ghost Partner Inc,,10,azure,partner,999\n"  # 5: no such partner
        + "No Workload Inc,,10,,partner,\n"  # 6: fine, a dry run needs no workload
        + "Odd Workload Inc,,10,azure;teleport,partner,\n"  # 7: unknown workload
        + "X,,10,azure,partner,\n"  # 8: name too short
        + "Huge Inc,,99999999999,azure,partner,\n"  # 9: too many PCs
        + '"Evil\r\nBcc: attacker@example.com",,10,azure,partner,\n'  # 10-11: line break
        + "Seller Deal Inc,,10,azure,mcs,7\n"  # 12: MCS with a partner
        + "Who Inc,,10,azure,someone,\n"  # 13: unknown party
    )
    result = runner.invoke(args=["check-file", str(path)])
    assert result.exit_code == 2, result.output
    assert result.stdout == "", "nothing is printed for good rows when the file has errors"
    err = result.stderr
    expected = {
        3: "customer_domain: enter the customer's own web domain",
        4: "customer_domain: enter a web domain such as contoso.com",
        5: "partner_id: no partner has id 999",
        7: "workloads: unknown workload 'teleport'",
        8: "customer_name: use at least 2 characters",
        9: "pc_count: Input should be less than or equal to",
        10: "customer_name: remove the line break",
        12: "partner_id: only a partner registration has a partner",
        13: "party: 'someone' must be partner or mcs",
    }
    for line, words in expected.items():
        assert f"line {line}: {words}" in err, (line, err)
    assert "line 2:" not in err and "line 6:" not in err and "line 11:" not in err
    assert f"Nothing was checked: {len(expected)} bad line(s)" in err


def test_a_good_file_prints_one_decision_per_row(
    app: Flask, runner: FlaskCliRunner, tmp_path: Path
) -> None:
    pid = _partner_id(app)
    path = tmp_path / "regs.csv"
    path.write_text(
        " Customer_Name , Workloads ,partner_id,\n"
        f"Caterpillar,exchange,{pid},\n"
        ",,,\n"
        "Unknown Gadgets LLC,azure;exchange,,\n"
    )
    result = runner.invoke(args=["check-file", str(path)])
    assert result.exit_code == 0, result.output
    lines = [json.loads(line) for line in result.stdout.splitlines()]
    assert [(row["row"], row["customer_name"]) for row in lines] == [
        (1, "Caterpillar"),
        (2, "Unknown Gadgets LLC"),
    ]
    assert lines[0]["findings"][0]["rule"] == "NAMED_ACCOUNT"


def test_broken_quoting_is_reported_with_the_errors_before_it(
    runner: FlaskCliRunner, tmp_path: Path
) -> None:
    path = tmp_path / "regs.csv"
    path.write_text(
        'customer_name,workloads\nContoso,azure\nX,azure\n"Woodgrove Bank,azure\nNorthwind,azure\n'
    )
    result = runner.invoke(args=["check-file", str(path)])
    assert result.exit_code == 2
    assert "line 3: customer_name: use at least 2 characters" in result.stderr
    assert "line 4: the CSV is broken from here" in result.stderr
    assert result.stdout == ""


def test_empty_header_cells_are_ignored(runner: FlaskCliRunner, tmp_path: Path) -> None:
    path = tmp_path / "export.csv"
    path.write_text("customer_name,pc_count,workloads,,\nAcme Widgets Ltd,10,azure,,\n")
    result = runner.invoke(args=["check-file", str(path)])
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["customer_name"] == "Acme Widgets Ltd"


def test_a_bad_party_is_reported_once(runner: FlaskCliRunner, tmp_path: Path) -> None:
    path = tmp_path / "party.csv"
    path.write_text(HEADER + "Who Inc,,10,azure,someone,\n")
    result = runner.invoke(args=["check-file", str(path)])
    assert result.exit_code == 2
    assert result.stderr.count("line 2:") == 1, result.stderr


def test_a_file_of_many_bad_lines_lists_the_first_and_counts_the_rest(
    runner: FlaskCliRunner, tmp_path: Path
) -> None:
    path = tmp_path / "many.csv"
    path.write_text(
        "customer_name,customer_domain,pc_count,workloads,party,partner_id\n"
        + "X,,10,azure,partner,\n" * 1_000
        + "Good Inc,,10,azure,partner,\n",
        encoding="utf-8",
    )
    result = runner.invoke(args=["check-file", str(path)])
    assert result.exit_code == 2 and result.stdout == ""
    lines = result.stderr.splitlines()
    assert len([ln for ln in lines if ln.startswith("line ")]) == 200
    assert lines[0].startswith("line 2: customer_name:") and lines[199].startswith("line 201:")
    assert lines[-2] == (
        "Only the first 200 problems are listed: 800 more line(s) have errors "
        "(1,000 bad lines in all)."
    )
    assert lines[-1] == f"Nothing was checked: 1,000 bad line(s) in {path}."
