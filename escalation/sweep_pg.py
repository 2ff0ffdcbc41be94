"""The SLA sweep's statements on PostgreSQL: count, plan per place, then one statement.

A first query counts the overdue tickets per (type, level, district, region) and finds each
group's earliest due time; Python spreads every place's tickets over its reviewers
(``routing.place_owners``) and sends the owners back as one integer array. The sweep statement
then locks the overdue tickets (``FOR NO KEY UPDATE SKIP LOCKED``), numbers them within their
place by due time, gives the n-th ticket of a place the place's n-th owner (or its partner's
Gold coordinator), and writes, in the tickets' order on disk, each ticket, its timeline event
and, per endpoint, one webhook fan-out row (``escalation.fanout``). A place moves at most as
many tickets as were planned for it, so every owner comes from the plan; a ticket that became
overdue since the count may wait for the next sweep.

Only the owners (one integer-array literal) and a few dozen plan values cross the wire,
instead of a row per ticket each way: at a hundred thousand tickets those rows and their
Python objects would cost more than the statement's own work on them.
"""

from collections import defaultdict
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from escalation.routing import Place, place_order, place_owners
from escalation.service import _iso

if TYPE_CHECKING:
    from escalation.sweep import ByOwner, DueKey, SweepContext

# Settings for the sweep statement alone. It keeps the moved rows for its later steps, which
# the default work_mem would spill to temporary files. The planner prices a row lookup by
# tid like a random page read, so it would hash the whole ticket table to join the planned
# rows back to it, where fetching each row by its tid costs far less. And the statement's
# estimated cost makes the server compile its expressions (JIT) on every run, which takes
# tens of milliseconds, more on a busy machine, and saves nothing: the time goes into row
# writes, index entries and foreign-key checks, not into evaluating expressions.
SWEEP_SETTINGS = {
    "work_mem": "64MB",
    "enable_hashjoin": "off",
    "enable_mergejoin": "off",
    "jit": "off",
}

_PG_GROUPS = """
SELECT type, level, district, region,
       count(*) FILTER (WHERE NOT gold) AS spread,
       min(sla_due_at) FILTER (WHERE NOT gold) AS first_due
FROM (
    SELECT t.type, t.level, t.district, t.region, t.sla_due_at,
           (t.partner_id = ANY(CAST(:gold AS integer[]))
            OR t.other_partner_id = ANY(CAST(:gold AS integer[]))) IS TRUE AS gold
    FROM ticket t
    WHERE t.status IN ('open', 'in_review') AND t.level < 3 AND t.sla_due_at < :now
) overdue
GROUP BY type, level, district, region
"""

