"""The account index: method order, evidence, look-alikes, accuracy on real name variants."""

import csv
import gc
import json
import random
from collections.abc import Iterable
from pathlib import Path

import pytest

from conflict.matching import AccountIndex
from conflict.normalize import name_key
from conflict.types import Account, AccountMatch, AccountMatcher, MatchMethod

DATA = Path(__file__).resolve().parents[3] / "shared" / "data"
needs_data = pytest.mark.skipif(
    not (DATA / "sp500" / "constituents.csv").exists(),
    reason=f"public company lists not found at {DATA} (clone shared/ beside the repository)",
)

# A small list of real companies, with look-alike neighbours on it.
LIST = [
    Account(
        1,
        "SP-MSFT",
        "Microsoft Corporation",
        "microsoft.com",
        district="northwest",
        pc_count=220_000,
    ),
    Account(2, "SP-GM", "General Motors Company", "gm.com", district="great_lakes"),
    Account(3, "SP-GIS", "General Mills", "generalmills.com", district="great_lakes"),
    Account(4, "SP-AAL", "American Airlines Group", "aa.com", district="south_central"),
    Account(5, "SP-AXP", "American Express", "americanexpress.com", district="northeast"),
    Account(6, "FNBO", "First National Bank of Omaha", None, district="great_lakes"),
    Account(7, "SP-JNJ", "Johnson & Johnson", "jnj.com", aliases=("J&J", "JNJ")),
    Account(8, "SP-DAL", "Delta Air Lines", "delta.com"),
    Account(9, "SP-AOS", "A. O. Smith", None, district="great_lakes", pc_count=12_000),
    Account(10, "SP-AMZN", "Amazon.com, Inc.", "amazon.com"),
    Account(11, "SP-BAC", "Bank of America Corporation", "bankofamerica.com"),
    Account(12, "SP-IBM", "International Business Machines Corp.", "ibm.com", aliases=("IBM",)),
    Account(13, "SP-KO", "Coca-Cola Company (The)", "coca-colacompany.com"),
    Account(14, "DNB-3", "Quitzon Group", None),
    Account(15, "SP-WMT", "Walmart Inc.", "walmart.com"),
    Account(16, "SP-HD", "Home Depot (The)", "homedepot.com"),
    Account(17, "SP-T", "AT&T Inc.", "att.com"),
    Account(18, "SP-TROW", "T. Rowe Price", None),
    Account(19, "SP-CSCO", "Cisco", "cisco.com"),
]


@pytest.fixture(scope="module")
def index() -> AccountIndex:
    return AccountIndex.build(LIST, list_version_id=7)


def best(found: list[AccountMatch]) -> AccountMatch:
    assert found, "expected a match"
    return found[0]


def test_build_leaves_the_garbage_collector_as_it_was() -> None:
    assert gc.isenabled()
    AccountIndex.build(LIST, None)
    assert gc.isenabled()
    gc.disable()
    try:
        AccountIndex.build(LIST, None)
        assert not gc.isenabled()
    finally:
        gc.enable()


def test_implements_the_protocol(index: AccountIndex) -> None:
    matcher: AccountMatcher = index
    assert matcher.list_version_id == 7
    assert len(index) == len(LIST)
    assert AccountIndex.build([], None).match("Anything") == []


