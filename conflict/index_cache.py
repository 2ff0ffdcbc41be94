"""A per-process cache of the effective named-account list's match index.

Each app instance keeps the index in memory and rebuilds it when the effective version changes
(another instance may publish at any time), so every call checks the published version with one
indexed query and rebuilds only when that answer differs from what the cache holds.
"""

import gc
import threading
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from conflict.matching import AccountIndex
from models import NamedAccountList

__all__ = [
    "EffectiveKey",
    "build_index",
    "clear",
    "effective_key_columns",
    "get_index",
    "index_for",
]

# (version id, published_at): ids can be reused after a rolled-back insert on SQLite, the pair not.
EffectiveKey = tuple[int, datetime | None] | None
_Key = EffectiveKey


@dataclass(frozen=True, slots=True)
class _Entry:
    key: _Key
    index: AccountIndex


_lock = threading.Lock()
_entries: dict[str, _Entry] = {}

# From this size on, a full collection walking the index (and the accounts it holds) pauses the
# process for hundreds of milliseconds, stalling whichever request triggered it.
FREEZE_FROM_ACCOUNTS = 10_000


def _effective_key(sess: Session) -> _Key:
    row = sess.execute(
        sa.select(NamedAccountList.id, NamedAccountList.published_at).where(
            NamedAccountList.status == "published"
        )
    ).first()
    return None if row is None else (row[0], row[1])


def effective_key_columns() -> tuple[Any, Any]:
    """Return scalar subqueries of the effective version's id and publication time.

    For a caller that reads other facts in the same statement and hands the pair to index_for.
    """
    published = NamedAccountList.status == "published"
    return (
        sa.select(NamedAccountList.id).where(published).scalar_subquery(),
        sa.select(NamedAccountList.published_at).where(published).scalar_subquery(),
    )


def _build(sess: Session, key: _Key) -> AccountIndex:
    if key is None:
        return AccountIndex.build((), None)
    from conflict.lists import version_accounts

    return AccountIndex.build(version_accounts(sess, key[0]), key[0])


def get_index(sess: Session) -> AccountIndex:
    """Return the match index of the effective list version, rebuilding it when it changed."""
    return index_for(sess, _effective_key(sess))


def index_for(sess: Session, key: EffectiveKey) -> AccountIndex:
    """Return the match index of the effective version the caller just read (its key)."""
    # One cache per database, so apps bound to different databases never share an index.
    bind = str(sess.get_bind().url)
    entry = _entries.get(bind)
    if entry is not None and entry.key == key:
        return entry.index
    with _lock:
        # Another thread may have rebuilt it while this one waited for the lock.
        entry = _entries.get(bind)
        if entry is not None and entry.key == key:
            return entry.index
        index = _build(sess, key)
        _entries[bind] = _Entry(key, index)
        _settle(index)
        return index


def _settle(index: AccountIndex) -> None:
    """Keep a big cached index out of every later garbage collection."""
    if len(index) < FREEZE_FROM_ACCOUNTS:
        return
    # The index lives until the next publication and holds no reference cycles: once collected
    # garbage is gone, freezing what is alive spares each full collection the walk over it.
    gc.collect()
    gc.freeze()


def build_index(sess: Session, list_version_id: int) -> AccountIndex:
    """Return the match index of one list version, caching it when it is the effective one."""
    bind = str(sess.get_bind().url)
    key = _effective_key(sess)
    if key is None or key[0] != list_version_id:
        return _build(sess, (list_version_id, None))
    with _lock:
        entry = _entries.get(bind)
        if entry is not None and entry.key == key:
            return entry.index
        # While a publish is under way this key is uncommitted; if it rolls back, no later
        # lookup produces the same (id, published_at), so the entry is simply replaced.
        index = _build(sess, key)
        _entries[bind] = _Entry(key, index)
        _settle(index)
        return index


def clear() -> None:
    """Drop every cached index (tests, or after a bulk change made outside the app)."""
    with _lock:
        _entries.clear()
