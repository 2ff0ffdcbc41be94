"""Name and domain normalisation: real spellings of real companies must agree, others must not."""

import csv
import json
from pathlib import Path

import pytest

from conflict.normalize import (
    customer_key,
    is_valid_domain,
    name_forms,
    name_key,
    name_keys,
    name_orders,
    normalize_domain,
    normalize_name,
    tokens,
)

DATA = Path(__file__).resolve().parents[3] / "shared" / "data"
needs_data = pytest.mark.skipif(
    not (DATA / "sp500" / "constituents.csv").exists(),
    reason=f"public company lists not found at {DATA} (clone shared/ beside the repository)",
)


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("A.O. Smith", "ao smith"),
        ("AT&T Inc.", "at and t"),
        ("AT and T", "at and t"),
        ("AMAZON COM INC", "amazon"),
        ("Amazon.com, Inc.", "amazon"),
        ("APPLIED MATERIALS INC /DE", "applied materials"),
        ("US BANCORP \\DE\\", "us bancorp"),
        ("U.S. Bancorp", "us bancorp"),
        ("NVE CORP /NEW/", "nve"),
        ("MARRIOTT INTERNATIONAL INC /MD/", "marriott international"),
        ("Alphabet Inc. (Class A)", "alphabet"),
        ("Home Depot (The)", "home depot"),
        ("The Coca-Cola Company", "coca cola"),
        ("JPMORGAN CHASE & CO", "jpmorgan chase"),
        ("Merck & Co., Inc.", "merck"),
        ("Nestlé S.A.", "nestle"),
        ("Grupo Televisa, S.A.B. de C.V.", "grupo televisa"),
        ("Ørsted A/S", "orsted"),
        ("Siemens Aktiengesellschaft", "siemens"),
        ("Müller & Söhne GmbH", "muller and sohne"),
        ("Łoś spółka z o.o", "los"),
        ("Limited Edition Products Ltd", "limited edition products"),
        ("McDonald's Corporation", "mcdonalds"),
        ("Yum! Brands", "yum brands"),
        ("Intl Business Machines Corp", "international business machines"),
        ("Acme Mfg Co", "acme manufacturing"),
        ("Acme Tech Svcs Hldgs LLC", "acme technology services holdings"),
        ("Warner Bros. Discovery, Inc.", "warner brothers discovery"),
        ("Talen Energy Corporaton", "talen energy"),
        ("NOVO NORDISK A S /ADR", "novo nordisk"),
        ("Imperial Petroleum Inc./Marshall Islands", "imperial petroleum"),
        ("CULLEN/FROST BANKERS, INC.", "cullen frost bankers"),
        ("OAO Tatneft", "tatneft"),
        ("CRH PUBLIC LTD CO", "crh"),
        ("Company", "company"),  # never stripped to nothing
        ("", ""),
    ],
)
def test_normalize_name(raw: str, expected: str) -> None:
    assert normalize_name(raw) == expected


@pytest.mark.parametrize(
    ("a", "b"),
    [
        ("AT&T Inc.", "AT&T"),
        ("AT&T", "AT and T"),
        ("AT & T Inc", "ATT"),
        ("Johnson & Johnson", "Johnson and Johnson"),
        ("Procter & Gamble", "PROCTER & GAMBLE Co"),
        ("Wal-Mart Inc", "Walmart Inc."),
        ("Coca-Cola Company (The)", "COCA COLA CO"),
        ("U.S. Bancorp", "US BANCORP \\DE\\"),
        ("W. W. Grainger", "W.W. GRAINGER, INC."),
        ("Kimberly-Clark", "KIMBERLY CLARK CORP"),
        ("Packaging Corporation of America", "PACKAGING CORP OF AMERICA"),
        ("Hello World Oy", "Hello World, ltd."),
        ("Nestlé S.A.", "Nestle SA"),
        ("Volkswagen AG", "Volkswagen Aktiengesellschaft"),
        ("Apple Inc", "Apple Incorporated"),
        ("A SPAC III Acquisition Corp.", "ASPAC III Acquisition Corp."),
        ("Troops, Inc. /Cayman Islands/", "TROOPS, Inc."),
        # The N.A. of a bank charter, written out by EDGAR.
        ("Zions Bancorporation N.A.", "ZIONS BANCORPORATION, NATIONAL ASSOCIATION /UT/"),
        # State tags in parentheses, bare after the legal form, or glued to it.
        ("Daily Journal Corp. (S.C.)", "DAILY JOURNAL CORP"),
        ("Broadway Financial Corporation", "BROADWAY FINANCIAL CORP DE"),
        ("Lifecore Biomedical, Inc.", "LIFECORE BIOMEDICAL, INC. DE"),
        ("Gladstone Investment Corporation", "GLADSTONE INVESTMENT CORPORATIONDE"),
        ("Tetra Tech, Inc.", "Tetra Technology"),
    ],
)
def test_spellings_share_a_key(a: str, b: str) -> None:
    assert name_key(a) == name_key(b)


