"""Build demo/named_accounts.csv and demo/partners.csv from the public company lists.

The named-account list: all S&P 500 constituents plus the largest other SEC EDGAR filers (by the
order of company_tickers.json, which is roughly by market value), 1,000 accounts in all. Segments
follow the seed's shape (81 strategic, then global, major and 400-500 corporate accounts);
districts come from the headquarters state where known; PC counts are drawn deterministically per
segment. Partner organisations are smaller Nasdaq-listed technology firms not on the list.

Run from the repository root: python scripts/build_demo_list.py [path/to/shared/data]
"""

import csv
import hashlib
import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DATA = Path(sys.argv[1]) if len(sys.argv) > 1 else ROOT.parent / "shared" / "data"

STATE_DISTRICT = {
    "Maine": "northeast",
    "New Hampshire": "northeast",
    "Vermont": "northeast",
    "Massachusetts": "northeast",
    "Rhode Island": "northeast",
    "Connecticut": "northeast",
    "New York": "northeast",
    "New Jersey": "mid_atlantic",
    "Pennsylvania": "mid_atlantic",
    "Delaware": "mid_atlantic",
    "Maryland": "mid_atlantic",
    "D.C.": "mid_atlantic",
    "Virginia": "mid_atlantic",
    "North Carolina": "southeast",
    "South Carolina": "southeast",
    "Georgia": "southeast",
    "Florida": "southeast",
    "Tennessee": "southeast",
    "Alabama": "southeast",
    "Kentucky": "southeast",
    "Ohio": "great_lakes",
    "Michigan": "great_lakes",
    "Indiana": "great_lakes",
    "Illinois": "great_lakes",
    "Wisconsin": "great_lakes",
    "Minnesota": "great_lakes",
    "Iowa": "great_lakes",
    "Missouri": "great_lakes",
    "Nebraska": "great_lakes",
    "Texas": "south_central",
    "Oklahoma": "south_central",
    "Arkansas": "south_central",
    "Louisiana": "south_central",
    "Colorado": "rocky_mountain",
    "Utah": "rocky_mountain",
    "Montana": "rocky_mountain",
    "Idaho": "rocky_mountain",
    "Nevada": "southwest",
    "Arizona": "southwest",
    "California": "southwest",
    "Washington": "northwest",
    "Oregon": "northwest",
}
DISTRICTS = sorted(set(STATE_DISTRICT.values()))

# Public web domains of well-known list members, so domain matching has something real to show.
DOMAINS = {
    "Apple Inc.": "apple.com",
    "Microsoft": "microsoft.com",
    "Amazon": "amazon.com",
    "Alphabet Inc. (Class A)": "abc.xyz",
    "Meta Platforms": "meta.com",
    "Nvidia": "nvidia.com",
    "Tesla, Inc.": "tesla.com",
    "Berkshire Hathaway": "berkshirehathaway.com",
    "JPMorgan Chase": "jpmorganchase.com",
    "Visa Inc.": "visa.com",
    "Walmart": "walmart.com",
    "Exxon Mobil": "exxonmobil.com",
    "Mastercard": "mastercard.com",
    "Procter & Gamble": "pg.com",
    "Johnson & Johnson": "jnj.com",
    "Home Depot (The)": "homedepot.com",
    "Oracle Corporation": "oracle.com",
    "Coca-Cola Company (The)": "coca-colacompany.com",
    "PepsiCo": "pepsico.com",
    "Costco": "costco.com",
    "Cisco": "cisco.com",
    "Salesforce": "salesforce.com",
    "Bank of America": "bankofamerica.com",
    "Wells Fargo": "wellsfargo.com",
    "Chevron Corporation": "chevron.com",
    "Merck & Co.": "merck.com",
    "AbbVie": "abbvie.com",
    "Adobe Inc.": "adobe.com",
    "Intel": "intel.com",
    "IBM": "ibm.com",
    "Qualcomm": "qualcomm.com",
    "Texas Instruments": "ti.com",
    "Pfizer": "pfizer.com",
    "Verizon": "verizon.com",
    "AT&T": "att.com",
    "Comcast": "comcast.com",
    "Walt Disney Company (The)": "disney.com",
    "Nike, Inc.": "nike.com",
    "McDonald's": "mcdonalds.com",
    "Boeing": "boeing.com",
    "Caterpillar Inc.": "caterpillar.com",
    "3M": "3m.com",
    "General Electric": "ge.com",
    "Honeywell": "honeywell.com",
    "Lockheed Martin": "lockheedmartin.com",
    "United Parcel Service": "ups.com",
    "FedEx": "fedex.com",
    "Goldman Sachs": "goldmansachs.com",
    "Morgan Stanley": "morganstanley.com",
    "Citigroup": "citigroup.com",
    "American Express": "americanexpress.com",
    "American Airlines Group": "aa.com",
    "Delta Air Lines": "delta.com",
    "United Airlines Holdings": "united.com",
    "General Motors": "gm.com",
    "General Mills": "generalmills.com",
    "Ford Motor Company": "ford.com",
    "Starbucks": "starbucks.com",
    "Target Corporation": "target.com",
    "Lowe's": "lowes.com",
    "CVS Health": "cvshealth.com",
    "UnitedHealth Group": "unitedhealthgroup.com",
    "Netflix": "netflix.com",
    "PayPal": "paypal.com",
    "Dell Technologies": "dell.com",
    "HP Inc.": "hp.com",
    "Hewlett Packard Enterprise": "hpe.com",
    "Accenture": "accenture.com",
    "Deere & Company": "deere.com",
    "Dow Inc.": "dow.com",
    "Kraft Heinz": "kraftheinz.com",
    "Johnson Controls": "johnsoncontrols.com",
    "Marriott International": "marriott.com",
    "Hilton Worldwide": "hilton.com",
    "Best Buy": "bestbuy.com",
    "eBay": "ebay.com",
    "Intuit": "intuit.com",
    "Autodesk": "autodesk.com",
    "ServiceNow": "servicenow.com",
}

