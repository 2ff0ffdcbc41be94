"""Benchmark the account index against a linear rapidfuzz scan and a pg_trgm nearest neighbour.

Run: ``python -m bench.matching [--data PATH] [--sizes 1000,10000,100000] [--scan-sample N]
[--no-pg] [--no-at-large]``.

The lists are made from the public company lists in ``../shared/data`` (beside the repository):

* 1,000 accounts: the S&P 500 constituents under their everyday names ("3M", "Home Depot (The)"),
  then the largest other SEC EDGAR filers under their EDGAR or Nasdaq names.
* 10,000 accounts: every real company name available (SEC EDGAR titles one per CIK, Nasdaq
  listings, the cleanco international names, the DNB synthetic names), deduplicated by normalised
  key, minus a held-out set kept for negative queries; topped up with synthetic names.
* 100,000 accounts: the same, topped up with synthetic but realistic names. A synthetic name
  combines a real name stem (the first word of a listed real company name, or a surname from the
  DNB list) with real industry words (the GICS sub-industries of the S&P file) and real places (its
  headquarters cities and states), in the patterns real names follow ("Kirlin Midwest Logistics
  LLC", "Akron Building Products", "Feeney & Walter Holdings"), seeded and deduplicated by
  normalised key. They share stems with real names on purpose: near neighbours are what makes
  matching hard.

Queries, the same for the index and the baselines:

* positives: real variants of listed companies (S&P name <-> EDGAR title joined by CIK, Nasdaq name
  <-> EDGAR title joined by ticker, the DNB names' corrupted twins), plus generated variants of
  listed names (one typo in the longest word, legal form added or removed, upper-cased);
* negatives: real company names held out of every list (many share words with listed ones);
* look-alikes: well-known pairs of different companies with similar names, one side listed.

Recall is the share of positives whose best match is the right account and confident; a review
("needs review") hit is reported separately. Precision is the share of confident matches that are
right. The false-conflict rate is the share of look-alike queries that produce a confident match.

A last list, "real names at large", is what a vendor's list looks like: its 3,500 largest
customers (the S&P 500, then the largest other EDGAR filers) under their everyday names, queried
with their other real spellings and with every name of every other real company in the files
(negatives outnumber positives four to one, so precision is tested as in real use).

The linear baseline normalises names the same way and runs ``rapidfuzz.process.extractOne``
with ``fuzz.WRatio`` over the whole list (confident at >= 92, review at >= 85, like the index).
The pg_trgm baseline (only when PostgreSQL answers at 127.0.0.1:5432) loads the same normalised
names into a temporary database with a GiST trigram index and asks ``ORDER BY name <-> q LIMIT 1``;
confident at similarity >= 0.8, review at >= 0.6; the temporary database is dropped afterwards.
The index's build time is the median of three builds. Above 20,000 accounts both baselines run on
a random sample of the queries plus every look-alike (said in the table); their latency ratios,
and a table by kind of query, compare them with the index on that same sample.
"""

import argparse
import csv
import gc
import json
import random
import re
import statistics
import sys
import time
import tracemalloc
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from rapidfuzz import fuzz, process

from bench.common import percentile, print_table, ratio
from conflict.matching import AccountIndex
from conflict.normalize import name_key, normalize_name, tokens
from conflict.types import Account

DEFAULT_DATA = Path(__file__).resolve().parents[2] / "shared" / "data"
MATCH_SCORE = 92.0
REVIEW_SCORE = 85.0
SEED = 20240601
AT_LARGE_LISTED = 3500
BUILD_REPEATS = 3

