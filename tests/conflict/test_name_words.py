"""What the words of company names say: reference counts, number forms, typo similarity."""

import pytest

from conflict.name_words import (
    MAX_PRIOR_IDF,
    is_common_word,
    number_forms,
    prior_idf,
    token_similarity,
)


@pytest.mark.parametrize(
    ("plural", "singular"),
    [
        ("holdings", "holding"),
        ("technologies", "technology"),
        ("therapeutics", "therapeutic"),
        ("industries", "industry"),
        ("hotels", "hotel"),
    ],
)
def test_a_word_is_as_common_in_either_number(plural: str, singular: str) -> None:
    assert is_common_word(plural)
    assert prior_idf(plural) == prior_idf(singular) < MAX_PRIOR_IDF


def test_words_that_are_not_plurals_keep_their_own_count() -> None:
    assert prior_idf("texas") < MAX_PRIOR_IDF  # counted as itself, not as "texa"
    assert prior_idf("business") < MAX_PRIOR_IDF
    assert prior_idf("cisco") == MAX_PRIOR_IDF  # rare: never seen among reference names


@pytest.mark.parametrize(
    ("token", "forms"),
    [
        ("systems", ("system",)),
        ("industries", ("industry", "industrie")),
        ("energy", ("energies",)),
    ],
)
def test_number_forms(token: str, forms: tuple[str, ...]) -> None:
    assert number_forms(token) == forms


@pytest.mark.parametrize(
    ("a", "b", "confident"),
    [
        ("microsoft", "mircosoft", True),  # swapped letters in a long word
        ("cisco", "disco", False),  # one letter in a short word: another name as often as not
        ("telos", "telus", False),
    ],
)
def test_typo_similarity_grows_with_length(a: str, b: str, confident: bool) -> None:
    assert (token_similarity(a, b, known=False) >= 0.92) is confident
