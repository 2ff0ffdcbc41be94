"""Score one company name against another, token to token, with the reasons for the score.

Pure. The score (0-100) is the share of the combined weight of both names that is matched, token to
token, allowing a typo, a plural, or two adjacent tokens written as one ("Wal Mart" / "Walmart"). A
distinctive token that the other side lacks therefore costs a lot, a missing "Holdings" almost
nothing. Then rules that weights alone cannot express cap the score below the confident band: a
distinctive word on one side only, a word on each side that the other lacks ("WF Holding" / "WF
International"), different series numbers ("Fund II" / "Fund"), a different order of distinctive
words ("America Bank"; partners' rare surnames may come in any order), an abbreviation matched
through another form of its word ("Tetra Tech" / "TETRA Technologies"). One exception raises it:
one name is the other plus descriptive words only ("Cisco" / "Cisco Systems"), when the shared
words identify a company. An acronym may stand for the other name's leading words ("BNY Mellon" /
"Bank of New York Mellon"), confidently only when the words after it are shared and identify a
company on their own.
"""

import itertools
from typing import Protocol

from conflict.name_words import (
    DESCRIPTORS,
    LEGALISH,
    PLACE_TAGS,
    WEAK_WEIGHT,
    WEAK_WORDS,
    is_common_word,
    is_number,
    prior_idf,
    token_similarity,
)

__all__ = ["MAX_FUZZY_SCORE", "ORDER_DIFFERS", "Vocabulary", "score_names"]

# One name contained in the other: the shared words must carry this much weight (a distinctive
# word, or two fairly common ones), so "General" alone never matches "General Motors"; and to be
# confident, their prior IDF must add up to this much (one word rare among company names).
_MIN_SHARED_WEIGHT = 7.0
_MIN_IDENTIFYING_IDF = 9.0
_CONTAINED_DESCRIPTOR_SCORE = 94.0
# Each further descriptive word costs this little: "Cognizant Technology Solutions" is Cognizant.
_PER_DESCRIPTOR = 1.0
_MAX_DESCRIPTORS = 2
# The ceiling for anything uncertain: inside the default review band (85-92), never confident.
_CONTAINED_OTHER_SCORE = 87.0
# Order of distinctive tokens differs ("Bank of America" / "America Bank"): a different company
# as often as not, so this keeps a permuted name out of the confident band on its own.
_ORDER_PENALTY = 10.0
# Words whose place in a name says nothing: "Group Quitzon", "Sons Rosenbaum and".
_ORDER_FREE = WEAK_WORDS | {"sons", "brothers"}
# Partners' surnames listed in another order ("Klein, Lubowitz and Daniel") name one firm: this
# many, all rare among company names, so "New York Bank" stays apart from "Bank of New York".
_MIN_PARTNERS = 3
# An acronym: three to five letters, one per leading word of the other name, not itself a common
# word of company names ("Sun", "Bio"). Two letters ("GE") name too many companies.
_MIN_ACRONYM = 3
_MAX_ACRONYM = 5
# No higher than a name plus descriptive words: the acronym is read, not spelt out.
_ACRONYM_SCORE = 94.0
# Only exact, alias and domain matches are certain.
MAX_FUZZY_SCORE = 99.0
ORDER_DIFFERS = "word order differs"


class Vocabulary(Protocol):
    """The words of one list: how much each tells accounts apart."""

    def weight(self, token: str) -> float:
        """Return how much token tells names apart."""
        ...

    def is_listed(self, token: str) -> bool:
        """Return True when token is a word of some name on the list."""
        ...


