"""E-mail delivery from the outbox over SMTP, with retries and a dead-letter state."""

import logging
import re
import smtplib
import ssl
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from email.utils import format_datetime
from typing import Any

from flask import current_app
from sqlalchemy.orm import Session

from escalation import claims
from escalation.claims import Claimed
from escalation.states import RESOLUTION_LABELS

log = logging.getLogger(__name__)

MAX_ATTEMPTS = 16  # about eleven hours of retries with the 1 h cap
BATCH_SIZE = 50
# Stop claiming new batches well before the lease of the current one could run out.
RUN_BUDGET_SECONDS = 180.0
LEASE_MARGIN = timedelta(seconds=60)
SMTPS_PORT = 465  # implicit TLS ("submissions")

FACT_KEYS: tuple[tuple[str, str], ...] = (
    ("ticket_id", "Ticket"),
    ("registration_id", "Registration"),
    ("customer_name", "Customer"),
    ("rule", "Rule"),
    ("level", "Level"),
    ("resolution", "Resolution"),
)
LEVEL_NAMES = {1: "1 (district)", 2: "2 (region)", 3: "3 (national)"}


class PermanentFailure(Exception):
    """The message can never be delivered as it is (5xx reply, bad template)."""


class TransientFailure(Exception):
    """The message may go through later (4xx reply)."""


class ConnectionFailure(Exception):
    """The server could not be reached or dropped us; every message in the batch waits."""


@dataclass(frozen=True)
class SmtpSettings:
    """Where and how to connect, read from the app configuration."""

    host: str
    port: int
    user: str | None
    password: str | None
    starttls: bool
    timeout: float
    mail_from: str

    @classmethod
    def from_config(cls, config: Any) -> "SmtpSettings":
        """Build settings from a Flask config mapping."""
        return cls(
            host=config.get("SMTP_HOST", "localhost"),
            port=int(config.get("SMTP_PORT", 25)),
            user=config.get("SMTP_USER"),
            password=config.get("SMTP_PASSWORD"),
            starttls=bool(config.get("SMTP_STARTTLS", False)),
            timeout=float(config.get("SMTP_TIMEOUT", 10)),
            mail_from=config.get("MAIL_FROM", "ChannelGuard <channelguard@localhost>"),
        )


def format_when(value: Any) -> str:
    """Format an ISO timestamp from a message context for people to read."""
    if not value:
        return ""
    try:
        parsed = datetime.fromisoformat(str(value))
    except ValueError:
        return str(value)
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return parsed.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC")


def _safe_link(value: Any) -> str:
    url = str(value or "")
    # Only web links become clickable; anything else (javascript:, data:) is dropped.
    return url if url.startswith(("https://", "http://")) else ""


def _fact(key: str, value: Any) -> str:
    if key == "level":
        return LEVEL_NAMES.get(value, str(value)) if isinstance(value, int) else str(value)
    if key == "resolution":
        return RESOLUTION_LABELS.get(str(value), str(value).replace("_", " ").capitalize())
    if key.endswith("_id"):
        return f"#{value}"
    return str(value)


def render_context(subject: str, context: dict[str, Any]) -> dict[str, Any]:
    """Build the template variables for one message from its stored context."""
    lines = context.get("lines") or []
    if isinstance(lines, str):
        lines = [lines]
    items = [
        {**item, "url": _safe_link(item.get("url"))}
        for item in context.get("items") or []
        if isinstance(item, dict)
    ]
    facts = [(label, _fact(key, context[key])) for key, label in FACT_KEYS if context.get(key)]
    return {
        **context,
        "subject": subject,
        "headline": context.get("headline") or subject,
        "lines": [str(line) for line in lines],
        "url": _safe_link(context.get("url")),
        "items": items,
        "facts": facts,
        "when": format_when,
        "base_url": current_app.config.get("BASE_URL", ""),
    }


def render_bodies(template: str, subject: str, context: dict[str, Any]) -> tuple[str, str]:
    """Render the text and HTML bodies of a message (inside an app context)."""
    env = current_app.jinja_env
    variables = render_context(subject, context)
    # The environment's own loader and autoescape rules apply (.html escaped, .txt verbatim);
    # context processors are skipped on purpose, since they expect a request.
    text = env.get_template(f"email/{template}.txt").render(variables)
    html = env.get_template(f"email/{template}.html").render(variables)
    # Optional template sections leave runs of blank lines behind; plain text reads better
    # with at most one.
    text = re.sub(r"\n{3,}", "\n\n", text.strip()) + "\n"
    return text, html


def _one_line(value: str) -> str:
    return " ".join(value.split())


def build_message(msg: Claimed, settings: SmtpSettings, now: datetime) -> EmailMessage:
    """Build the MIME message for a claimed row, with its stored Message-ID."""
    try:
        text, html = render_bodies(msg.template, msg.subject, msg.context)
    except Exception as exc:  # a template that cannot render never will
        raise PermanentFailure(f"cannot render template {msg.template!r}: {exc}") from exc
    email = EmailMessage()
    email["Subject"] = _one_line(msg.subject) or "ChannelGuard"
    email["From"] = settings.mail_from
    email["To"] = _one_line(msg.recipient)
    email["Date"] = format_datetime(now)
    email["Message-ID"] = msg.message_id
    email["Auto-Submitted"] = "auto-generated"
    email.set_content(text)
    email.add_alternative(html, subtype="html")
    return email


