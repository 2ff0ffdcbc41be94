"""Company name and web domain normalisation for account matching.

Pure functions: no I/O beyond tldextract's bundled public-suffix snapshot, read once at import.

A name goes through these steps (each keeps the meaning of the name, only its spelling changes):

1. Unicode: NFKD, combining marks dropped, a few letters NFKD leaves alone (ø, ł, æ, ß) spelled out,
   casefolded.
2. EDGAR decorations: state/country tags (``/DE/``, ``\\MD\\``, ``/NEW/``, ``/ADR``, ``(S.C.)``,
   a bare ``DE`` after the legal form) and share-class or article parentheticals (``(Class A)``,
   ``(The)``) removed.
3. Punctuation: ``&`` and ``+`` become "and"; apostrophes vanish ("McDonald's" -> "mcdonalds");
   other punctuation separates words; runs of single letters join ("A.O." -> "ao", "U.S." -> "us",
   "S.p.A." -> "spa"), so dotted and undotted spellings agree.
4. Abbreviations expand (intl -> international, mfg -> manufacturing, ...); the words that were
   abbreviated are remembered, since "Tech" stands for "Technology" but not for "Technologies".
5. Legal forms are stripped from the end (and a few that precede the name, such as "OAO" or "PT"),
   repeatedly, but never down to nothing; a trailing "com" (from "Amazon.com") goes with them.
   "Holdings" and "Group" are kept: they tell companies apart, and the matcher weighs them lightly.

``tokens`` and the keys go one step further: stop words ("the", "and", "of") are dropped, so
"AT&T", "AT and T" and "AT & T Inc." all have the key "att". ``name_orders`` and ``name_keys`` add
the everyday order of EDGAR's surname-first names ("SCHWAB CHARLES CORP", "SMITH A O CORP").
"""

import re
import unicodedata
from collections.abc import Sequence
from functools import lru_cache
from typing import NamedTuple

import tldextract

from conflict.name_tables import (
    ABBREVIATIONS,
    FILING_TAGS,
    GIVEN_NAMES,
    LEGAL_FORMS_TEXT,
    LEGAL_PREFIXES_TEXT,
    LONG_LEGAL_WORDS,
    SPELLINGS,
    STOP_WORDS,
    US_STATES,
)
from conflict.name_words import one_edit

__all__ = [
    "FREE_MAIL_DOMAINS",
    "NameForms",
    "customer_key",
    "is_free_mail_domain",
    "is_valid_domain",
    "name_forms",
    "name_key",
    "name_keys",
    "name_orders",
    "normalize_domain",
    "normalize_name",
    "tokens",
]

# Letters that NFKD does not decompose into a base letter plus a combining mark.
_SPECIAL_LETTERS = str.maketrans(
    {
        "ø": "o",
        "Ø": "O",
        "ł": "l",
        "Ł": "L",
        "đ": "d",
        "Đ": "D",
        "ð": "d",
        "þ": "th",
        "æ": "ae",
        "Æ": "AE",
        "œ": "oe",
        "Œ": "OE",
        "ß": "ss",
        "\u0131": "i",  # dotless i
        "\u2019": "'",  # right single quotation mark
        "\u2018": "'",  # left single quotation mark
        "`": "'",
        "\u00b4": "'",  # acute accent
        "\uff06": "&",  # fullwidth ampersand
    }
)