FIRST = [
    "Dana",
    "Morgan",
    "Riley",
    "Jordan",
    "Avery",
    "Casey",
    "Jamie",
    "Quinn",
    "Taylor",
    "Reese",
    "Skyler",
    "Rowan",
]
LAST = [
    "Whitfield",
    "Okafor",
    "Lindqvist",
    "Moreau",
    "Castillo",
    "Nakamura",
    "Brennan",
    "Haddad",
    "Kowalski",
    "Osei",
    "Varga",
    "Ferreira",
]
MCS_OWNERS = [f"{f.lower()}.{s.lower()}@mcs.example.com" for f, s in zip(FIRST, LAST, strict=True)]


def _num(seed: str, lo: int, hi: int) -> int:
    digest = int(hashlib.sha256(seed.encode()).hexdigest()[:12], 16)
    return lo + digest % (hi - lo + 1)


def build() -> None:
    """Write the demo CSV files."""
    sp = list(csv.DictReader((DATA / "sp500" / "constituents.csv").open(encoding="utf-8")))
    ciks = {int(r["CIK"]) for r in sp if r["CIK"].isdigit()}
    rows: list[dict[str, str]] = []
    for r in sp:
        state = r["Headquarters Location"].split(", ")[-1].split("[")[0]
        rows.append(
            {
                "name": r["Security"],
                "district": STATE_DISTRICT.get(state, ""),
                "account_id": f"SP-{r['Symbol']}",
            }
        )
    sec = json.loads((DATA / "sec" / "company_tickers.json").read_text())
    seen = set(ciks)
    for entry in sec.values():
        if len(rows) >= 1000:
            break
        if entry["cik_str"] in seen:
            continue
        seen.add(entry["cik_str"])
        rows.append(
            {"name": entry["title"], "district": "", "account_id": f"SEC-{entry['cik_str']}"}
        )
    out = []
    for i, r in enumerate(rows):
        name = r["name"]
        district = r["district"] or DISTRICTS[_num(name + "d", 0, len(DISTRICTS) - 1)]
        if i < 81:
            segment, pcs = "strategic", _num(name, 40_000, 300_000)
        elif i < 260:
            segment, pcs = "global", _num(name, 20_000, 150_000)
        elif i < 550:
            segment, pcs = "major", _num(name, 5_001, 40_000)
        else:
            segment, pcs = "corporate", _num(name, 4_001, 5_000)
        aliases = []
        if name.endswith(" (The)"):
            aliases.append("The " + name[: -len(" (The)")])
        if " (Class A)" in name:
            aliases.append(name.replace(" (Class A)", ""))
        out.append(
            {
                "account_id": r["account_id"],
                "name": name,
                "domain": DOMAINS.get(name, ""),
                "aliases": ";".join(aliases),
                "segment": segment,
                "district": district,
                "pc_count": str(pcs),
                "mcs_owner_email": MCS_OWNERS[_num(name + "o", 0, len(MCS_OWNERS) - 1)],
            }
        )
    target = ROOT / "demo" / "named_accounts.csv"
    with target.open("w", newline="", encoding="utf-8") as fh:
        writer = csv.DictWriter(fh, fieldnames=list(out[0]))
        writer.writeheader()
        writer.writerows(out)

    listed = {r["name"].lower() for r in out}
    taken_symbols = {r["Symbol"] for r in sp} | {
        e["ticker"] for e in sec.values() if e["cik_str"] in seen
    }
    nasdaq = list(csv.DictReader((DATA / "nasdaq" / "nasdaq-listed-symbols.csv").open()))
    words = ("Software", "Technolog", "Systems", "Networks", "Solutions", "Digital", "Data")
    partners = []
    for r in nasdaq:
        name = r["Company Name"].strip()
        if r["ETF"] == "Y" or r["Test Issue"] == "Y" or name.lower() in listed:
            continue
        if r["Symbol"] in taken_symbols or name in partners:
            continue
        if any(w in name for w in words) and "Acquisition" not in name and len(name) < 40:
            partners.append(name)
        if len(partners) >= 30:
            break
    with (ROOT / "demo" / "partners.csv").open("w", newline="", encoding="utf-8") as fh:
        rows_out = csv.writer(fh)
        rows_out.writerow(["name", "points", "district"])
        for i, name in enumerate(partners):
            points = (130, 160, 125, 70, 95, 55, 40, 20, 150, 60)[i % 10]
            rows_out.writerow([name, points, DISTRICTS[i % len(DISTRICTS)]])
    # Customers partners register: further Nasdaq companies on neither list.
    customers: list[str] = []
    for r in nasdaq:
        name = r["Company Name"].strip()
        if r["ETF"] == "Y" or r["Test Issue"] == "Y" or r["Symbol"] in taken_symbols:
            continue
        if name in partners or name in customers or "Acquisition" in name or len(name) > 40:
            continue
        if name.lower() in listed or any(w in name for w in ("Fund", "Trust", "Warrant")):
            continue
        if _num(name, 0, 9) == 0:  # spread the picks through the alphabet
            customers.append(name)
        if len(customers) >= 40:
            break
    with (ROOT / "demo" / "customers.csv").open("w", newline="", encoding="utf-8") as fh:
        rows_out = csv.writer(fh)
        rows_out.writerow(["name", "pc_count"])
        for name in customers:
            rows_out.writerow([name, _num(name + "p", 300, 6_500)])
    print(f"wrote {len(out)} accounts, {len(partners)} partners and {len(customers)} customers")


if __name__ == "__main__":
    build()
