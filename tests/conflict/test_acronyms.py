"""Acronyms: a name whose first word is the initials of another name's leading words."""

import csv
import json
from pathlib import Path

import pytest

from conflict.matching import AccountIndex
from conflict.name_score import score_names
from conflict.types import Account, MatchMethod

DATA = Path(__file__).resolve().parents[3] / "shared" / "data"
needs_data = pytest.mark.skipif(
    not (DATA / "sp500" / "constituents.csv").exists(),
    reason=f"public company lists not found at {DATA} (clone shared/ beside the repository)",
)


def _only(listed: str, query: str) -> list:
    return AccountIndex.build([Account(1, "A1", listed)], None).match(query)


class _FlatVocabulary:
    """Every word weighs the same: the rules, not the weights, decide."""

    def weight(self, token: str) -> float:
        return 5.0

    def is_listed(self, token: str) -> bool:
        return True


def _score(query: tuple[str, ...], cand: tuple[str, ...]) -> tuple[float, list[str]]:
    return score_names(query, cand, frozenset(), frozenset(), _FlatVocabulary())


@pytest.mark.parametrize(
    ("listed", "query"),
    [
        # The S&P 500 name and the EDGAR title of one company (CIK 1390777), either way round.
        ("BNY Mellon", "Bank of New York Mellon Corp"),
        ("Bank of New York Mellon Corp", "BNY Mellon"),
        ("BNY Mellon", "BANK OF NEW YORK MELLON CORP"),
    ],
)
def test_an_acronym_and_an_identifying_word_match_confidently(listed: str, query: str) -> None:
    found = _only(listed, query)
    assert found and found[0].confident, found
    assert found[0].method is MatchMethod.FUZZY
    assert "bny stands for bank new york" in found[0].reasons
    assert found[0].score < 99.0  # read, not spelt out: below a same-words match


@pytest.mark.parametrize(
    ("listed", "query"),
    [
        # Different companies whose initials and remaining words agree (EDGAR and Nasdaq names):
        # the words after the acronym describe, they do not identify.
        ("Check Point Software Technologies Ltd.", "CPS Technologies Corp."),
        ("CHECK POINT SOFTWARE TECHNOLOGIES LTD", "CPS TECHNOLOGIES CORP/DE/"),
        ("DIAMOND HILL INVESTMENT GROUP INC", "DHI GROUP, INC."),
        ("CCSC Technology International Holdings Limited", "CTI Holdings S.A."),
    ],
)
def test_an_acronym_with_descriptive_words_is_never_confident(listed: str, query: str) -> None:
    assert not any(m.confident for m in _only(listed, query))


def test_initials_with_a_describing_word_go_to_review() -> None:
    found = _only("Check Point Software Technologies Ltd.", "CPS Technologies Corp.")
    assert found and not found[0].confident
    assert 85.0 <= found[0].score < 92.0


@pytest.mark.parametrize(
    ("query", "cand"),
    [
        # A common word of company names is a word, not initials ("New" Mellon).
        (("new", "mellon"), ("national", "energy", "west", "mellon")),
        # Two letters name too many companies.
        (("ge", "mellon"), ("general", "electric", "mellon")),
        # The initials must be of the leading words, in order.
        (("bny", "mellon"), ("mellon", "bank", "new", "york")),
        (("ybn", "mellon"), ("bank", "new", "york", "mellon")),
        # Initials alone fit too many names: a word after them must be shared.
        (("bny", "mellon"), ("bank", "new", "york")),
        (("bny", "group"), ("bank", "new", "york", "group")),
    ],
)
def test_what_is_not_read_as_an_acronym(query: tuple[str, ...], cand: tuple[str, ...]) -> None:
    score, reasons = _score(query, cand)
    assert not any("stands for" in r for r in reasons), reasons
    assert score < 92.0


def test_an_acronym_reads_the_same_either_way_round() -> None:
    one = _score(("bny", "mellon"), ("bank", "new", "york", "mellon"))
    other = _score(("bank", "new", "york", "mellon"), ("bny", "mellon"))
    assert one == other
    assert one[0] >= 92.0


@needs_data
def test_the_real_listings_of_bny_mellon_match() -> None:
    # The S&P 500 file names the company by its acronym, EDGAR by its full name: joined by CIK.
    with (DATA / "sp500" / "constituents.csv").open(newline="") as fh:
        everyday = {int(r["CIK"]): r["Security"] for r in csv.DictReader(fh)}
    titles = {
        int(r["cik_str"]): r["title"]
        for r in json.loads((DATA / "sec" / "company_tickers.json").read_text()).values()
    }
    cik = next(c for c, name in everyday.items() if name == "BNY Mellon")
    found = _only(everyday[cik], titles[cik])
    assert found and found[0].confident, (everyday[cik], titles[cik], found)