# EDGAR "conformed names" carry the state or country of incorporation and other filing tags after a
# slash or backslash ("APPLIED MATERIALS INC /DE", "US BANCORP \DE\", "NVE CORP /NEW/"). Only known
# tags are removed so that names with a real slash ("Cullen/Frost Bankers", "M/I Homes") survive.
_TAG_ALT = "|".join(
    sorted((re.escape(t).replace(r"\ ", r"\s+") for t in set(FILING_TAGS)), key=len, reverse=True)
)
_TRAILING_TAG = re.compile(rf"\s*[/\\]\s*(?:{_TAG_ALT})?\s*[/\\]?\s*$", re.IGNORECASE)
_ADR_TAG = re.compile(r"\s*[/\\]\s*ad[rs]s?\b\s*[/\\]?", re.IGNORECASE)
_PARENTHETICAL = re.compile(r"\(([^()]*)\)")
# Parentheticals that qualify a listing rather than name a company.
_DROP_PARENTHETICAL = re.compile(
    r"^\s*(?:the|new|old|class\s+\w|cl\s+\w|series\s+\w|adr|ads|publ|holding\s+company"
    rf"|{_TAG_ALT})\s*$",
    re.IGNORECASE,
)
# "Alphabet Inc. - Class A", "XYZ Corp-CL B": share-class tails.
_SHARE_CLASS_TAIL = re.compile(r"\s*[-,]?\s*\b(?:class|cl)\s+[a-z]\b\s*$", re.IGNORECASE)
_AMPERSAND = re.compile(r"\s*[&+]\s*")
_NON_ALNUM = re.compile(r"[^\w]+|_+")

_ABBREVIATED_WORDS = frozenset(ABBREVIATIONS) - SPELLINGS
_STATE_SET = frozenset(US_STATES.split())
# Tail words that follow "co" in "Merck & Co" or "JPMorgan Chase & Co" leave a dangling "and".
_DANGLING = frozenset({"and", "of", "the", "de", "y", "et"})


def _build_phrases(text: str) -> tuple[tuple[str, ...], ...]:
    phrases = {tuple(form.split()) for form in text.split(",") if form.strip()}
    # Longest first, so "sa de cv" is removed whole rather than leaving "sa de".
    return tuple(sorted(phrases, key=len, reverse=True))


_LEGAL_SUFFIXES = _build_phrases(LEGAL_FORMS_TEXT)
_LEGAL_SUFFIX_SET = frozenset(_LEGAL_SUFFIXES)
_MAX_SUFFIX_LEN = max(len(p) for p in _LEGAL_SUFFIXES)
_LEGAL_LAST_WORDS = frozenset(p[-1] for p in _LEGAL_SUFFIXES)  # most names end in none of these
_LEGAL_PREFIX_SET = frozenset(LEGAL_PREFIXES_TEXT.split())


# Every spelling one edit away from a long legal word, computed once: a set lookup per word.
_MISSPELT_LEGAL = frozenset(v for form in LONG_LEGAL_WORDS for v in one_edit(form) if len(v) >= 6)


def _is_legal_word(word: str) -> bool:
    return (word,) in _LEGAL_SUFFIX_SET or word in _MISSPELT_LEGAL


# Generic mail providers: a customer's address at one of these says nothing about the company.
_FREE_MAIL_TEXT = """
    gmail.com googlemail.com outlook.com hotmail.com live.com msn.com passport.com windowslive.com
    yahoo.com ymail.com rocketmail.com aol.com aim.com icloud.com me.com mac.com proton.me
    protonmail.com protonmail.ch pm.me tutanota.com tuta.io gmx.com gmx.net gmx.de gmx.at gmx.ch
    web.de t-online.de freenet.de mail.ru inbox.ru list.ru bk.ru yandex.ru yandex.com ya.ru qq.com
    foxmail.com 163.com 126.com yeah.net sina.com sina.cn sohu.com aliyun.com naver.com daum.net
    hanmail.net mail.com email.com usa.com zoho.com zohomail.com fastmail.com fastmail.fm hey.com
    comcast.net verizon.net att.net sbcglobal.net bellsouth.net cox.net charter.net earthlink.net
    btinternet.com virginmedia.com sky.com talktalk.net orange.fr wanadoo.fr free.fr laposte.net
    sfr.fr libero.it virgilio.it tiscali.it alice.it seznam.cz wp.pl o2.pl onet.pl interia.pl
    rediffmail.com rambler.ru ukr.net bigpond.com optusnet.com.au shaw.ca rogers.com sympatico.ca
    telus.net hushmail.com lycos.com excite.com juno.com netzero.net mailinator.com
    guerrillamail.com
"""
FREE_MAIL_DOMAINS: frozenset[str] = frozenset(_FREE_MAIL_TEXT.split())
# Providers with one registrable domain per country (yahoo.co.uk, hotmail.fr, gmx.ch, ...).
_FREE_MAIL_LABELS = frozenset({"yahoo", "hotmail", "outlook", "live", "gmx", "aol", "ymail", "msn"})