def score_names(
    query: tuple[str, ...],
    cand: tuple[str, ...],
    query_abbreviated: frozenset[str],
    cand_abbreviated: frozenset[str],
    vocabulary: Vocabulary,
) -> tuple[float, list[str]]:
    """Return the share (0-100) of both names' token weight that is matched, with reasons."""
    q_sim = [0.0] * len(query)
    c_sim = [0.0] * len(cand)
    q_to_c = [-1] * len(query)
    # Exact tokens first, then compounds ("walmart" = "wal" + "mart"), then typos.
    for i, tok in enumerate(query):
        for j, other in enumerate(cand):
            if c_sim[j] == 0.0 and tok == other:
                q_sim[i], c_sim[j], q_to_c[i] = 1.0, 1.0, j
                break
    for i, tok in enumerate(query):
        if q_sim[i]:
            continue
        for j in range(len(cand) - 1):
            if not c_sim[j] and not c_sim[j + 1] and tok == cand[j] + cand[j + 1]:
                q_sim[i], c_sim[j], c_sim[j + 1], q_to_c[i] = 1.0, 1.0, 1.0, j
                break
    for j, tok in enumerate(cand):
        if c_sim[j]:
            continue
        for i in range(len(query) - 1):
            if not q_sim[i] and not q_sim[i + 1] and tok == query[i] + query[i + 1]:
                q_sim[i], q_sim[i + 1], c_sim[j] = 1.0, 1.0, 1.0
                q_to_c[i] = q_to_c[i + 1] = j
                break
    acronym = _align_acronym(query, cand, q_sim, c_sim, q_to_c)
    typos = 0
    for i, tok in enumerate(query):
        if q_sim[i]:
            continue
        known = vocabulary.is_listed(tok) or is_common_word(tok)
        best_j, best = -1, 0.0
        for j, other in enumerate(cand):
            if not c_sim[j]:
                sim = token_similarity(tok, other, known=known)
                if sim > best:
                    best_j, best = j, sim
        if best_j >= 0:
            q_sim[i], c_sim[best_j], q_to_c[i] = best, best, best_j
            typos += 1
    # Legal leftovers never tell names apart ("Iron Horse Acquisitions Corp. II") and weigh
    # nothing; a place tag at the end ("CTW Cayman") weighs as little as "Holdings".
    q_weak = _weak_positions(query, q_sim)
    c_weak = _weak_positions(cand, c_sim)
    matched = total = 0.0
    for i, tok in enumerate(query):
        if not q_sim[i] and tok in LEGALISH:
            continue
        if i in q_weak:
            weight = WEAK_WEIGHT
        else:
            weight = vocabulary.weight(cand[q_to_c[i]] if q_to_c[i] >= 0 else tok)
        matched += weight * q_sim[i]
        total += weight
    for j, tok in enumerate(cand):
        if not c_sim[j] and tok in LEGALISH:
            continue
        weight = WEAK_WEIGHT if j in c_weak else vocabulary.weight(tok)
        matched += weight * c_sim[j]
        total += weight
    score = 100.0 * matched / total if total else 0.0
    reasons: list[str] = []
    if typos:
        reasons.append(f"{typos} token(s) within a typo")
    missing = [j for j, t in enumerate(cand) if not c_sim[j] and t not in LEGALISH]
    extra = [i for i, t in enumerate(query) if not q_sim[i] and t not in LEGALISH]
    if missing:
        reasons.append("list name also has: " + " ".join(cand[j] for j in missing))
    if extra:
        reasons.append("customer name also has: " + " ".join(query[i] for i in extra))
    # "Group" or "Global" tell names apart only when both names differ.
    strong_missing = [cand[j] for j in missing if j not in c_weak]
    strong_extra = [query[i] for i in extra if i not in q_weak]
    added = len(missing) + len(extra)
    distinctive_added = [t for t in strong_missing + strong_extra if t not in DESCRIPTORS]
    # One name is the other plus some words ("Cisco" / "Cisco Systems"), weak words aside: a
    # "Marriott Hotels" is worth a review against "Marriott International".
    one_sided = not (strong_missing and strong_extra)
    if (missing or extra) and one_sided and score < _CONTAINED_DESCRIPTOR_SCORE:
        shared = sum(
            vocabulary.weight(cand[q_to_c[i]])
            for i, t in enumerate(query)
            if q_to_c[i] >= 0 and t not in WEAK_WORDS
        )
        # Only words rare among company names identify one ("Cisco" does, "Southern" or
        # "Orion" alone do not; "United Airlines" together do), and only when spelt alike.
        identifying = sum(
            prior_idf(t) for i, t in enumerate(query) if q_sim[i] == 1.0 and t not in WEAK_WORDS
        ) >= _MIN_IDENTIFYING_IDF and not any(0.0 < sim < 1.0 for sim in q_sim)
        # Descriptive words follow the name they describe: "Cisco Systems", not "Financial
        # Gravity" for a "Gravity".
        if missing:
            trailing = min(missing) > max((j for j in range(len(cand)) if c_sim[j]), default=-1)
        else:
            trailing = min(extra) > max((i for i in range(len(query)) if q_sim[i]), default=-1)
        # Three added words make another company of it ("BlackRock Energy & Resources Trust").
        descriptive = not distinctive_added and added <= _MAX_DESCRIPTORS and trailing
        if shared >= _MIN_SHARED_WEIGHT and descriptive and identifying:
            score = max(score, _CONTAINED_DESCRIPTOR_SCORE - _PER_DESCRIPTOR * (added - 1))
            reasons.append("differs only by descriptive words")
        elif shared >= _MIN_SHARED_WEIGHT and added <= 2 and not typos:
            score = _CONTAINED_OTHER_SCORE
            # When both names have a word of their own, one of them is generic ("Group"): say
            # so, since "API Widgets" does not contain "APi Group" as written.
            generic = [cand[j] for j in missing if j in c_weak] + [
                query[i] for i in extra if i in q_weak
            ]
            if missing and extra and generic:
                reasons.append("one name contains the other apart from " + ", ".join(generic))
            else:
                reasons.append("one name contains the other")
        else:
            score = min(score, _CONTAINED_OTHER_SCORE)
    if distinctive_added and score > _CONTAINED_OTHER_SCORE:
        # Distinctive words must agree: "Nuveen California ... Fund" is not "Nuveen ... Fund".
        score = _CONTAINED_OTHER_SCORE
    if missing and extra and score > _CONTAINED_OTHER_SCORE:
        # Each name has a word the other lacks ("WF Holding" / "WF International").
        score = _CONTAINED_OTHER_SCORE
        reasons.append("each name has a word the other lacks")
    if (query_abbreviated or cand_abbreviated) and score > _CONTAINED_OTHER_SCORE:
        # An abbreviation names one form of a word: "Tetra Tech" is "Tetra Technology", while
        # "TETRA Technologies" is another company.
        loose = [
            i
            for i, sim in enumerate(q_sim)
            if 0.0 < sim < 1.0
            and (query[i] in query_abbreviated or cand[q_to_c[i]] in cand_abbreviated)
        ]
        if loose:
            score = _CONTAINED_OTHER_SCORE
            reasons.append("an abbreviation matches another form of its word")
    numbers_q = {t for t in query if is_number(t)}
    numbers_c = {t for t in cand if is_number(t)}
    if numbers_q != numbers_c and score > _CONTAINED_OTHER_SCORE:
        # "Fund II" is not "Fund", "Acquisition Corp III" is not "Acquisition Corp II".
        score = _CONTAINED_OTHER_SCORE
        reasons.append("numbers differ")
    strong = [q_to_c[i] for i, t in enumerate(query) if q_to_c[i] >= 0 and t not in _ORDER_FREE]
    reordered = any(b < a and cand[a] != cand[b] for a, b in itertools.pairwise(strong))
    if reordered and not _partners_reordered(query, q_sim, c_sim):
        score -= _ORDER_PENALTY
        reasons.append(ORDER_DIFFERS)
    if acronym is not None:
        short, words, identifying_idf = acronym
        reasons.append(f"{short} stands for {' '.join(words)}")
        # Initials collide ("CPS Technologies" / "Check Point Software Technologies"): only an
        # identifying word after them makes the reading certain.
        ceiling = (
            _ACRONYM_SCORE if identifying_idf >= _MIN_IDENTIFYING_IDF else _CONTAINED_OTHER_SCORE
        )
        score = min(score, ceiling)
    if not reasons:
        reasons.append("same words")
    score = min(score, MAX_FUZZY_SCORE)
    return score, reasons


