"""Named-account list lifecycle: validate CSV, import drafts, diff, impact preview, publish, sync.

Versions go draft -> published (effective from a date) -> superseded, and exactly one version is
published at any moment (a partial unique index backs this up). Publishing a version re-checks every
open registration against it, closes the superseded version's open district reviews and opens
the semi-annual reviews of the new one.

Services here add to the caller's session and never commit: the view, command or job that called
them commits once, so a failed publish leaves nothing half-done.
"""

import calendar
import csv
import hashlib
import importlib.util
import io
import json
import logging
import re
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time
from functools import lru_cache
from typing import Any

import requests
import sqlalchemy as sa
from email_validator import EmailNotValidError, validate_email
from flask import current_app, has_app_context
from sqlalchemy.orm import Session

from conflict.matching import AccountIndex
from conflict.normalize import is_valid_domain, name_key, normalize_domain
from conflict.types import Account, AccountMatch
from escalation.notify import absolute_url, enqueue_emails, enqueue_webhooks
from models import (
    AuditEvent,
    ConflictFinding,
    District,
    DistrictReview,
    NamedAccount,
    NamedAccountList,
    Partner,
    Registration,
    User,
    utcnow,
)
from models.audit_log import record_audit
from models.db import is_postgres, lock_key
from models.named_account import SEGMENTS
from models.policy import active_policy
from models.registration import OPEN_STATUSES

log = logging.getLogger(__name__)

COLUMNS: tuple[str, ...] = (
    "name",
    "domain",
    "aliases",
    "segment",
    "district",
    "pc_count",
    "mcs_owner_email",
    "account_id",
)
# The fields compared by the diff, in the order a person reads them.
DIFF_FIELDS: tuple[str, ...] = (
    "name",
    "domain",
    "aliases",
    "segment",
    "district",
    "pc_count",
    "mcs_owner_email",
)
INSERT_BATCH = 5000
MAX_PC_COUNT = 10_000_000
MAX_SYNC_BYTES = 64 * 1024 * 1024
SYNC_ACTION = "list.sync"
SYNC_FAILED_ACTION = "list.sync_failed"
SYNC_OBJECT = "named_account_sync"
# Re-checking open registrations belongs to the conflict service; publish calls it through here.
RECHECK_TARGET = "conflict.service:recheck_open_registrations"
# ASCII digits only: \d (and int()) would also take Arabic-Indic, Devanagari or full-width ones.
_PLAIN_INT = re.compile(r"[0-9]+")
_GROUPED_INT = re.compile(r"[0-9]{1,3}(,[0-9]{3})+")
_NEGATIVE_INT = re.compile(r"-\s*[0-9][0-9,]*")
# A refused file lists this many problems at most; the lines past them are only counted.
MAX_LISTED_ERRORS = 200
# How many distinct records past that cap are remembered, to count their repeats unchecked.
REPEAT_MEMORY = 10_000

Progress = Callable[[int], None]


class ListError(Exception):
    """A list operation that cannot be done in the list's current state."""


@dataclass(frozen=True, slots=True)
class LineError:
    """One problem in an uploaded file: where it is and what is wrong."""

    line: int
    column: str | None
    message: str

    def as_dict(self) -> dict[str, Any]:
        """Return the error as the API reports it."""
        return {"line": self.line, "column": self.column, "message": self.message}

    def __str__(self) -> str:
        where = f"line {self.line}" + (f", column {self.column}" if self.column else "")
        return f"{where}: {self.message}"


class ListValidationError(Exception):
    """A file that cannot be imported; lists its first problems and counts every bad line."""

    def __init__(self, errors: Sequence[LineError], *, bad_lines: int | None = None) -> None:
        self.errors = list(errors)
        listed_lines = len({e.line for e in self.errors})
        self.bad_lines = max(bad_lines or 0, listed_lines)
        # Bad lines none of whose problems are in errors (the list was cut short).
        self.unlisted_lines = self.bad_lines - listed_lines
        super().__init__(f"{self.bad_lines:,} bad line(s); nothing was imported")

    def closing_note(self) -> str | None:
        """Return the sentence that ends a cut-short list of problems, or None if all are listed."""
        if not self.unlisted_lines:
            return None
        return (
            f"Only the first {len(self.errors)} problems are listed: {self.unlisted_lines:,} more"
            f" line(s) have errors ({self.bad_lines:,} bad lines in all)."
        )


class _Problems:
    """The problems of a file: listed a whole line at a time up to a cap, then only counted."""

    __slots__ = ("bad_lines", "full", "limit", "listed")

    def __init__(self, limit: int | None = MAX_LISTED_ERRORS) -> None:
        self.limit = limit
        self.listed: list[LineError] = []
        self.bad_lines = 0
        self.full = False

    def add(self, errors: Sequence[LineError]) -> None:
        """Record the problems of one bad line."""
        self.bad_lines += 1
        if self.full:
            return
        if self.limit is None or len(self.listed) + len(errors) <= self.limit:
            self.listed.extend(errors)
            return
        # A line is listed whole or not at all, unless it alone is over the cap.
        if not self.listed:
            self.listed.extend(errors[: self.limit])
        self.full = True

    def whole_line(self, number: int, message: str) -> None:
        """Record a problem of a whole line (no one column's)."""
        self.add([LineError(number, None, message)])

    def count_line(self) -> None:
        """Count one more bad line without listing it (only once the list is full)."""
        self.bad_lines += 1

    def refusal(self) -> ListValidationError:
        """Return the error that refuses the file."""
        return ListValidationError(self.listed, bad_lines=self.bad_lines)


@dataclass(frozen=True, slots=True)
class AccountRow:
    """One validated account of a list, independent of where it is stored."""

    account_id: str
    name: str
    domain: str | None = None
    aliases: tuple[str, ...] = ()
    segment: str | None = None
    district: str | None = None
    pc_count: int | None = None
    mcs_owner_email: str | None = None

    def values(self, list_id: int) -> dict[str, Any]:
        """Return the column values for a named_account insert."""
        return {
            "list_id": list_id,
            "account_id": self.account_id,
            "name": self.name,
            "domain": self.domain,
            "aliases": list(self.aliases),
            "segment": self.segment,
            "district": self.district,
            "pc_count": self.pc_count,
            "mcs_owner_email": self.mcs_owner_email,
        }

    def to_account(self, row_id: int) -> Account:
        """Return the matcher's view of this account."""
        return Account(
            id=row_id,
            account_id=self.account_id,
            name=self.name,
            domain=self.domain,
            aliases=self.aliases,
            segment=self.segment,
            district=self.district,
            pc_count=self.pc_count,
            mcs_owner_email=self.mcs_owner_email,
        )

    def canonical(self) -> list[Any]:
        """Return the row as plain data for hashing."""
        return [
            self.account_id,
            self.name,
            self.domain,
            list(self.aliases),
            self.segment,
            self.district,
            self.pc_count,
            self.mcs_owner_email,
        ]