# The bundled public-suffix snapshot, never fetched: the app must work offline.
_EXTRACT = tldextract.TLDExtract(suffix_list_urls=(), cache_dir=None)
_HOST_LABEL = re.compile(r"^(?!-)[a-z0-9-]{1,63}(?<!-)$")
_SCHEME = re.compile(r"^[a-z][a-z0-9+.-]*://")


def _fold_unicode(text: str) -> str:
    if text.isascii():  # most names: nothing to decompose
        return text.casefold()
    text = unicodedata.normalize("NFKD", text.translate(_SPECIAL_LETTERS))
    return "".join(ch for ch in text if not unicodedata.combining(ch)).casefold()


def _strip_decorations(text: str) -> str:
    has_slash = "/" in text or "\\" in text
    if not has_slash and "(" not in text and "cl" not in text:
        return text  # the common case, without running the expressions below
    # Depositary-receipt tags can sit before a legal form too: "Foo SA/ADR, Inc".
    if has_slash:
        text = _ADR_TAG.sub(" ", text)
    # Repeated because EDGAR stacks them: "FOO CORP /DE/ /NEW/".
    for _ in range(3):
        stripped = _TRAILING_TAG.sub("", text)
        stripped = _SHARE_CLASS_TAIL.sub("", stripped)
        if stripped == text:
            break
        text = stripped
    return _PARENTHETICAL.sub(
        lambda m: (
            " " if _DROP_PARENTHETICAL.match(m.group(1).replace(".", "")) else f" {m.group(1)} "
        ),
        text,
    )


def _join_initials(words: list[str]) -> tuple[list[str], list[bool]]:
    # Returns the words and, per word, whether it stands for initials (one letter, or a joined run).
    if min(map(len, words), default=2) > 1:
        return words, [False] * len(words)
    out: list[str] = []
    initials: list[bool] = []
    run: list[str] = []
    for w in [*words, ""]:
        if len(w) == 1 and w.isalpha():
            run.append(w)
            continue
        if run:
            out.append("".join(run))
            initials.append(True)
            run = []
        if w:
            out.append(w)
            initials.append(False)
    return out, initials


def _is_legal_with_state(word: str) -> bool:
    return len(word) >= 5 and word[-2:] in _STATE_SET and _is_legal_word(word[:-2])


def _strip_legal(words: list[str]) -> tuple[int, int, bool]:
    # Return the span of words kept, and whether a leading "The" went. Suffixes first, repeatedly
    # ("Foo Holdings Co., Ltd." -> "foo holdings"), then the trailing "com" of "Amazon.com", then
    # prefixes; never strip a name down to nothing.
    lo, hi = 0, len(words)
    # A bare state tag after the legal form ("BROADWAY FINANCIAL CORP DE", "LIFECORE ..., INC. DE"),
    # or glued to it once the slash is lost ("GLADSTONE INVESTMENT CORPORATIONDE").
    bare = hi > 2 and words[-1] in _STATE_SET and _is_legal_word(words[-2])
    if bare or (hi > 1 and _is_legal_with_state(words[-1])):
        hi -= 1
    changed = True
    while changed and hi - lo > 1:
        changed = False
        last = words[hi - 1]
        if last not in _LEGAL_LAST_WORDS and last not in _MISSPELT_LEGAL:
            sizes: range = range(0)
        else:
            sizes = range(min(_MAX_SUFFIX_LEN, hi - lo - 1), 0, -1)
        for size in sizes:
            tail = tuple(words[hi - size : hi])
            if tail in _LEGAL_SUFFIX_SET or (size == 1 and _is_legal_word(tail[0])):
                hi -= size
                changed = True
                break
        while hi - lo > 1 and words[hi - 1] in _DANGLING:
            hi -= 1
            changed = True
        if hi - lo > 1 and words[hi - 1] == "com":
            hi -= 1
            changed = True
    while hi - lo > 1 and words[lo] in _LEGAL_PREFIX_SET:
        lo += 1
    leading_the = hi - lo > 1 and words[lo] == "the"
    return lo + leading_the, hi, leading_the