# Different companies with confusable names: (listed, query). The query side is never listed.
LOOKALIKES: tuple[tuple[str, str], ...] = (
    ("General Motors", "General Mills"),
    ("American Airlines Group", "American Express"),
    ("First National Bank of Omaha", "First National Bank of Oklahoma"),
    ("Johnson & Johnson", "Johnson Controls"),
    ("Delta Air Lines", "Delta Apparel"),
    ("United Airlines Holdings", "United Rentals"),
    ("Ford Motor Company", "Ford Foundation"),
    ("Bank of America", "Bank of Hawaii"),
    ("Dollar General", "Dollar Tree"),
    ("Marathon Oil", "Marathon Petroleum"),
    ("Texas Instruments", "Texas Roadhouse"),
    ("Southern Company", "Southern Copper"),
    ("Public Storage", "Public Service Enterprise Group"),
    ("American Water Works", "American Tower"),
    ("Morgan Stanley", "JPMorgan Chase"),
    ("Wells Fargo", "Wells Financial"),
    ("Northern Trust", "Northern Oil and Gas"),
    ("Applied Materials", "Applied Digital"),
    ("Digital Realty", "Digital Turbine"),
    ("Boston Scientific", "Boston Properties"),
    ("Kraft Heinz", "Kraft Foods Group"),
    ("Western Digital", "Western Union"),
    ("Pioneer Natural Resources", "Pioneer Power Solutions"),
    ("Eaton Corporation", "Eaton Vance"),
    ("Dominion Energy", "Old Dominion Freight Line"),
    ("Entergy Corporation", "Energy Transfer"),
    ("Generac", "General Dynamics"),
    ("Intel", "Intuit"),
    ("Humana", "Hubbell"),
    ("Lennar", "Lennox International"),
)

_INDUSTRY_EXTRA_TEXT = """
Logistics Holdings Partners Capital Solutions Systems Technologies Energy Foods Health Realty
Industries Manufacturing Services Consulting Bancorp Financial Insurance Pharmaceuticals Labs
Networks Software Analytics Resources Minerals Shipping Airlines Motors Retail Brands Media
"""
INDUSTRY_EXTRA = _INDUSTRY_EXTRA_TEXT.split()
LEGAL_FORMS = ("Inc.", "Inc", "Corp.", "Corporation", "LLC", "Ltd", "Co.", "Company", "L.P.", "plc")


@dataclass(frozen=True, slots=True)
class Company:
    """One real company and the spellings the public lists give it."""

    key: str  # stable identity: cik:N, dnb:N, cleanco:N
    names: tuple[str, ...]  # first is the everyday name used on a list


@dataclass(slots=True)
class Query:
    text: str
    expected: int | None  # Account.id, None for negatives
    kind: str


@dataclass(slots=True)
class Outcome:
    confident_right: int = 0
    confident_wrong: int = 0
    review_right: int = 0
    missed: int = 0
    negatives: int = 0
    negatives_confident: int = 0
    lookalike_confident: int = 0
    latencies: list[float] = field(default_factory=list)
    kinds: dict[str, "Outcome"] = field(default_factory=dict)  # the same counts per kind