def _align_acronym(
    query: tuple[str, ...],
    cand: tuple[str, ...],
    q_sim: list[float],
    c_sim: list[float],
    q_to_c: list[int],
) -> tuple[str, tuple[str, ...], float] | None:
    """Match an acronym leading one name to the other's leading words; return it, them, rest IDF."""
    words = _acronym_words(query, cand, q_sim, c_sim)
    if words:
        q_sim[0] = 1.0
        q_to_c[0] = 0
        for j in range(len(words)):
            c_sim[j] = 1.0
        return query[0], words, _rest_idf(query[1:], cand[len(words) :])
    words = _acronym_words(cand, query, c_sim, q_sim)
    if words:
        c_sim[0] = 1.0
        for i in range(len(words)):
            q_sim[i] = 1.0
            q_to_c[i] = 0
        return cand[0], words, _rest_idf(cand[1:], query[len(words) :])
    return None


def _acronym_words(
    short: tuple[str, ...], long: tuple[str, ...], s_sim: list[float], l_sim: list[float]
) -> tuple[str, ...]:
    """Return the leading words of long that short's first word is the initials of, or ()."""
    acronym = short[0]
    size = len(acronym)
    if s_sim[0] or not _MIN_ACRONYM <= size <= _MAX_ACRONYM or len(long) < size:
        return ()
    if not acronym.isalpha() or is_common_word(acronym):
        return ()
    words = long[:size]
    if any(l_sim[:size]) or "".join(w[0] for w in words) != acronym:
        return ()
    if not all(w.isalpha() for w in words):
        return ()
    # The rest must share a word: initials alone ("IBM") fit too many names to align on.
    if not (set(short[1:]) & set(long[size:])) - WEAK_WORDS:
        return ()
    return words


def _rest_idf(short_rest: tuple[str, ...], long_rest: tuple[str, ...]) -> float:
    """Return the prior IDF of the words both names share after the acronym."""
    return sum(prior_idf(t) for t in sorted((set(short_rest) & set(long_rest)) - WEAK_WORDS))


def _partners_reordered(query: tuple[str, ...], q_sim: list[float], c_sim: list[float]) -> bool:
    """Return True when both names are the same rare words (partners' surnames), reordered."""
    if not all(sim == 1.0 for sim in q_sim) or not all(sim == 1.0 for sim in c_sim):
        return False
    words = [t for t in query if t not in _ORDER_FREE]
    return len(words) >= _MIN_PARTNERS and all(prior_idf(t) >= _MIN_IDENTIFYING_IDF for t in words)


def _weak_positions(toks: tuple[str, ...], sims: list[float]) -> set[int]:
    """Return the positions of unmatched words that barely tell names apart."""
    # Only after the words both names share: "Community Trust Bancorp" is not "Community Bancorp".
    tail = max((i for i, sim in enumerate(sims) if sim), default=-1)
    weak = {i for i, t in enumerate(toks) if not sims[i] and t in WEAK_WORDS and i > tail}
    last = len(toks) - 1
    if last > 0 and not sims[last] and toks[last] in PLACE_TAGS:
        weak.add(last)
    return weak
