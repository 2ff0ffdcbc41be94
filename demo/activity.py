"""Registrations and tickets in every state, made through the same services users go through.

After the services have judged them, timestamps are spread over the past weeks so the dashboard
has a history to draw; nothing else is written around the services.
"""

import csv
from datetime import timedelta
from pathlib import Path

import sqlalchemy as sa
from sqlalchemy.orm import Session

from conflict.schemas import RegistrationCreate
from conflict.service import submit_registration, withdraw_registration
from escalation import service as tickets
from models import Registration, Ticket, TicketEvent, User, utcnow

HERE = Path(__file__).resolve().parent


def _customers() -> list[tuple[str, int]]:
    """Return real companies that are on neither the named list nor the partner list."""
    with (HERE / "customers.csv").open(encoding="utf-8") as fh:
        return [(row["name"], int(row["pc_count"])) for row in csv.DictReader(fh)]


# Named accounts (they are on the demo list) that partners will run into.
NAMED = [
    ("Caterpillar", "caterpillar.com"),
    ("Deere & Company", "deere.com"),
    ("Marriott International, Inc.", "marriott.com"),
    ("Best Buy Co., Inc.", None),
    ("General Mills", "generalmills.com"),
    ("Starbucks Corporation", "starbucks.com"),
    ("Dominos Pizza", None),  # resembles a named account: needs review
]
MATURITY = ["basic", "standardized", "rationalized", "dynamic"]


def _user(sess: Session, email: str) -> User:
    return sess.execute(sa.select(User).where(User.email == email)).scalar_one()


def _partner_users(sess: Session) -> list[User]:
    return list(
        sess.execute(
            sa.select(User).where(User.role == "partner").order_by(User.partner_id)
        ).scalars()
    )


def _reg(**kw: object) -> RegistrationCreate:
    return RegistrationCreate.model_validate(kw)


