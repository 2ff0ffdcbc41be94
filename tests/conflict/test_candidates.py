"""Candidates: an account holding a word rare on the list is scored, whatever its neighbours."""

from conflict.matching import AccountIndex
from conflict.types import Account


def test_a_rare_word_finds_its_account_past_many_commoner_ones() -> None:
    # Two dozen "Bank of New York ..." names outweigh "mellon" when candidates are ranked by the
    # query's words; the one account holding the rare word must still be scored.
    filler = [f"Bank of New York Stem{i:03d} Fund" for i in range(60)]
    accounts = [Account(i + 2, f"F{i}", name) for i, name in enumerate(filler)]
    index = AccountIndex.build([Account(1, "BK", "BNY Mellon"), *accounts], None)
    found = index.match("Bank of New York Mellon Corp")
    assert found and found[0].account.account_id == "BK" and found[0].confident, found[:2]