@pytest.mark.parametrize(
    ("a", "b"),
    [
        ("General Motors", "General Mills"),
        ("American Airlines", "American Express"),
        ("First National Bank of Omaha", "First National Bank of Oklahoma"),
        ("Johnson & Johnson", "Johnson Controls"),
        ("Delta Air Lines", "Delta Apparel"),
        ("Armada Acquisition Corp. II", "Armada Acquisition Corp. III"),
        ("Acme Holdings", "Acme Group"),  # weak words are kept: they can tell companies apart
        ("Tetra Tech, Inc.", "TETRA TECHNOLOGIES INC"),
        ("Bank of Bermuda", "Bank"),  # a place is a tag only after the legal form
        ("Federal National Mortgage Association", "Federal Mortgage"),
    ],
)
def test_different_companies_keep_different_keys(a: str, b: str) -> None:
    assert name_key(a) != name_key(b)


@pytest.mark.parametrize(
    ("edgar", "everyday"),
    [
        ("SMITH A O CORP", "A. O. Smith"),
        ("HORTON D R INC /DE/", "D.R. Horton"),
        ("HUNT J B TRANSPORT SERVICES INC", "J.B. Hunt Transport Services"),
        ("PRICE T ROWE GROUP INC", "T. Rowe Price Group"),
    ],
)
def test_edgar_inverted_names_have_an_alternate_key(edgar: str, everyday: str) -> None:
    assert name_key(everyday) in name_keys(edgar)
    assert name_keys(edgar)[0] == name_key(edgar)


@pytest.mark.parametrize(
    ("surname_first", "everyday"),
    [
        ("SCHWAB CHARLES CORP", "Charles Schwab Corporation"),
        ("Lilly (Eli)", "ELI LILLY & Co"),
        ("SANFILIPPO JOHN B & SON INC", "John B. Sanfilippo & Son, Inc."),
        ("PRICE T ROWE GROUP INC", "T. Rowe Price Group"),
    ],
)
def test_surname_first_names_have_the_everyday_order(surname_first: str, everyday: str) -> None:
    assert name_key(everyday) in name_keys(surname_first)
    assert tokens(everyday) in name_orders(surname_first)
    assert name_orders(surname_first)[0] == tokens(surname_first)


@pytest.mark.parametrize(
    "name", ["AT&T", "Johnson & Johnson", "Apple Inc.", "Bank of America", "Morgan Stanley"]
)
def test_plain_names_have_no_alternate_key(name: str) -> None:
    assert name_keys(name) == (name_key(name),)
    assert name_orders(name) == (tokens(name),)


def test_a_leading_the_may_be_written_into_the_name() -> None:
    assert name_key("TheRealReal, Inc.") in name_keys("The RealReal, Inc.")
    assert name_keys("The RealReal, Inc.")[0] == "realreal"


@pytest.mark.parametrize(
    ("name", "abbreviated"),
    [
        ("Tetra Tech, Inc.", {"technology"}),
        ("Acme Intl Hldgs", {"international", "holdings"}),
        ("TETRA Technologies", set()),
        ("Packaging Corp of America", set()),  # a legal word inside a name is no abbreviation
    ],
)
def test_abbreviated_words_are_marked(name: str, abbreviated: set[str]) -> None:
    assert name_forms(name).abbreviated == abbreviated


def test_tokens_drop_stop_words() -> None:
    assert tokens("The Bank of New York Mellon Corp") == ("bank", "new", "york", "mellon")


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("https://www.Example.co.uk/path?x", "example.co.uk"),
        ("example.com:8080", "example.com"),
        ("jane@mail.example.com", "example.com"),
        ("WWW.IBM.COM.", "ibm.com"),
        ("http://user:pw@shop.example.de/", "example.de"),
        ("ibm.com", "ibm.com"),
        ("münchen.de", "xn--mnchen-3ya.de"),
        ("jane@gmail.com", None),
        ("someone@yahoo.co.uk", None),
        ("outlook.com", None),
        ("x@proton.me", None),
        ("gmx.de", None),
        ("user@163.com", None),
        ("", None),
        (None, None),
        ("not a domain", None),
        ("localhost", None),
        ("10.0.0.1", None),
        ("foo..com", None),
        ("-bad-.com", None),
    ],
)
def test_normalize_domain(raw: str | None, expected: str | None) -> None:
    assert normalize_domain(raw) == expected