@pytest.mark.parametrize(
    ("name", "domain", "account", "method"),
    [
        ("Someone Else Entirely", "https://www.microsoft.com/en-us", 1, MatchMethod.DOMAIN),
        ("Contoso", "buyer@mail.microsoft.com", 1, MatchMethod.DOMAIN),
        ("MICROSOFT CORP", None, 1, MatchMethod.EXACT),
        ("Microsoft", None, 1, MatchMethod.EXACT),
        ("AMAZON COM INC", None, 10, MatchMethod.EXACT),
        ("SMITH A O CORP", None, 9, MatchMethod.EXACT),
        ("The Home Depot, Inc.", None, 16, MatchMethod.EXACT),
        ("COCA COLA CO", None, 13, MatchMethod.EXACT),
        ("Wal-Mart", None, 15, MatchMethod.EXACT),
        ("AT and T", None, 17, MatchMethod.EXACT),
        ("PRICE T ROWE", None, 18, MatchMethod.EXACT),
        ("Johnson and Johnson Inc.", None, 7, MatchMethod.EXACT),
        ("J & J", None, 7, MatchMethod.ALIAS),
        ("IBM Corporation", None, 12, MatchMethod.ALIAS),
        ("Mircosoft", None, 1, MatchMethod.FUZZY),
        ("Microsfot Corp", None, 1, MatchMethod.FUZZY),
        ("Amazon.com Incorporated", None, 10, MatchMethod.EXACT),
        ("Bank of Amerca", None, 11, MatchMethod.FUZZY),
        ("Group Quitzon", None, 14, MatchMethod.FUZZY),
        ("Intl Business Machines", None, 12, MatchMethod.EXACT),
        ("Cisco Systems, Inc.", None, 19, MatchMethod.FUZZY),
        ("Delta Airlines", None, 8, MatchMethod.EXACT),
        ("Delta Air Line Inc", None, 8, MatchMethod.FUZZY),
    ],
)
def test_matches_confidently(
    index: AccountIndex, name: str, domain: str | None, account: int, method: MatchMethod
) -> None:
    found = best(index.match(name, domain))
    assert (found.account.id, found.method, found.confident) == (account, method, True)
    assert found.reasons and found.matched_on
    if method is MatchMethod.FUZZY:
        assert 92.0 <= found.score <= 99.0
    else:
        assert found.score == 100.0


@pytest.mark.parametrize(
    "name",
    [
        "General Mills",  # listed itself: must find it, not General Motors
        "General Motors",
    ],
)
def test_look_alikes_on_the_list_are_told_apart(index: AccountIndex, name: str) -> None:
    found = index.match(name)
    assert name_key(found[0].account.name) == name_key(name)
    assert all(not m.confident for m in found[1:])


@pytest.mark.parametrize(
    "name",
    [
        "General Motors Financial of Canada",  # contains a listed name plus distinctive words
        "General Dynamics",
        "American Airways",
        "American Water Works",
        "First National Bank of Oklahoma",
        "First National Bank Alaska",
        "Johnson Controls",
        "Johnson Outdoors",
        "Delta Apparel",
        "Delta Natural Gas",
        "Microsoft Fan Club of Ohio",
        "Amazon Hospitality",
        "Bank of Hawaii",
        "America Bank",
        "Coca-Cola Bottling Co. Consolidated",
        "Home Depot Supply",
        "Walgreens",
        "Disco",  # one letter from "Cisco"
        "Quitzon Mining",
    ],
)
def test_different_companies_are_never_confident(index: AccountIndex, name: str) -> None:
    assert not any(m.confident for m in index.match(name))


def test_uncertain_matches_are_returned_for_review(index: AccountIndex) -> None:
    found = index.match("Cisco Pizza")  # contains a listed name plus a non-descriptive word
    assert found and found[0].account.id == 19 and not found[0].confident
    assert 85.0 <= found[0].score < 92.0
    assert "one name contains the other" in found[0].reasons


def test_containment_with_a_generic_word_on_one_side_says_so() -> None:
    listed = AccountIndex.build([Account(id=1, account_id="A1", name="APi Group Corp")], 1)
    (found,) = listed.match("API Widgets Ltd")
    assert not found.confident
    # Neither name contains the other as written: "Group" is set aside, and the reason says it.
    assert "one name contains the other apart from group" in found.reasons
    assert "one name contains the other" not in found.reasons
    (plain,) = listed.match("APi Group Widgets")
    assert "one name contains the other" in plain.reasons