def load_companies(data: Path) -> tuple[list[Company], dict[str, list[str]]]:
    """Return real companies with their spellings, and name parts for synthetic names."""
    sec = json.loads((data / "sec" / "company_tickers.json").read_text())
    sec_title: dict[int, str] = {}
    cik_of_ticker: dict[str, int] = {}
    for row in sec.values():
        sec_title.setdefault(int(row["cik_str"]), row["title"])
        cik_of_ticker[row["ticker"]] = int(row["cik_str"])
    spellings: dict[int, list[str]] = {}
    sp_order: list[int] = []
    industries: set[str] = set()
    places: set[str] = set()
    with (data / "sp500" / "constituents.csv").open(newline="") as fh:
        for row in csv.DictReader(fh):
            cik = int(row["CIK"])
            sp_order.append(cik)
            spellings.setdefault(cik, []).insert(0, row["Security"])
            industries.update(w for w in re.split(r"[ ,&]+", row["GICS Sub-Industry"]) if w)
            city, _, state = row["Headquarters Location"].partition(",")
            places.update(p.strip() for p in (city, state) if p.strip())
    with (data / "nasdaq" / "nasdaq-listed-symbols.csv").open(newline="") as fh:
        for row in csv.DictReader(fh):
            cik = cik_of_ticker.get(row["Symbol"])
            if row["ETF"] == "Y" or cik is None:
                continue
            name = row["Company Name"].strip()
            if name and name not in spellings.get(cik, []):
                spellings.setdefault(cik, []).append(name)
    companies: list[Company] = []
    seen_cik: set[int] = set()
    # S&P first (everyday name first), then EDGAR in file order, which is roughly by market value.
    for cik in [*sp_order, *sec_title]:
        if cik in seen_cik:
            continue
        seen_cik.add(cik)
        names = list(spellings.get(cik, []))
        if sec_title.get(cik) and sec_title[cik] not in names:
            names.append(sec_title[cik])
        companies.append(Company(f"cik:{cik}", tuple(names)))
    with (data / "cleanco" / "companies.csv").open(encoding="utf-8") as fh:
        for i, line in enumerate(fh):
            name = line.rsplit(";", 1)[0].strip()
            if name:
                companies.append(Company(f"cleanco:{i}", (name,)))
    clean = _read_dnb(data / "dnb_name_matching" / "test_names.csv")
    dirty = _read_dnb(data / "dnb_name_matching" / "adjusted_test_names.csv")
    for i, name in clean.items():
        names = (name, dirty[i]) if dirty.get(i) and dirty[i] != name else (name,)
        companies.append(Company(f"dnb:{i}", names))
    stems = sorted({n.split()[0].strip(",.") for c in companies for n in c.names[:1] if n.split()})
    parts = {
        "stems": [s for s in stems if len(s) > 2 and s.isalpha()],
        "industries": sorted(industries | set(INDUSTRY_EXTRA)),
        "places": sorted(places),
    }
    return companies, parts


def _read_dnb(path: Path) -> dict[int, str]:
    with path.open(newline="", encoding="utf-8") as fh:
        return {int(row[""]): row["company_name"] for row in csv.DictReader(fh)}


def synthetic_names(parts: dict[str, list[str]], count: int, taken: set[str]) -> Iterator[str]:
    """Yield up to count synthetic company names whose keys are not in taken (taken is updated)."""
    rng = random.Random(SEED)
    stems, inds, places = parts["stems"], parts["industries"], parts["places"]
    patterns: list[Callable[[], str]] = [
        lambda: f"{rng.choice(stems)} {rng.choice(inds)}",
        lambda: f"{rng.choice(stems)} {rng.choice(places)} {rng.choice(inds)}",
        lambda: f"{rng.choice(places)} {rng.choice(inds)} {rng.choice(inds)}",
        lambda: f"{rng.choice(stems)} & {rng.choice(stems)}",
        lambda: f"{rng.choice(stems)}, {rng.choice(stems)} and {rng.choice(stems)}",
        lambda: f"{rng.choice(stems)} {rng.choice(inds)} {rng.choice(inds)}",
    ]
    made = 0
    while made < count:
        name = rng.choice(patterns)()
        if rng.random() < 0.6:
            name = f"{name} {rng.choice(LEGAL_FORMS)}"
        key = name_key(name)
        if not key or key in taken:
            continue
        taken.add(key)
        made += 1
        yield name


_LEGAL_TAIL = re.compile(
    r"[,\s]+(?:inc\.?|incorporated|corp\.?|corporation|llc|l\.l\.c\.|ltd\.?|limited|co\.?|company"
    r"|l\.?p\.?|plc|n\.?v\.?|ag|s\.?a\.?|se|gmbh)$|\s*/\s*[a-z]+/?$",
    re.IGNORECASE,
)


