"""flask check and flask check-file: run the conflict engine from the command line (dry runs)."""

import csv
import io
import json
import sys
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NoReturn

import click
import sqlalchemy as sa
from flask import Flask
from flask.cli import with_appcontext
from pydantic import ValidationError
from sqlalchemy.orm import Session

from conflict import rules

# The named-account import's reader: the same words for a file that is not UTF-8 or plain text.
from conflict.lists import MAX_LISTED_ERRORS, ListValidationError, decode_csv, refuse_nul_in_csv
from conflict.schemas import RegistrationCreate, field_message, validate_dry_run
from conflict.service import (
    conflict_policy,
    customer_name_key,
    load_engagement_book,
    load_engagements,
    registration_facts,
)
from conflict.types import WORKLOADS, Decision, Facts
from models import District, Partner
from models.base import MAX_ID
from models.db import db
from models.district import district_names
from models.policy import active_policy

CHECK_FILE_COLUMNS = (
    "customer_name",
    "customer_domain",
    "pc_count",
    "workloads",
    "party",
    "partner_id",
)
# How each input of a registration is named on the command line.
CHECK_OPTIONS = {
    "customer_name": "--name",
    "customer_domain": "--domain",
    "district": "--district",
    "pc_count": "--pcs",
    "workloads": "--workload",
    "solution_stack": "--stack",
    "dotnet_early_adoption": "--dotnet-early-adoption",
    "estimated_value": "--value",
    "party": "--party",
    "partner_id": "--partner-id",
}


def _decision_json(decision: Decision, **extra: Any) -> str:
    body = {
        **extra,
        "outcome": str(decision.outcome),
        "findings": rules.findings_to_json(decision.findings),
        "list_version_id": decision.list_version_id,
        "policy_version_id": decision.policy_version_id,
    }
    return json.dumps(body, default=str)


@dataclass(frozen=True)
class CheckInput:
    """A registration validated as the API validates it, with the party it is checked for."""

    data: RegistrationCreate
    party: str
    partner_id: int | None

    def facts(self) -> Facts:
        """Return the facts the rules judge, built as a submission builds them."""
        return registration_facts(self.data, party=self.party, partner_id=self.partner_id)


def _message(err: Any) -> str:
    loc = tuple(err.get("loc") or ())
    if loc[:1] == ("workloads",):
        # The library would list every allowed value in its own words.
        known = ", ".join(WORKLOADS)
        if err.get("type") == "too_short":
            return f"name at least one workload ({known})"
        if err.get("type") == "literal_error":
            return f"unknown workload {err.get('input')!r} (known: {known})"
    return field_message(str(err.get("msg", "not valid")))


def validate_input(
    fields: dict[str, Any], *, party: str, partner_id: int | None
) -> tuple[CheckInput | None, list[tuple[str, str]]]:
    """Validate a registration as the API does; return it, or the (field, message) problems."""
    problems: list[tuple[str, str]] = []
    if party not in ("partner", "mcs"):
        problems.append(("party", f"{party!r} must be partner or mcs"))
    elif party == "mcs" and partner_id is not None:
        # MCS engagements belong to no partner organisation.
        problems.append(("partner_id", "only a partner registration has a partner"))
    try:
        # The party is checked above, in this command's words; validated again it would be
        # reported twice. --workload is optional, as for any dry run.
        data = validate_dry_run(fields)
    except ValidationError as exc:
        for err in exc.errors():
            loc = err.get("loc") or ()
            problems.append((str(loc[0]) if loc else "customer_name", _message(err)))
        return None, problems
    if problems:
        return None, problems
    return CheckInput(data, party, partner_id), []


def unknown_references(
    sess: Session, districts: Iterable[str | None], partner_ids: Iterable[int | None]
) -> tuple[set[str], set[int]]:
    """Return the district codes and partner ids among those given that name nothing."""
    codes = {d for d in districts if d}
    ids = {p for p in partner_ids if p is not None}
    known_codes = (
        set(sess.execute(sa.select(District.code).where(District.code.in_(codes))).scalars())
        if codes
        else set()
    )
    # An id past the column's range names no partner and must not reach the database.
    in_range = {p for p in ids if p <= MAX_ID}
    known_ids = (
        set(sess.execute(sa.select(Partner.id).where(Partner.id.in_(in_range))).scalars())
        if in_range
        else set()
    )
    return codes - known_codes, ids - known_ids


def _reference_problems(
    district: str | None, partner_id: int | None, districts: set[str], partners: set[int]
) -> list[tuple[str, str]]:
    problems = []
    if district in districts:
        problems.append(("district", f"unknown district {district!r}"))
    if partner_id in partners:
        problems.append(("partner_id", f"no partner has id {partner_id}"))
    return problems