def test_contradicting_domain_blocks_confidence(index: AccountIndex) -> None:
    found = best(index.match("Microsoft Corp", "contoso.com"))
    assert found.account.id == 1 and found.method is MatchMethod.EXACT and not found.confident
    assert any("domain differs" in r for r in found.reasons)
    fuzzy = best(index.match("Mircosoft", "contoso.com"))
    assert fuzzy.account.id == 1 and not fuzzy.confident


def test_free_mail_domain_is_no_evidence(index: AccountIndex) -> None:
    found = best(index.match("Microsoft", "jane@gmail.com"))
    assert found.method is MatchMethod.EXACT and found.confident


def test_district_and_pc_count_raise_a_borderline_match() -> None:
    accounts = [Account(1, "X1", "Cisco", district="northwest", pc_count=80_000)]
    idx = AccountIndex.build(accounts, None)
    plain = best(idx.match("Cisco Pizza"))
    backed = best(idx.match("Cisco Pizza", district="northwest", pc_count=75_000))
    assert backed.score == pytest.approx(plain.score + 4.0)
    assert "district agrees" in backed.reasons and "PC count agrees" in backed.reasons
    against = best(idx.match("Cisco Pizza", district="southeast", pc_count=900))
    assert against.score < plain.score and "district differs" in against.reasons


def test_thresholds_are_parameters(index: AccountIndex) -> None:
    strict = best(index.match("Mircosoft", match_score=99.0, review_score=80.0))
    assert strict.account.id == 1 and not strict.confident
    assert index.match("Mircosoft", match_score=99.5, review_score=99.0) == []


def test_shared_exact_name_is_ambiguous() -> None:
    accounts = [Account(1, "A", "Acme Corp", "acme.com"), Account(2, "B", "ACME, Inc.", "acme.de")]
    found = AccountIndex.build(accounts, None).match("Acme")
    assert {m.account.id for m in found} == {1, 2}
    assert not any(m.confident for m in found)
    assert all("2 accounts share this name" in m.reasons for m in found)
    by_domain = AccountIndex.build(accounts, None).match("Acme", "www.acme.de")
    assert by_domain[0].account.id == 2 and by_domain[0].method is MatchMethod.DOMAIN


def test_numbered_series_do_not_match() -> None:
    idx = AccountIndex.build([Account(1, "A", "Armada Acquisition Corp. III")], None)
    assert not any(m.confident for m in idx.match("Armada Acquisition Corp. II"))
    assert best(idx.match("ARMADA ACQUISITION CORP III")).confident


def test_results_are_best_first_and_bounded(index: AccountIndex) -> None:
    found = index.match("General")
    assert len(found) <= 5
    assert [m.score for m in found] == sorted((m.score for m in found), reverse=True)
    assert not any(m.confident for m in found)


# -- real data --------------------------------------------------------------------------------


def _sec() -> tuple[dict[int, str], dict[str, int]]:
    rows = list(json.loads((DATA / "sec" / "company_tickers.json").read_text()).values())
    title: dict[int, str] = {}
    cik_of: dict[str, int] = {}
    for row in rows:
        title.setdefault(int(row["cik_str"]), row["title"])
        cik_of[row["ticker"]] = int(row["cik_str"])
    return title, cik_of


def _score(
    idx: AccountIndex, queries: Iterable[tuple[str, int | None]]
) -> tuple[float, float, float, int]:
    """Return recall (confident and right), flagged recall, precision and the positive count."""
    right = flagged = wrong = positives = 0
    for text, expected in queries:
        found = idx.match(text)
        top = found[0] if found else None
        if expected is not None:
            positives += 1
        if top is None:
            continue
        if top.confident:
            if top.account.id == expected:
                right += 1
            else:
                wrong += 1
        if expected is not None and top.account.id == expected:
            flagged += 1
    return right / positives, flagged / positives, right / max(right + wrong, 1), positives