def typo(name: str, rng: random.Random) -> str | None:
    """Return name with one realistic typo in its longest distinctive word, or None."""
    words = name.split()
    legal = {w.casefold() for w in words if not normalize_name(w) or _LEGAL_TAIL.match(" " + w)}
    choices = [i for i, w in enumerate(words) if w.isalpha() and len(w) >= 6 and w not in legal]
    if not choices:
        return None
    longest = max(choices, key=lambda i: len(words[i]))
    word = words[longest]
    i = rng.randrange(1, len(word) - 2)
    kind = rng.randrange(4)
    if kind == 0:
        word = word[:i] + word[i + 1] + word[i] + word[i + 2 :]  # swap neighbours
    elif kind == 1:
        word = word[:i] + word[i + 1 :]  # drop a letter
    elif kind == 2:
        word = word[:i] + word[i] + word[i:]  # double a letter
    else:
        near = "qwertyuiopasdfghjklzxcvbnm"
        word = word[:i] + rng.choice(near) + word[i + 1 :]  # wrong letter
    words[longest] = word
    return " ".join(words)


def legal_variant(name: str, rng: random.Random) -> str:
    """Return name with its legal form swapped, dropped or added, sometimes upper-cased."""
    base = name
    while True:
        stripped = _LEGAL_TAIL.sub("", base).strip()
        if stripped == base or not stripped:
            break
        base = stripped
    variant = f"{base}, {rng.choice(LEGAL_FORMS)}" if rng.random() < 0.7 else base
    return variant.upper() if rng.random() < 0.3 else variant


@dataclass(slots=True)
class Scenario:
    title: str
    accounts: list[Account]
    queries: list[Query]


def build_scenarios(data: Path, sizes: list[int]) -> list[Scenario]:
    """Build one named list and its queries per size."""
    companies, parts = load_companies(data)
    rng = random.Random(SEED)
    lookalike_query_keys = {name_key(q) for _, q in LOOKALIKES}
    lookalike_list_names = [listed for listed, _ in LOOKALIKES]
    # Hold out about one real company in eight (never an S&P one) for negative queries.
    pool: list[Company] = []
    held_out: list[Company] = []
    seen_keys: set[str] = set()
    for i, company in enumerate(companies):
        keys = {name_key(n) for n in company.names}
        if not keys - {""} or keys & seen_keys:
            continue  # a duplicate spelling of a company already taken
        seen_keys |= keys
        # The look-alike queries' own companies stay off the list too.
        if keys & lookalike_query_keys or (i > 503 and rng.random() < 0.125):
            held_out.append(company)
        else:
            pool.append(company)
    scenarios = []
    for size in sizes:
        chosen = pool[: max(size - len(lookalike_list_names), 0)]
        names = [c.names[0] for c in chosen]
        owners = [c for c in chosen]
        taken = {name_key(n) for c in companies for n in c.names} | {
            name_key(n) for n in lookalike_list_names
        }
        for listed in lookalike_list_names:
            if name_key(listed) not in {name_key(n) for n in names}:
                names.append(listed)
                owners.append(Company(f"lookalike:{listed}", (listed,)))
        extra = size - len(names)
        # Synthetic names never reuse a held-out company's first word: "Oklo Sciences" next to a
        # held-out "Oklo Inc." would be a made-up sibling of a negative query.
        held_stems = {n.split()[0].strip(",.") for c in held_out for n in c.names if n.split()}
        parts = {**parts, "stems": [st for st in parts["stems"] if st not in held_stems]}
        names.extend(synthetic_names(parts, max(extra, 0), taken))
        accounts = [
            Account(id=i + 1, account_id=f"A{i + 1:06d}", name=name)
            for i, name in enumerate(names[:size])
        ]
        queries = _queries(owners[: len(accounts)], accounts, held_out, rng)
        scenarios.append(Scenario(f"{size:,} accounts", accounts, queries))
    return scenarios