# What _analyse returns: the normalised words (legal form stripped, stop words kept); per word,
# whether it was written as initials ("SMITH A O CORP") and whether abbreviated ("Tech"); and
# whether the name began with "The". A plain tuple: the cache keeps tens of thousands of them,
# and the garbage collector stops watching plain tuples of strings and booleans.
_Analysis = tuple[tuple[str, ...], tuple[bool, ...], tuple[bool, ...], bool]


def _analyse_name(name: str) -> _Analysis:
    text = _strip_decorations(_fold_unicode(name or ""))
    if "'" in text:
        text = text.replace("'", "")
    if "&" in text or "+" in text:
        text = _AMPERSAND.sub(" and ", text)
    words, initials = _join_initials(_NON_ALNUM.sub(" ", text).split())
    abbreviated = [False] * len(words)
    if not _ABBREVIATED_WORDS.isdisjoint(words):
        abbreviated = [w in _ABBREVIATED_WORDS for w in words]
        words = [ABBREVIATIONS.get(w, w) for w in words]
    elif not SPELLINGS.isdisjoint(words):
        words = [ABBREVIATIONS.get(w, w) for w in words]
    lo, hi, leading_the = _strip_legal(words)
    return tuple(words[lo:hi]), tuple(initials[lo:hi]), tuple(abbreviated[lo:hi]), leading_the


# Callers ask about the same names again and again (a list re-check, a form's live pre-check);
# name_forms, which the account index calls once per name, analyses afresh instead, so a build
# of 100,000 names does not churn the cache.
_analyse = lru_cache(maxsize=65536)(_analyse_name)


def normalize_name(name: str) -> str:
    """Return the company name casefolded, de-accented, without punctuation or legal form."""
    return " ".join(_analyse(name)[0])


def _key_tokens(words: Sequence[str]) -> tuple[str, ...]:
    kept = tuple(w for w in words if w not in STOP_WORDS)
    return kept or tuple(words)


def tokens(name: str) -> tuple[str, ...]:
    """Return the scoring tokens of a name: its normalised words without stop words."""
    return _key_tokens(_analyse(name)[0])


def name_key(name: str) -> str:
    """Return the exact-lookup key of a name: its tokens joined without spaces."""
    return "".join(tokens(name))


class NameForms(NamedTuple):
    """The forms of one name the account index needs, computed in one pass."""

    text: str  # normalize_name
    tokens: tuple[str, ...]  # tokens
    keys: tuple[str, ...]  # name_keys
    orders: tuple[tuple[str, ...], ...]  # name_orders
    abbreviated: frozenset[str]  # tokens written abbreviated ("technology" from "Tech")


_NO_TOKENS: frozenset[str] = frozenset()


def name_forms(name: str) -> NameForms:
    """Return normalize_name, tokens, name_keys, name_orders and abbreviated tokens of a name."""
    analysis = _analyse_name(name)
    words, _, flags, _ = analysis
    orders = _orders(analysis)
    abbreviated = (
        frozenset(w for w, a in zip(words, flags, strict=True) if a) if any(flags) else _NO_TOKENS
    )
    return NameForms(
        " ".join(words), orders[0] if orders else (), _keys(orders, analysis), orders, abbreviated
    )


def _surname_first(words: Sequence[str], initials: Sequence[bool]) -> list[list[str]]:
    # EDGAR files people-named companies surname first: "SMITH A O CORP" is A. O. Smith,
    # "HUNT J B TRANSPORT SERVICES" is J.B. Hunt Transport Services, "PRICE T ROWE GROUP" is
    # T. Rowe Price Group, "SCHWAB CHARLES CORP" is Charles Schwab, and the S&P list writes
    # "Lilly (Eli)". Each alternate puts the surname back after the given names.
    if len(words) < 2 or initials[0] or len(words[0]) <= 2:
        return []
    out: list[list[str]] = []
    if "and" not in words:
        if initials[-1]:
            out.append([words[-1], *words[:-1]])
        if initials[1]:
            out.append([words[1], words[0], *words[2:]])
            if len(words) >= 3 and not initials[2]:
                out.append([words[1], words[2], words[0], *words[3:]])
    if words[1] in GIVEN_NAMES and words[0] not in GIVEN_NAMES:
        end = 2
        while end < len(words) and (initials[end] or words[end] in GIVEN_NAMES):
            end += 1
        out.append([*words[1:end], words[0], *words[end:]])
    return out