_PG_ESCALATE = """
WITH gold AS (
    SELECT * FROM unnest(CAST(:g_partners AS integer[]), CAST(:g_owners AS integer[]))
        AS g(partner_id, owner)
),
-- Each ticket finds its due time and its place by position in the plan's arrays: no join on
-- text (whose estimates mislead the planner) and no sort on it (slow under the collation).
-- Only the narrow columns the later steps need are kept.
locked AS (
    SELECT t.ctid AS row_id, t.id, t.level AS old_level, t.sla_due_at AS old_due,
           t.owner_id AS old_owner, coalesce(g1.owner, g2.owner) AS gold_owner,
           array_position(CAST(:d_keys AS text[]),
                          t.type || '|' || (t.level + 1) || '|' || coalesce(t.district, ''))
               AS due_no,
           CASE WHEN coalesce(g1.owner, g2.owner) IS NULL THEN
                array_position(CAST(:p_keys AS text[]),
                               (t.level + 1) || '|' || coalesce(t.district, '') || '|'
                               || coalesce(t.region, ''))
           END AS place_no
    FROM ticket t
    LEFT JOIN gold g1 ON g1.partner_id = t.partner_id
    LEFT JOIN gold g2 ON g2.partner_id = t.other_partner_id
    WHERE t.status IN ('open', 'in_review') AND t.level < 3 AND t.sla_due_at < :now
    FOR NO KEY UPDATE OF t SKIP LOCKED
),
ranked AS (
    SELECT l.*, row_number() OVER (PARTITION BY l.place_no ORDER BY l.old_due, l.id) AS rank
    FROM locked l
),
planned AS (
    SELECT row_id, old_level, old_due, old_owner,
           (CAST(:d_dues AS timestamptz[]))[due_no] AS new_due,
           (CAST(:d_texts AS text[]))[due_no] AS due_text,
           CASE WHEN gold_owner IS NOT NULL THEN gold_owner
                WHEN rank <= (CAST(:p_owned AS integer[]))[place_no]
                THEN (CAST(:owners AS integer[]))[(CAST(:p_starts AS integer[]))[place_no] + rank]
           END AS new_owner
    FROM ranked
    -- At most as many per place as were planned; any others wait for the next sweep.
    WHERE due_no IS NOT NULL
      AND (gold_owner IS NOT NULL OR rank <= (CAST(:p_counts AS integer[]))[place_no])
    -- In the order on disk: each update then mostly touches the heap and index pages the
    -- previous one touched.
    ORDER BY row_id
),
moved AS (
    UPDATE ticket t
    SET level = l.old_level + 1, status = 'open', owner_id = l.new_owner, claimed_at = NULL,
        escalated_at = :now, sla_due_at = l.new_due, updated_at = :now
    FROM planned l
    WHERE t.ctid = l.row_id AND t.level = l.old_level AND t.sla_due_at < :now
    RETURNING t.id, t.type, t.district, l.old_level, l.old_due, l.old_owner, l.new_owner,
              l.due_text
),
events AS (
    INSERT INTO ticket_event (ticket_id, kind, visibility, actor_id, body, data, created_at)
    SELECT m.id, 'escalated', 'public', NULL,
           format('The level %s SLA ran out; escalated to level %s.',
                  m.old_level, m.old_level + 1),
           -- A row turned into JSON costs less than jsonb_build_object with as many keys.
           to_jsonb(d), :now
    FROM moved m, LATERAL (
        SELECT m.old_level AS from_level, m.old_level + 1 AS to_level,
               'sla_overdue' AS reason, m.old_due AS previous_due_at,
               floor(date_part('epoch', :now - m.old_due))::bigint AS overdue_seconds,
               m.due_text AS due_at, m.new_owner AS owner_id, m.old_owner AS previous_owner_id
    ) d
),
fanout AS (
    SELECT jsonb_agg(jsonb_build_object(
               'data', jsonb_build_object(
                   'type', g.type, 'status', 'open', 'level', g.old_level + 1,
                   'from_level', g.old_level, 'district', g.district, 'sla_due_at', g.due_text),
               'ticket_ids', to_jsonb(g.ids))) AS groups
    FROM (
        SELECT m.type, m.old_level, m.district, m.due_text, array_agg(m.id) AS ids
        FROM moved m GROUP BY m.type, m.old_level, m.district, m.due_text
    ) g
    HAVING count(*) > 0
),
hooks AS (
    INSERT INTO outbox_message (channel, event, message_id, recipient, endpoint_id, subject,
                                template, context, status, attempts, next_attempt_at, created_at)
    SELECT 'webhook', 'ticket.escalated',
           'msg_' || replace(CAST(gen_random_uuid() AS text), '-', ''), e.url, e.id, '', '',
           jsonb_build_object('type', 'ticket.escalated', 'groups', f.groups),
           'fanout', 0, :now, :now
    FROM fanout f
    CROSS JOIN unnest(CAST(:ep_ids AS integer[]), CAST(:ep_urls AS text[])) AS e(id, url)
)
SELECT new_owner, array_agg(id) FROM moved GROUP BY new_owner
"""

