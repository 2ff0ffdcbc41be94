"""flask check and flask check-file: run the conflict engine from the command line (dry runs)."""

import csv
import json
import sys
from collections.abc import Iterator
from typing import Any

import click
from flask import Flask
from flask.cli import with_appcontext

from conflict import rules
from conflict.normalize import normalize_domain
from conflict.service import (
    conflict_policy,
    customer_name_key,
    load_engagement_book,
    load_engagements,
)
from conflict.types import WORKLOADS, Decision, Facts
from models.db import db
from models.policy import active_policy

CHECK_FILE_COLUMNS = (
    "customer_name",
    "customer_domain",
    "pc_count",
    "workloads",
    "party",
    "partner_id",
)


def _decision_json(decision: Decision, **extra: Any) -> str:
    body = {
        **extra,
        "outcome": str(decision.outcome),
        "findings": rules.findings_to_json(decision.findings),
        "list_version_id": decision.list_version_id,
        "policy_version_id": decision.policy_version_id,
    }
    return json.dumps(body, default=str)


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

    if not name.strip():
        raise click.UsageError("--name must not be blank")
    sess = db.session
    domain_n = normalize_domain(domain) if domain else None
    if domain and domain_n is None:
        raise click.BadParameter("not a company web domain", param_hint="--domain")
    facts = Facts(
        party=party,
        customer_name=name,
        customer_domain=domain_n,
        district=district,
        pc_count=pcs,
        workloads=frozenset(workloads),
        solution_stack=stack,
        dotnet_early_adoption=dotnet_early_adoption,
        estimated_value=estimated_value,
        partner_id=partner_id,
    )
    engagements = load_engagements(sess, key=customer_name_key(name), domain=domain_n)
    policy = conflict_policy(active_policy(sess))
    decision = rules.evaluate(facts, get_index(sess), engagements, policy)
    sess.rollback()
    click.echo(_decision_json(decision, customer_name=name))


class BrokenFile(Exception):
    """The CSV structure itself is broken at a line, so nothing after it can be read."""


def _rows(path: str) -> Iterator[tuple[int, dict[str, str]]]:
    """Yield (first line number, row) for each CSV record, refusing broken quoting."""
    with open(path, encoding="utf-8-sig", newline="") as fh:
        # strict: a quote left open would otherwise swallow the rows after it without a word.
        reader = csv.DictReader(fh, strict=True)
        try:
            fieldnames = reader.fieldnames or []
        except csv.Error as exc:
            raise BrokenFile(f"line 1: the header is not valid CSV ({exc})") from exc
        missing = [c for c in ("customer_name",) if c not in fieldnames]
        if missing:
            raise click.UsageError(f"{path}: missing column(s) {', '.join(missing)}")
        start = reader.line_num + 1
        while True:
            try:
                row = next(reader)
            except StopIteration:
                return
            except csv.Error as exc:
                raise BrokenFile(
                    f"line {start}: the CSV is broken from here ({exc}); a quote may be left "
                    "open. Nothing after this line was checked"
                ) from exc
            yield start, row
            # A quoted field may span lines: the next record starts after this one's last line.
            start = reader.line_num + 1


def _facts_from_row(row: dict[str, str]) -> Facts:
    extra = row.get(None)  # type: ignore[call-overload]
    if extra and any(str(cell).strip() for cell in extra):
        raise ValueError("the row has more cells than the header")
    name = (row.get("customer_name") or "").strip()
    if not name:
        raise ValueError("customer_name is blank")
    pcs_raw = (row.get("pc_count") or "").strip()
    if pcs_raw and not pcs_raw.isdigit():
        raise ValueError(f"pc_count {pcs_raw!r} is not a whole number")
    workloads = frozenset(w.strip() for w in (row.get("workloads") or "").split(";") if w.strip())
    unknown = workloads - set(WORKLOADS)
    if unknown:
        raise ValueError(f"unknown workload(s) {', '.join(sorted(unknown))}")
    party = (row.get("party") or "partner").strip() or "partner"
    if party not in ("partner", "mcs"):
        raise ValueError(f"party {party!r} must be partner or mcs")
    pid = (row.get("partner_id") or "").strip()
    if pid and not pid.isdigit():
        raise ValueError(f"partner_id {pid!r} is not a whole number")
    domain = (row.get("customer_domain") or "").strip()
    return Facts(
        party=party,
        customer_name=name,
        customer_domain=normalize_domain(domain) if domain else None,
        pc_count=int(pcs_raw) if pcs_raw else None,
        workloads=workloads,
        partner_id=int(pid) if pid else None,
    )


@click.command("check-file")
@with_appcontext
@click.argument("path", type=click.Path(exists=True, dir_okay=False))
def check_file(path: str) -> None:
    """Print one JSON decision per CSV row (bulk dry run; stores nothing)."""
    from conflict.index_cache import get_index

    sess = db.session
    index = get_index(sess)
    policy = conflict_policy(active_policy(sess))
    book = load_engagement_book(sess)
    sess.rollback()
    bad = 0
    out = sys.stdout
    rows = _rows(path)
    number = 0
    while True:
        try:
            line, row = next(rows)
        except StopIteration:
            break
        except BrokenFile as exc:
            click.echo(f"{path}: {exc}", err=True)
            sys.exit(2)
        number += 1
        try:
            facts = _facts_from_row(row)
        except ValueError as exc:
            bad += 1
            click.echo(f"line {line}: {exc}", err=True)
            continue
        engagements = book.for_customer(
            customer_name_key(facts.customer_name), facts.customer_domain
        )
        decision = rules.evaluate(facts, index, engagements, policy)
        out.write(_decision_json(decision, row=number, customer_name=facts.customer_name))
        out.write("\n")
    if bad:
        click.echo(f"{bad} line(s) could not be checked", err=True)
        sys.exit(2)


def init_app(app: Flask) -> None:
    """Register the conflict commands."""
    app.cli.add_command(check)
    app.cli.add_command(check_file)