@dataclass(frozen=True, slots=True)
class ParsedList:
    """A validated file: its accounts (in file order) and the hash of its content."""

    rows: tuple[AccountRow, ...]
    content_hash: str


# -- parsing and validation -------------------------------------------------------------------


def content_hash(rows: Iterable[AccountRow]) -> str:
    """Return the sha256 of the list's normalised content (row order does not matter)."""
    ordered = sorted(rows, key=lambda r: r.account_id)
    payload = json.dumps(
        [r.canonical() for r in ordered], ensure_ascii=False, separators=(",", ":")
    )
    return hashlib.sha256(payload.encode("utf-8")).hexdigest()


def known_districts(sess: Session) -> dict[str, str] | None:
    """Return district codes by casefolded code, or None when no districts are defined."""
    codes = sess.execute(sa.select(District.code)).scalars().all()
    if not codes:
        return None
    return {c.casefold(): c for c in codes}


@lru_cache(maxsize=8192)
def _check_email(value: str) -> tuple[str | None, str | None]:
    # Owners repeat across thousands of rows; validating each distinct address once keeps big
    # imports fast.
    try:
        result = validate_email(value, check_deliverability=False)
    except EmailNotValidError as exc:
        return None, str(exc)
    return result.normalized.lower(), None


def derived_account_id(name: str) -> str:
    """Return a stable account id for a row that has none, from the name's normalised key."""
    key = name_key(name) or name.strip().casefold()
    return "N-" + hashlib.sha256(key.encode("utf-8")).hexdigest()[:16].upper()


def decode_csv(data: bytes, *, limit: int | None = None) -> str:
    """Return an uploaded CSV's text, refusing UTF-16 and bytes that are not UTF-8.

    limit caps how many bad lines the refusal lists (None lists them all); all are counted.
    """
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        raise ListValidationError(
            [LineError(1, None, "the file is UTF-16; save it as UTF-8 (CSV UTF-8) and try again")]
        )
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        pass
    found = _Problems(limit)
    for number, raw in enumerate(data.split(b"\n"), start=1):
        chunk = raw[3:] if number == 1 and raw.startswith(b"\xef\xbb\xbf") else raw
        try:
            chunk.decode("utf-8")
        except UnicodeDecodeError as exc:
            found.whole_line(
                number,
                f"not valid UTF-8 (byte 0x{chunk[exc.start]:02x} at position {exc.start + 1});"
                " save the file as UTF-8",
            )
    raise found.refusal()


def _parse_pc_count(value: str) -> tuple[int | None, str | None]:
    text = value.strip().replace(" ", "")
    if not text:
        return None, None
    shown = value.strip()[:40]
    if _NEGATIVE_INT.fullmatch(text):
        return None, f"PC count must not be negative (got {shown!r})"
    if _GROUPED_INT.fullmatch(text):
        text = text.replace(",", "")
    if not _PLAIN_INT.fullmatch(text):
        if not text.isascii() and any(ch.isdigit() for ch in text):
            return None, f"PC count must be written with the digits 0-9 (got {shown!r})"
        return None, f"PC count must be a whole number (got {shown!r})"
    if len(text.lstrip("0")) > len(str(MAX_PC_COUNT)):
        # int() refuses strings of more than a few thousand digits; none is plausible anyway.
        return None, f"PC count {shown!r} is implausibly large (at most {MAX_PC_COUNT:,})"
    count = int(text)
    if count > MAX_PC_COUNT:
        return None, f"PC count {count:,} is implausibly large (at most {MAX_PC_COUNT:,})"
    return count, None


class _Malformed(Exception):
    """A fault in the CSV structure itself, past which record boundaries are unknown."""

    def __init__(self, line: int, field: int | None, message: str) -> None:
        super().__init__(message)
        self.line = line
        self.field = field
        self.message = message


def _physical_lines(text: str) -> list[str]:
    # Split as the csv reader does, so line numbers agree with reader.line_num.
    return list(io.StringIO(text, newline=""))


def refuse_nul_in_csv(text: str, *, limit: int | None = None) -> None:
    """Refuse CSV text holding NUL bytes, naming every line that has one (up to limit of them)."""
    # Python's csv module passes NUL through, and PostgreSQL cannot store it in a text column.
    if "\x00" not in text:
        return
    found = _Problems(limit)
    for number, physical in enumerate(io.StringIO(text, newline=""), start=1):
        at = physical.find("\x00")
        if at < 0:
            continue
        found.whole_line(
            number,
            f"contains a NUL byte at position {at + 1}; this is not a plain-text CSV"
            " (a spreadsheet, or UTF-16 text): save the file as CSV UTF-8",
        )
    raise found.refusal()


def _malformed(text: str, start: int, line_num: int, exc: csv.Error) -> _Malformed:
    """Locate the structural fault the csv reader stopped at, in the record starting at start.

    The reader only knows the line it had reached; an unclosed quote is reported where it opened,
    which may be far earlier.
    """
    lines = _physical_lines(text)
    state, field, opened = "start", 0, 0
    for number, physical in enumerate(lines[start - 1 : line_num], start=start):
        for ch in physical:
            if state == "quoted":
                if ch == '"':
                    state = "closed"
            elif state == "closed":
                if ch == '"':
                    state = "quoted"
                elif ch == ",":
                    state, field = "start", field + 1
                elif ch in "\r\n":
                    state, field = "start", 0
                else:
                    return _Malformed(
                        number,
                        field,
                        f"unexpected {ch!r} after the closing quote of a quoted field; a quote"
                        ' inside a quoted field must be doubled ("")',
                    )
            elif ch == '"' and state == "start":
                state, opened = "quoted", number
            elif ch == ",":
                state, field = "start", field + 1
            elif ch in "\r\n":
                state, field = "start", 0
            else:
                state = "field"
    if state == "quoted":
        if line_num >= len(lines):
            return _Malformed(
                opened,
                field,
                "a quoted field starts on this line and is never closed, so it runs to the end"
                f" of the file (line {line_num}); add the missing closing quote",
            )
        return _Malformed(
            opened,
            field,
            "a quoted field starts on this line and runs on for more than"
            f" {csv.field_size_limit():,} characters (past line {line_num}); a closing quote is"
            " probably missing",
        )
    return _Malformed(line_num, None, f"CSV error: {exc}")