@click.command("check")
@with_appcontext
@click.option("--name", "name", required=True, help="Customer name.")
@click.option("--domain", default=None, help="Customer web domain or e-mail address.")
@click.option("--pcs", type=click.IntRange(min=0), default=None, help="Number of PCs.")
@click.option("--workload", "workloads", multiple=True, type=click.Choice(WORKLOADS))
@click.option("--party", type=click.Choice(["partner", "mcs"]), default="partner")
@click.option("--partner-id", type=int, default=None)
@click.option("--district", default=None)
@click.option("--stack", type=click.Choice(["all_microsoft", "competitive_middleware"]))
@click.option("--dotnet-early-adoption", is_flag=True)
@click.option("--value", "estimated_value", type=click.IntRange(min=0), default=None)
def check(
    name: str,
    domain: str | None,
    pcs: int | None,
    workloads: tuple[str, ...],
    party: str,
    partner_id: int | None,
    district: str | None,
    stack: str | None,
    dotnet_early_adoption: bool,
    estimated_value: int | None,
) -> None:
    """Print the decision a registration would get now, as JSON (stores nothing)."""
    from conflict.index_cache import get_index

    item, problems = validate_input(
        {
            "customer_name": name,
            "customer_domain": domain or None,
            "district": district or None,
            "pc_count": pcs,
            "workloads": list(workloads),
            "solution_stack": stack,
            "dotnet_early_adoption": dotnet_early_adoption,
            "estimated_value": estimated_value,
        },
        party=party,
        partner_id=partner_id,
    )
    sess = db.session
    # Looked up even when other options are wrong, so one run names every problem.
    code = item.data.district if item is not None else (district or "").strip() or None
    if any(field == "district" for field, _ in problems):
        code = None  # already refused as written
    districts, partners = unknown_references(sess, [code], [partner_id])
    problems += _reference_problems(code, partner_id, districts, partners)
    if problems:
        sess.rollback()
        for field, message in problems:
            click.echo(f"Error: {CHECK_OPTIONS.get(field, field)}: {message}", err=True)
        sys.exit(2)
    assert item is not None
    data = item.data
    engagements = load_engagements(
        sess, key=customer_name_key(data.customer_name), domain=data.customer_domain
    )
    policy = conflict_policy(active_policy(sess))
    decision = rules.evaluate(
        item.facts(), get_index(sess), engagements, policy, district_names=district_names(sess)
    )
    sess.rollback()
    click.echo(_decision_json(decision, customer_name=data.customer_name))


class BrokenFile(Exception):
    """The CSV structure itself is broken at a line, so nothing after it can be read."""

    def __init__(self, line: int, message: str) -> None:
        super().__init__(f"line {line}: {message}")
        self.line = line
        self.message = message


def _rows(text: str) -> Iterator[tuple[int, list[str]]]:
    """Yield (first line number, cells) for each non-blank CSV record, refusing broken quoting."""
    # strict: a quote left open would otherwise swallow the rows after it without a word.
    reader = csv.reader(io.StringIO(text, newline=""), strict=True)
    start = 1
    while True:
        try:
            cells = next(reader)
        except StopIteration:
            return
        except csv.Error as exc:
            what = "the header is not valid CSV" if start == 1 else "the CSV is broken from here"
            raise BrokenFile(
                start,
                f"{what} ({exc}); a quote may be left open. Nothing after this line was checked",
            ) from exc
        if any(cell.strip() for cell in cells):
            yield start, cells
        # A quoted field may span lines: the next record starts after this one's last line.
        start = reader.line_num + 1


def _header_problems(header: list[str]) -> list[str]:
    expected = "expected columns: " + ", ".join(CHECK_FILE_COLUMNS)
    problems = []
    seen: set[str] = set()
    for name in header:
        if not name:
            # Spreadsheets export trailing empty columns; their cells are ignored too.
            continue
        if name in seen:
            problems.append(f"column {name!r} appears twice")
        elif name not in CHECK_FILE_COLUMNS:
            problems.append(f"unknown column {name!r} ({expected})")
        seen.add(name)
    if "customer_name" not in header:
        problems.append(f"the header has no 'customer_name' column ({expected})")
    return problems


def _whole_number(row: dict[str, str], column: str) -> int | None:
    raw = row.get(column, "")
    if not raw:
        return None
    if not raw.isascii() or not raw.isdigit():
        raise ValueError(f"{column} {raw!r} is not a whole number")
    return int(raw)


