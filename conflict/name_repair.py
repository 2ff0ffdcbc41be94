"""A second reading of a name typed with stray characters: what a slip of the keyboard leaves.

Pure. The normaliser reads every punctuation mark as a word break, which is right for "Coca-Cola"
or "Cullen/Frost" but splits "Gerl-ach" or "Sp_nka" into pieces that no listed name has. The
matcher tries this second reading only when the name as typed finds no confident match.
"""

import re

__all__ = ["repaired_names"]

# A mark or control character between two letters, where no space is: typed into the word or in
# place of one of its letters ("an-d", "Lit\x81le"). Dropping it leaves at most one typo.
_STRAY = re.compile(r"(?<=[^\W\d_])(?:[^\w\s&+']|_)+(?=[^\W\d_])")
# A lone digit between letters is a slipped space or hyphen ("Grimes4Sawayn", "Kihn5PLC").
_LONE_DIGIT = re.compile(r"(?<=[^\W\d_])\d(?=[^\W\d_])")
# A legal form glued to the name in its own capitals ("SchummPLC", "AcmeInc", "FooGmbH"). Not
# "Co", which ends too many brands written that way ("PepsiCo").
_GLUED_LEGAL = re.compile(r"(?<=[a-z]{3})(Inc|Corp|Ltd|LLC|PLC|LLP|GmbH|AG|NV|BV|SA)(?=[\W\d_]|$)")


def repaired_names(name: str) -> tuple[str, ...]:
    """Return name with stray marks dropped and glued words parted, hyphens kept first; or ()."""
    text = _LONE_DIGIT.sub(" ", _GLUED_LEGAL.sub(r" \1", name))
    # A hyphen between letters is first taken for the word break it usually is ("Sipes-Wei?snat"),
    # then for a slip ("Gerl-ach").
    kept = _STRAY.sub(lambda m: m.group() if m.group() == "-" else "", text)
    joined = _STRAY.sub("", text)
    return tuple(t for t in dict.fromkeys((kept, joined)) if t != name)