def _records(text: str) -> Iterator[tuple[int, list[str]]]:
    """Yield (first line number, fields) for every non-blank CSV record."""
    # strict: a stray quote or one left open is an error, not silently part of the text.
    reader = csv.reader(io.StringIO(text, newline=""), strict=True)
    start = 1
    while True:
        try:
            fields = next(reader)
        except StopIteration:
            return
        except csv.Error as exc:
            raise _malformed(text, start, reader.line_num, exc) from exc
        if fields and any(f.strip() for f in fields):
            yield start, fields
        start = reader.line_num + 1


def parse_csv(
    data: bytes,
    *,
    districts: Mapping[str, str] | None = None,
    progress: Progress | None = None,
) -> ParsedList:
    """Validate a named-account CSV and return its accounts, or raise counting every bad line.

    The refusal lists the first MAX_LISTED_ERRORS problems, each with its line number.

    districts maps casefolded codes to codes; when given, unknown districts are errors.
    """
    if not data.strip(b"\xef\xbb\xbf \t\r\n"):
        raise ListValidationError([LineError(1, None, "the file is empty")])
    text = decode_csv(data, limit=MAX_LISTED_ERRORS)
    refuse_nul_in_csv(text, limit=MAX_LISTED_ERRORS)
    records = _records(text)
    try:
        first = next(records, None)
    except _Malformed as exc:
        raise ListValidationError([LineError(exc.line, None, exc.message)]) from exc
    if first is None:
        raise ListValidationError([LineError(1, None, "the file is empty")])
    header_line, header = first
    names = [h.strip().casefold() for h in header]
    errors: list[LineError] = []
    if not any(col in COLUMNS for col in names):
        raise ListValidationError(
            [
                LineError(
                    header_line,
                    "name",
                    "the first line is not a header; it must name the columns, at least 'name' "
                    "(expected columns: " + ", ".join(COLUMNS) + ")",
                )
            ]
        )
    if "name" not in names:
        errors.append(
            LineError(
                header_line,
                "name",
                "the header has no 'name' column (expected columns: " + ", ".join(COLUMNS) + ")",
            )
        )
    seen_cols: set[str] = set()
    for col in names:
        if col in seen_cols:
            errors.append(LineError(header_line, col, f"column {col!r} appears twice"))
        elif col and col not in COLUMNS:
            errors.append(
                LineError(
                    header_line,
                    col,
                    f"unknown column {col!r} (expected: " + ", ".join(COLUMNS) + ")",
                )
            )
        seen_cols.add(col)
    found = _Problems()
    if errors:
        found.add(errors)
        raise found.refusal()
    position = {col: i for i, col in enumerate(names) if col}

    rows: list[AccountRow] = []
    first_line_of: dict[str, int] = {}
    # The matcher finds an account by its domain, so two accounts with one domain would make a
    # domain match pick either; row.domain is already in the matcher's normalised form.
    domain_line_of: dict[str, int] = {}
    count = 0
    # Records checked once the list of problems is full (a bounded number of them).
    checked: set[tuple[str, ...]] = set()
    try:
        for line, fields in records:
            count += 1
            if progress is not None and count % 1000 == 0:
                progress(1000)
            if found.full:
                # A record equal to one checked before repeats its account_id (or its blank
                # name), so it is bad; past the cap only the count is wanted, not the check.
                record = tuple(fields)
                if record in checked:
                    found.count_line()
                    continue
                if len(checked) < REPEAT_MEMORY:
                    checked.add(record)
            row, row_errors = _validate_row(line, fields, position, len(names), districts)
            if row is not None:
                _check_repeats(
                    line, row, fields, position, first_line_of, domain_line_of, row_errors
                )
            if row_errors:
                found.add(row_errors)
            elif row is not None and not found.bad_lines:
                rows.append(row)
    except _Malformed as exc:
        # Past a structural fault record boundaries are unknown, so checking stops there; the
        # errors found before it are still reported.
        field = exc.field
        column = (names[field] or None) if field is not None and field < len(names) else None
        found.add([LineError(exc.line, column, exc.message)])
    if progress is not None:
        progress(count % 1000)
    if not found.bad_lines and count == 0:
        found.add([LineError(header_line, None, "the file has a header but no accounts")])
    if found.bad_lines:
        raise found.refusal()
    return ParsedList(tuple(rows), content_hash(rows))


def _check_repeats(
    line: int,
    row: AccountRow,
    fields: list[str],
    position: Mapping[str, int],
    first_line_of: dict[str, int],
    domain_line_of: dict[str, int],
    errors: list[LineError],
) -> None:
    """Add an error for a row that repeats an earlier row's account_id or web domain."""
    previous = first_line_of.get(row.account_id)
    if previous is not None:
        errors.append(
            LineError(
                line,
                "account_id",
                f"duplicate account_id {row.account_id!r} (first on line {previous})"
                if _has_value(fields, position, "account_id")
                else f"same name as line {previous} and no account_id to tell them apart",
            )
        )
    else:
        first_line_of[row.account_id] = line
    if row.domain is None:
        return
    domain_line = domain_line_of.get(row.domain)
    if domain_line is None:
        domain_line_of[row.domain] = line
    elif domain_line != previous:
        # A row that repeats the same earlier line by account_id is already refused for it.
        errors.append(
            LineError(
                line,
                "domain",
                f"duplicate domain {row.domain!r} (first on line {domain_line}); a web domain"
                " can belong to one account only",
            )
        )


def _has_value(fields: list[str], position: Mapping[str, int], col: str) -> bool:
    i = position.get(col)
    return i is not None and i < len(fields) and bool(fields[i].strip())


