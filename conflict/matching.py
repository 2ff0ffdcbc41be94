"""The account index: match a customer to named accounts by domain, exact name, alias, fuzzy name.

Pure and in memory. ``AccountIndex.build`` turns a list version's accounts into lookup tables once;
``match`` then costs a few dictionary probes plus scoring of a handful of candidates, independent of
the list's size.

Fuzzy matching works on tokens, not on whole strings, because whole-string similarity cannot tell
"General Motors" from "General Mills": both share most of their characters. Each token carries a
weight: how rare it is on the list (IDF) blended with how rare it is among about 9,000 US-listed
company names (a prior, so that "general" or "american" stay weak on a small list), and a fixed low
weight for words that rarely tell companies apart ("group", "holdings"). The score is the share of
the combined weight of both names that is matched, token to token, allowing a typo, a plural, or two
adjacent tokens written as one ("Wal Mart" / "Walmart"). A distinctive token that the other side
lacks therefore costs a lot, a missing "Holdings" almost nothing. Then rules that weights alone
cannot express cap the score below the confident band: a distinctive word on one side only, a word
on each side that the other lacks ("WF Holding" / "WF International"), different series numbers
("Fund II" / "Fund"), a different order of distinctive words ("America Bank"). One exception
raises it: one name is the other plus descriptive words only ("Cisco" / "Cisco Systems"), when
the shared words identify a company.

A name written surname first ("SCHWAB CHARLES CORP") is scored in its everyday order too, and a
word written abbreviated matches only the form it stands for ("Tech" is "Technology", and a
"TETRA Technologies" is no more than worth a review).

Candidates come from an inverted index of tokens plus a one-deletion neighbourhood of every token
(typos), so only accounts sharing a rare-enough token with the query are ever scored; words common
on the list gather candidates only two at a time.
"""

import gc
import itertools
import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import NamedTuple

from conflict.name_words import (
    DESCRIPTORS,
    LEGALISH,
    MAX_PRIOR_IDF,
    MIN_TYPO_LEN,
    PLACE_TAGS,
    PLURAL_SIMILARITY,
    WEAK_WEIGHT,
    WEAK_WORDS,
    deletes,
    is_common_word,
    is_number,
    number_forms,
    prior_idf,
    token_similarity,
)
from conflict.normalize import name_forms, name_keys, normalize_domain
from conflict.types import Account, AccountMatch, MatchMethod

__all__ = ["AccountIndex"]

# One name contained in the other: the shared words must carry this much weight (a distinctive
# word, or two fairly common ones), so "General" alone never matches "General Motors"; and to be
# confident, their prior IDF must add up to this much (one word rare among company names).
_MIN_SHARED_WEIGHT = 7.0
_MIN_IDENTIFYING_IDF = 9.0
_CONTAINED_DESCRIPTOR_SCORE = 94.0
# Each further descriptive word costs this little: "Cognizant Technology Solutions" is Cognizant.
_PER_DESCRIPTOR = 1.0
# The ceiling for anything uncertain: inside the default review band (85-92), never confident.
_CONTAINED_OTHER_SCORE = 87.0
# Candidate generation: postings longer than this are too common to gather candidates from alone.
_RARE_POSTINGS = 400
_MAX_CANDIDATES = 24
_MAX_RESULTS = 5
# Order of distinctive tokens differs ("Bank of America" / "America Bank"): a different company
# as often as not, so this keeps a permuted name out of the confident band on its own.
_ORDER_PENALTY = 10.0
# How close a runner-up (a different account) may come before the best is no longer clear.
_AMBIGUITY_MARGIN = 3.0
_EVIDENCE_BONUS = 2.0
_MAX_FUZZY_SCORE = 99.0


class _Variant(NamedTuple):
    """One searchable spelling of an account: its name or one of its aliases."""

    account: int  # index into AccountIndex._accounts
    text: str  # normalised name, reported as matched_on
    tokens: tuple[str, ...]  # in the name's order, or in an alternate order (EDGAR inversions)
    is_alias: bool
    abbreviated: frozenset[str]  # tokens the name wrote abbreviated ("technology" from "Tech")


@dataclass(slots=True)
class _Scored:
    account: int
    variant: int
    score: float
    reasons: list[str]


