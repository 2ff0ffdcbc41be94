"""Webhook delivery: signed JSON posts (Standard Webhooks style), URL safety and endpoints.

URLs are checked, and connections pinned to the address checked, by ``escalation.url_guard``.
Each message is signed with its endpoint's secret: ``webhook-signature: v1,<base64 HMAC-SHA256 of
"{webhook-id}.{webhook-timestamp}.{body}">``. Receivers check the signature and the timestamp and
de-duplicate on ``webhook-id``, which stays the same across retries.
"""

import base64
import hashlib
import hmac
import json
import logging
import secrets
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from email.utils import parsedate_to_datetime
from typing import Any

import requests
import sqlalchemy as sa
from flask import current_app
from sqlalchemy.orm import Session

from escalation import claims, fanout
from escalation.claims import Claimed
from escalation.notify import DISABLED_ERROR, disabled_error, endpoints_changed
from escalation.url_guard import (
    UnresolvableURL,
    UnsafeURL,
    check_url,
    checked_addresses,
    new_http_session,
    pinned_session,
)
from models import OutboxMessage, WebhookEndpoint, utcnow
from models.base import UTCDateTime
from models.db import lock_key
from models.webhook import WEBHOOK_EVENTS

log = logging.getLogger(__name__)

SECRET_PREFIX = "whsec_"  # noqa: S105  a format marker, not a credential
MAX_ATTEMPTS = 16
# An endpoint is disabled when this many deliveries in a row have failed over at least
# DISABLE_AFTER_FAILING_FOR. Failures of many messages queued at once come within seconds,
# so a count alone would disable an endpoint for a blip the retries ride out; an hour without
# a success is an outage worth holding messages for. A message out of attempts during such a
# run disables it sooner, so the message is held instead of given up.
DISABLE_AFTER_FAILURES = 10
DISABLE_AFTER_FAILING_FOR = timedelta(hours=1)
# Held messages whose endpoint is enabled are looked for this far back (see _requeue_stray).
STRAY_HELD_WINDOW = timedelta(hours=1)
BATCH_SIZE = 50
CONNECT_TIMEOUT = 5.0
READ_TIMEOUT = 10.0
TIMESTAMP_TOLERANCE = 300
RUN_BUDGET_SECONDS = 180.0
USER_AGENT = "ChannelGuard-Webhooks/1"


# --- signing -----------------------------------------------------------------------------------


def new_secret() -> str:
    """Return a fresh endpoint secret: "whsec_" and 32 random bytes in base64."""
    return SECRET_PREFIX + base64.b64encode(secrets.token_bytes(32)).decode()


def _key(secret: str) -> bytes:
    raw = secret.removeprefix(SECRET_PREFIX)
    return base64.b64decode(raw)


def sign(secret: str, msg_id: str, timestamp: int, body: bytes) -> str:
    """Return the webhook-signature header value for one delivery."""
    signed = f"{msg_id}.{timestamp}.".encode() + body
    digest = hmac.new(_key(secret), signed, hashlib.sha256).digest()
    return "v1," + base64.b64encode(digest).decode()


def verify_signature(
    secret: str,
    headers: Mapping[str, str],
    body: bytes,
    *,
    tolerance: int | None = TIMESTAMP_TOLERANCE,
    now: float | None = None,
) -> bool:
    """Check a delivery's webhook-signature (and, by default, that its timestamp is fresh)."""
    lowered = {k.lower(): v for k, v in headers.items()}
    msg_id = lowered.get("webhook-id", "")
    stamp = lowered.get("webhook-timestamp", "")
    given = lowered.get("webhook-signature", "")
    if not msg_id or not stamp.isdigit() or not given:
        return False
    timestamp = int(stamp)
    if tolerance is not None:
        current = time.time() if now is None else now
        if abs(current - timestamp) > tolerance:
            return False
    try:
        expected = sign(secret, msg_id, timestamp, body).encode()
    except (ValueError, TypeError):
        return False
    # Several signatures may be sent while a secret is rotated; any valid one will do.
    return any(hmac.compare_digest(expected, part.encode()) for part in given.split())


# --- endpoints -----------------------------------------------------------------------------------


class UnknownEvent(ValueError):
    """Event types no webhook is ever sent for: an endpoint subscribed only to them gets nothing."""