def _validate_row(
    line: int,
    fields: list[str],
    position: Mapping[str, int],
    width: int,
    districts: Mapping[str, str] | None,
) -> tuple[AccountRow | None, list[LineError]]:
    errors: list[LineError] = []
    if len(fields) > width and any(f.strip() for f in fields[width:]):
        errors.append(
            LineError(line, None, f"{len(fields)} fields but the header has {width} columns")
        )

    def get(col: str) -> str:
        i = position.get(col)
        return fields[i].strip() if i is not None and i < len(fields) else ""

    name = " ".join(get("name").split())
    if not name:
        errors.append(LineError(line, "name", "name is blank"))
    elif len(name) > 300:
        errors.append(LineError(line, "name", "name is longer than 300 characters"))

    domain: str | None = None
    raw_domain = get("domain")
    if raw_domain:
        if not is_valid_domain(raw_domain):
            errors.append(LineError(line, "domain", f"{raw_domain!r} is not a valid web domain"))
        else:
            domain = normalize_domain(raw_domain)
            if domain is None:
                errors.append(
                    LineError(
                        line,
                        "domain",
                        f"{raw_domain!r} is a generic mail provider, not the company's domain",
                    )
                )

    aliases: list[str] = []
    for alias in get("aliases").split(";"):
        alias = " ".join(alias.split())
        if not alias:
            continue
        if len(alias) > 300:
            errors.append(LineError(line, "aliases", "an alias is longer than 300 characters"))
        elif alias not in aliases and alias != name:
            aliases.append(alias)

    segment: str | None = get("segment").casefold() or None
    if segment is not None and segment not in SEGMENTS:
        errors.append(
            LineError(
                line,
                "segment",
                f"unknown segment {get('segment')!r} (expected one of: "
                + ", ".join(SEGMENTS)
                + ")",
            )
        )

    district: str | None = get("district") or None
    if district is not None:
        if districts is not None:
            code = districts.get(district.casefold())
            if code is None:
                errors.append(LineError(line, "district", f"unknown district {district!r}"))
            district = code
        elif len(district) > 40:
            errors.append(LineError(line, "district", "district is longer than 40 characters"))

    pc_count, pc_error = _parse_pc_count(get("pc_count"))
    if pc_error:
        errors.append(LineError(line, "pc_count", pc_error))

    email: str | None = None
    raw_email = get("mcs_owner_email")
    if raw_email:
        email, email_error = _check_email(raw_email)
        if email_error:
            errors.append(
                LineError(line, "mcs_owner_email", f"{raw_email!r} is not a valid e-mail address")
            )
        elif email is not None and len(email) > 254:
            errors.append(LineError(line, "mcs_owner_email", "e-mail address is too long"))

    account_id = get("account_id")
    if len(account_id) > 64:
        errors.append(LineError(line, "account_id", "account_id is longer than 64 characters"))
    if not name:
        return None, errors
    return (
        AccountRow(
            account_id=account_id or derived_account_id(name),
            name=name,
            domain=domain,
            aliases=tuple(aliases),
            segment=segment,
            district=district,
            pc_count=pc_count,
            mcs_owner_email=email,
        ),
        errors,
    )


# -- versions ---------------------------------------------------------------------------------


def effective_version(sess: Session) -> NamedAccountList | None:
    """Return the published (effective) list version, if any."""
    return sess.execute(
        sa.select(NamedAccountList).where(NamedAccountList.status == "published")
    ).scalar_one_or_none()


def previous_version(sess: Session, version: NamedAccountList) -> NamedAccountList | None:
    """Return the version that was effective before a published or superseded one."""
    if version.published_at is None:
        return effective_version(sess)
    return sess.execute(
        sa.select(NamedAccountList)
        .where(
            NamedAccountList.published_at.is_not(None),
            NamedAccountList.published_at < version.published_at,
            NamedAccountList.id != version.id,
        )
        .order_by(NamedAccountList.published_at.desc(), NamedAccountList.id.desc())
        .limit(1)
    ).scalar_one_or_none()


def version_rows(sess: Session, list_id: int) -> dict[str, tuple[int, AccountRow]]:
    """Return a version's accounts by account_id, with their row ids."""
    t = NamedAccount.__table__
    result = sess.execute(
        sa.select(
            t.c.id,
            t.c.account_id,
            t.c.name,
            t.c.domain,
            t.c.aliases,
            t.c.segment,
            t.c.district,
            t.c.pc_count,
            t.c.mcs_owner_email,
        ).where(t.c.list_id == list_id)
    )
    out: dict[str, tuple[int, AccountRow]] = {}
    for r in result:
        out[r.account_id] = (
            r.id,
            AccountRow(
                account_id=r.account_id,
                name=r.name,
                domain=r.domain,
                aliases=tuple(r.aliases or ()),
                segment=r.segment,
                district=r.district,
                pc_count=r.pc_count,
                mcs_owner_email=r.mcs_owner_email,
            ),
        )
    return out


def version_accounts(sess: Session, list_id: int) -> list[Account]:
    """Return a version's accounts as the matcher sees them."""
    return [row.to_account(row_id) for row_id, row in version_rows(sess, list_id).values()]


@dataclass(slots=True)
class ImportResult:
    """What an import did: the version it made or found, and why."""

    version: NamedAccountList | None
    created: bool
    message: str
    account_count: int = 0
    published: "PublishResult | None" = None


def store_draft(
    sess: Session,
    parsed: ParsedList,
    *,
    actor_id: int | None,
    label: str,
    source: str = "upload",
    progress: Progress | None = None,
) -> NamedAccountList:
    """Store a validated list as a new draft version with all its accounts."""
    version = NamedAccountList(
        label=label[:120],
        status="draft",
        source=source[:40],
        content_hash=parsed.content_hash,
        account_count=len(parsed.rows),
        created_by_id=actor_id,
    )
    sess.add(version)
    sess.flush()
    assert version.id is not None
    if is_postgres(sess):
        _copy_accounts(sess, version.id, parsed.rows, progress)
    else:
        table = NamedAccount.__table__
        # Core executemany (insertmanyvalues) in batches: no ORM objects for 100k rows.
        for start in range(0, len(parsed.rows), INSERT_BATCH):
            batch = parsed.rows[start : start + INSERT_BATCH]
            sess.execute(sa.insert(table), [r.values(version.id) for r in batch])
            if progress is not None:
                progress(len(batch))
    record_audit(
        sess,
        actor_id,
        "list.imported",
        "named_account_list",
        version.id,
        source=source,
        account_count=len(parsed.rows),
        content_hash=parsed.content_hash,
    )
    return version


_COPY_COLUMNS = (
    "list_id",
    "account_id",
    "name",
    "domain",
    "aliases",
    "segment",
    "district",
    "pc_count",
    "mcs_owner_email",
)


def _copy_accounts(
    sess: Session, list_id: int, rows: Sequence[AccountRow], progress: Progress | None
) -> None:
    # COPY on the session's own connection (same transaction) is several times faster than
    # multi-row INSERTs for a 100k-account list.
    raw = sess.connection().connection.driver_connection
    statement = f"COPY named_account ({', '.join(_COPY_COLUMNS)}) FROM STDIN"
    with raw.cursor() as cur, cur.copy(statement) as copy:
        for i, r in enumerate(rows, start=1):
            copy.write_row(
                (
                    list_id,
                    r.account_id,
                    r.name,
                    r.domain,
                    json.dumps(list(r.aliases), ensure_ascii=False),
                    r.segment,
                    r.district,
                    r.pc_count,
                    r.mcs_owner_email,
                )
            )
            if progress is not None and i % INSERT_BATCH == 0:
                progress(INSERT_BATCH)
    if progress is not None:
        progress(len(rows) % INSERT_BATCH)