def load_activity(sess: Session) -> str:
    """Create demo registrations and tickets through the services; return a one-line summary."""
    partners = _partner_users(sess)
    mcs_users = list(sess.execute(sa.select(User).where(User.role == "mcs")).scalars())
    districts = [
        "northeast",
        "mid_atlantic",
        "southeast",
        "great_lakes",
        "south_central",
        "rocky_mountain",
        "southwest",
        "northwest",
    ]
    made: list[Registration] = []
    customers = _customers()
    plain, shared, mcs_side = customers[:12], customers[12:16], customers[16:24]

    def submit(user: User, **kw: object) -> Registration:
        result = submit_registration(sess, _reg(**kw), user=user)
        made.append(result.registration)
        return result.registration

    # Plain approved deals on customers outside the list, with every maturity level.
    for i, (name, pcs) in enumerate(plain):
        submit(
            partners[i % len(partners)],
            customer_name=name,
            pc_count=pcs,
            district=districts[i % len(districts)],
            workloads=[
                ["exchange", "sharepoint"],
                ["azure"],
                ["office365", "yammer"],
                ["sql_server", "windows_server"],
            ][i % 4],
            solution_stack="all_microsoft" if i % 3 else "competitive_middleware",
            estimated_value=40_000 + 15_000 * i,
            infrastructure_maturity=MATURITY[i % 4],
        )
    # Partners registering named accounts: MCS-versus-partner conflicts.
    for i, (name, domain) in enumerate(NAMED):
        submit(
            partners[(i * 3) % len(partners)],
            customer_name=name,
            customer_domain=domain,
            pc_count=8_000 + 1_000 * i,
            district=districts[(i + 2) % len(districts)],
            workloads=["office365", "sharepoint"],
            solution_stack="all_microsoft",
            estimated_value=150_000 + 20_000 * i,
            infrastructure_maturity=MATURITY[(i + 1) % 4],
        )
    # Two partners on one customer and one workload, and a third on another workload.
    for j, (name, pcs) in enumerate(shared):
        base = dict(customer_name=name, pc_count=min(pcs, 3_900), district=districts[j])
        submit(
            partners[6 + j],
            **base,
            workloads=["exchange"],
            solution_stack="competitive_middleware",
            estimated_value=90_000,
        )
        submit(
            partners[12 + j],
            **base,
            workloads=["exchange", "skype"],
            solution_stack="all_microsoft",
            estimated_value=110_000,
        )
        submit(
            partners[18 + j],
            **base,
            workloads=["yammer"],
            solution_stack="all_microsoft",
            estimated_value=25_000,
        )
    # MCS: outside its space (rejected), high-impact early .NET exceptions, the no-bid block,
    # and overlaps with partners on large accounts that are not named.
    small = [(n, min(p, 3_500)) for n, p in mcs_side]
    big = [(n, max(p, 4_500)) for n, p in mcs_side]
    for k in range(len(mcs_side)):
        seller = mcs_users[k % len(mcs_users)]
        district = districts[(k + 3) % len(districts)]
        if k % 4 == 0:
            submit(
                seller,
                customer_name=small[k][0],
                pc_count=small[k][1],
                district=district,
                workloads=["azure"],
                estimated_value=60_000,
            )
        elif k % 4 == 1:
            submit(
                seller,
                customer_name=small[k][0],
                pc_count=small[k][1],
                district=district,
                workloads=["dotnet_server", "azure"],
                dotnet_early_adoption=True,
                estimated_value=400_000 + 50_000 * k,
            )
        elif k % 4 == 2:
            submit(
                partners[(k + 4) % len(partners)],
                customer_name=big[k][0],
                pc_count=big[k][1],
                district=district,
                workloads=["dotnet_server", "middleware"],
                solution_stack="all_microsoft",
                estimated_value=300_000,
            )
            submit(
                seller,
                customer_name=big[k][0],
                pc_count=big[k][1],
                district=district,
                workloads=["azure"],
                estimated_value=500_000,
            )
        else:
            submit(
                seller,
                customer_name=big[k][0],
                pc_count=big[k][1] + 2_000,
                district=district,
                workloads=["azure", "sql_server"],
                estimated_value=280_000,
            )
            submit(
                partners[(k + 5) % len(partners)],
                customer_name=big[k][0],
                pc_count=big[k][1] + 2_000,
                district=district,
                workloads=["sharepoint"],
                solution_stack="all_microsoft",
                estimated_value=120_000,
            )
    sess.flush()

    # Work the tickets: claimed, commented, decided, escalated, breached.
    open_tickets = list(
        sess.execute(sa.select(Ticket).where(Ticket.status == "open").order_by(Ticket.id)).scalars()
    )
    national = _user(sess, "national@example.com")
    for i, ticket in enumerate(open_tickets):
        reviewer = _owner_or_district_reviewer(sess, ticket)
        if reviewer is None:
            continue
        if i % 5 == 0:
            tickets.claim(sess, ticket, reviewer)
            tickets.comment(
                sess,
                ticket,
                author=reviewer,
                internal=False,
                body="Looking into this with the account team; expect an answer within the SLA.",
            )
        elif i % 5 == 1:
            tickets.claim(sess, ticket, reviewer)
            resolution = "exception_granted" if ticket.type == "exception" else "joint_engagement"
            if ticket.type == "exception":
                tickets.escalate(sess, ticket, actor=reviewer, reason="High-impact .NET deal")
                tickets.escalate(sess, ticket, actor=national, reason="National sign-off")
                tickets.claim(sess, ticket, national)
                tickets.decide(
                    sess,
                    ticket,
                    actor=national,
                    resolution=resolution,
                    rationale="Early .NET adoption with strategic value; MCS joins "
                    "with the partner in delivery.",
                )
            else:
                tickets.decide(
                    sess,
                    ticket,
                    actor=reviewer,
                    resolution=resolution,
                    rationale="Partner leads delivery, MCS covers architecture "
                    "reviews; agreed with both account teams.",
                )
        elif i % 5 == 2:
            tickets.escalate(sess, ticket, actor=None, reason="SLA passed at district level")
        elif i % 5 == 4:
            tickets.escalate(sess, ticket, actor=None, reason="SLA passed at district level")
            tickets.escalate(sess, ticket, actor=None, reason="SLA passed at region level")
            if i == 4:
                # Its national SLA has run out too: the next sweep marks it breached.
                ticket.sla_due_at = utcnow() - timedelta(hours=1)
                sess.flush()
                tickets.escalate_overdue(sess, utcnow())
        elif i % 5 == 3 and ticket.type == "conflict":
            tickets.claim(sess, ticket, reviewer)
            tickets.decide(
                sess,
                ticket,
                actor=reviewer,
                resolution="partner_leads",
                rationale="The partner has the relationship and an active proposal; "
                "MCS steps back on this one.",
            )
    # One withdrawn registration; one expired one.
    approved = [r for r in made if r.status == "approved"]
    if approved:
        withdraw_registration(
            sess,
            approved[0],
            user=sess.get(User, approved[0].submitted_by_id),
            reason="The customer postponed the project to next year.",
        )
    if len(approved) > 1:
        approved[1].status = "expired"
        approved[1].expires_at = utcnow() - timedelta(days=2)
    _spread_history(sess, made)
    sess.flush()
    counts: dict[str, int] = dict(
        sess.execute(
            sa.select(Registration.status, sa.func.count()).group_by(Registration.status)
        ).all()
    )
    n_tickets = sess.execute(sa.select(sa.func.count()).select_from(Ticket)).scalar_one()
    return f"{len(made)} registrations ({counts}), {n_tickets} tickets"


def _owner_or_district_reviewer(sess: Session, ticket: Ticket) -> User | None:
    if ticket.owner_id:
        return sess.get(User, ticket.owner_id)
    reviewers = sess.execute(
        sa.select(User).where(User.role == "reviewer", User.level == 1).order_by(User.id)
    ).scalars()
    for user in reviewers:
        if ticket.district in (user.districts or []):
            return user
    return None


def _spread_history(sess: Session, regs: list[Registration]) -> None:
    """Move the demo's timestamps back over ten weeks so charts have a history."""
    now = utcnow()
    for i, reg in enumerate(regs):
        shift = timedelta(days=(len(regs) - i) * 2, hours=i)
        reg.submitted_at = now - shift
        reg.decided_at = reg.submitted_at
        if reg.expires_at and reg.status == "approved":
            reg.expires_at = reg.expires_at - shift
        for ticket in sess.execute(
            sa.select(Ticket).where(Ticket.registration_id == reg.id)
        ).scalars():
            ticket.opened_at = reg.submitted_at
            if ticket.decided_at:
                ticket.decided_at = reg.submitted_at + timedelta(days=1 + i % 4)
            for event in sess.execute(
                sa.select(TicketEvent).where(TicketEvent.ticket_id == ticket.id)
            ).scalars():
                event.created_at = max(event.created_at - shift, reg.submitted_at)