class AccountIndex:
    """In-memory index of one list version's accounts; implements the AccountMatcher protocol."""

    list_version_id: int | None

    def __init__(self, accounts: Sequence[Account], list_version_id: int | None) -> None:
        self.list_version_id = list_version_id
        self._accounts: tuple[Account, ...] = tuple(accounts)
        self._variants: list[_Variant] = []
        self._by_domain: dict[str, list[int]] = {}
        self._by_key: dict[str, list[int]] = {}  # name key -> variant ids
        self._postings: dict[str, list[int]] = {}  # token (or joined token pair) -> variant ids
        self._neighbours: dict[str, list[str]] = {}  # one-deletion form -> vocabulary tokens
        self._weights: dict[str, float] = {}
        self._common_sets: dict[str, frozenset[int]] = {}  # postings too long to scan per query
        self._domains: list[str | None] = []
        # The build makes hundreds of thousands of small containers and no reference cycles; the
        # cyclic collector would walk them again and again, doubling the build time.
        collecting = gc.isenabled()
        gc.disable()
        try:
            self._index()
        finally:
            if collecting:
                gc.enable()

    @classmethod
    def build(cls, accounts: Iterable[Account], list_version_id: int | None) -> "AccountIndex":
        """Build the index for one list version."""
        return cls(tuple(accounts), list_version_id)

    def __len__(self) -> int:
        """Return the number of accounts indexed."""
        return len(self._accounts)

    # -- building ---------------------------------------------------------------------------------

    def _index(self) -> None:
        for pos, account in enumerate(self._accounts):
            domain = normalize_domain(account.domain)
            self._domains.append(domain)
            if domain:
                self._by_domain.setdefault(domain, []).append(pos)
            self._add_variant(pos, account.name, is_alias=False)
            for alias in account.aliases:
                if alias and alias.strip():
                    self._add_variant(pos, alias, is_alias=True)
        total = max(len(self._variants), 1)
        log_total = math.log(total + 1)
        for token, posting in self._postings.items():
            if token in WEAK_WORDS:
                self._weights[token] = WEAK_WEIGHT
                continue
            # The list's own IDF, rescaled to the prior's range, averaged with the prior.
            list_idf = math.log((total + 1) / len(posting)) / log_total * MAX_PRIOR_IDF
            self._weights[token] = max((list_idf + prior_idf(token)) / 2, WEAK_WEIGHT)
        for token, posting in self._postings.items():
            if len(posting) > _RARE_POSTINGS:
                self._common_sets[token] = frozenset(posting)
        for token in self._weights:
            if len(token) >= MIN_TYPO_LEN - 1 and not token.isdigit():
                for form in deletes(token):
                    self._neighbours.setdefault(form, []).append(token)

    def _add_variant(self, account: int, name: str, *, is_alias: bool) -> None:
        forms = name_forms(name)
        if not forms.tokens:
            return
        vid = len(self._variants)
        for key in forms.keys:
            bucket = self._by_key.setdefault(key, [])
            if not bucket or bucket[-1] != vid:
                bucket.append(vid)
        postings = self._postings
        # Each order is a variant of its own, so a surname-first spelling scores in either order.
        for order in forms.orders:
            vid = len(self._variants)
            self._variants.append(_Variant(account, forms.text, order, is_alias, forms.abbreviated))
            for tok in order if len(set(order)) == len(order) else dict.fromkeys(order):
                posting = postings.get(tok)
                if posting is None:
                    postings[tok] = [vid]
                else:
                    posting.append(vid)

    # -- matching ---------------------------------------------------------------------------------

    def match(
        self,
        name: str,
        domain: str | None = None,
        *,
        district: str | None = None,
        pc_count: int | None = None,
        match_score: float = 92.0,
        review_score: float = 85.0,
    ) -> list[AccountMatch]:
        """Return candidate accounts for a customer, best first; empty when nothing is close."""
        results: list[AccountMatch] = []
        taken: set[int] = set()
        query_domain = normalize_domain(domain)

        if query_domain:
            for pos in self._by_domain.get(query_domain, ()):
                taken.add(pos)
                reasons = ["domain agrees", *self._evidence(pos, district, pc_count)[1]]
                results.append(
                    AccountMatch(
                        self._accounts[pos],
                        MatchMethod.DOMAIN,
                        100.0,
                        True,
                        query_domain,
                        tuple(reasons),
                    )
                )

        keys = name_keys(name) if name else ()
        exact: dict[int, tuple[bool, int]] = {}  # account -> (via alias, variant)
        for k_pos, key in enumerate(keys):
            for vid in self._by_key.get(key, ()):
                variant = self._variants[vid]
                if variant.account in taken or variant.account in exact:
                    continue
                if k_pos > 0 and variant.is_alias:
                    continue
                exact[variant.account] = (variant.is_alias, vid)
        if exact:
            shared = len(exact) > 1
            for pos, (via_alias, vid) in exact.items():
                taken.add(pos)
                variant = self._variants[vid]
                reasons = ["alias agrees" if via_alias else "normalised name agrees"]
                confident = True
                if shared:
                    reasons.append(f"{len(exact)} accounts share this name")
                    confident = False
                contra = self._domain_conflict(pos, query_domain)
                if contra:
                    reasons.append(contra)
                    confident = False
                reasons.extend(self._evidence(pos, district, pc_count)[1])
                method = MatchMethod.ALIAS if via_alias else MatchMethod.EXACT
                results.append(
                    AccountMatch(
                        self._accounts[pos],
                        method,
                        100.0,
                        confident,
                        variant.text,
                        tuple(reasons),
                    )
                )
        if results:
            return results

        return self._fuzzy(name, query_domain, district, pc_count, match_score, review_score, taken)

    def _fuzzy(
        self,
        name: str,
        query_domain: str | None,
        district: str | None,
        pc_count: int | None,
        match_score: float,
        review_score: float,
        taken: set[int],
    ) -> list[AccountMatch]:
        forms = name_forms(name) if name else None
        if forms is None or not forms.tokens:
            return []
        candidates = self._candidates(forms.tokens)
        best: dict[int, _Scored] = {}
        for vid in candidates:
            variant = self._variants[vid]
            if variant.account in taken:
                continue
            score, reasons = -1.0, []
            abbreviated = (forms.abbreviated, variant.abbreviated)
            for order in forms.orders:
                got, why = self._score(order, variant.tokens, *abbreviated)
                if got > score:
                    score, reasons = got, why
            if score < review_score - 15.0:
                continue
            current = best.get(variant.account)
            if current is None or score > current.score:
                best[variant.account] = _Scored(variant.account, vid, score, reasons)
        if not best:
            return []
        for scored in best.values():
            delta, ev_reasons = self._evidence(scored.account, district, pc_count)
            scored.score = min(_MAX_FUZZY_SCORE, max(0.0, scored.score + delta))
            scored.reasons.extend(ev_reasons)
        for scored in best.values():
            scored.score = round(scored.score, 1)  # so 91.99999 is not below a 92 threshold
        ranked = sorted(best.values(), key=lambda s: -s.score)
        ranked = [s for s in ranked if s.score >= review_score][:_MAX_RESULTS]
        out: list[AccountMatch] = []
        for i, scored in enumerate(ranked):
            confident = scored.score >= match_score
            contra = self._domain_conflict(scored.account, query_domain)
            if contra:
                scored.reasons.append(contra)
                confident = False
            others = [s for j, s in enumerate(ranked) if j != i]
            if others and max(o.score for o in others) >= scored.score - _AMBIGUITY_MARGIN:
                scored.reasons.append("another account scores as high")
                confident = False
            if not confident and scored.score < match_score:
                scored.reasons.append("below the match threshold")
            out.append(
                AccountMatch(
                    self._accounts[scored.account],
                    MatchMethod.FUZZY,
                    round(scored.score, 1),
                    confident,
                    self._variants[scored.variant].text,
                    tuple(scored.reasons),
                )
            )
        return out

    def _similar_tokens(self, token: str) -> list[tuple[str, float]]:
        """Return vocabulary tokens equal or one typo away from token, with their similarity."""
        found: list[tuple[str, float]] = []
        if token in self._weights:
            found.append((token, 1.0))
        for other in number_forms(token):
            if other in self._weights:
                found.append((other, PLURAL_SIMILARITY))
        if len(token) < MIN_TYPO_LEN - 1 or token.isdigit():
            return found
        known = token in self._weights or is_common_word(token)
        near: set[str] = set(self._neighbours.get(token, ()))
        for form in deletes(token):
            if form in self._weights:
                near.add(form)
            near.update(self._neighbours.get(form, ()))
        near.discard(token)
        near.difference_update(number_forms(token))
        for other in near:
            sim = token_similarity(token, other, known=known)
            if sim > 0.0:
                found.append((other, sim))
        return found

    def _candidates(self, query: tuple[str, ...]) -> list[int]:
        # Accumulate a cheap score per variant from the rarer query tokens, then keep the top few.
        probes: list[tuple[str, float]] = []
        for tok in query:
            probes.extend(self._similar_tokens(tok))
        for left, right in itertools.pairwise(query):
            joined = left + right
            if joined in self._weights:
                probes.append((joined, 1.0))
        postings = self._postings
        probes.sort(key=lambda p: len(postings[p[0]]))
        acc: dict[int, float] = {}
        common: list[tuple[str, float]] = []
        anchored = False  # an exact query token gathered candidates
        for tok, sim in probes:
            posting = postings[tok]
            if len(posting) > _RARE_POSTINGS:
                common.append((tok, sim))
                continue
            anchored = anchored or sim == 1.0
            weight = self._weights[tok] * sim
            for vid in posting:
                acc[vid] = acc.get(vid, 0.0) + weight
        # Words common on the list (the industry words of 100,000 names) gather only together: the
        # accounts holding two of them, so "Air Products & Chemicals" still finds "Air Products"
        # when a rarer neighbour ("chemical") gathered first. One alone gathers only when no exact
        # rarer word did ("Interactive Group" beside a "Groupe").
        strong = [tok for tok, sim in common if sim == 1.0 and tok not in WEAK_WORDS]
        if len(strong) >= 2:
            seen: dict[int, int] = {}
            for tok in strong:
                for vid in postings[tok]:
                    seen[vid] = seen.get(vid, 0) + 1
            for vid, count in seen.items():
                if count >= 2 and vid not in acc:
                    acc[vid] = 0.0
        elif common and not anchored:
            for vid in postings[(strong or [common[0][0]])[0]][: _RARE_POSTINGS * 4]:
                acc.setdefault(vid, 0.0)
        # Common words still rank what was gathered.
        for tok, sim in common:
            weight = self._weights[tok] * sim
            common_set = self._common_sets[tok]
            for vid in acc:
                if vid in common_set:
                    acc[vid] += weight
        if len(acc) <= _MAX_CANDIDATES:
            return list(acc)
        return sorted(acc, key=acc.__getitem__, reverse=True)[:_MAX_CANDIDATES]

    def _weight(self, token: str) -> float:
        weight = self._weights.get(token)
        if weight is not None:
            return weight
        return WEAK_WEIGHT if token in WEAK_WORDS else MAX_PRIOR_IDF

    def _score(
        self,
        query: tuple[str, ...],
        cand: tuple[str, ...],
        query_abbreviated: frozenset[str],
        cand_abbreviated: frozenset[str],
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
        typos = 0
        for i, tok in enumerate(query):
            if q_sim[i]:
                continue
            known = tok in self._weights or is_common_word(tok)
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
                weight = self._weight(cand[q_to_c[i]]) if q_to_c[i] >= 0 else self._weight(tok)
            matched += weight * q_sim[i]
            total += weight
        for j, tok in enumerate(cand):
            if not c_sim[j] and tok in LEGALISH:
                continue
            weight = WEAK_WEIGHT if j in c_weak else self._weight(tok)
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
                self._weight(cand[q_to_c[i]])
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
            if shared >= _MIN_SHARED_WEIGHT and not distinctive_added and identifying and trailing:
                score = max(score, _CONTAINED_DESCRIPTOR_SCORE - _PER_DESCRIPTOR * (added - 1))
                reasons.append("differs only by descriptive words")
            elif shared >= _MIN_SHARED_WEIGHT and added <= 2 and not typos:
                score = _CONTAINED_OTHER_SCORE
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
        strong = [q_to_c[i] for i, t in enumerate(query) if q_to_c[i] >= 0 and t not in WEAK_WORDS]
        if any(b < a and cand[a] != cand[b] for a, b in itertools.pairwise(strong)):
            score -= _ORDER_PENALTY
            reasons.append("word order differs")
        if not reasons:
            reasons.append("same words")
        # Only exact, alias and domain matches are certain.
        score = min(score, _MAX_FUZZY_SCORE)
        return score, reasons

    def _domain_conflict(self, pos: int, query_domain: str | None) -> str | None:
        listed = self._domains[pos]
        if query_domain and listed and listed != query_domain:
            return f"domain differs ({query_domain} vs {listed})"
        return None

    def _evidence(
        self, pos: int, district: str | None, pc_count: int | None
    ) -> tuple[float, list[str]]:
        account = self._accounts[pos]
        delta = 0.0
        reasons: list[str] = []
        if district and account.district:
            if district.strip().casefold() == account.district.strip().casefold():
                delta += _EVIDENCE_BONUS
                reasons.append("district agrees")
            else:
                reasons.append("district differs")
        if pc_count and account.pc_count:
            ratio = max(pc_count, account.pc_count) / max(min(pc_count, account.pc_count), 1)
            if ratio <= 1.5:
                delta += _EVIDENCE_BONUS
                reasons.append("PC count agrees")
            elif ratio > 4.0:
                delta -= _EVIDENCE_BONUS
                reasons.append("PC count differs")
        return delta, reasons


def _weak_positions(toks: tuple[str, ...], sims: list[float]) -> set[int]:
    """Return the positions of unmatched words that barely tell names apart."""
    weak = {i for i, t in enumerate(toks) if not sims[i] and t in WEAK_WORDS}
    last = len(toks) - 1
    if last > 0 and not sims[last] and toks[last] in PLACE_TAGS:
        weak.add(last)
    return weak