def import_list(
    sess: Session,
    data: bytes,
    *,
    actor_id: int | None,
    label: str | None = None,
    source: str = "upload",
    publish_now: bool = False,
    effective_from: date | None = None,
    now: datetime | None = None,
    progress: Progress | None = None,
    store_progress: Progress | None = None,
) -> ImportResult:
    """Validate a CSV and store it as a draft (and publish it when asked); raise on a bad file."""
    now = now or utcnow()
    if publish_now:
        _check_effective_from(sess, effective_from or now.date(), now)
    parsed = parse_csv(data, districts=known_districts(sess), progress=progress)
    current = effective_version(sess)
    if current is not None and current.content_hash == parsed.content_hash:
        return ImportResult(
            current,
            False,
            f"The file has the same content as the effective version #{current.id} "
            f"({current.label}); no new version was made.",
            len(parsed.rows),
        )
    draft = sess.execute(
        sa.select(NamedAccountList)
        .where(
            NamedAccountList.status == "draft",
            NamedAccountList.content_hash == parsed.content_hash,
        )
        .order_by(NamedAccountList.id.desc())
        .limit(1)
    ).scalar_one_or_none()
    if draft is not None:
        result = ImportResult(
            draft,
            False,
            f"The file has the same content as draft #{draft.id} ({draft.label}); "
            "no new version was made.",
            len(parsed.rows),
        )
    else:
        version = store_draft(
            sess,
            parsed,
            actor_id=actor_id,
            label=label or f"{source.capitalize()} {now:%Y-%m-%d %H:%M} UTC",
            source=source,
            progress=store_progress,
        )
        result = ImportResult(
            version,
            True,
            f"Stored draft #{version.id} with {len(parsed.rows):,} accounts.",
            len(parsed.rows),
        )
    if publish_now and result.version is not None:
        result.published = publish(
            sess,
            result.version,
            effective_from=effective_from or now.date(),
            actor_id=actor_id,
            now=now,
        )
        result.message += f" Published, effective from {result.version.effective_from}."
    return result


# -- diff and impact preview ------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class AccountChange:
    """An account present in both versions whose fields differ."""

    old: AccountRow
    new: AccountRow
    fields: tuple[str, ...]

    @property
    def account_id(self) -> str:
        """Return the account's id on the list."""
        return self.new.account_id


@dataclass(slots=True)
class ListDiff:
    """Accounts added, removed and changed between two versions (by account_id)."""

    added: list[AccountRow] = field(default_factory=list)
    removed: list[AccountRow] = field(default_factory=list)
    changed: list[AccountChange] = field(default_factory=list)
    against_id: int | None = None

    @property
    def is_empty(self) -> bool:
        """Return True when the versions hold the same accounts."""
        return not (self.added or self.removed or self.changed)

    def counts(self) -> dict[str, int]:
        """Return the number of added, removed and changed accounts."""
        return {
            "added": len(self.added),
            "removed": len(self.removed),
            "changed": len(self.changed),
        }

    def for_district(self, district: str) -> "ListDiff":
        """Return the part of the diff that touches one district (before or after)."""
        return ListDiff(
            added=[r for r in self.added if r.district == district],
            removed=[r for r in self.removed if r.district == district],
            changed=[c for c in self.changed if district in (c.old.district, c.new.district)],
            against_id=self.against_id,
        )


def diff_rows(
    old: Mapping[str, AccountRow], new: Mapping[str, AccountRow], against_id: int | None = None
) -> ListDiff:
    """Compare two sets of accounts keyed by account_id."""
    out = ListDiff(against_id=against_id)
    for account_id, row in new.items():
        before = old.get(account_id)
        if before is None:
            out.added.append(row)
            continue
        fields = tuple(f for f in DIFF_FIELDS if getattr(before, f) != getattr(row, f))
        if fields:
            out.changed.append(AccountChange(before, row, fields))
    out.removed = [row for account_id, row in old.items() if account_id not in new]
    out.added.sort(key=lambda r: r.name.casefold())
    out.removed.sort(key=lambda r: r.name.casefold())
    out.changed.sort(key=lambda c: c.new.name.casefold())
    return out


def diff_version(
    sess: Session, version: NamedAccountList, against: NamedAccountList | None = None
) -> ListDiff:
    """Diff a version against another (default: a draft against the effective version, a
    published or superseded one against its predecessor)."""
    if against is None:
        against = (
            effective_version(sess)
            if version.status == "draft"
            else previous_version(sess, version)
        )
    return _diff_ids(sess, version, against)


def _diff_ids(
    sess: Session, version: NamedAccountList, against: NamedAccountList | None
) -> ListDiff:
    assert version.id is not None
    new = {k: row for k, (_, row) in version_rows(sess, version.id).items()}
    if against is None or against.id is None:
        return diff_rows({}, new)
    old = {k: row for k, (_, row) in version_rows(sess, against.id).items()}
    return diff_rows(old, new, against.id)


def diff_file(sess: Session, parsed: ParsedList) -> ListDiff:
    """Diff a validated file against the effective version."""
    current = effective_version(sess)
    new = {r.account_id: r for r in parsed.rows}
    if current is None or current.id is None:
        return diff_rows({}, new)
    old = {k: row for k, (_, row) in version_rows(sess, current.id).items()}
    return diff_rows(old, new, current.id)


@dataclass(frozen=True, slots=True)
class ImpactItem:
    """One open registration whose NAMED_ACCOUNT status would change."""

    registration_id: int
    partner_id: int | None
    customer_name: str
    account_ref: str | None
    account_name: str | None
    method: str | None = None
    score: float | None = None


@dataclass(slots=True)
class ImpactPreview:
    """What publishing a version would do to open partner registrations."""

    checked: int = 0
    newly_conflicting: list[ImpactItem] = field(default_factory=list)
    released: list[ImpactItem] = field(default_factory=list)
    still_conflicting: int = 0