def _variant_of(a: str, b: str) -> bool:
    """Return True when two names of one company are spellings of one name, not a rename.

    The Nasdaq file is older than the SEC one, so some pairs are renames ("Complete Solaria" /
    "SunPower") or acronyms ("IBM"): no spelling of the name leads from one to the other. They
    share no word and no key prefix; they are left out of the variants.
    """
    ta, tb = set(tokens(a)), set(tokens(b))
    ka, kb = name_key(a), name_key(b)
    return bool(ta & tb) or ka[:5] == kb[:5] or ka in kb or kb in ka


def build_at_large(data: Path, listed: int = AT_LARGE_LISTED) -> Scenario:
    """Build a list of the largest real companies, queried with every other real company name.

    The named accounts of a vendor are its largest customers, while partners register companies
    of every size: so here the S&P 500 and the largest other EDGAR filers are listed, and every
    other spelling of them (the same filter as above) and every name of every other real company
    is queried, duplicates by key left out as above. Negatives outnumber positives four to one.
    """
    companies, _ = load_companies(data)
    seen: set[str] = set()
    distinct: list[Company] = []
    for company in companies:
        keys = {name_key(n) for n in company.names}
        if keys - {""} and not keys & seen and company.key.startswith("cik:"):
            seen |= keys
            distinct.append(company)
    owners, others = distinct[:listed], distinct[listed:]
    accounts = [
        Account(id=i + 1, account_id=f"L{i + 1:05d}", name=c.names[0]) for i, c in enumerate(owners)
    ]
    queries: list[Query] = []
    for company, account in zip(owners, accounts, strict=True):
        for other in company.names[1:]:
            if other.casefold().strip() != account.name.casefold().strip() and _variant_of(
                other, account.name
            ):
                queries.append(Query(other, account.id, "real variant"))
    queries.extend(Query(n, None, "negative") for c in others for n in c.names)
    return Scenario(f"real names at large, {len(accounts):,} accounts", accounts, queries)