def _input_from_row(row: dict[str, str]) -> tuple[CheckInput | None, list[str]]:
    """Validate one CSV row as `flask check` validates its options."""
    problems = []
    try:
        pcs = _whole_number(row, "pc_count")
    except ValueError as exc:
        pcs, problems = None, [str(exc)]
    try:
        partner_id = _whole_number(row, "partner_id")
    except ValueError as exc:
        partner_id = None
        problems.append(str(exc))
    fields: dict[str, Any] = {
        "customer_name": row.get("customer_name", ""),
        "customer_domain": row.get("customer_domain") or None,
        "workloads": [w.strip() for w in row.get("workloads", "").split(";") if w.strip()],
    }
    if pcs is not None:
        fields["pc_count"] = pcs
    item, invalid = validate_input(
        fields, party=row.get("party") or "partner", partner_id=partner_id
    )
    problems += [f"{field}: {message}" for field, message in invalid]
    return (None if problems else item), problems


def _refuse_check_file(path: str, errors: list[tuple[int, str]]) -> NoReturn:
    """Print a bad file's problems (the first lines' in full, as the list import does); exit 2."""
    bad_lines = sorted({line for line, _ in errors})
    shown = set(bad_lines[:MAX_LISTED_ERRORS])
    listed = [(line, message) for line, message in errors if line in shown][:MAX_LISTED_ERRORS]
    for line, message in listed:
        click.echo(f"line {line}: {message}", err=True)
    unlisted = len(bad_lines) - len({line for line, _ in listed})
    if unlisted:
        click.echo(
            f"Only the first {len(listed)} problems are listed: {unlisted:,} more line(s) have"
            f" errors ({len(bad_lines):,} bad lines in all).",
            err=True,
        )
    click.echo(f"Nothing was checked: {len(bad_lines):,} bad line(s) in {path}.", err=True)
    sys.exit(2)


@click.command("check-file")
@with_appcontext
@click.argument("path", type=click.Path(exists=True, dir_okay=False))
def check_file(path: str) -> None:
    """Print one JSON decision per CSV row (bulk dry run; stores nothing).

    Every row is checked first: a file with any bad line prints its problems (the first 200 in
    full, then how many more lines are bad) and no decision.
    """
    from conflict.index_cache import get_index

    items, errors = _read_check_file(path)
    sess = db.session
    # Rows whose values are good still need their partner to exist; one query for the file.
    _, partners = unknown_references(sess, [], [item.partner_id for _, item in items])
    for line, item in items:
        errors += [
            (line, f"{field}: {message}")
            for field, message in _reference_problems(None, item.partner_id, set(), partners)
        ]
    errors.sort(key=lambda error: error[0])
    if errors:
        sess.rollback()
        _refuse_check_file(path, errors)
    index = get_index(sess)
    policy = conflict_policy(active_policy(sess))
    book = load_engagement_book(sess)
    names = district_names(sess)
    sess.rollback()
    out = sys.stdout
    for number, (_, item) in enumerate(items, start=1):
        facts = item.facts()
        engagements = book.for_customer(
            customer_name_key(facts.customer_name), facts.customer_domain
        )
        decision = rules.evaluate(facts, index, engagements, policy, district_names=names)
        out.write(_decision_json(decision, row=number, customer_name=facts.customer_name))
        out.write("\n")


def _read_check_file(path: str) -> tuple[list[tuple[int, CheckInput]], list[tuple[int, str]]]:
    """Return the file's valid rows by first line number, and (line, message) for each problem."""
    try:
        text = decode_csv(Path(path).read_bytes())
        refuse_nul_in_csv(text)
    except ListValidationError as exc:
        return [], [(e.line, e.message) for e in exc.errors]
    rows = _rows(text)
    items: list[tuple[int, CheckInput]] = []
    errors: list[tuple[int, str]] = []
    try:
        first = next(rows, None)
        if first is None:
            return [], [(1, "the file is empty")]
        header_line, header = first
        names = [h.strip().casefold() for h in header]
        errors = [(header_line, p) for p in _header_problems(names)]
        if errors:
            return [], errors
        for line, cells in rows:
            if len(cells) > len(names) and any(c.strip() for c in cells[len(names) :]):
                errors.append((line, "the row has more cells than the header"))
                continue
            row = {name: cell.strip() for name, cell in zip(names, cells, strict=False) if name}
            item, problems = _input_from_row(row)
            errors += [(line, p) for p in problems]
            if item is not None:
                items.append((line, item))
    except BrokenFile as exc:
        errors.append((exc.line, exc.message))
    if not errors and not items:
        errors.append((header_line, "the file has a header but no rows"))
    return items, errors


def init_app(app: Flask) -> None:
    """Register the conflict commands."""
    app.cli.add_command(check)
    app.cli.add_command(check_file)