def impact_preview(
    sess: Session, accounts: Sequence[Account], *, list_version_id: int | None
) -> ImpactPreview:
    """Show which open partner registrations would gain or lose a NAMED_ACCOUNT conflict."""
    policy = active_policy(sess).values
    index = AccountIndex.build(accounts, list_version_id)
    open_partner = sa.and_(Registration.status.in_(OPEN_STATUSES), Registration.party == "partner")
    current: dict[int, tuple[str | None, str | None]] = {}
    for reg_id, ref, name in sess.execute(
        sa.select(
            ConflictFinding.registration_id,
            ConflictFinding.account_ref,
            ConflictFinding.account_name,
        )
        .join(Registration, Registration.id == ConflictFinding.registration_id)
        .where(
            ConflictFinding.rule == "NAMED_ACCOUNT",
            ConflictFinding.active.is_(True),
            open_partner,
        )
    ):
        current[reg_id] = (ref, name)

    preview = ImpactPreview()
    # Many registrations name the same customer; match each distinct customer once.
    memo: dict[tuple[str, str | None, str | None, int | None], AccountMatch | None] = {}
    reg = Registration.__table__
    stmt = (
        sa.select(
            reg.c.id,
            reg.c.partner_id,
            reg.c.customer_name,
            reg.c.customer_domain,
            reg.c.district,
            reg.c.pc_count,
        )
        .where(open_partner)
        .order_by(reg.c.id)
        .execution_options(yield_per=5000)
    )
    for reg_id, partner_id, name, domain, district, pcs in sess.execute(stmt):
        preview.checked += 1
        key = (name, domain, district, pcs)
        if key in memo:
            match = memo[key]
        else:
            found = index.match(
                name,
                domain,
                district=district,
                pc_count=pcs,
                match_score=policy.fuzzy_match_score,
                review_score=policy.fuzzy_review_score,
            )
            match = found[0] if found and found[0].confident else None
            memo[key] = match
        was = current.get(reg_id)
        if match is not None and was is None:
            preview.newly_conflicting.append(
                ImpactItem(
                    reg_id,
                    partner_id,
                    name,
                    match.account.account_id,
                    match.account.name,
                    str(match.method),
                    match.score,
                )
            )
        elif match is None and was is not None:
            preview.released.append(ImpactItem(reg_id, partner_id, name, was[0], was[1]))
        elif match is not None:
            preview.still_conflicting += 1
    return preview


def preview_version(sess: Session, version: NamedAccountList) -> ImpactPreview:
    """Preview the effect of publishing a stored version."""
    assert version.id is not None
    return impact_preview(sess, version_accounts(sess, version.id), list_version_id=version.id)


def preview_file(sess: Session, parsed: ParsedList) -> ImpactPreview:
    """Preview the effect of publishing a validated file."""
    accounts = [row.to_account(-(i + 1)) for i, row in enumerate(parsed.rows)]
    return impact_preview(sess, accounts, list_version_id=None)


# -- publish ----------------------------------------------------------------------------------


@dataclass(slots=True)
class PublishResult:
    """What publishing did."""

    version: NamedAccountList
    superseded: NamedAccountList | None
    diff_counts: dict[str, int]
    reviews_opened: int
    recheck: Any = None
    recheck_ran: bool = False


def _check_effective_from(sess: Session, effective_from: date, now: datetime) -> None:
    if effective_from > now.astimezone(UTC).date():
        raise ListError(
            f"the effective date {effective_from} is in the future; publish the draft on that "
            "day (exactly one version is in effect at any moment)"
        )
    current = effective_version(sess)
    if (
        current is not None
        and current.effective_from is not None
        and effective_from < current.effective_from
    ):
        raise ListError(
            f"the effective date {effective_from} is before the current version's "
            f"({current.effective_from})"
        )


def publish(
    sess: Session,
    list_version: NamedAccountList,
    *,
    effective_from: date,
    actor_id: int | None,
    now: datetime | None = None,
) -> PublishResult:
    """Publish a draft: supersede the effective version and its reviews, notify, re-check."""
    now = now or utcnow()
    # Two admins publishing at once must not both supersede the same version.
    lock_key(sess, "named_account_list:publish")
    sess.refresh(list_version)
    if list_version.status != "draft":
        raise ListError(f"version #{list_version.id} is {list_version.status}, not a draft")
    _check_effective_from(sess, effective_from, now)

    old = effective_version(sess)
    if old is not None:
        old.status = "superseded"
        old.superseded_at = now
        # Flush before publishing the new one: the one-published index would refuse two.
        sess.flush()
    list_version.status = "published"
    list_version.effective_from = effective_from
    list_version.published_at = now
    sess.flush()

    diff = _diff_ids(sess, list_version, old)
    changes = diff.counts()
    record_audit(
        sess,
        actor_id,
        "list.published",
        "named_account_list",
        list_version.id,
        effective_from=effective_from.isoformat(),
        superseded_id=old.id if old is not None else None,
        account_count=list_version.account_count,
        content_hash=list_version.content_hash,
        **changes,
    )
    _notify_published(sess, list_version, old, changes)
    if old is not None:
        _close_superseded_reviews(sess, old, list_version, actor_id)
    reviews = _open_reviews(sess, now, diff)
    recheck, ran = _recheck_open_registrations(sess, list_version, actor_id)
    return PublishResult(list_version, old, changes, reviews, recheck, ran)


def _recheck_open_registrations(
    sess: Session, list_version: NamedAccountList, actor_id: int | None
) -> tuple[Any, bool]:
    # Seam: conflict.service owns re-checking (it evaluates the rules and opens tickets). When
    # that module is not installed, publishing still works and the gap is logged and reported.
    module_name, _, attr = RECHECK_TARGET.partition(":")
    if importlib.util.find_spec(module_name) is None:
        log.warning("%s is missing: open registrations were not re-checked", module_name)
        return None, False
    recheck = getattr(importlib.import_module(module_name), attr, None)
    if recheck is None:
        log.warning("%s has no %s: open registrations were not re-checked", module_name, attr)
        return None, False
    return recheck(sess, list_version=list_version, actor_id=actor_id), True


def _notify_published(
    sess: Session,
    version: NamedAccountList,
    old: NamedAccountList | None,
    changes: Mapping[str, int],
) -> None:
    admins = sess.execute(
        sa.select(User).where(User.role == "admin", User.is_active.is_(True)).order_by(User.id)
    ).scalars()
    summary = (
        f"{changes['added']} added, {changes['removed']} removed, {changes['changed']} changed"
    )
    lines = [
        f"{version.account_count:,} accounts, effective from {version.effective_from}.",
        f"Against the previous version: {summary}." if old else "This is the first list.",
        "Every open registration is checked again against the new list.",
    ]
    enqueue_emails(
        sess,
        admins,
        event="named_account_list.published",
        template="list_published",
        subject=f"Named-account list published: {version.label}",
        context={
            "headline": f"Named-account list {version.label} is now in effect.",
            "lines": lines,
            "url": _url(f"/admin/lists/{version.id}"),
            "list_id": version.id,
            "label": version.label,
            "effective_from": version.effective_from.isoformat()
            if version.effective_from
            else None,
        },
    )
    enqueue_webhooks(
        sess,
        event="named_account_list.published",
        payload={
            "id": version.id,
            "label": version.label,
            "effective_from": version.effective_from.isoformat()
            if version.effective_from
            else None,
            "account_count": version.account_count,
            "content_hash": version.content_hash,
            "superseded_id": old.id if old is not None else None,
            **changes,
        },
    )


def _url(path: str) -> str:
    return absolute_url(path) if has_app_context() else path