def parse_events(value: str | Iterable[str] | None) -> list[str]:
    """Turn "a,b" (or a list) into a clean list of known event types; empty means every event."""
    if value is None:
        return []
    items = value.split(",") if isinstance(value, str) else list(value)
    events = sorted({item.strip() for item in items if item and item.strip()})
    unknown = [e for e in events if e not in WEBHOOK_EVENTS]
    if unknown:
        word = "type" if len(unknown) == 1 else "types"
        raise UnknownEvent(
            f"Unknown event {word}: {', '.join(unknown)}. "
            f"Choose from {', '.join(WEBHOOK_EVENTS)}, or leave empty for every event."
        )
    return events


def add_endpoint(
    sess: Session,
    url: str,
    *,
    allow_private: bool = False,
    events: Iterable[str] = (),
    check: bool = True,
) -> WebhookEndpoint:
    """Validate a URL and event types and add an endpoint with a new secret (the caller commits)."""
    event_types = parse_events(events)
    url = url.strip()
    if len(url) > 2000:
        raise UnsafeURL("the URL is longer than 2,000 characters")
    if check:
        check_url(url, allow_private=allow_private)
    endpoint = WebhookEndpoint(
        url=url,
        secret=new_secret(),
        events=event_types,
        allow_private=allow_private,
    )
    sess.add(endpoint)
    sess.flush()
    endpoints_changed(sess)
    return endpoint


def sync_configured_endpoints(sess: Session, urls: Iterable[str] | None = None) -> int:
    """Add an endpoint for each WEBHOOK_URLS entry not yet in the table; return how many."""
    configured = (current_app.config.get("WEBHOOK_URLS") or []) if urls is None else urls
    wanted = [u.strip() for u in configured]
    wanted = [u for u in dict.fromkeys(wanted) if u]
    if not wanted:
        return 0
    known = set(sess.execute(sa.select(WebhookEndpoint.url)).scalars())
    if all(url in known for url in wanted):
        return 0
    # Two instances syncing at once must not both add the same URL: lock, then look again.
    lock_key(sess, "webhook-config-sync")
    known = set(sess.execute(sa.select(WebhookEndpoint.url)).scalars())
    added = 0
    for url in wanted:
        if url in known:
            continue
        # Operator-configured URLs are checked at delivery time, where a refusal is recorded
        # on the message; admins can allow private addresses for them explicitly.
        add_endpoint(sess, url, check=False)
        added += 1
        log.info("webhook endpoint added from WEBHOOK_URLS: %s", url)
    return added


def set_enabled(sess: Session, endpoint: WebhookEndpoint, enabled: bool, reason: str = "") -> int:
    """Enable (resetting the failure count) or disable an endpoint; return messages requeued.

    Disabling on purpose holds the messages already queued but stops new events for it;
    enabling sends every held message, its own and those of a disable after failures.
    """
    endpoint.enabled = enabled
    endpoint.hold_while_disabled = False
    if enabled:
        endpoint.consecutive_failures = 0
        endpoint.failing_since = None
        endpoint.disabled_reason = None
    else:
        endpoint.disabled_reason = (reason or "disabled by an admin")[:500]
    sess.add(endpoint)
    sess.flush()
    endpoints_changed(sess)
    if not enabled:
        dead_letter_disabled(sess, endpoint_id=endpoint.id)
        return 0
    return _requeue_held(sess, endpoint.id or 0)


def _held() -> list[Any]:
    return [
        OutboxMessage.channel == "webhook",
        OutboxMessage.status == "dead",
        OutboxMessage.last_error.startswith(DISABLED_ERROR),
    ]


# Due from when they were made, so they are claimed (by next attempt, then id) in the order
# their events happened, before anything queued after them.
_REQUEUE = {
    "status": "pending",
    "next_attempt_at": OutboxMessage.created_at,
    "attempts": 0,
    "claimed_until": None,
    "last_error": None,
}


def _requeue_held(sess: Session, endpoint_id: int) -> int:
    """Queue again the messages failed only because the endpoint was disabled."""
    # They were not delivered: enabling the endpoint again delivers them, so nothing the
    # receiver missed while it was off is lost. Real delivery failures stay for a manual retry.
    result = sess.execute(
        sa.update(OutboxMessage)
        .where(*_held(), OutboxMessage.endpoint_id == endpoint_id)
        .values(**_REQUEUE)
    )
    return int(getattr(result, "rowcount", 0) or 0)


