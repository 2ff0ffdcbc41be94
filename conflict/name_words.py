"""What the words of company names say: how common each is, which only describe, how alike two are.

Pure data and functions, shared by the account index (``conflict.matching``): a prior of word counts
among real company names, the words that describe rather than identify a company, singular and
plural forms, series numbers, and the similarity of two tokens one typo apart.
"""

import math
from collections.abc import Callable

from rapidfuzz.distance import OSA

__all__ = [
    "DESCRIPTORS",
    "LEGALISH",
    "MAX_PRIOR_IDF",
    "MIN_TYPO_LEN",
    "PLACE_TAGS",
    "PLURAL_SIMILARITY",
    "WEAK_WEIGHT",
    "WEAK_WORDS",
    "could_be_a_word",
    "deletes",
    "is_common_word",
    "is_number",
    "number_forms",
    "one_edit",
    "prior_idf",
    "respell_slips",
    "token_similarity",
]

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

# Words that describe rather than identify: a name with or without them is the same company
# ("REIT" names a real-estate trust's tax form, as "Trust" does).
_WEAK_WORDS_TEXT = """
holding holdings group company corp international global worldwide enterprise brand plc llc ltd
limited incorporated inc co trust reit
"""
WEAK_WORDS: frozenset[str] = frozenset(_WEAK_WORDS_TEXT.split())
LEGALISH: frozenset[str] = frozenset(
    {"plc", "llc", "ltd", "limited", "inc", "incorporated", "co", "corp", "corporation", "company"}
)
WEAK_WEIGHT = 0.6

# Words a company adds to or drops from its own name ("Cisco Systems", "Uber Technologies",
# "Verizon Communications"). When one name is the other plus only such words, it is the same
# company; plus any other word ("Apple Hospitality REIT", "Delta Apparel") it may well not be.
# Not "energy", "resources" or "services": they name a line of business, which tells companies
# of one first word apart ("Comstock Resources" / "Comstock Inc.", "Icon Energy" / "ICON").
_DESCRIPTOR_TEXT = """
system systems technology technologies solutions software communications industries industry
international holdings holding group companies company corporation incorporated enterprises
enterprise global worldwide networks network laboratories laboratory pharmaceuticals
pharmaceutical therapeutics biosciences bioscience sciences research products
chemicals brands brand financial entertainment media
manufacturing electronics computer stores wholesale platforms consulting usa america limited
"""
DESCRIPTORS: frozenset[str] = frozenset(_DESCRIPTOR_TEXT.split())

# Where a company is incorporated, as EDGAR appends it without the usual slashes ("CTW Cayman",
# "California BanCorp CA"): at the end of a name it says no more than a legal form.
_PLACE_TAGS_TEXT = """
al ak az ar ca ct dc fl ga ia ks ky md mn ms mo mt nc nd ne nh nj nm nv ny pa pr ri sc sd tn tx ut
va vt wa wi wv wy ab bc mb nb ns qc sk cayman bermuda bvi
"""
PLACE_TAGS: frozenset[str] = frozenset(_PLACE_TAGS_TEXT.split())

# Typo tolerance: one edit (or adjacent swap) in a token of four or more characters, two in a token
# of nine or more; similarity by the shorter token's length (index = length, capped), so a slip in
# a long word is confident and one in a short word goes to review. A token that is itself a word
# of the list (or common among company names) is not a typo of another: _KNOWN_WORD_FACTOR.
_TYPO_BY_LENGTH = (0.0, 0.0, 0.0, 0.0, 0.82, 0.86, 0.90, 0.92, 0.94, 0.95)
_SLIP_BONUS = 0.02
_KNOWN_WORD_FACTOR = 0.6
# "Johnson Control" is "Johnson Controls": singular and plural are nearly the same token.
PLURAL_SIMILARITY = 0.97
MIN_TYPO_LEN = 5


def _parse_counts(text: str) -> dict[str, int]:
    counts: dict[str, int] = {}
    for item in text.split():
        word, _, count = item.rpartition(":")
        counts[word] = int(count)
    return counts


_COMMON_WORD_COUNTS = _parse_counts(_COMMON_WORD_COUNTS_TEXT)
MAX_PRIOR_IDF = math.log(_REFERENCE_NAMES)


def _singular(token: str) -> str:
    if len(token) < 4 or token.endswith("ss"):
        return token
    if token.endswith("ies"):
        return token[:-3] + "y"
    return token[:-1] if token.endswith("s") else token