# -- district reviews -------------------------------------------------------------------------


def add_months(day: date, months: int) -> date:
    """Return the same day some months later, clamped to the month's end."""
    month_index = day.month - 1 + months
    year, month = day.year + month_index // 12, month_index % 12 + 1
    return date(year, month, min(day.day, calendar.monthrange(year, month)[1]))


def open_district_reviews(sess: Session, now: datetime) -> int:
    """Open a review of the effective list for every district that lacks one; return how many."""
    return _open_reviews(sess, now, None)


def _open_reviews(sess: Session, now: datetime, diff: ListDiff | None) -> int:
    version = effective_version(sess)
    if version is None or version.id is None:
        return 0
    # Concurrent runs (several instances, or a publish and the job) wait here, then see the rows.
    lock_key(sess, f"district_reviews:{version.id}")
    have = set(
        sess.execute(
            sa.select(DistrictReview.district).where(DistrictReview.list_id == version.id)
        ).scalars()
    )
    missing = [
        d
        for d in sess.execute(sa.select(District).order_by(District.code)).scalars()
        if d.code not in have
    ]
    if not missing:
        return 0
    start = version.effective_from or now.date()
    period = active_policy(sess).values.review_period_months
    # Due at the end of the review period the list is in now: a district added to a list in
    # effect for longer than one period is not handed a review that is already overdue.
    periods = 1
    while add_months(start, period * periods) <= now.date():
        periods += 1
    due_at = datetime.combine(add_months(start, period * periods), time(), tzinfo=UTC)
    if diff is None:
        diff = diff_version(sess, version)
    for district in missing:
        review = DistrictReview(list_id=version.id, district=district.code, due_at=due_at)
        sess.add(review)
        sess.flush()
        record_audit(
            sess,
            None,
            "list.review_opened",
            "district_review",
            review.id,
            list_id=version.id,
            district=district.code,
        )
        _notify_review_opened(sess, review, version, district, diff.for_district(district.code))
    return len(missing)


def _close_superseded_reviews(
    sess: Session, old: NamedAccountList, new: NamedAccountList, actor_id: int | None
) -> None:
    # A review of a list no longer in effect cannot be acted on; it closes without a sign-off
    # and the districts review the new version instead.
    reviews = sess.execute(
        sa.select(DistrictReview)
        .where(DistrictReview.list_id == old.id, DistrictReview.status == "open")
        .order_by(DistrictReview.id)
    ).scalars()
    for review in list(reviews):
        # The same lock as a sign-off: one being signed off right now keeps its sign-off.
        lock_key(sess, f"district_review:{review.id}")
        sess.refresh(review)
        if review.status != "open":
            continue
        review.status = "superseded"
        record_audit(
            sess,
            actor_id,
            "list.review_superseded",
            "district_review",
            review.id,
            list_id=old.id,
            district=review.district,
            superseded_by_id=new.id,
        )


def _district_reviewers(sess: Session, district: District) -> list[User]:
    users = sess.execute(
        sa.select(User).where(
            User.role == "reviewer", User.is_active.is_(True), User.level.in_((1, 2))
        )
    ).scalars()
    return [
        u
        for u in users
        if (u.level == 1 and district.code in (u.districts or []))
        or (u.level == 2 and u.region == district.region)
    ]


def _notify_review_opened(
    sess: Session,
    review: DistrictReview,
    version: NamedAccountList,
    district: District,
    part: ListDiff,
) -> None:
    counts = part.counts()
    lines = [
        f"List {version.label} is in effect from {version.effective_from}.",
        f"Changes for {district.name}: {counts['added']} added, {counts['removed']} removed, "
        f"{counts['changed']} changed.",
        f"The review is due by {review.due_at:%Y-%m-%d}.",
    ]
    context = {
        "headline": f"The named-account list review for {district.name} is open.",
        "lines": lines,
        "due_at": review.due_at.isoformat(),
        "district": district.code,
        "list_id": version.id,
    }
    subject = f"Named-account list review for {district.name}"
    enqueue_emails(
        sess,
        _district_reviewers(sess, district),
        event="district_review.opened",
        template="district_review_opened",
        subject=subject,
        context=context | {"url": _url(f"/admin/lists/reviews/{review.id}")},
    )
    partners = sess.execute(
        sa.select(User)
        .join(Partner, Partner.id == User.partner_id)
        .where(
            User.role == "partner",
            User.is_active.is_(True),
            Partner.district == district.code,
            Partner.active.is_(True),
        )
        .order_by(User.id)
    ).scalars()
    # Partners cannot open the review page; they can look accounts up.
    enqueue_emails(
        sess,
        partners,
        event="district_review.opened",
        template="district_review_opened",
        subject=subject,
        context=context | {"url": _url("/accounts/lookup")},
    )


def may_sign_off(user: User, district: District | None) -> bool:
    """Return True when a user may sign off a district's review."""
    if user.role == "admin":
        return True
    if user.role != "reviewer" or district is None:
        return False
    if user.level == 3:
        return True
    if user.level == 2:
        return bool(user.region) and user.region == district.region
    return user.level == 1 and district.code in (user.districts or [])


def reviews_query(user: User) -> Any:
    """Return a select of the district reviews a user may see and sign off."""
    query = sa.select(DistrictReview).join(District, District.code == DistrictReview.district)
    if user.role == "admin" or (user.role == "reviewer" and user.level == 3):
        return query
    if user.role == "reviewer" and user.level == 2 and user.region:
        return query.where(District.region == user.region)
    if user.role == "reviewer" and user.level == 1 and user.districts:
        return query.where(DistrictReview.district.in_(list(user.districts)))
    return query.where(sa.false())


def open_reviews_for(sess: Session, user: User) -> list[DistrictReview]:
    """Return the open district reviews a user may sign off, soonest due first."""
    return list(
        sess.execute(
            reviews_query(user)
            .where(DistrictReview.status == "open")
            .order_by(DistrictReview.due_at, DistrictReview.id)
        ).scalars()
    )


def sign_off_review(
    sess: Session, review: DistrictReview, *, user: User, notes: str, now: datetime | None = None
) -> DistrictReview:
    """Sign off a district review with the reviewer's notes."""
    district = sess.get(District, review.district)
    if not may_sign_off(user, district):
        raise PermissionError("you may not sign off this district's review")
    lock_key(sess, f"district_review:{review.id}")
    sess.refresh(review)
    if review.status == "superseded":
        raise ListError(
            "this review was closed when a newer list version was published; "
            "sign off the review of the list in effect instead"
        )
    if review.status != "open":
        raise ListError("this review is already signed off")
    review.status = "signed_off"
    review.notes = notes.strip()[:4000]
    review.signed_off_by_id = user.id
    review.signed_off_at = now or utcnow()
    record_audit(
        sess,
        user.id,
        "list.review_signed_off",
        "district_review",
        review.id,
        list_id=review.list_id,
        district=review.district,
    )
    return review