@pytest.fixture(scope="module")
def real_list() -> tuple[AccountIndex, list[tuple[str, int | None]]]:
    """S&P 500 names plus 1,500 other EDGAR companies listed; EDGAR and Nasdaq spellings queried."""
    title, cik_of = _sec()
    rng = random.Random(7)
    accounts: list[Account] = []
    queries: list[tuple[str, int | None]] = []
    listed: set[int] = set()
    with (DATA / "sp500" / "constituents.csv").open(newline="") as fh:
        for row in csv.DictReader(fh):
            cik = int(row["CIK"])
            if cik in listed:
                continue
            listed.add(cik)
            accounts.append(Account(cik, row["Symbol"], row["Security"]))
            if cik in title:
                queries.append((title[cik], cik))
    others = [cik for cik in title if cik not in listed]
    for cik in others[:1500]:
        listed.add(cik)
        accounts.append(Account(cik, str(cik), title[cik]))
    names = {a.id: a.name for a in accounts}
    with (DATA / "nasdaq" / "nasdaq-listed-symbols.csv").open(newline="") as fh:
        for row in csv.DictReader(fh):
            cik = cik_of.get(row["Symbol"])
            if row["ETF"] == "N" and cik in listed and row["Company Name"] != names[cik]:
                queries.append((row["Company Name"], cik))
    # Negatives: EDGAR companies not on the list; many share words with listed ones.
    negatives = [title[c] for c in rng.sample(others[1500:], 1500)]
    queries.extend((name, None) for name in negatives)
    # Renames (the Nasdaq file predates the SEC one) share no word: not spelling variants.
    queries = [
        (text, cik)
        for text, cik in queries
        if cik is None
        or set(text.casefold().split()) & set(names[cik].casefold().split())
        or name_key(text)[:5] == name_key(names[cik])[:5]
    ]
    return AccountIndex.build(accounts, 1), queries


@needs_data
def test_recall_and_precision_on_real_name_variants(
    real_list: tuple[AccountIndex, list[tuple[str, int | None]]],
) -> None:
    idx, queries = real_list
    recall, flagged, precision, positives = _score(idx, queries)
    assert positives > 700
    # Measured: recall 0.975, flagged 0.991, precision 0.997 (bench/matching.py has more). The
    # rest are renames and subsidiaries ("Deckers Outdoor" / "Deckers Brands"), the BNY acronym,
    # and listed names plus a word that may name another company ("Domino's Pizza"), in review.
    assert recall >= 0.97, recall
    assert flagged >= 0.985, flagged
    assert precision >= 0.99, precision


@needs_data
def test_dnb_corrupted_twins() -> None:
    def read(path: Path) -> dict[int, str]:
        with path.open(newline="", encoding="utf-8") as fh:
            return {int(r[""]): r["company_name"] for r in csv.DictReader(fh)}

    clean = read(DATA / "dnb_name_matching" / "test_names.csv")
    dirty = read(DATA / "dnb_name_matching" / "adjusted_test_names.csv")
    idx = AccountIndex.build([Account(i, str(i), n) for i, n in clean.items()], None)
    queries = [(dirty[i], i) for i in clean if dirty.get(i) and dirty[i] != clean[i]]
    recall, flagged, precision, positives = _score(idx, queries)
    assert positives > 300
    # Twins carry up to two corrupted characters in short surnames ("Iahke" for "Ratke") among
    # 500 names that share surnames: many are rightly left to review or unmatched, and so is a
    # slip that could be a word of its own ("Inx" for "Inc"). Measured: recall 0.58, flagged 0.71,
    # precision 0.989 (two of the three wrong are twins one letter from another listed name:
    # "Sc,hunner Inc" for "Schinnerschine Inc", beside "Schinner Inc").
    assert recall >= 0.55, recall
    assert flagged >= 0.70, flagged
    assert precision >= 0.98, precision