@pytest.mark.parametrize(
    ("raw", "valid"),
    [
        ("example.com", True),
        ("gmail.com", True),  # a real domain, just not a company's
        ("https://www.example.co.uk/x", True),
        ("example", False),
        ("", False),
        (None, False),
        ("exa mple.com", False),
    ],
)
def test_is_valid_domain(raw: str | None, valid: bool) -> None:
    assert is_valid_domain(raw) is valid


def test_customer_key_prefers_domain_and_ignores_free_mail() -> None:
    assert customer_key("Contoso Ltd", "https://www.contoso.com/") == "d:contoso.com"
    assert customer_key("Contoso Ltd", "jane@gmail.com") == customer_key("CONTOSO LIMITED", None)
    assert customer_key("Contoso Ltd", None) == "n:contoso"
    assert customer_key("Contoso", None) != customer_key("Fabrikam", None)


def test_tldextract_needs_no_network(monkeypatch: pytest.MonkeyPatch) -> None:
    import socket

    def refuse(*_args: object, **_kwargs: object) -> None:
        raise AssertionError("network used")

    monkeypatch.setattr(socket, "create_connection", refuse)
    monkeypatch.setattr(socket.socket, "connect", refuse)
    assert normalize_domain("https://news.bbc.co.uk/x") == "bbc.co.uk"


# -- real data ----------------------------------------------------------------------------------


def _cleanco_cases() -> list[tuple[str, str]]:
    # The cleanco suffix-stripping cases our rules share (we lower-case and drop punctuation).
    return [
        ("Hello World Oy", "hello world"),
        ("Hello World, ltd.", "hello world"),
        ("Hello    World ltd", "hello world"),
        (" Hello World ltd. ", "hello world"),
        ("Hello World sro", "hello world"),
        ("Example Company Pty Ltd", "example"),
        ("Smith & Jones Corporation", "smith and jones"),
        ("Smith-Jones Ltd", "smith jones"),
        ("Yahoo! Inc", "yahoo"),
        ("Company Name LlC", "company name"),
        ("ABC123 Corporation", "abc123"),
        ("IBM CORPORATION", "ibm"),
        ("U.S. Steel Corp.", "us steel"),
        ("X Corporation", "x"),
        ("Société Française Ltd", "societe francaise"),
        ("Compañía Española S.A.", "compania espanola"),
        ("Empresa Ltda.", "empresa"),
        ("Český Krumlov s.r.o.", "cesky krumlov"),
        ("Naïve Café Inc.", "naive cafe"),
        ("Москва Corporation", "москва"),
        ("北京公司 Ltd", "北京公司"),
    ]


@pytest.mark.parametrize(("raw", "expected"), _cleanco_cases())
def test_cleanco_cases(raw: str, expected: str) -> None:
    assert normalize_name(raw) == expected


def _sp500_sec_pairs() -> list[tuple[str, str]]:
    sec = json.loads((DATA / "sec" / "company_tickers.json").read_text())
    title = {int(r["cik_str"]): r["title"] for r in reversed(list(sec.values()))}
    with (DATA / "sp500" / "constituents.csv").open(newline="") as fh:
        return [
            (row["Security"], title[int(row["CIK"])])
            for row in csv.DictReader(fh)
            if int(row["CIK"]) in title
        ]


@needs_data
def test_sp500_and_edgar_spellings_mostly_share_a_key() -> None:
    # Normalisation alone (no fuzzy step) should already join most everyday/EDGAR spellings:
    # "Coca-Cola Company (The)" / "COCA COLA CO", "U.S. Bancorp" / "US BANCORP \DE\".
    pairs = _sp500_sec_pairs()
    assert len(pairs) > 450
    joined = sum(1 for a, b in pairs if set(name_keys(a)) & set(name_keys(b)))
    assert joined / len(pairs) >= 0.85, joined / len(pairs)


@needs_data
def test_cleanco_companies_keep_a_name() -> None:
    with (DATA / "cleanco" / "companies.csv").open(encoding="utf-8") as fh:
        names = [line.rsplit(";", 1)[0].strip() for line in fh if line.strip()]
    assert len(names) > 1000
    assert all(normalize_name(n) for n in names)
    # Distinct companies rarely collapse onto one key.
    assert len({name_key(n) for n in names}) >= 0.98 * len(set(names))