# -- sync -------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class SyncStatus:
    """The outcome of the last sync attempt, for the admin page."""

    ok: bool
    at: datetime
    result: str
    reason: str | None
    list_id: int | None


def _last_sync_event(sess: Session, actions: tuple[str, ...]) -> AuditEvent | None:
    return sess.execute(
        sa.select(AuditEvent)
        .where(AuditEvent.action.in_(actions), AuditEvent.object_type == SYNC_OBJECT)
        .order_by(AuditEvent.id.desc())
        .limit(1)
    ).scalar_one_or_none()


def last_sync_status(sess: Session) -> SyncStatus | None:
    """Return the outcome of the last sync attempt, or None when none was made."""
    event = _last_sync_event(sess, (SYNC_ACTION, SYNC_FAILED_ACTION))
    if event is None:
        return None
    data = event.data or {}
    return SyncStatus(
        ok=event.action == SYNC_ACTION,
        at=event.created_at,
        result=str(data.get("result", "failed")),
        reason=data.get("reason"),
        list_id=data.get("list_id"),
    )


def _sync_failed(sess: Session, url: str, reason: str, **data: Any) -> int:
    log.warning("named-account sync from %s failed: %s", url, reason)
    record_audit(
        sess, None, SYNC_FAILED_ACTION, SYNC_OBJECT, "sync", url=url, reason=reason, **data
    )
    return 0


def _fetch(url: str, headers: Mapping[str, str], timeout: float) -> tuple[int, bytes, Any]:
    with requests.get(url, headers=dict(headers), timeout=timeout, stream=True) as resp:
        if resp.status_code != 200:
            return resp.status_code, b"", resp.headers
        body = bytearray()
        for chunk in resp.iter_content(chunk_size=65536):
            body.extend(chunk)
            if len(body) > MAX_SYNC_BYTES:
                raise ValueError(f"the file is larger than {MAX_SYNC_BYTES // (1024 * 1024)} MB")
        return 200, bytes(body), resp.headers


def sync_named_accounts(sess: Session, now: datetime) -> int:
    """Fetch the list from NAMED_ACCOUNTS_URL and store (or publish) it when it changed."""
    config = current_app.config
    url = config.get("NAMED_ACCOUNTS_URL")
    if not url:
        return 0
    timeout = float(config.get("NAMED_ACCOUNTS_TIMEOUT", 30))
    # ETag and Last-Modified live in the audit event of the last successful sync of this URL.
    last_ok = _last_sync_event(sess, (SYNC_ACTION,))
    known = last_ok.data if last_ok is not None and last_ok.data.get("url") == url else {}
    headers = {"Accept": "text/csv, */*;q=0.5"}
    if known.get("etag"):
        headers["If-None-Match"] = known["etag"]
    if known.get("last_modified"):
        headers["If-Modified-Since"] = known["last_modified"]
    try:
        status, body, resp_headers = _fetch(url, headers, timeout)
    except (requests.RequestException, ValueError) as exc:
        return _sync_failed(sess, url, f"{type(exc).__name__}: {exc}"[:500])
    etag = resp_headers.get("ETag") or known.get("etag")
    last_modified = resp_headers.get("Last-Modified") or known.get("last_modified")
    validators = {"url": url, "etag": etag, "last_modified": last_modified}
    if status == 304:
        record_audit(
            sess, None, SYNC_ACTION, SYNC_OBJECT, "sync", result="not_modified", **validators
        )
        return 0
    if status != 200:
        return _sync_failed(sess, url, f"HTTP {status} from the list URL")
    try:
        parsed = parse_csv(body, districts=known_districts(sess))
    except ListValidationError as exc:
        return _sync_failed(
            sess,
            url,
            f"the file was refused: {exc}",
            errors=[e.as_dict() for e in exc.errors[:50]],
        )
    existing = sess.execute(
        sa.select(NamedAccountList.id)
        .where(
            NamedAccountList.content_hash == parsed.content_hash,
            NamedAccountList.status.in_(("draft", "published")),
        )
        .limit(1)
    ).scalar_one_or_none()
    if existing is not None:
        record_audit(
            sess,
            None,
            SYNC_ACTION,
            SYNC_OBJECT,
            "sync",
            result="unchanged",
            list_id=existing,
            **validators,
        )
        return 0
    auto_publish = active_policy(sess).values.auto_publish_synced_lists
    try:
        with sess.begin_nested():
            version = store_draft(
                sess,
                parsed,
                actor_id=None,
                label=f"Synced {now:%Y-%m-%d %H:%M} UTC",
                source="sync",
            )
            if auto_publish:
                publish(sess, version, effective_from=now.date(), actor_id=None, now=now)
    except ListError as exc:
        return _sync_failed(sess, url, f"could not publish: {exc}")
    record_audit(
        sess,
        None,
        SYNC_ACTION,
        SYNC_OBJECT,
        "sync",
        result="published" if auto_publish else "stored",
        list_id=version.id,
        account_count=len(parsed.rows),
        **validators,
    )
    return 1


# -- look-up ----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class LookupAnswer:
    """The answer to "is this account named?": one of reserved, not_reserved, needs_review."""

    status: str
    account_name: str | None = None
    mcs_owner_email: str | None = None
    account_ref: str | None = None
    method: str | None = None
    score: float | None = None
    list_version_id: int | None = None


def looks_like_domain(text: str) -> bool:
    """Return True when the text is a web address or domain rather than a company name."""
    text = text.strip()
    return " " not in text and "." in text and is_valid_domain(text)


def lookup_account(
    index: AccountIndex, query: str, *, match_score: float, review_score: float
) -> LookupAnswer:
    """Answer whether a name or domain is a named account, revealing at most the one match."""
    query = " ".join(query.split())[:300]
    domain = query if looks_like_domain(query) else None
    found = index.match(query, domain, match_score=match_score, review_score=review_score)
    if not found:
        return LookupAnswer("not_reserved", list_version_id=index.list_version_id)
    best = found[0]
    if not best.confident:
        # Uncertain: say so without naming any candidate, or the list could be mined by guessing.
        return LookupAnswer(
            "needs_review",
            method=str(best.method),
            score=best.score,
            list_version_id=index.list_version_id,
        )
    return LookupAnswer(
        "reserved",
        account_name=best.account.name,
        mcs_owner_email=best.account.mcs_owner_email,
        account_ref=best.account.account_id,
        method=str(best.method),
        score=best.score,
        list_version_id=index.list_version_id,
    )