def _smtp_reply(code: int, reply: bytes | str) -> str:
    text = reply.decode("utf-8", "replace") if isinstance(reply, bytes) else str(reply)
    return f"{code} {text}".strip()


class Connection:
    """One SMTP session opened on first use and reused for a batch."""

    def __init__(self, settings: SmtpSettings) -> None:
        self.settings = settings
        self.smtp: smtplib.SMTP | None = None

    def _open(self) -> smtplib.SMTP:
        s = self.settings
        try:
            if s.port == SMTPS_PORT:
                smtp: smtplib.SMTP = smtplib.SMTP_SSL(
                    s.host, s.port, timeout=s.timeout, context=ssl.create_default_context()
                )
            else:
                smtp = smtplib.SMTP(s.host, s.port, timeout=s.timeout)
            if s.starttls and s.port != SMTPS_PORT:
                # smtplib's default context does not verify the certificate; this one does.
                smtp.starttls(context=ssl.create_default_context())
            if s.user:
                smtp.login(s.user, s.password or "")
        except smtplib.SMTPResponseException as exc:
            # Greeting, STARTTLS or login refused: a server or configuration problem, not
            # the message's fault, so nothing is dead-lettered for it.
            raise ConnectionFailure(_smtp_reply(exc.smtp_code, exc.smtp_error)) from exc
        except (OSError, smtplib.SMTPException) as exc:
            raise ConnectionFailure(f"{type(exc).__name__}: {exc}") from exc
        return smtp

    def send(self, email: EmailMessage, recipient: str) -> None:
        """Send one message, classifying failures as permanent, transient or connection."""
        if self.smtp is None:
            self.smtp = self._open()
        try:
            self.smtp.send_message(email, to_addrs=[recipient])
        except smtplib.SMTPRecipientsRefused as exc:
            code, reply = next(iter(exc.recipients.values()), (450, b"refused"))
            self._classify(code, reply)
        except smtplib.SMTPResponseException as exc:
            # SMTPDataError and SMTPSenderRefused land here too.
            self._classify(exc.smtp_code, exc.smtp_error)
        except (OSError, smtplib.SMTPException) as exc:
            self.close()
            raise ConnectionFailure(f"{type(exc).__name__}: {exc}") from exc

    def _classify(self, code: int, reply: bytes | str) -> None:
        detail = _smtp_reply(code, reply)
        if code >= 500:
            raise PermanentFailure(detail)
        if code == 421:
            # 421: the server is closing the channel; the session is no longer usable.
            self.close()
            raise ConnectionFailure(detail)
        raise TransientFailure(detail)

    def close(self) -> None:
        """Quit politely, ignoring a server that is already gone."""
        if self.smtp is None:
            return
        try:
            self.smtp.quit()
        except (OSError, smtplib.SMTPException):
            self.smtp.close()
        self.smtp = None


def _after_failure(sess: Session, msg: Claimed, now: datetime, error: str) -> str:
    if msg.attempts >= MAX_ATTEMPTS:
        claims.mark_dead(sess, msg, f"gave up after {msg.attempts} attempts: {error}")
        return "dead"
    claims.mark_retry(sess, msg, claims.backoff(msg.attempts, now=now), error)
    return "retry"


def deliver_batch(
    sess: Session,
    batch: list[Claimed],
    now: datetime,
    settings: SmtpSettings,
) -> tuple[int, bool]:
    """Send a claimed batch; return (messages sent, whether the server was reachable)."""
    conn = Connection(settings)
    sent = 0
    # Never send on a lease that may have run out: another worker could be sending it too.
    deadline = time.monotonic() + (claims.LEASE - LEASE_MARGIN).total_seconds()
    try:
        for index, msg in enumerate(batch):
            if time.monotonic() > deadline:
                claims.release(sess, batch[index:], now)
                return sent, True
            try:
                conn.send(build_message(msg, settings, now), msg.recipient)
            except PermanentFailure as exc:
                log.warning("outbox %s dead: %s", msg.id, exc)
                claims.mark_dead(sess, msg, str(exc))
                continue
            except TransientFailure as exc:
                log.info("outbox %s deferred: %s", msg.id, exc)
                _after_failure(sess, msg, now, str(exc))
                continue
            except ConnectionFailure as exc:
                log.warning("SMTP unavailable, deferring %d messages: %s", len(batch) - index, exc)
                for rest in batch[index:]:
                    _after_failure(sess, rest, now, f"SMTP unavailable: {exc}")
                return sent, False
            if claims.mark_sent(sess, msg, now):
                sent += 1
    finally:
        conn.close()
    return sent, True


def deliver_outbox(sess: Session, now: datetime) -> int:
    """Send every due e-mail in the outbox; return how many were sent."""
    settings = SmtpSettings.from_config(current_app.config)
    limit = int(current_app.config.get("OUTBOX_BATCH_SIZE") or BATCH_SIZE)
    started = time.monotonic()
    total = 0
    while time.monotonic() - started < RUN_BUDGET_SECONDS:
        batch = claims.claim_outbox(sess, "email", now, limit=limit)
        if not batch:
            break
        sent, reachable = deliver_batch(sess, batch, now, settings)
        total += sent
        if not reachable:
            break
    return total