def _eason_pairs() -> list[tuple[str, str, int]]:
    with (DATA / "easonanalytica" / "test_data.csv").open(newline="", encoding="utf-8-sig") as fh:
        return [(r["Name_x"], r["Name_y"], int(r["Targets"])) for r in csv.DictReader(fh)]


@needs_data
def test_easonanalytica_labelled_pairs() -> None:
    pairs = _eason_pairs()
    positives = [(x, y) for x, y, t in pairs if t == 1]
    negatives = [(x, y) for x, y, t in pairs if t == 0]
    for x, y in negatives:
        found = AccountIndex.build([Account(1, "X", x)], None).match(y)
        assert not any(m.confident for m in found), (x, y)
    # Positives include tickers ("AAPL"), acronyms ("PwC") and other scripts ("华为"), which only
    # an alias on the list can match; spelling variants of one script must match.
    hits = 0
    for x, y in positives:
        found = AccountIndex.build([Account(1, "X", x)], None).match(y)
        hits += bool(found and found[0].confident)
    assert hits >= 38, hits


def test_names_made_of_common_words_are_found_on_a_long_list() -> None:
    # On a long list industry words are too common to gather candidates from one at a time, and
    # a rarer neighbour ("Quaker Chemical" for "chemicals", "Groupe" for "group") gathers first.
    filler = [
        f"Stem{i:04d} {word}"
        for word in ("Air", "Products", "Chemicals", "Interactive", "Brokers")
        for i in range(450)
    ]
    names = [*filler, "Quaker Chemical", "Groupe Danone", "Air Products", "Interactive Brokers"]
    idx = AccountIndex.build([Account(i, str(i), n) for i, n in enumerate(names)], None)
    for query, expected in [
        ("Air Products & Chemicals, Inc.", "Air Products"),
        ("Interactive Brokers Group, Inc.", "Interactive Brokers"),
    ]:
        found = best(idx.match(query))
        assert (found.account.name, found.confident) == (expected, True), query


# -- real spellings of real companies ----------------------------------------------------------

# Named accounts under their S&P 500 or Nasdaq names, queried under their EDGAR or Nasdaq names
# (the same company in the files of ../shared/data, joined there by CIK or ticker).
REAL_NAMES = [
    "Charles Schwab Corporation",
    "Lilly (Eli)",
    "John B. Sanfilippo & Son, Inc.",
    "T. Rowe Price",
    "The RealReal, Inc.",
    "Zions Bancorporation N.A.",
    "Daily Journal Corp. (S.C.)",
    "Gladstone Investment Corporation",
    "TETRA TECHNOLOGIES INC",
    "Marriott International",
    "Hilton Worldwide",
    "Air Products",
    "Interactive Brokers",
    "Apple Inc.",
    "Coca-Cola Company (The)",
    "Casey's",
    "Domino's",
    "Honeywell Technologies",
    "Honeywell Aerospace",
    "Cognizant",
    "FactSet",
    "CTW",
    "California BanCorp",
    "Iron Horse Acquisitions II Corp.",
    "Iron Horse Acquisitions Corp.",  # another company: the first of the series
    "Royal Caribbean Group",
    "GRAVITY Co., Ltd.",
    "BlackRock",
    "Medalist Diversified, Inc.",
]


@pytest.fixture(scope="module")
def real_index() -> AccountIndex:
    return AccountIndex.build(
        [Account(i, f"R{i}", name) for i, name in enumerate(REAL_NAMES)], list_version_id=3
    )


