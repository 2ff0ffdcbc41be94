"""The account index: match a customer to named accounts by domain, exact name, alias, fuzzy name.

Pure and in memory. ``AccountIndex.build`` turns a list version's accounts into lookup tables once;
``match`` then costs a few dictionary probes plus scoring of a handful of candidates, independent of
the list's size.

Fuzzy matching works on tokens, not on whole strings, because whole-string similarity cannot tell
"General Motors" from "General Mills": both share most of their characters. Each token carries a
weight: how rare it is on the list (IDF) blended with how rare it is among about 9,000 US-listed
company names (a prior, so that "general" or "american" stay weak on a small list), and a fixed low
weight for words that rarely tell companies apart ("group", "holdings"). ``conflict.name_score``
scores a candidate with these weights; a name written surname first ("SCHWAB CHARLES CORP") is
scored in its everyday order too. Domain, district and PC count then count as evidence, and a best
match that another account comes close to is not confident. A mistyped "and" or legal form the list
does not know is read as that word; a name with stray marks inside its words that finds no sure
match is read once more without them (``conflict.name_repair``).

Candidates come from an inverted index of tokens plus a one-deletion neighbourhood of every token
(typos), so only accounts sharing a rare-enough token with the query are ever scored; words common
on the list gather candidates only two at a time.
"""

import gc
import itertools
import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace

from conflict.name_repair import repaired_names
from conflict.name_score import MAX_FUZZY_SCORE, ORDER_DIFFERS, score_names
from conflict.name_variants import Variants
from conflict.name_words import (
    MAX_PRIOR_IDF,
    MIN_TYPO_LEN,
    PLURAL_SIMILARITY,
    WEAK_WEIGHT,
    WEAK_WORDS,
    could_be_a_word,
    deletes,
    is_common_word,
    number_forms,
    prior_idf,
    respell_slips,
    token_similarity,
)
from conflict.normalize import NameForms, name_forms, normalize_domain
from conflict.types import Account, AccountMatch, MatchDoubt, MatchMethod

__all__ = ["AccountIndex"]

