"""A big cached match index is kept out of later garbage collections; a small one is left alone."""

import gc
from collections.abc import Iterator

import pytest
from flask import Flask

from conflict import index_cache
from models.db import db
from tests.factories import make_list

ACCOUNTS = [{"name": f"Company {i:03d} Holdings", "domain": f"firm{i:03d}.com"} for i in range(30)]


@pytest.fixture()
def fresh(app: Flask) -> Iterator[None]:
    """Start from an empty cache and leave nothing frozen behind."""
    index_cache.clear()
    gc.unfreeze()
    with app.app_context():
        yield
    index_cache.clear()
    gc.unfreeze()


def test_a_big_index_is_frozen_out_of_collections(
    fresh: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(index_cache, "FREEZE_FROM_ACCOUNTS", len(ACCOUNTS))
    make_list(ACCOUNTS)
    db.session.commit()
    index = index_cache.get_index(db.session)
    assert len(index) == len(ACCOUNTS)
    assert gc.get_freeze_count() > 0
    # Frozen objects are out of every generation the collector walks.
    tracked = {id(o) for o in gc.get_objects()}
    assert id(index) not in tracked and id(index._accounts) not in tracked


def test_a_small_index_is_left_to_the_collector(fresh: None) -> None:
    make_list(ACCOUNTS)
    db.session.commit()
    index = index_cache.get_index(db.session)
    assert len(index) < index_cache.FREEZE_FROM_ACCOUNTS
    assert gc.get_freeze_count() == 0
    assert id(index) in {id(o) for o in gc.get_objects()}
