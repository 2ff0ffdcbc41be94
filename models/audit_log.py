"""Append audit events from services."""

from collections.abc import Callable, Iterable
from typing import Any

from sqlalchemy.orm import Session

from models.audit import AuditEvent


def record_audit(
    sess: Session,
    actor_id: int | None,
    action: str,
    object_type: str,
    object_id: object,
    **data: Any,
) -> AuditEvent:
    """Add an audit event to the session (committed with the change it describes)."""
    event = AuditEvent(
        actor_id=actor_id,
        action=action,
        object_type=object_type,
        object_id=str(object_id),
        data=data,
    )
    sess.add(event)
    return event


def field_changes(
    names: Iterable[str], old: Callable[[str], Any], new: Callable[[str], Any]
) -> dict[str, list[Any]]:
    """Return {name: [old, new]} for each named field whose value differs, for an audit event."""
    pairs = ((name, old(name), new(name)) for name in names)
    return {name: [before, after] for name, before, after in pairs if before != after}