# Candidate generation: postings longer than this are too common to gather candidates from alone.
_RARE_POSTINGS = 400
_MAX_CANDIDATES = 24
# A word this rare on the list gathers all its holders, past any commoner words' ranking ("Bank of
# New York Mellon" reaches "BNY Mellon" beyond two dozen "New York" funds).
_FEW_POSTINGS = 8
_MAX_RESULTS = 5
# How far below the match threshold a guessed reading is held, so it lands in review.
_GUESS_MARGIN = 1.0
# How close a runner-up (a different account) may come before the best is no longer clear.
_AMBIGUITY_MARGIN = 3.0
_EVIDENCE_BONUS = 2.0


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
        self._variants = Variants()
        self._by_domain: dict[str, list[int]] = {}
        # Tuples, not lists: the collector stops watching tuples of strings and numbers.
        self._by_key: dict[str, tuple[int, ...]] = {}  # name key -> variant ids
        self._postings: dict[str, list[int]] = {}  # token (or joined token pair) -> variant ids
        self._neighbours: dict[str, tuple[str, ...]] = {}  # one-deletion form -> vocabulary tokens
        self._weights: dict[str, float] = {}
        self._common_sets: dict[str, frozenset[int]] = {}  # postings too long to scan per query
        self._domains: list[str | None] = []
        # The build makes hundreds of thousands of small containers and no reference cycles; the
        # cyclic collector would walk them (and the rest of the process) again and again, doubling
        # the build time. Its one look at the new objects is then paid here, not by a request.
        collecting = gc.isenabled()
        gc.disable()
        try:
            self._index()
        finally:
            if collecting:
                gc.enable()
                gc.collect(1)

    @classmethod
    def build(cls, accounts: Iterable[Account], list_version_id: int | None) -> "AccountIndex":
        """Build the index for one list version."""
        return cls(tuple(accounts), list_version_id)

    def __len__(self) -> int:
        """Return the number of accounts indexed."""
        return len(self._accounts)

    # -- building ---------------------------------------------------------------------------------

    def _index(self) -> None:
        by_key: dict[str, list[int]] = {}
        for pos, account in enumerate(self._accounts):
            domain = normalize_domain(account.domain)
            self._domains.append(domain)
            if domain:
                self._by_domain.setdefault(domain, []).append(pos)
            self._add_variant(by_key, pos, account.name, is_alias=False)
            for alias in account.aliases:
                if alias and alias.strip():
                    self._add_variant(by_key, pos, alias, is_alias=True)
        self._by_key = {key: tuple(vids) for key, vids in by_key.items()}
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
        neighbours: dict[str, list[str]] = {}
        for token in self._weights:
            if len(token) >= MIN_TYPO_LEN - 1 and not token.isdigit():
                for form in deletes(token):
                    neighbours.setdefault(form, []).append(token)
        self._neighbours = {form: tuple(near) for form, near in neighbours.items()}

    def _add_variant(
        self, by_key: dict[str, list[int]], account: int, name: str, *, is_alias: bool
    ) -> None:
        forms = name_forms(name)
        if not forms.tokens:
            return
        first = len(self._variants)
        for key in forms.keys:
            bucket = by_key.setdefault(key, [])
            if not bucket or bucket[-1] != first:
                bucket.append(first)
        postings = self._postings
        # Each order is a variant of its own, so a surname-first spelling scores in either order.
        for order in forms.orders:
            vid = self._variants.add(account, forms.text, order, is_alias, forms.abbreviated)
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

        forms = name_forms(name) if name else None
        keys = forms.keys if forms else ()
        variants = self._variants
        exact: dict[int, tuple[bool, int]] = {}  # account -> (via alias, variant)
        for k_pos, key in enumerate(keys):
            for vid in self._by_key.get(key, ()):
                owner, via_alias = variants.account[vid], variants.is_alias[vid]
                if owner in taken or owner in exact:
                    continue
                if k_pos > 0 and via_alias:
                    continue
                exact[owner] = (via_alias, vid)
        if exact:
            shared = len(exact) > 1
            for pos, (via_alias, vid) in exact.items():
                taken.add(pos)
                reasons = ["alias agrees" if via_alias else "normalised name agrees"]
                doubts: list[MatchDoubt] = []
                if shared:
                    reasons.append(f"{len(exact)} accounts share this name")
                    doubts.append(MatchDoubt.SHARED_NAME)
                contra = self._domain_conflict(pos, query_domain)
                if contra:
                    reasons.append(contra)
                    doubts.append(MatchDoubt.DOMAIN_DIFFERS)
                reasons.extend(self._evidence(pos, district, pc_count)[1])
                method = MatchMethod.ALIAS if via_alias else MatchMethod.EXACT
                results.append(
                    AccountMatch(
                        self._accounts[pos],
                        method,
                        100.0,
                        not doubts,
                        variants.text[vid],
                        tuple(reasons),
                        tuple(doubts),
                    )
                )
        if results:
            return results

        if forms is None:
            return []
        scores = (match_score, review_score)
        found = self._fuzzy(forms, query_domain, district, pc_count, *scores, taken)
        if found and found[0].confident:
            return found
        # Stray marks read as word breaks may have cut a word in two ("Gerl-ach"); a second
        # reading counts only when it is sure, so it never turns a clear miss into a doubt.
        for repaired in repaired_names(name):
            second = name_forms(repaired)
            if second.tokens == forms.tokens:
                continue
            again = self._fuzzy(second, query_domain, district, pc_count, *scores, taken)
            if again and again[0].confident:
                why = f"read as {repaired}"
                return [replace(m, reasons=(*m.reasons, why)) for m in again]
        return found

    def _fuzzy(
        self,
        forms: NameForms,
        query_domain: str | None,
        district: str | None,
        pc_count: int | None,
        match_score: float,
        review_score: float,
        taken: set[int],
    ) -> list[AccountMatch]:
        if not forms.tokens:
            return []
        query, slips = respell_slips(forms.tokens, self.is_listed)
        # A slip read as "and" or a legal form is said, and when the word as typed could be a
        # word of its own the match is a guess: left to a reviewer, however well it scores.
        slip_notes = [f'"{typed}" read as "{word}"' for typed, word in slips]
        guessed = any(could_be_a_word(typed) for typed, _ in slips)
        candidates = self._candidates(query)
        other_orders = [respell_slips(o, self.is_listed)[0] for o in forms.orders[1:]]
        variants = self._variants
        best: dict[int, _Scored] = {}
        for vid in candidates:
            owner = variants.account[vid]
            if owner in taken:
                continue
            abbreviated = (forms.abbreviated, variants.abbreviated[vid])
            score, reasons = score_names(query, variants.tokens[vid], *abbreviated, self)
            # Only the order of the words depends on the order they are read in.
            if other_orders and ORDER_DIFFERS in reasons:
                for order in other_orders:
                    got, why = score_names(order, variants.tokens[vid], *abbreviated, self)
                    if got > score:
                        score, reasons = got, why
            if score < review_score - 15.0:
                continue
            current = best.get(owner)
            if current is None or score > current.score:
                best[owner] = _Scored(owner, vid, score, reasons)
        if not best:
            return []
        for scored in best.values():
            delta, ev_reasons = self._evidence(scored.account, district, pc_count)
            scored.score = min(MAX_FUZZY_SCORE, max(0.0, scored.score + delta))
            scored.reasons.extend(ev_reasons)
            scored.reasons.extend(slip_notes)
            if guessed:
                scored.score = min(scored.score, match_score - _GUESS_MARGIN)
        for scored in best.values():
            scored.score = round(scored.score, 1)  # so 91.99999 is not below a 92 threshold
        ranked = sorted(best.values(), key=lambda s: (-s.score, s.account))
        ranked = [s for s in ranked if s.score >= review_score][:_MAX_RESULTS]
        out: list[AccountMatch] = []
        for i, scored in enumerate(ranked):
            doubts: list[MatchDoubt] = []
            contra = self._domain_conflict(scored.account, query_domain)
            if contra:
                scored.reasons.append(contra)
                doubts.append(MatchDoubt.DOMAIN_DIFFERS)
            others = [s for j, s in enumerate(ranked) if j != i]
            if others and max(o.score for o in others) >= scored.score - _AMBIGUITY_MARGIN:
                scored.reasons.append("another account scores as high")
                doubts.append(MatchDoubt.CLOSE_RUNNER_UP)
            if scored.score < match_score:
                scored.reasons.append("below the match threshold")
                doubts.append(MatchDoubt.BELOW_THRESHOLD)
            out.append(
                AccountMatch(
                    self._accounts[scored.account],
                    MatchMethod.FUZZY,
                    round(scored.score, 1),
                    not doubts,
                    variants.text[scored.variant],
                    tuple(scored.reasons),
                    tuple(doubts),
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
        # Sorted: set order changes with the interpreter's hash seed, and so would the ranking.
        for other in sorted(near):
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
        probes.sort(key=lambda p: (len(postings[p[0]]), p[0]))
        acc: dict[int, float] = {}
        common: list[tuple[str, float]] = []
        anchored = False  # an exact query token gathered candidates
        kept: list[int] = []
        for tok, sim in probes:
            posting = postings[tok]
            if len(posting) > _RARE_POSTINGS:
                common.append((tok, sim))
                continue
            if sim == 1.0 and len(posting) <= _FEW_POSTINGS:
                kept.extend(posting)
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
        # Ties go to the lower variant id, so the same name always keeps the same candidates.
        top = sorted(acc, key=lambda vid: (-acc[vid], vid))[:_MAX_CANDIDATES]
        return list(dict.fromkeys(top + kept))

    def weight(self, token: str) -> float:
        """Return how much token tells the listed names apart (rare words weigh most)."""
        weight = self._weights.get(token)
        if weight is not None:
            return weight
        return WEAK_WEIGHT if token in WEAK_WORDS else MAX_PRIOR_IDF

    def is_listed(self, token: str) -> bool:
        """Return True when token is a word of some listed name or alias."""
        return token in self._weights

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
