"""The word lists company-name normalisation works from: abbreviations, legal forms, filing tags.

Pure data, curated from real company lists (SEC EDGAR, Nasdaq, S&P 500, the cleanco and DNB
name-matching projects); ``conflict.normalize`` holds the rules that use them.
"""

__all__ = [
    "ABBREVIATIONS",
    "CA_PROVINCES",
    "FILING_TAGS",
    "GIVEN_NAMES",
    "LEGAL_FORMS_TEXT",
    "LEGAL_PREFIXES_TEXT",
    "LONG_LEGAL_WORDS",
    "SPELLINGS",
    "STOP_WORDS",
    "US_STATES",
]

# EDGAR "conformed names" carry the state or country of incorporation and other filing tags after a
# slash or backslash ("APPLIED MATERIALS INC /DE", "US BANCORP \\DE\\", "NVE CORP /NEW/").
US_STATES = (
    "al ak az ar ca co ct de dc fl ga hi id il in ia ks ky la me md ma mi mn ms mo mt ne nv nh nj"
    " nm ny nc nd oh ok or pa pr ri sc sd tn tx ut vt va wa wv wi wy"
)
CA_PROVINCES = "ab bc mb nb nl ns nt nu on pe qc sk yt"
FILING_TAGS = [
    *f"{US_STATES} {CA_PROVINCES} new old adr ads can cn hk uk fi bvi ats del delaware".split(),
    *["ci", "cayman", "bermuda"],
    *("cayman islands", "marshall islands", "british virgin islands"),
]

ABBREVIATIONS: dict[str, str] = {
    "intl": "international",
    "internat": "international",
    "mfg": "manufacturing",
    "mfrs": "manufacturers",
    "tech": "technology",
    "techs": "technologies",
    "svc": "services",
    "svcs": "services",
    "serv": "services",
    "hldg": "holding",
    "hldgs": "holdings",
    "hlds": "holdings",
    "hlgs": "holdings",
    "natl": "national",
    "nat'l": "national",
    "assn": "association",
    "assoc": "association",
    "bros": "brothers",
    "sys": "systems",
    "grp": "group",
    "mgmt": "management",
    "mgt": "management",
    "inds": "industries",
    "cos": "companies",
    "labs": "laboratories",
    "lab": "laboratory",
    "ctr": "center",
    "ctrs": "centers",
    "centre": "center",
    "centres": "centers",
    "finl": "financial",
    "fin": "financial",
    "svgs": "savings",
    "bk": "bank",
    "bancorporation": "bancorp",
    "elec": "electric",
    "chem": "chemical",
    "pharm": "pharmaceuticals",
    "pharma": "pharmaceuticals",
    "prods": "products",
    "pptys": "properties",
    "ppty": "property",
    "rlty": "realty",
    "mtg": "mortgage",
    "mkts": "markets",
    "commun": "communications",
    "comms": "communications",
    "engr": "engineering",
    "pwr": "power",
    "amer": "american",
    "tr": "trust",
    "ins": "insurance",
    "invt": "investment",
    "invts": "investments",
    "dept": "department",
    "univ": "university",
    "resrc": "resources",
    "resrcs": "resources",
    "ltd": "limited",
    # Inside a name ("Packaging Corp of America") these are words, not legal forms to strip.
    "corp": "corporation",
    "inc": "incorporated",
}


# Legal forms, as token sequences after punctuation handling (so "S.A. de C.V." is "sa de cv",
# "A/S" is "as", "L.L.C." is "llc"). Curated from the legal-form tables of the DNB name_matching
# and cleanco projects, limited to forms seen on real company lists. Only removed at the end of a
# name, so "Limited Edition Products Ltd" keeps its first "Limited".
LEGAL_FORMS_TEXT = """
inc, incorporated, incorporation, corp, corporation, co, company, companys, limited, llc, llp,
lllp, lp, pllc, plc,
pte, pty, pvt, ltda, lda, gmbh, mbh, ag, kg, kgaa, ohg, gbr, ug, se, sa, sas, sasu, sarl, sarlu,
eurl, snc, sca, scs, scop, sprl, bvba, cvba, nv, bv, vof, ab, oy, oyj, asa, as, aps, amba, kb, spa,
sapa, srl, srls, scrl, slu, sau, sae, sab, sapi, kk, gk, bhd, sdn bhd, tbk, pjsc, ojsc, cjsc, jsc,
oao, ooo, zao, pao, sro, spolka, spolka akcyjna, sk, spol sro, zoo, sp zoo, sp z oo, doo, nyrt,
zrt, kft, uab, tov, ulc, pc, na, national association,
saog, saoc, pte limited, pty limited, pvt limited, private limited, co limited, limited partnership,
public limited, limited liability company, public limited company, private limited company,
sociedad anonima,
aktiengesellschaft, aktiebolag, aktieselskab, naamloze vennootschap, besloten vennootschap,
societe anonyme, societa per azioni, kabushiki kaisha, sa de cv, sab de cv, sapi de cv, s de rl,
s de rl de cv, de cv, sacv, sab cv, saa, saic, saci, sacifia, sacifya, sca de cv, kgaa, ag co kg,
gmbh co kg,
gmbh and co kg, and co kg, co kg, lc
"""
# Spelling variants in the abbreviation table: they name the same form of the word.
SPELLINGS = frozenset({"centre", "centres", "bancorporation", "ltd", "corp", "inc"})
# Common given names, so EDGAR's surname-first names ("SCHWAB CHARLES CORP") can be turned round.
_GIVEN_NAMES_TEXT = """
aaron adam alan albert alexander alfred alice allen amy andrew ann anna anne anthony arthur barbara
benjamin bernard betty brian bruce carl carol carolyn catherine charles charlotte christopher
clara clarence daniel david dennis donald dorothy douglas earl edward edwin eli elizabeth ellen
emily emma eric ernest eugene evelyn frances francis frank fred frederick gary george gerald
gordon grace gregory harold harriet harry harvey helen henry herbert howard hugh irving jack
jacob james jane janet jean jeffrey jennifer jerome jerry jesse joan john jonathan joseph joyce
judith julia julian julius karen katherine kenneth kevin larry laura lawrence leo leon leonard
leslie lewis linda lloyd louis louise lucy margaret maria marie marilyn marion mark martha mary
matthew maurice max melvin michael milton nancy nathan nicholas norman oliver oscar patricia
patrick paul peter philip ralph ray raymond rebecca richard robert roger ronald rose roy ruth
samuel sandra sarah sidney stephen steven susan thomas timothy victor vincent walter warren
wayne william
"""
GIVEN_NAMES: frozenset[str] = frozenset(_GIVEN_NAMES_TEXT.split())
# A few legal forms come before the name ("OAO Tatneft", "PT Bank Mandiri", "AB Volvo").
LEGAL_PREFIXES_TEXT = "oao ooo zao pao pjsc ojsc cjsc jsc pt ab oy tov"
# Tokens dropped from keys and scoring; they carry no identity.
STOP_WORDS: frozenset[str] = frozenset({"the", "and", "of", "de", "la", "le", "et", "y"})
# Long legal words are often misspelt ("Corporaton"); one edit away still counts as the legal form.
LONG_LEGAL_WORDS = ("corporation", "incorporated", "limited", "company", "aktiengesellschaft")