def _requeue_stray(sess: Session, now: datetime) -> int:
    """Queue again recently held messages whose endpoint is enabled; return how many.

    A transaction that read the endpoint as disabled may commit a held message just after an
    admin enabled it, and so after the enable requeued the others. Held messages carry the
    time they were held in next_attempt_at, so looking back a while reads few rows.
    """
    enabled = sa.select(WebhookEndpoint.id).where(WebhookEndpoint.enabled.is_(True))
    result = sess.execute(
        sa.update(OutboxMessage)
        .where(
            *_held(),
            OutboxMessage.next_attempt_at >= now - STRAY_HELD_WINDOW,
            OutboxMessage.endpoint_id.in_(enabled),
        )
        .values(**_REQUEUE)
    )
    return int(getattr(result, "rowcount", 0) or 0)


def held_counts(sess: Session) -> dict[int, int]:
    """Return endpoint id -> messages held for it until it is enabled again."""
    rows = sess.execute(
        sa.select(OutboxMessage.endpoint_id, sa.func.count())
        .where(*_held())
        .group_by(OutboxMessage.endpoint_id)
    ).all()
    return {int(ep_id): int(n) for ep_id, n in rows if ep_id is not None}


def dead_letter_disabled(
    sess: Session, now: datetime | None = None, *, endpoint_id: int | None = None
) -> int:
    """Fail the waiting messages of disabled endpoints (or of one); return how many.

    Nothing claims a message for a disabled endpoint, so one left pending would wait unseen for
    ever; failed, it shows on the outbox page, and enabling the endpoint again sends it (see
    set_enabled). Messages being sent right now are left to finish; those whose sender died
    (lease run out) are failed too.
    """
    now = now or utcnow()
    waiting = sa.or_(
        OutboxMessage.status == "pending",
        sa.and_(OutboxMessage.status == "sending", OutboxMessage.claimed_until < now),
    )
    disabled = sa.select(WebhookEndpoint.id, WebhookEndpoint.disabled_reason).where(
        WebhookEndpoint.enabled.is_(False)
    )
    if endpoint_id is not None:
        disabled = disabled.where(WebhookEndpoint.id == endpoint_id)
    failed = 0
    for ep_id, reason in sess.execute(disabled).all():
        result = sess.execute(
            sa.update(OutboxMessage)
            .where(
                OutboxMessage.channel == "webhook",
                OutboxMessage.endpoint_id == ep_id,
                waiting,
            )
            .values(
                status="dead",
                claimed_until=None,
                last_error=disabled_error(reason),
                # The time it was held, which _requeue_stray looks back from.
                next_attempt_at=now,
            )
        )
        failed += int(getattr(result, "rowcount", 0) or 0)
    return failed


# --- delivery ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Target:
    """The endpoint facts a delivery needs, read once per run."""

    id: int
    url: str
    secret: str
    allow_private: bool
    enabled: bool


def payload_body(msg: Claimed) -> bytes:
    """Return the JSON body for a message: id, type, timestamp and data."""
    ctx = msg.context or {}
    payload = {
        "id": msg.message_id,
        "type": ctx.get("type") or msg.event,
        "timestamp": msg.created_at.astimezone(UTC).isoformat().replace("+00:00", "Z"),
        "data": ctx.get("data", {}),
    }
    return json.dumps(payload, separators=(",", ":"), sort_keys=True, default=str).encode()