def _reference_count(token: str) -> int:
    # The counts are of singular forms ("holding", "technology"): "Holdings" is as common.
    count = _COMMON_WORD_COUNTS.get(token)
    return count if count is not None else _COMMON_WORD_COUNTS.get(_singular(token), 0)


def prior_idf(token: str) -> float:
    """Return how rare token is among real company names (log inverse frequency)."""
    return math.log(_REFERENCE_NAMES / (_reference_count(token) + 1))


def is_common_word(token: str) -> bool:
    """Return True when token is a word seen often in real company names."""
    return _reference_count(token) > 0


def deletes(token: str) -> set[str]:
    """Return every spelling of token with one character left out."""
    return {token[:i] + token[i + 1 :] for i in range(len(token))}


_ROMAN = frozenset(
    ["i", "ii", "iii", "iv", "v", "vi", "vii", "viii", "ix", "x", "xi", "xii", "xiii", "xiv", "xv"]
)


def is_number(token: str) -> bool:
    """Return True for tokens that number a series: digits or a Roman numeral."""
    return token.isdigit() or token in _ROMAN


def number_forms(token: str) -> tuple[str, ...]:
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


def token_similarity(a: str, b: str, *, known: bool) -> float:
    """Return how alike two different tokens are: a typo's similarity, or 0."""
    if abs(len(a) - len(b)) > 2:  # neither a typo nor the other number of the word
        return 0.0
    if b in number_forms(a):
        # "Controls" / "Control" is one word; "Reeds" / "Reed" may well be two names.
        return PLURAL_SIMILARITY if min(len(a), len(b)) >= 6 else _TYPO_BY_LENGTH[5]
    shorter = min(len(a), len(b))
    if shorter < MIN_TYPO_LEN - 1 or a.isdigit() or b.isdigit():
        return 0.0
    if shorter < MIN_TYPO_LEN and a[0] != b[0]:
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


# "and", the legal forms and "group" are mistyped as often as any word ("adn", "Inx", ".roup"),
# and are too short for a typo of them to be read as one: a word the list does not know, one slip
# from one of them, is read as that word, at the end of a name ("Emard Hnc") or between two words
# ("Terry aUd Sons").
_SLIP_LETTERS = "abcdefghijklmnopqrstuvwxyz0123456789"
_TAIL_WORDS = ("inc", "ltd", "llc", "plc", "corp", "gmbh", "group")


def one_edit(word: str, letters: str = "abcdefghijklmnopqrstuvwxyz") -> set[str]:
    """Return every spelling one deletion, swap, substitution or insertion away from word."""
    splits = [(word[:i], word[i:]) for i in range(len(word) + 1)]
    return (
        {a + b[1:] for a, b in splits if b}
        | {a + b[1] + b[0] + b[2:] for a, b in splits if len(b) > 1}
        | {a + c + b[1:] for a, b in splits if b for c in letters}
        | {a + c + b for a, b in splits for c in letters}
    )


_AND_SLIPS = frozenset(one_edit("and", _SLIP_LETTERS))
_TAIL_SLIPS = {
    slip: word for word in reversed(_TAIL_WORDS) for slip in one_edit(word, _SLIP_LETTERS)
}
for _word in _TAIL_WORDS:
    _TAIL_SLIPS.pop(_word, None)


Slip = tuple[str, str]  # (the word as typed, the word it is read as)


def respell_slips(
    tokens: tuple[str, ...], is_listed: Callable[[str], bool]
) -> tuple[tuple[str, ...], tuple[Slip, ...]]:
    """Return tokens with a mistyped "and" between words dropped and a mistyped end word respelt."""
    last = len(tokens) - 1
    if last < 1:
        return tokens, ()
    out = list(tokens)
    slips: list[Slip] = []
    end = _TAIL_SLIPS.get(tokens[last])
    if end is not None and not is_listed(tokens[last]) and not is_common_word(tokens[last]):
        out[last] = end
        slips.append((tokens[last], end))
    for i in range(last - 1, 0, -1):
        tok = tokens[i]
        if tok in _AND_SLIPS and not is_listed(tok) and not is_common_word(tok):
            del out[i]
            slips.append((tok, "and"))
    return (tuple(out), tuple(slips)) if slips else (tokens, ())


def could_be_a_word(typed: str) -> bool:
    """Return True when a slip as typed could be a word of its own ("zinc", "ink", "ant")."""
    # A slip with a digit or without a vowel ("hnc", "7lc", "xnd") is no word; one with a vowel
    # may be a real one that merely looks like "inc" or "and" ("Horsehead Zinc", "Red Ant Farms").
    return not any(c.isdigit() for c in typed) and any(c in "aeiouy" for c in typed)
