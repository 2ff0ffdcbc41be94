"""Everyone a ticket's opening involves, read in one statement.

Opening a conflict ticket needs the active reviewers (to route it), the Gold coordinator of
either party (who owns a Gold partner's conflicts), and the people on its sides (to tell them):
the parties' active partner users, the account behind the MCS owner's address and MCS
submitters. Read one by one that was four round trips on every ticket a registration opened;
here it is one query whose rows say, in Python, which part each user is. The open work of the
reviewers who could take the ticket is counted by the caller, for those few only.
"""

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session
from sqlmodel import col

from models import Partner, User
from models.partner import GOLD_POINTS


@dataclass(frozen=True)
class TicketPeople:
    """The active reviewers, a ticket's Gold coordinator and its parties."""

    reviewers: list[User]
    coordinator_id: int | None
    # Partner users, the MCS owner (the account when one has the address), MCS submitters.
    party: list[User | str]


def read_ticket_people(
    sess: Session,
    *,
    partner_ids: Sequence[int | None],
    mcs_owner_email: str | None,
    submitter_ids: Sequence[int],
    with_reviewers: bool,
) -> TicketPeople:
    """Return the active reviewers, a ticket's Gold coordinator and its party, in one query."""
    pids = [p for p in partner_ids if p is not None]
    email = (mcs_owner_email or "").strip().lower() or None
    wanted: list[Any] = []
    if with_reviewers:
        wanted.append(sa.and_(col(User.role) == "reviewer", col(User.is_active).is_(True)))
    if pids:
        wanted.append(
            sa.and_(
                col(User.role) == "partner",
                col(User.partner_id).in_(pids),
                col(User.is_active).is_(True),
            )
        )
    if email:
        wanted.append(col(User.email) == email)
    if submitter_ids:
        wanted.append(col(User.id).in_(list(submitter_ids)))
    if not wanted:
        return TicketPeople([], None, [])
    columns: list[Any] = [User]
    if with_reviewers:
        # In the parties' order: the first Gold partner's coordinator owns the ticket.
        columns.extend(
            sa.select(col(Partner.technical_coordinator_id))
            .where(col(Partner.id) == pid, col(Partner.points) >= GOLD_POINTS)
            .scalar_subquery()
            for pid in pids
        )
    rows = sess.execute(sa.select(*columns).where(sa.or_(*wanted)).order_by(col(User.id))).all()
    return _sort(rows, pids, email, submitter_ids, with_reviewers)


def _sort(
    rows: Sequence[Any],
    pids: list[int],
    email: str | None,
    submitters: Sequence[int],
    with_reviewers: bool,
) -> TicketPeople:
    reviewers: list[User] = []
    partner_users: list[User | str] = []
    owner: User | str | None = email
    by_id: dict[int, User] = {}
    coordinator_id: int | None = None
    for row in rows:
        user: User = row[0]
        uid: int = row[0].id  # a read row always has its id
        if with_reviewers and user.role == "reviewer" and user.is_active:
            reviewers.append(user)
        if user.role == "partner" and user.is_active and user.partner_id in pids:
            partner_users.append(user)
        if email is not None and user.email == email:
            owner = user
        if uid in submitters:
            by_id[uid] = user
    # No rows means no active reviewer, so no coordinator who could own the ticket either.
    if with_reviewers and rows:
        coordinator_id = next((c for c in rows[0][1:] if c), None)
    mcs_submitters = [by_id[i] for i in dict.fromkeys(submitters) if i in by_id]
    party = [*partner_users, *([owner] if owner is not None else []), *mcs_submitters]
    return TicketPeople(reviewers, coordinator_id, party)
