"""Slips of the keyboard: stray marks inside words, mistyped "and" and legal forms, moved words.

Positive pairs are DNB name_matching twins (the clean name listed among all 500 DNB names, the
corrupted twin queried); negatives are real look-alike companies typed with the same slips.
"""

import csv
from pathlib import Path

import pytest

from conflict.matching import AccountIndex
from conflict.name_repair import repaired_names
from conflict.name_words import respell_slips
from conflict.types import Account

DATA = Path(__file__).resolve().parents[3] / "shared" / "data"
DNB = DATA / "dnb_name_matching" / "test_names.csv"
needs_data = pytest.mark.skipif(not DNB.exists(), reason=f"DNB names not found at {DNB}")


@pytest.mark.parametrize(
    ("typed", "readings"),
    [
        ("SchummPLC", ("Schumm PLC",)),
        ("Gerl-ach and Sons", ("Gerlach and Sons",)),
        ("Sp_nka, Ryan and Ward", ("Spnka, Ryan and Ward",)),
        ("Grimes4Sawayn", ("Grimes Sawayn",)),
        ("Kihn5PLC", ("Kihn PLC",)),
        ("Sipes-Wei\x83snat", ("Sipes-Weisnat", "SipesWeisnat")),
        ("Coca-Cola", ("CocaCola",)),
        # Nothing to repair: a brand's own capitals, "&", apostrophes, legal words inside a word.
        ("PepsiCo", ()),
        ("AT&T", ()),
        ("McDonald's", ()),
        ("Zinc Corp", ()),
        ("SCHUMMPLC", ()),
    ],
)
def test_repaired_readings(typed: str, readings: tuple[str, ...]) -> None:
    assert repaired_names(typed) == readings


def test_a_slip_the_list_knows_is_a_word_of_its_own() -> None:
    assert respell_slips(("emard", "hnc"), lambda t: False) == (("emard", "inc"), (("hnc", "inc"),))
    assert respell_slips(("terry", "aud", "sons"), lambda t: False) == (
        ("terry", "sons"),
        (("aud", "and"),),
    )
    assert respell_slips(("emard", "hnc"), lambda t: t == "hnc") == (("emard", "hnc"), ())
    # Only at the end for legal forms, only between words for "and".
    assert respell_slips(("hnc", "emard"), lambda t: False) == (("hnc", "emard"), ())
    assert respell_slips(("aud", "terry"), lambda t: False) == (("aud", "terry"), ())


@pytest.mark.parametrize(
    ("listed", "typed"),
    [
        # Words of their own one slip from a legal form or "and": read so, but only for review.
        ("Horsehead Inc", "Horsehead Zinc"),
        ("Sterling Inc", "Sterling Ink"),
        ("Blue Corp", "Blue Corn"),
        ("Acme Corp", "Acme Crop"),
        ("Apex Ltd", "Apex Lid"),
        ("Summit Group", "Summit Grout"),
        ("Red Farms LLC", "Red Ant Farms"),
    ],
)
def test_a_slip_that_could_be_a_word_is_only_a_guess(listed: str, typed: str) -> None:
    found = AccountIndex.build([Account(1, "A1", listed)], None).match(typed)
    assert found and found[0].account.name == listed and not found[0].confident, found
    assert any(" read as " in r for r in found[0].reasons), found[0].reasons


def test_a_slip_that_is_no_word_is_said_in_the_reasons() -> None:
    found = AccountIndex.build([Account(1, "A1", "Emard Inc")], None).match("Emard Hnc")
    assert found and found[0].confident
    assert '"hnc" read as "inc"' in found[0].reasons


@pytest.fixture(scope="module")
def dnb_index() -> AccountIndex:
    with DNB.open(newline="", encoding="utf-8") as fh:
        names = [r["company_name"] for r in csv.DictReader(fh)]
    return AccountIndex.build([Account(i, str(i), n) for i, n in enumerate(names)], None)


@needs_data
@pytest.mark.parametrize(
    ("twin", "listed"),
    [
        # A mark typed into a word or in place of one of its letters.
        ("Gerl-ach and Sons", "Gerlach and Sons"),
        ("Feeney, Aufderhar an-d Kirlin", "Feeney, Aufderhar and Kirlin"),
        ("Kassulke, Lit\x81le and Leuschke", "Kassulke, Little and Leuschke"),
        ("Sp_nka, Ryan and Ward", "Spinka, Ryan and Ward"),
        ("Emme\x83ich-Turcotte", "Emmerich-Turcotte"),
        # A digit for a space or hyphen; a legal form glued on.
        ("Grimes4Sawayn", "Grimes-Sawayn"),
        ("Kihn5PLC", "Kihn PLC"),
        ("SchummPLC", "Schumm PLC"),
        # "and" or the legal form mistyped.
        ("Effertz, Wiegand Xnd Willms", "Effertz, Wiegand and Willms"),
        ("Emard Hnc", "Emard Inc"),
        ("Hettinger 7LC", "Hettinger LLC"),
        ("Adams LLL", "Adams LLC"),
        # Partners' surnames in another order; "Sons" moved.
        ("Klein, Lubowitz and Daniel", "Klein, Daniel and Lubowitz"),
        ("Cronin Bernier Kiehn, and", "Kiehn, Cronin and Bernier"),
        ("Sons Rosenbaum and", "Rosenbaum and Sons"),
    ],
)
def test_dnb_twins_match_confidently(dnb_index: AccountIndex, twin: str, listed: str) -> None:
    found = dnb_index.match(twin)
    assert found and found[0].account.name == listed and found[0].confident, found


@pytest.mark.parametrize(
    ("listed", "typed"),
    [
        # Real look-alikes typed with the slips the rules repair: still never confident.
        ("General Motors", "General-Mills"),
        ("General Motors", "Gen_eral Mills"),
        ("Delta Air Lines", "Delta-Apparel"),
        ("Dollar General", "Dollar4Tree"),
        ("Intel", "In-tuit"),
        ("Humana", "Hub-bell"),
        ("Marathon Oil", "Marathon Petro|eum"),
        ("Johnson & Johnson", "Johnson Controls Inx"),
        ("Kraft Heinz", "Kraft Foods Grou"),
        ("Southern Company", "Southern Copper Corp"),
        # Reordered words that are not all rare surnames: a different company as often as not.
        ("Bank of New York Mellon", "New York Mellon Bank"),
        ("Bank of America", "America Bank"),
        ("Smith, Brown and Jones", "Jones, Smith and Brown"),
    ],
)
def test_look_alikes_with_slips_stay_unconfident(listed: str, typed: str) -> None:
    found = AccountIndex.build([Account(1, "A1", listed)], None).match(typed)
    assert not (found and found[0].confident), found


def test_a_second_reading_is_reported() -> None:
    idx = AccountIndex.build([Account(1, "A1", "Kassulke, Little and Leuschke")], None)
    found = idx.match("Kassulke, Lit\x81le and Leuschke")
    assert found and found[0].confident
    assert "read as Kassulke, Litle and Leuschke" in found[0].reasons