@pytest.mark.parametrize(
    ("query", "listed", "method"),
    [
        ("SCHWAB CHARLES CORP", "Charles Schwab Corporation", MatchMethod.EXACT),
        ("ELI LILLY & Co", "Lilly (Eli)", MatchMethod.EXACT),
        ("SANFILIPPO JOHN B & SON INC", "John B. Sanfilippo & Son, Inc.", MatchMethod.EXACT),
        ("TheRealReal, Inc.", "The RealReal, Inc.", MatchMethod.EXACT),
        (
            "ZIONS BANCORPORATION, NATIONAL ASSOCIATION /UT/",
            "Zions Bancorporation N.A.",
            MatchMethod.EXACT,
        ),
        ("DAILY JOURNAL CORP", "Daily Journal Corp. (S.C.)", MatchMethod.EXACT),
        (
            "GLADSTONE INVESTMENT CORPORATIONDE",
            "Gladstone Investment Corporation",
            MatchMethod.EXACT,
        ),
        ("PRICE T ROWE GROUP INC", "T. Rowe Price", MatchMethod.FUZZY),
        ("Air Products & Chemicals, Inc.", "Air Products", MatchMethod.FUZZY),
        ("Interactive Brokers Group, Inc.", "Interactive Brokers", MatchMethod.FUZZY),
        ("COGNIZANT TECHNOLOGY SOLUTIONS CORP", "Cognizant", MatchMethod.FUZZY),
        ("FACTSET RESEARCH SYSTEMS INC", "FactSet", MatchMethod.FUZZY),
        ("CTW Cayman", "CTW", MatchMethod.FUZZY),
        ("California BanCorp CA", "California BanCorp", MatchMethod.FUZZY),
        ("Iron Horse Acquisitions Corp. II", "Iron Horse Acquisitions II Corp.", MatchMethod.FUZZY),
        ("Medalist Diversified REIT, Inc.", "Medalist Diversified, Inc.", MatchMethod.FUZZY),
    ],
)
def test_real_spellings_of_one_company_match_confidently(
    real_index: AccountIndex, query: str, listed: str, method: MatchMethod
) -> None:
    found = best(real_index.match(query))
    assert (found.account.name, found.method, found.confident) == (listed, method, True)


@pytest.mark.parametrize(
    ("query", "nearest"),
    [
        # Different companies: Tetra Tech (engineering) and TETRA Technologies (oil services).
        ("Tetra Tech, Inc.", "TETRA TECHNOLOGIES INC"),
        ("TETRA TECH INC", "TETRA TECHNOLOGIES INC"),
        # Spun off: Honeywell International's name is shared by two listed successors.
        ("HONEYWELL INTERNATIONAL INC", None),
        ("Apple Hospitality REIT, Inc.", None),
        ("Coca-Cola Consolidated, Inc.", None),
        ("MARRIOTT VACATIONS WORLDWIDE Corp", None),
        ("Hilton Grand Vacations Inc.", None),
        # Descriptive words follow the name they describe; these come before it.
        ("Financial Gravity Companies, Inc.", None),
        # One of the sponsor's funds: three added words make another company.
        ("BlackRock Energy & Resources Trust", None),
    ],
)
def test_real_look_alikes_are_never_confident(
    real_index: AccountIndex, query: str, nearest: str | None
) -> None:
    found = real_index.match(query)
    assert not any(m.confident for m in found)
    if nearest is not None:
        assert best(found).account.name == nearest


@pytest.mark.parametrize(
    ("query", "listed"),
    [
        # A brand of the listed company, or the listed name plus a word that may name another.
        ("Marriott Hotels", "Marriott International"),
        ("Domino's Pizza Inc", "Domino's"),
        ("CASEYS GENERAL STORES INC", "Casey's"),
        ("ROYAL CARIBBEAN CRUISES LTD", "Royal Caribbean Group"),
        ("Tetra Tech, Inc.", "TETRA TECHNOLOGIES INC"),
    ],
)
def test_real_near_spellings_go_to_review(
    real_index: AccountIndex, query: str, listed: str
) -> None:
    found = best(real_index.match(query))
    assert (found.account.name, found.method, found.confident) == (listed, MatchMethod.FUZZY, False)
    assert 85.0 <= found.score < 92.0
