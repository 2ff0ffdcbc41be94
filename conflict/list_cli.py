"""flask accounts ...: import and diff named-account lists."""

import sys
from datetime import datetime
from pathlib import Path

import click
from flask import Flask
from flask.cli import AppGroup

from conflict.lists import (
    ListDiff,
    ListError,
    ListValidationError,
    diff_file,
    import_list,
    known_districts,
    parse_csv,
    preview_file,
)
from models.db import db, write_intent

accounts_cli = AppGroup("accounts", help="Import and compare named-account lists.")

SHOW_DIFF = 50


def _count_lines(data: bytes) -> int:
    return max(data.count(b"\n"), 1)


def _refuse(exc: ListValidationError) -> None:
    for error in exc.errors:
        click.echo(str(error), err=True)
    note = exc.closing_note()
    if note:
        click.echo(note, err=True)
    click.echo(f"Nothing was imported: {exc.bad_lines:,} bad line(s).", err=True)
    sys.exit(2)


@accounts_cli.command("import")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--publish", "publish_now", is_flag=True, help="Publish the list after importing.")
@click.option(
    "--effective-from",
    type=click.DateTime(formats=["%Y-%m-%d"]),
    help="Date the published list takes effect (YYYY-MM-DD, today or earlier; default today).",
)
@click.option("--label", default=None, help="Name shown in the history (default: the file name).")
def import_command(
    file: Path, publish_now: bool, effective_from: datetime | None, label: str | None
) -> None:
    """Import FILE.csv as a draft list version (and publish it with --publish)."""
    if effective_from is not None and not publish_now:
        click.echo("Error: --effective-from only applies with --publish", err=True)
        sys.exit(2)
    data = file.read_bytes()
    sess = db.session
    with write_intent():
        try:
            # One bar for both phases: each line is validated, then each account stored.
            with click.progressbar(length=2 * _count_lines(data), label="Importing") as bar:
                result = import_list(
                    sess,
                    data,
                    actor_id=None,
                    label=label or f"Import of {file.name}",
                    source="cli",
                    publish_now=publish_now,
                    effective_from=effective_from.date() if effective_from else None,
                    progress=bar.update,
                    store_progress=bar.update,
                )
        except ListValidationError as exc:
            sess.rollback()
            _refuse(exc)
        except ListError as exc:
            sess.rollback()
            click.echo(f"Error: {exc}", err=True)
            sys.exit(2)
        sess.commit()
    click.echo(result.message)
    if result.published is not None:
        counts = result.published.diff_counts
        click.echo(
            f"Against the previous version: {counts['added']} added, {counts['removed']} removed, "
            f"{counts['changed']} changed; {result.published.reviews_opened} district review(s) "
            "opened."
        )
        if not result.published.recheck_ran:
            click.echo("Warning: open registrations were not re-checked.", err=True)


def _echo_diff(diff: ListDiff) -> None:
    counts = diff.counts()
    against = f"version #{diff.against_id}" if diff.against_id else "no published version"
    click.echo(
        f"Against {against}: {counts['added']} added, {counts['removed']} removed, "
        f"{counts['changed']} changed."
    )
    for row in diff.added[:SHOW_DIFF]:
        click.echo(f"+ {row.account_id}  {row.name}")
    for row in diff.removed[:SHOW_DIFF]:
        click.echo(f"- {row.account_id}  {row.name}")
    for change in diff.changed[:SHOW_DIFF]:
        click.echo(f"~ {change.account_id}  {change.new.name}: {', '.join(change.fields)}")
    hidden = sum(max(0, n - SHOW_DIFF) for n in counts.values())
    if hidden:
        click.echo(f"... and {hidden} more (first {SHOW_DIFF} of each kind shown).")


@accounts_cli.command("diff")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
def diff_command(file: Path) -> None:
    """Compare FILE.csv with the effective list and preview the impact; store nothing."""
    data = file.read_bytes()
    sess = db.session
    try:
        with click.progressbar(
            length=_count_lines(data), label="Validating", file=sys.stderr
        ) as bar:
            parsed = parse_csv(data, districts=known_districts(sess), progress=bar.update)
    except ListValidationError as exc:
        sess.rollback()
        _refuse(exc)
        return
    _echo_diff(diff_file(sess, parsed))
    preview = preview_file(sess, parsed)
    click.echo(
        f"Impact on {preview.checked:,} open partner registrations: "
        f"{len(preview.newly_conflicting)} would become named-account conflicts, "
        f"{len(preview.released)} would be released, {preview.still_conflicting} stay."
    )
    sess.rollback()


def init_app(app: Flask) -> None:
    """Register the accounts commands."""
    app.cli.add_command(accounts_cli)