_PG_BREACH = """
WITH locked AS (
    SELECT t.ctid AS row_id FROM ticket t
    WHERE t.status IN ('open', 'in_review') AND t.level = 3 AND NOT t.breached
      AND t.sla_due_at < :now
    FOR NO KEY UPDATE OF t SKIP LOCKED
),
marked AS (
    UPDATE ticket t SET breached = true, updated_at = :now
    WHERE t.ctid = ANY(ARRAY(SELECT row_id FROM locked))
      AND t.level = 3 AND NOT t.breached AND t.sla_due_at < :now
    RETURNING t.id, t.owner_id, t.sla_due_at
),
events AS (
    INSERT INTO ticket_event (ticket_id, kind, visibility, actor_id, body, data, created_at)
    SELECT m.id, 'breached', 'internal', NULL,
           'The national SLA ran out before a decision.',
           jsonb_build_object(
               'level', 3, 'due_at', m.sla_due_at,
               'overdue_seconds', floor(extract(epoch FROM (:now - m.sla_due_at)))::bigint),
           :now
    FROM marked m
)
SELECT owner_id, array_agg(id) FROM marked GROUP BY owner_id
"""


def mark_breached(sess: Session, now: datetime) -> "ByOwner":
    """Mark overdue national tickets breached, once each; return their ids by owner."""
    rows = sess.execute(sa.text(_PG_BREACH), {"now": now}).all()
    return {owner: list(ids) for owner, ids in rows}


def escalate(sess: Session, ctx: "SweepContext") -> "ByOwner":
    """Move every overdue ticket below level 3 up one level; return the moved ids by owner."""
    params = _plan(sess, ctx)
    if params is None:
        return {}
    with _settings(sess, SWEEP_SETTINGS):
        rows = sess.execute(sa.text(_PG_ESCALATE), params).all()
    return {owner: list(ids) for owner, ids in rows}


@contextmanager
def _settings(sess: Session, values: dict[str, str]) -> Iterator[None]:
    """Change settings for the statements of a block, then put the previous values back."""
    names = list(values)
    previous = sess.execute(
        sa.text(
            "SELECT current_setting(n.name) "
            "FROM unnest(CAST(:names AS text[])) WITH ORDINALITY AS n(name, i) ORDER BY n.i"
        ),
        {"names": names},
    ).scalars()
    before = dict(zip(names, previous, strict=True))
    change = sa.text("SELECT set_config(:name, :value, true)")
    for name, value in values.items():
        sess.execute(change, {"name": name, "value": value})
    # After an error the transaction is rolled back, which undoes these settings anyway.
    yield
    for name, value in before.items():
        sess.execute(change, {"name": name, "value": value})


def _key(*parts: str | int | None) -> str:
    """Return the plan key the sweep statement builds from a ticket's columns."""
    return "|".join("" if part is None else str(part) for part in parts)


def _plan(sess: Session, ctx: "SweepContext") -> dict[str, Any] | None:
    """Return the sweep statement's parameters, or None when nothing is overdue."""
    groups = sess.execute(sa.text(_PG_GROUPS), {"now": ctx.now, "gold": list(ctx.gold)}).all()
    if not groups:
        return None
    due_keys: list[DueKey] = []
    counts: dict[Place, int] = defaultdict(int)
    first: dict[Place, datetime] = {}
    for ticket_type, level, district, region, spread, first_due in groups:
        due_keys.append((ticket_type, level + 1, district))
        if not spread:
            continue
        place = (level + 1, district, region)
        counts[place] += spread
        first[place] = min(first_due, first.get(place, first_due))
    order = sorted(counts, key=lambda place: place_order(first[place], place))
    owners = place_owners(ctx.reviewers, [(place, counts[place]) for place in order])
    flat: list[int] = []
    starts: list[int] = []
    for place in order:
        starts.append(len(flat))
        flat.extend(owners[place])
    keys = list(dict.fromkeys(due_keys))
    dues = [ctx.due(key) for key in keys]
    return {
        "g_partners": list(ctx.gold),
        "g_owners": list(ctx.gold.values()),
        "p_keys": [_key(*place) for place in order],
        "p_starts": starts,
        "p_owned": [len(owners[place]) for place in order],
        "p_counts": [counts[place] for place in order],
        "owners": "{" + ",".join(map(str, flat)) + "}",
        "d_keys": [_key(*key) for key in keys],
        "d_dues": dues,
        "d_texts": [_iso(due) for due in dues],
        "ep_ids": [ep.id for ep in ctx.endpoints],
        "ep_urls": [ep.url[:254] for ep in ctx.endpoints],
        "now": ctx.now,
    }