def parse_retry_after(value: str | None, now: datetime) -> timedelta | None:
    """Read a Retry-After header given in seconds or as an HTTP date."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return timedelta(seconds=int(value))
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(when - now, timedelta(0))


@dataclass(frozen=True)
class Outcome:
    """What one POST achieved."""

    kind: str  # "sent" | "retry" | "gone" | "refused"
    detail: str = ""
    retry_after: timedelta | None = None


def route(http: requests.Session, target: Target) -> "Outcome | requests.Session":
    """Return the session to post to a target through, or why its URL may not be called now.

    A target that may use private addresses goes through the ordinary session; any other
    through a session pinned to the address its name resolved to when it was checked.
    """
    try:
        if target.allow_private:
            check_url(target.url, allow_private=True)
            return http
        addresses = checked_addresses(target.url)
    except UnsafeURL as exc:
        return Outcome("refused", f"refused URL: {exc}")
    except UnresolvableURL as exc:
        return Outcome("retry", str(exc))
    return pinned_session(addresses[0])


def post(http: requests.Session, target: Target, msg: Claimed, now: datetime) -> Outcome:
    """POST one signed message to its (already checked) endpoint and classify the answer."""
    body = payload_body(msg)
    stamp = int(now.timestamp())
    headers = {
        "content-type": "application/json",
        "user-agent": USER_AGENT,
        "webhook-id": msg.message_id,
        "webhook-timestamp": str(stamp),
        "webhook-signature": sign(target.secret, msg.message_id, stamp, body),
    }
    try:
        resp = http.post(
            target.url,
            data=body,
            headers=headers,
            timeout=(CONNECT_TIMEOUT, READ_TIMEOUT),
            allow_redirects=False,
        )
    except requests.Timeout as exc:
        return Outcome("retry", f"timeout: {exc}")
    except requests.RequestException as exc:
        return Outcome("retry", f"{type(exc).__name__}: {exc}")
    status = resp.status_code
    resp.close()
    if 200 <= status < 300:
        return Outcome("sent")
    if status == 410:
        return Outcome("gone", "410 Gone: the receiver asked us to stop")
    detail = f"HTTP {status}"
    if 300 <= status < 400:
        detail += f" (redirect to {resp.headers.get('location', '?')} not followed)"
    retry_after = None
    if status == 429 or status >= 500:
        retry_after = parse_retry_after(resp.headers.get("retry-after"), now)
    return Outcome("retry", detail, retry_after)


def _load_targets(sess: Session, batch: list[Claimed]) -> dict[int, Target]:
    ids = {m.endpoint_id for m in batch if m.endpoint_id is not None}
    rows = sess.execute(sa.select(WebhookEndpoint).where(WebhookEndpoint.id.in_(ids))).scalars()
    targets = {
        ep.id: Target(ep.id, ep.url, ep.secret, ep.allow_private, ep.enabled)
        for ep in rows
        if ep.id is not None
    }
    sess.commit()
    return targets


def _endpoint_ok(sess: Session, endpoint_id: int) -> None:
    sess.execute(
        sa.update(WebhookEndpoint)
        .where(WebhookEndpoint.id == endpoint_id, WebhookEndpoint.consecutive_failures != 0)
        .values(consecutive_failures=0, failing_since=None)
    )
    sess.commit()


def should_disable(
    failures: int, failing_since: datetime | None, now: datetime, *, out_of_attempts: bool
) -> bool:
    """Decide whether a run of failures ending now disables its endpoint."""
    if failures < DISABLE_AFTER_FAILURES:
        return False
    # A run whose start was not recorded began before this rule: it keeps the count alone.
    if out_of_attempts or failing_since is None:
        return True
    return now - failing_since >= DISABLE_AFTER_FAILING_FOR


def _endpoint_failed(
    sess: Session, endpoint_id: int, detail: str, now: datetime, *, out_of_attempts: bool
) -> bool:
    """Count a failure atomically; disable the endpoint when due. True when disabled now."""
    ep = WebhookEndpoint
    row = sess.execute(
        sa.update(ep)
        .where(ep.id == endpoint_id)
        .values(
            consecutive_failures=ep.consecutive_failures + 1,
            # SET reads the row as it was, so this starts the run at its first failure.
            failing_since=sa.case(
                (ep.consecutive_failures == 0, sa.literal(now, UTCDateTime())),
                else_=ep.failing_since,
            ),
        )
        .returning(ep.consecutive_failures, ep.failing_since)
    ).one_or_none()
    disabled = False
    if row is not None and should_disable(row[0], row[1], now, out_of_attempts=out_of_attempts):
        since = f" since {row[1]:%Y-%m-%d %H:%M} UTC" if row[1] is not None else ""
        result = sess.execute(
            sa.update(ep)
            .where(ep.id == endpoint_id, ep.enabled.is_(True))
            .values(
                enabled=False,
                hold_while_disabled=True,
                disabled_reason=f"{row[0]} consecutive failures{since}; last: {detail}"[:500],
            )
        )
        disabled = bool(getattr(result, "rowcount", 0))
    sess.commit()
    return disabled


def _disable(sess: Session, endpoint_id: int, reason: str) -> None:
    sess.execute(
        sa.update(WebhookEndpoint)
        .where(WebhookEndpoint.id == endpoint_id)
        .values(enabled=False, hold_while_disabled=False, disabled_reason=reason[:500])
    )
    sess.commit()


def _fail_waiting(sess: Session, endpoint_id: int, now: datetime) -> None:
    dead_letter_disabled(sess, now, endpoint_id=endpoint_id)
    sess.commit()


def deliver_batch(
    sess: Session, batch: list[Claimed], now: datetime, http: requests.Session
) -> int:
    """Post a claimed batch; return how many were delivered."""
    targets = _load_targets(sess, batch)
    deadline = time.monotonic() + (claims.LEASE - timedelta(seconds=60)).total_seconds()
    routes: dict[int, Outcome | requests.Session] = {}
    sent = 0
    try:
        for index, msg in enumerate(batch):
            if time.monotonic() > deadline:
                claims.release(sess, batch[index:], now)
                break
            target = targets.get(msg.endpoint_id or -1)
            if target is None:
                claims.mark_dead(sess, msg, "webhook endpoint no longer exists")
                continue
            if not target.enabled:
                # Disabled since it was queued (by an admin, a 410 or too many failures): it
                # was not tried, so the attempt is handed back before the message fails.
                claims.release(sess, [msg], now)
                _fail_waiting(sess, target.id, now)
                continue
            if target.id not in routes:
                # One name resolution per endpoint and batch is enough.
                routes[target.id] = route(http, target)
            via = routes[target.id]
            outcome = via if isinstance(via, Outcome) else post(via, target, msg, now)
            if outcome.kind == "sent":
                if claims.mark_sent(sess, msg, now):
                    sent += 1
                _endpoint_ok(sess, target.id)
            elif outcome.kind == "refused":
                claims.mark_dead(sess, msg, outcome.detail)
            elif outcome.kind == "gone":
                claims.mark_dead(sess, msg, outcome.detail)
                _disable(sess, target.id, outcome.detail)
                _fail_waiting(sess, target.id, now)
                targets[target.id] = replace(target, enabled=False)
            else:
                out_of_attempts = msg.attempts >= MAX_ATTEMPTS
                if _endpoint_failed(
                    sess, target.id, outcome.detail, now, out_of_attempts=out_of_attempts
                ):
                    log.warning("webhook endpoint %s disabled: %s", target.id, outcome.detail)
                    # The endpoint is down, not this message: it is held with the others.
                    claims.mark_retry(sess, msg, now, outcome.detail)
                    _fail_waiting(sess, target.id, now)
                    targets[target.id] = replace(target, enabled=False)
                elif out_of_attempts:
                    claims.mark_dead(
                        sess, msg, f"gave up after {msg.attempts} attempts: {outcome.detail}"
                    )
                else:
                    when = claims.retry_time(msg.attempts, now=now, retry_after=outcome.retry_after)
                    claims.mark_retry(sess, msg, when, outcome.detail)
    finally:
        for via in routes.values():
            if isinstance(via, requests.Session) and via is not http:
                via.close()
    return sent


def deliver_webhooks(sess: Session, now: datetime) -> int:
    """Post every due webhook message; return how many were delivered."""
    if sync_configured_endpoints(sess):
        sess.commit()
    else:
        sess.rollback()
    limit = int(current_app.config.get("OUTBOX_BATCH_SIZE") or BATCH_SIZE)
    started = time.monotonic()
    # Fan-out rows become one message per ticket first, so they are delivered like any other.
    while time.monotonic() - started < RUN_BUDGET_SECONDS and fanout.expand_fanouts(sess, now):
        sess.commit()
    sess.commit()
    dead_letter_disabled(sess, now)
    _requeue_stray(sess, now)
    sess.commit()
    total = 0
    with new_http_session() as http:
        while time.monotonic() - started < RUN_BUDGET_SECONDS:
            batch = claims.claim_outbox(sess, "webhook", now, limit=limit)
            if not batch:
                break
            total += deliver_batch(sess, batch, now, http)
    return total