def _queries(
    owners: list[Company], accounts: list[Account], held_out: list[Company], rng: random.Random
) -> list[Query]:
    out: list[Query] = []
    for company, account in zip(owners, accounts, strict=False):
        for other in company.names[1:]:
            if other.casefold().strip() != account.name.casefold().strip() and _variant_of(
                other, account.name
            ):
                kind = "dnb twin" if company.key.startswith("dnb:") else "real variant"
                out.append(Query(other, account.id, kind))
    real_variants = [q for q in out if q.kind == "real variant"]
    budget = max(300, min(1500, len(real_variants)))
    sample = rng.sample(accounts[: len(owners)], min(budget, len(owners)))
    for account in sample:
        misspelt = typo(account.name, rng)
        if misspelt is not None:
            out.append(Query(misspelt, account.id, "typo"))
        out.append(Query(legal_variant(account.name, rng), account.id, "legal form"))
    for company in rng.sample(held_out, min(len(held_out), max(300, len(out) // 2))):
        out.append(Query(company.names[0], None, "negative"))
    listed = {name_key(a.name) for a in accounts}
    for listed_name, query in LOOKALIKES:
        if name_key(listed_name) in listed:
            out.append(Query(query, None, "lookalike"))
    return out


def evaluate(queries: list[Query], run: Callable[[str], tuple[int | None, bool, bool]]) -> Outcome:
    """Run every query; run returns (best account id, confident, reviewed)."""
    outcome = Outcome()
    for query in queries:
        start = time.perf_counter()
        best, confident, reviewed = run(query.text)
        outcome.latencies.append(time.perf_counter() - start)
        for o in (outcome, outcome.kinds.setdefault(query.kind, Outcome())):
            if query.expected is None:
                o.negatives += 1
                if confident:
                    o.negatives_confident += 1
                    if query.kind == "lookalike":
                        o.lookalike_confident += 1
            elif best == query.expected and confident:
                o.confident_right += 1
            elif confident:
                o.confident_wrong += 1
            elif best == query.expected and reviewed:
                o.review_right += 1
            else:
                o.missed += 1
    return outcome


def index_runner(index: AccountIndex) -> Callable[[str], tuple[int | None, bool, bool]]:
    """Adapt the index to evaluate()."""

    def run(text: str) -> tuple[int | None, bool, bool]:
        found = index.match(text, match_score=MATCH_SCORE, review_score=REVIEW_SCORE)
        if not found:
            return None, False, False
        return found[0].account.id, found[0].confident, True

    return run


def scan_runner(accounts: list[Account]) -> Callable[[str], tuple[int | None, bool, bool]]:
    """A linear extractOne over the normalised names, the same thresholds as the index."""
    choices = [normalize_name(a.name) for a in accounts]
    ids = [a.id for a in accounts]

    def run(text: str) -> tuple[int | None, bool, bool]:
        found = process.extractOne(
            normalize_name(text), choices, scorer=fuzz.WRatio, score_cutoff=REVIEW_SCORE
        )
        if found is None:
            return None, False, False
        return ids[found[2]], found[1] >= MATCH_SCORE, True

    return run


class PgTrgm:
    """A pg_trgm nearest-neighbour baseline in a temporary database."""

    URLS = (
        "postgresql://postgres@127.0.0.1:5432/postgres",
        "postgresql://root@127.0.0.1:5432/postgres",
    )

    def __init__(self) -> None:
        import psycopg

        self._psycopg = psycopg
        self.admin = None
        for url in self.URLS:
            try:
                self.admin = psycopg.connect(url, autocommit=True, connect_timeout=3)
                self.url = url
                break
            except psycopg.Error:
                continue
        if self.admin is None:
            raise RuntimeError("PostgreSQL is not reachable at 127.0.0.1:5432")
        self.dbname = f"bench_trgm_{int(time.time())}"
        self.admin.execute(f'CREATE DATABASE "{self.dbname}"')
        self.conn = psycopg.connect(self.url.rsplit("/", 1)[0] + "/" + self.dbname, autocommit=True)
        self.conn.execute("CREATE EXTENSION IF NOT EXISTS pg_trgm")

    def load(self, accounts: list[Account]) -> float:
        """Load the normalised names and build the trigram index; return seconds taken."""
        start = time.perf_counter()
        self.conn.execute("DROP TABLE IF EXISTS account")
        self.conn.execute("CREATE TABLE account (id int PRIMARY KEY, name text NOT NULL)")
        with self.conn.cursor() as cur, cur.copy("COPY account (id, name) FROM STDIN") as copy:
            for a in accounts:
                copy.write_row((a.id, normalize_name(a.name)))
        self.conn.execute(
            "CREATE INDEX account_name_trgm ON account USING gist (name gist_trgm_ops)"
        )
        self.conn.execute("ANALYZE account")
        return time.perf_counter() - start

    def runner(self) -> Callable[[str], tuple[int | None, bool, bool]]:
        """Return a runner doing one nearest-neighbour query per call."""
        cur = self.conn.cursor()
        sql = "SELECT id, similarity(name, %(q)s) FROM account ORDER BY name <-> %(q)s LIMIT 1"

        def run(text: str) -> tuple[int | None, bool, bool]:
            cur.execute(sql, {"q": normalize_name(text)}, prepare=True)
            row = cur.fetchone()
            if row is None or row[1] < 0.6:
                return None, False, False
            return int(row[0]), row[1] >= 0.8, True

        return run

    def close(self) -> None:
        """Drop the temporary database."""
        self.conn.close()
        self.admin.execute(f'DROP DATABASE IF EXISTS "{self.dbname}"')
        self.admin.close()


def _summary(o: Outcome, queries: list[Query]) -> dict[str, float]:
    positives = sum(1 for q in queries if q.expected is not None)
    lookalikes = sum(1 for q in queries if q.kind == "lookalike")
    confident = o.confident_right + o.confident_wrong + o.negatives_confident
    return {
        "recall": o.confident_right / positives if positives else float("nan"),
        "flagged": (o.confident_right + o.review_right) / positives if positives else float("nan"),
        "precision": o.confident_right / confident if confident else float("nan"),
        "false_conflict": o.lookalike_confident / lookalikes if lookalikes else float("nan"),
        "p50_us": percentile(o.latencies, 50) * 1e6,
        "p99_us": percentile(o.latencies, 99) * 1e6,
    }


def run_size(scenario: Scenario, pg: PgTrgm | None, scan_sample: int) -> None:
    """Measure one list size and print its table."""
    accounts, queries = scenario.accounts, scenario.queries
    # The median of three builds: one build on a shared machine is at the mercy of its neighbours.
    timings = []
    for _ in range(BUILD_REPEATS):
        gc.collect()
        start = time.perf_counter()
        index = AccountIndex.build(accounts, list_version_id=1)
        timings.append(time.perf_counter() - start)
        del index
    build_s = statistics.median(timings)
    # Memory in a build of its own: tracemalloc slows allocation, so it must not share the timing.
    gc.collect()
    tracemalloc.start()
    index = AccountIndex.build(accounts, list_version_id=1)
    mem_mb = tracemalloc.get_traced_memory()[0] / 1e6
    tracemalloc.stop()
    ours_outcome = evaluate(queries, index_runner(index))
    ours = _summary(ours_outcome, queries)

    rng = random.Random(SEED)
    sampled = queries
    if len(queries) > scan_sample:
        # A random sample, plus every look-alike so the baselines' false-conflict rate is known.
        sampled = rng.sample(queries, scan_sample)
        sampled += [q for q in queries if q.kind == "lookalike" and q not in sampled]
    start = time.perf_counter()
    runner = scan_runner(accounts)
    scan_build = time.perf_counter() - start
    on_sample = {"index": evaluate(sampled, index_runner(index)), "scan": evaluate(sampled, runner)}
    scan = _summary(on_sample["scan"], sampled)
    ours_on_sample = _summary(on_sample["index"], sampled)

    pg_row: dict[str, float] | None = None
    pg_build = None
    if pg is not None:
        pg_build = pg.load(accounts)
        on_sample["pg_trgm"] = evaluate(sampled, pg.runner())
        pg_row = _summary(on_sample["pg_trgm"], sampled)

    kinds: dict[str, int] = {}
    for q in queries:
        kinds[q.kind] = kinds.get(q.kind, 0) + 1
    note = ", ".join(f"{k} {v}" for k, v in sorted(kinds.items()))
    sample_note = "all queries" if sampled is queries else f"a sample of {len(sampled)}"
    # With a sample, the index's figures on that same sample stand beside the baselines'.
    same = sampled is not queries
    headers = ["measure", "index", *(["index, sample"] if same else [])]
    headers += ["linear scan", "scan/index", "pg_trgm", "pg/index"]

    def row(label: str, *cells: object) -> list[object]:
        return [label, *cells] if same else [label, cells[0], *cells[2:]]

    # Latency ratios compare the baselines with the index on the same (possibly sampled) queries.
    rows: list[list[object]] = [
        row(
            "build (s; index: median of 3)",
            build_s,
            None,
            scan_build,
            ratio(scan_build, build_s),
            pg_build,
            ratio(pg_build, build_s),
        ),
        row("memory (MB, tracemalloc)", mem_mb, None, None, None, None, None),
    ]
    for label, key in (("p50 per match (us)", "p50_us"), ("p99 per match (us)", "p99_us")):
        scan_ratio = ratio(scan[key], ours_on_sample[key])
        pg_value = pg_row[key] if pg_row else None
        pg_ratio = ratio(pg_value, ours_on_sample[key])
        rows.append(
            row(label, ours[key], ours_on_sample[key], scan[key], scan_ratio, pg_value, pg_ratio)
        )
    for label, key in (
        ("recall (confident, right)", "recall"),
        ("flagged (confident or review)", "flagged"),
        ("precision (confident)", "precision"),
        ("false conflicts on look-alikes", "false_conflict"),
    ):
        pg_value = pg_row[key] if pg_row else None
        rows.append(row(label, ours[key], ours_on_sample[key], scan[key], None, pg_value, None))
    print_table(
        f"{scenario.title} — {len(queries)} queries ({note}); baselines on {sample_note}",
        headers,
        rows,  # type: ignore[arg-type]
    )
    print_kinds(scenario.title, ours_outcome)
    if sampled is not queries:
        print_kinds_side_by_side(scenario.title, on_sample)


def _kind_row(kind: str, o: Outcome) -> list[object]:
    total = o.confident_right + o.confident_wrong + o.review_right + o.missed
    if not total:  # negatives: any confident match is wrong
        n = o.negatives
        return [kind, n, None, None, o.negatives_confident / n if n else None]
    return [
        kind,
        total,
        o.confident_right / total,
        (o.confident_right + o.review_right) / total,
        o.confident_wrong / total,
    ]


def print_kinds(title: str, outcome: Outcome) -> None:
    """Print the index's outcome per kind of query, with the counts behind the shares."""
    rows = []
    for kind, o in sorted(outcome.kinds.items()):
        row = _kind_row(kind, o)
        # A share rounded to three figures can hide a query either side of a target.
        counts = (
            f"{o.negatives_confident:,} wrong"
            if row[2] is None
            else f"{o.confident_right:,} right, {o.confident_wrong:,} wrong, "
            f"{o.review_right:,} review, {o.missed:,} missed"
        )
        rows.append([*row, counts])
    print_table(
        f"{title} — the index by kind of query",
        [
            "kind",
            "queries",
            "confident, right",
            "flagged (incl. review)",
            "confident, wrong",
            "counts",
        ],
        rows,  # type: ignore[arg-type]
    )


def print_kinds_side_by_side(title: str, outcomes: dict[str, Outcome]) -> None:
    """Print confident-and-right and confident-and-wrong per kind for every matcher on a sample."""
    names = list(outcomes)
    kinds = sorted(outcomes["index"].kinds)
    rows: list[list[object]] = []
    for kind in kinds:
        cells = {n: _kind_row(kind, outcomes[n].kinds.get(kind, Outcome())) for n in names}
        rows.append(
            [kind, cells["index"][1]] + [cells[n][2] for n in names] + [cells[n][4] for n in names]
        )
    print_table(
        f"{title} — by kind of query, on the baselines' sample",
        ["kind", "sample"] + [f"right: {n}" for n in names] + [f"wrong: {n}" for n in names],
        rows,  # type: ignore[arg-type]
    )


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark and print one table per list size."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--sizes", default="1000,10000,100000")
    parser.add_argument("--scan-sample", type=int, default=1000)
    parser.add_argument("--no-pg", action="store_true")
    parser.add_argument("--no-at-large", action="store_true")
    args = parser.parse_args(argv)
    if not (args.data / "sp500" / "constituents.csv").exists():
        print(f"public company lists not found at {args.data}; pass --data", file=sys.stderr)
        return 2
    sizes = [int(s) for s in args.sizes.split(",") if s]
    scenarios = build_scenarios(args.data, sizes)
    if not args.no_at_large:
        scenarios.append(build_at_large(args.data))
    pg: PgTrgm | None = None
    if not args.no_pg:
        try:
            pg = PgTrgm()
        except Exception as exc:  # any failure just means no pg_trgm column
            print(f"pg_trgm baseline skipped: {exc}", file=sys.stderr)
    try:
        for scenario in scenarios:
            large = len(scenario.accounts) > 20_000
            run_size(scenario, pg, args.scan_sample if large else 10**9)
    finally:
        if pg is not None:
            pg.close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