def _orders(analysis: _Analysis) -> tuple[tuple[str, ...], ...]:
    words, initials, _, _ = analysis
    primary = _key_tokens(words)
    if not primary:
        return ()
    alternates = _surname_first(words, initials)
    if not alternates:
        return (primary,)
    orders = [primary]
    for other in alternates:
        order = _key_tokens(other)
        if order not in orders:
            orders.append(order)
    return tuple(orders)


def _keys(orders: tuple[tuple[str, ...], ...], analysis: _Analysis) -> tuple[str, ...]:
    keys = ["".join(order) for order in orders]
    if keys and analysis[3]:
        keys.append("the" + keys[0])  # "TheRealReal" is "The RealReal"
    if len(keys) == 1:
        return (keys[0],) if keys[0] else ()
    return tuple(dict.fromkeys(k for k in keys if k))


def name_orders(name: str) -> tuple[tuple[str, ...], ...]:
    """Return the tokens of a name followed by its tokens in alternate orders (EDGAR inversions)."""
    return _orders(_analyse(name))


def name_keys(name: str) -> tuple[str, ...]:
    """Return the primary key of a name followed by alternate keys (EDGAR inversions, "The")."""
    analysis = _analyse(name)
    return _keys(_orders(analysis), analysis)


def _host_from(value: str) -> str | None:
    text = value.strip().casefold()
    if not text:
        return None
    if "@" in text:
        text = text.rsplit("@", 1)[1]
    text = _SCHEME.sub("", text)
    text = re.split(r"[/?#]", text, maxsplit=1)[0]
    if "@" in text:  # user:pass@host in a URL
        text = text.rsplit("@", 1)[1]
    text = text.split(":", 1)[0].strip().rstrip(".")
    try:
        text = text.encode("idna").decode("ascii") if not text.isascii() else text
    except UnicodeError:
        return None
    labels = text.split(".")
    if len(labels) < 2 or not all(_HOST_LABEL.match(label) for label in labels):
        return None
    if labels[-1].isdigit():  # an IPv4 address is not a company's domain
        return None
    return text


@lru_cache(maxsize=65536)
def _registrable(value: str) -> str | None:
    host = _host_from(value)
    if host is None:
        return None
    parts = _EXTRACT(host)
    if not parts.suffix or not parts.domain:
        return None
    return f"{parts.domain}.{parts.suffix}"


def is_valid_domain(value: str | None) -> bool:
    """Return True when value reduces to a registrable domain (free-mail providers included)."""
    return bool(value) and _registrable(value or "") is not None


def normalize_domain(value: str | None) -> str | None:
    """Return the registrable domain of a URL, host or e-mail; None if generic or invalid."""
    if not value:
        return None
    domain = _registrable(value)
    if domain is None or domain in FREE_MAIL_DOMAINS:
        return None
    if domain.split(".", 1)[0] in _FREE_MAIL_LABELS:
        return None
    return domain


def is_free_mail_domain(value: str | None) -> bool:
    """Return True when a URL, host or e-mail is on a free-mail domain rather than a company's."""
    domain = _registrable(value) if value else None
    if domain is None:
        return False
    return domain in FREE_MAIL_DOMAINS or domain.split(".", 1)[0] in _FREE_MAIL_LABELS


def customer_key(name: str, domain: str | None) -> str:
    """Return a stable grouping key for one customer: its domain if known, else its name key."""
    normalized = normalize_domain(domain)
    if normalized:
        return f"d:{normalized}"
    return f"n:{name_key(name) or (name or '').strip().casefold()}"
