"""Words that name a line of business, and weak words inside a name, tell real companies apart."""

import pytest

from conflict.matching import AccountIndex
from conflict.types import Account


def _best(listed: str, query: str) -> tuple[bool, float]:
    found = AccountIndex.build([Account(1, "A1", listed)], None).match(query)
    return (found[0].confident, found[0].score) if found else (False, 0.0)


@pytest.mark.parametrize(
    ("listed", "query"),
    [
        # Different companies under the SEC EDGAR and Nasdaq names: one adds a line of business.
        ("COMSTOCK RESOURCES INC", "Comstock Inc."),
        ("ICON plc", "Icon Energy Corp."),
        ("Atlas Energy Solutions Inc.", "Atlas Corp."),
        ("Peoples Financial Services Corp.", "PEOPLES FINANCIAL CORP /MS/"),
        # A weak word inside the name, not after it, names another bank.
        ("Community Trust Bancorp, Inc.", "Community Bancorp."),
        ("Community Trust Bancorp, Inc.", "COMMUNITY BANCORP /VT"),
    ],
)
def test_another_line_of_business_is_not_confident(listed: str, query: str) -> None:
    confident, score = _best(listed, query)
    assert not confident, score


@pytest.mark.parametrize(
    ("listed", "query"),
    [
        # One company under its S&P 500 and EDGAR names: descriptive and weak words at the end.
        ("Cisco", "Cisco Systems, Inc."),
        ("Capital One", "CAPITAL ONE FINANCIAL CORP"),
        ("Cognizant", "COGNIZANT TECHNOLOGY SOLUTIONS CORP"),
        ("Hilton Worldwide", "Hilton Worldwide Holdings Inc."),
        ("C.H. Robinson", "C. H. ROBINSON WORLDWIDE, INC."),
    ],
)
def test_descriptive_words_at_the_end_still_match(listed: str, query: str) -> None:
    confident, score = _best(listed, query)
    assert confident, score
