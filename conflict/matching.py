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

Candidates come from an inverted index of tokens plus a one-deletion neighbourhood of every token
(typos), so only accounts sharing a rare-enough token with the query are ever scored.
"""

import itertools
import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import NamedTuple

from rapidfuzz.distance import OSA

from conflict.normalize import name_forms, name_keys, normalize_domain, tokens
from conflict.types import Account, AccountMatch, MatchMethod

__all__ = ["AccountIndex"]

# Token counts among about 9,000 distinct US-listed company names (SEC EDGAR titles, Nasdaq and
# S&P 500 listings, funds and ETFs left out), for words seen at least six times. A prior, so that a
# word common among company names stays weak even on a short list where it happens to be rare.
_REFERENCE_NAMES = 9000
_COMMON_WORD_COUNTS_TEXT = """
holding:826 group:599 technology:423 acquisition:301 international:244 therapeutic:228
energy:211 financial:161 pharmaceutical:159 resource:155 bancorp:143 capital:127 global:125
corp:119 gold:116 system:102 industry:102 solution:81 health:80 service:71 metal:64
partner:63 medical:62 bank:60 bioscience:57 ii:57 american:55 mining:53 brand:52
investment:50 power:49 digital:49 first:49 national:44 science:43 property:43 ai:43 food:42
mineral:42 communication:41 enterprise:41 laboratory:40 bancshare:40 bio:39 media:39 new:38
entertainment:37 venture:37 network:36 iii:36 silver:34 healthcare:33 pacific:32 life:32
company:31 china:30 biopharma:29 united:28 home:26 america:26 product:26 management:25
electric:24 biotech:24 finance:24 green:24 development:23 petroleum:23 software:23
industrial:23 gas:23 star:23 one:22 electronic:22 insurance:22 education:22 copper:21
telecom:21 mine:20 reit:20 air:19 realty:19 community:19 royalty:19 world:19 bankshare:19
biotechnology:19 canada:18 public:18 oil:18 water:18 grupo:18 exploration:18 material:17
banco:17 interactive:17 blue:17 equity:17 infrastructure:17 innovation:17 general:16
research:16 southern:16 semiconductor:16 mountain:16 hotel:16 resort:16 mobile:15
advanced:15 worldwide:15 natural:15 real:15 investor:15 security:15 biotherapeutic:15 us:14
asset:14 environmental:14 logistic:14 oncology:14 growth:14 motor:13 royal:13 west:13 usa:13
universal:13 quantum:13 participacoe:13 alpha:13 golden:13 lithium:13 market:12
brookfield:12 automotive:12 chemical:12 western:12 point:12 co:12 gaming:12 estate:12
alliance:12 liberty:12 central:12 net:12 express:11 canadian:11 commerce:11 eagle:11
great:11 sport:11 solar:11 stock:11 intelligent:11 valley:11 credit:11 standard:11
uranium:11 hill:11 california:11 park:11 shipping:11 vision:11 robotic:11 merger:11 iv:11
celular:11 scientific:10 data:10 aerospace:10 com:10 line:10 chile:10 care:10 clean:10
federal:10 horizon:10 fuel:10 river:10 commercial:10 strategic:10 business:9 texas:9
strategy:9 city:9 income:9 medicine:9 sun:9 airline:9 land:9 packaging:9 companhia:9 red:9
manufacturing:9 consumer:9 hospitality:9 argentina:9 bdc:9 house:9 island:9
telecommunication:9 inc:9 biomedical:9 applied:8 republic:8 beverage:8 consolidated:8
state:8 street:8 old:8 restaurant:8 super:8 steel:8 renewable:8 smith:8 specialty:8
franklin:8 mortgage:8 north:8 cloud:8 titan:8 northern:8 oak:8 cannabis:8 innovative:8
compania:8 maritime:8 sky:8 lake:8 cable:8 test:8 cantor:8 cayman:8 plus:8 lion:8
corporation:8 platform:7 micro:7 nova:7 imperial:7 crown:7 circle:7 internet:7 analytic:7
space:7 citizen:7 on:7 payment:7 diagnostic:7 good:7 outdoor:7 core:7 defense:7 black:7
utility:7 planet:7 churchill:7 construction:7 rock:7 south:7 atlantic:7 compass:7 biologic:7
tanker:7 century:7 living:7 nano:7 precision:7 wellness:7 eco:7 imaging:7 future:7
meridian:7 smart:7 creative:7 neuroscience:7 tele:7 cola:6 coca:6 device:6 banking:6
railway:6 storage:6 entergy:6 information:6 live:6 telefonica:6 telephone:6 japan:6 pro:6
indonesia:6 summit:6 midstream:6 harbor:6 frontier:6 bright:6 lease:6 online:6 square:6
offshore:6 catalyst:6 integrated:6 del:6 origin:6 people:6 gladstone:6 orion:6 beyond:6
concept:6 columbus:6 diamond:6 in:6 marine:6 engineering:6 battery:6 high:6 generation:6
top:6 wireless:6 capstone:6 sa:6
"""
# Words that describe rather than identify: a name with or without them is the same company.
_WEAK_WORDS_TEXT = """
holding holdings group company corp international global worldwide enterprise brand plc llc ltd
limited incorporated inc co trust
"""
_WEAK_WORDS: frozenset[str] = frozenset(_WEAK_WORDS_TEXT.split())
_LEGALISH: frozenset[str] = frozenset(
    {"plc", "llc", "ltd", "limited", "inc", "incorporated", "co", "corp", "corporation", "company"}
)
_WEAK_WEIGHT = 0.6
# Words a company adds to or drops from its own name ("Cisco Systems", "Uber Technologies",
# "Verizon Communications"). When one name is the other plus only such words, it is the same
# company; plus any other word ("Apple Hospitality REIT", "Delta Apparel") it may well not be.
_DESCRIPTOR_TEXT = """
system systems technology technologies solutions software communications industries industry
international holdings holding group companies company corporation incorporated enterprises
enterprise global worldwide networks network laboratories laboratory pharmaceuticals
pharmaceutical therapeutics biosciences bioscience sciences research services service products
chemicals brands brand energy resources financial entertainment media
manufacturing electronics computer stores wholesale platforms consulting usa america limited
"""
_DESCRIPTORS: frozenset[str] = frozenset(_DESCRIPTOR_TEXT.split())
# One name contained in the other: the shared words must carry this much weight (a distinctive
# word, or two fairly common ones), so "General" alone never matches "General Motors"; and to be
# confident, their prior IDF must add up to this much (one word rare among company names).
_MIN_SHARED_WEIGHT = 7.0
_MIN_IDENTIFYING_IDF = 9.0
_CONTAINED_DESCRIPTOR_SCORE = 94.0
# The ceiling for anything uncertain: inside the default review band (85-92), never confident.
_CONTAINED_OTHER_SCORE = 87.0
# Typo tolerance: one edit (or adjacent swap) in a token of four or more characters, two in a token
# of nine or more; similarity by the shorter token's length (index = length, capped), so a slip in
# a long word is confident and one in a short word goes to review. A token that is itself a word
# of the list (or common among company names) is not a typo of another: _KNOWN_WORD_FACTOR.
_TYPO_BY_LENGTH = (0.0, 0.0, 0.0, 0.0, 0.82, 0.86, 0.90, 0.92, 0.94, 0.95)
_SLIP_BONUS = 0.02
_KNOWN_WORD_FACTOR = 0.6
# "Johnson Control" is "Johnson Controls": singular and plural are nearly the same token.
_PLURAL_SIMILARITY = 0.97
_MIN_TYPO_LEN = 5
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


def _parse_counts(text: str) -> dict[str, int]:
    counts: dict[str, int] = {}
    for item in text.split():
        word, _, count = item.rpartition(":")
        counts[word] = int(count)
    return counts


_COMMON_WORD_COUNTS = _parse_counts(_COMMON_WORD_COUNTS_TEXT)
_MAX_PRIOR_IDF = math.log(_REFERENCE_NAMES)


def _prior_idf(token: str) -> float:
    return math.log(_REFERENCE_NAMES / (_COMMON_WORD_COUNTS.get(token, 0) + 1))


def _deletes(token: str) -> set[str]:
    return {token[:i] + token[i + 1 :] for i in range(len(token))}


class _Variant(NamedTuple):
    """One searchable spelling of an account: its name or one of its aliases."""

    account: int  # index into AccountIndex._accounts
    text: str  # normalised name, reported as matched_on
    tokens: tuple[str, ...]
    is_alias: bool


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
        self._index()

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
            if token in _WEAK_WORDS:
                self._weights[token] = _WEAK_WEIGHT
                continue
            # The list's own IDF, rescaled to the prior's range, averaged with the prior.
            list_idf = math.log((total + 1) / len(posting)) / log_total * _MAX_PRIOR_IDF
            self._weights[token] = max((list_idf + _prior_idf(token)) / 2, _WEAK_WEIGHT)
        for token, posting in self._postings.items():
            if len(posting) > _RARE_POSTINGS:
                self._common_sets[token] = frozenset(posting)
        for token in self._weights:
            if len(token) >= _MIN_TYPO_LEN - 1 and not token.isdigit():
                for form in _deletes(token):
                    self._neighbours.setdefault(form, []).append(token)

    def _add_variant(self, account: int, name: str, *, is_alias: bool) -> None:
        text, toks, keys = name_forms(name)
        if not toks:
            return
        vid = len(self._variants)
        self._variants.append(_Variant(account, text, toks, is_alias))
        for key in keys:
            bucket = self._by_key.setdefault(key, [])
            if not bucket or bucket[-1] != vid:
                bucket.append(vid)
        postings = self._postings
        for tok in toks if len(set(toks)) == len(toks) else dict.fromkeys(toks):
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
        query = tokens(name) if name else ()
        if not query:
            return []
        candidates = self._candidates(query)
        best: dict[int, _Scored] = {}
        for vid in candidates:
            variant = self._variants[vid]
            if variant.account in taken:
                continue
            score, reasons = self._score(query, variant.tokens)
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
        for other in _number_forms(token):
            if other in self._weights:
                found.append((other, _PLURAL_SIMILARITY))
        if len(token) < _MIN_TYPO_LEN - 1 or token.isdigit():
            return found
        known = token in self._weights or token in _COMMON_WORD_COUNTS
        near: set[str] = set(self._neighbours.get(token, ()))
        for form in _deletes(token):
            if form in self._weights:
                near.add(form)
            near.update(self._neighbours.get(form, ()))
        near.discard(token)
        near.difference_update(_number_forms(token))
        for other in near:
            sim = _token_similarity(token, other, known=known)
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
        probes.sort(key=lambda p: len(self._postings[p[0]]))
        acc: dict[int, float] = {}
        for tok, sim in probes:
            posting = self._postings[tok]
            weight = self._weights[tok] * sim
            if len(posting) > _RARE_POSTINGS and acc:
                # Too common to gather from, but it still ranks what rarer tokens found.
                common = self._common_sets[tok]
                for vid in acc:
                    if vid in common:
                        acc[vid] += weight
                continue
            for vid in posting[: _RARE_POSTINGS * 4]:
                acc[vid] = acc.get(vid, 0.0) + weight
        if len(acc) <= _MAX_CANDIDATES:
            return list(acc)
        return sorted(acc, key=acc.__getitem__, reverse=True)[:_MAX_CANDIDATES]

    def _weight(self, token: str) -> float:
        weight = self._weights.get(token)
        if weight is not None:
            return weight
        return _WEAK_WEIGHT if token in _WEAK_WORDS else _MAX_PRIOR_IDF

    def _score(self, query: tuple[str, ...], cand: tuple[str, ...]) -> tuple[float, list[str]]:
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
            known = tok in self._weights or tok in _COMMON_WORD_COUNTS
            best_j, best = -1, 0.0
            for j, other in enumerate(cand):
                if not c_sim[j]:
                    sim = _token_similarity(tok, other, known=known)
                    if sim > best:
                        best_j, best = j, sim
            if best_j >= 0:
                q_sim[i], c_sim[best_j], q_to_c[i] = best, best, best_j
                typos += 1
        matched = total = 0.0
        for i, tok in enumerate(query):
            weight = self._weight(cand[q_to_c[i]]) if q_to_c[i] >= 0 else self._weight(tok)
            matched += weight * q_sim[i]
            total += weight
        for j, tok in enumerate(cand):
            weight = self._weight(tok)
            matched += weight * c_sim[j]
            total += weight
        score = 100.0 * matched / total if total else 0.0
        reasons: list[str] = []
        if typos:
            reasons.append(f"{typos} token(s) within a typo")
        # Legal leftovers never tell names apart; "Group" or "Global" do when both names differ.
        missing = [t for j, t in enumerate(cand) if not c_sim[j] and t not in _LEGALISH]
        extra = [t for i, t in enumerate(query) if not q_sim[i] and t not in _LEGALISH]
        if missing:
            reasons.append("list name also has: " + " ".join(missing))
        if extra:
            reasons.append("customer name also has: " + " ".join(extra))
        added = missing + extra
        distinctive_added = [t for t in added if t not in _DESCRIPTORS and t not in _WEAK_WORDS]
        if (missing or extra) and not (missing and extra) and score < _CONTAINED_DESCRIPTOR_SCORE:
            # One name is the other plus some words: "Cisco" / "Cisco Systems".
            shared = sum(
                self._weight(cand[q_to_c[i]])
                for i, t in enumerate(query)
                if q_to_c[i] >= 0 and t not in _WEAK_WORDS
            )
            # Only words rare among company names identify one ("Cisco" does, "Southern" or
            # "Orion" alone do not; "United Airlines" together do), and only when spelt alike.
            identifying = sum(
                _prior_idf(t)
                for i, t in enumerate(query)
                if q_sim[i] == 1.0 and t not in _WEAK_WORDS
            ) >= _MIN_IDENTIFYING_IDF and not any(0.0 < sim < 1.0 for sim in q_sim)
            if shared >= _MIN_SHARED_WEIGHT and not distinctive_added and identifying:
                score = max(score, _CONTAINED_DESCRIPTOR_SCORE - 2.5 * (len(added) - 1))
                reasons.append("differs only by descriptive words")
            elif shared >= _MIN_SHARED_WEIGHT and len(added) <= 2 and not typos:
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
        numbers_q = {t for t in query if _is_number(t)}
        numbers_c = {t for t in cand if _is_number(t)}
        if numbers_q != numbers_c and score > _CONTAINED_OTHER_SCORE:
            # "Fund II" is not "Fund", "Acquisition Corp III" is not "Acquisition Corp II".
            score = _CONTAINED_OTHER_SCORE
            reasons.append("numbers differ")
        strong = [q_to_c[i] for i, t in enumerate(query) if q_to_c[i] >= 0 and t not in _WEAK_WORDS]
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


_ROMAN = frozenset(
    ["i", "ii", "iii", "iv", "v", "vi", "vii", "viii", "ix", "x", "xi", "xii", "xiii", "xiv", "xv"]
)


def _is_number(token: str) -> bool:
    """Return True for tokens that number a series: digits or a Roman numeral."""
    return token.isdigit() or token in _ROMAN


def _number_forms(token: str) -> tuple[str, ...]:
    """Return the singular/plural spellings of token ("systems" <-> "system", "-ies" <-> "-y")."""
    if len(token) < 4 or token.isdigit():
        return ()
    if token.endswith("ies"):
        return (token[:-3] + "y", token[:-1])
    if token.endswith("y"):
        return (token[:-1] + "ies",)
    if token.endswith("s") and not token.endswith("ss"):
        return (token[:-1],)
    return (token + "s",)


def _token_similarity(a: str, b: str, *, known: bool) -> float:
    """Return how alike two different tokens are: a typo's similarity, or 0."""
    if b in _number_forms(a):
        # "Controls" / "Control" is one word; "Reeds" / "Reed" may well be two names.
        return _PLURAL_SIMILARITY if min(len(a), len(b)) >= 6 else _TYPO_BY_LENGTH[5]
    shorter = min(len(a), len(b))
    if shorter < _MIN_TYPO_LEN - 1 or abs(len(a) - len(b)) > 2 or a.isdigit() or b.isdigit():
        return 0.0
    if shorter < _MIN_TYPO_LEN and a[0] != b[0]:
        return 0.0
    limit = 2 if shorter >= 9 else 1
    distance = OSA.distance(a, b, score_cutoff=limit)
    if distance > limit:
        return 0.0
    # One slip in a long word is almost surely a typo; in a short word it as often spells another
    # name ("Telos" / "Telus", "Disco" / "Cisco"). Swapped or doubled letters are typing slips;
    # a different letter in the same place is more often a different word.
    sim = _TYPO_BY_LENGTH[min(shorter, len(_TYPO_BY_LENGTH) - 1)] - 0.05 * (distance - 1)
    if len(a) == len(b) and distance == 1:
        sim += _SLIP_BONUS if sorted(a) == sorted(b) else -_SLIP_BONUS
    elif _is_doubling(a, b):
        sim += _SLIP_BONUS
    elif len(a) != len(b):
        sim -= _SLIP_BONUS / 2
    return sim * _KNOWN_WORD_FACTOR if known else sim


def _is_doubling(a: str, b: str) -> bool:
    """Return True when the longer token is the shorter with one letter typed twice."""
    longer, shorter = (a, b) if len(a) > len(b) else (b, a)
    if len(longer) != len(shorter) + 1:
        return False
    for i in range(len(shorter)):
        if longer[i] != shorter[i]:
            return longer[:i] + longer[i + 1 :] == shorter and (
                longer[i] == longer[i - 1] if i else False or longer[i] == longer[i + 1]
            )
    return longer[-1] == longer[-2]
