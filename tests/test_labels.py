"""Vocabulary values read the same way on pages, in e-mails and on the dashboard."""

import pytest

from escalation.mailer import _fact
from escalation.states import RESOLUTION_LABELS, Resolution
from web.templating import format_wait, label


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("mcs_leads", "MCS leads"),
        ("partner_leads", "Partner leads"),
        ("joint_engagement", "Joint engagement"),
        ("in_conflict", "In conflict"),
        ("all_microsoft", "All-Microsoft"),
    ],
)
def test_pages_and_mail_share_one_wording(value: str, expected: str) -> None:
    assert label(value) == expected
    if value in RESOLUTION_LABELS:
        assert _fact("resolution", value) == expected


def test_every_resolution_has_a_label() -> None:
    assert set(RESOLUTION_LABELS) == {r.value for r in Resolution}


@pytest.mark.parametrize(
    ("seconds", "words"),
    [
        (1, "1 second"),
        (45, "45 seconds"),
        (119, "119 seconds"),
        (120, "2 minutes"),
        (898, "15 minutes"),
    ],
)
def test_a_wait_reads_in_minutes_once_it_is_long(seconds: int, words: str) -> None:
    assert format_wait(seconds) == words


def test_list_sources_read_as_words() -> None:
    assert [label(s) for s in ("api", "cli", "sync", "upload")] == [
        "API",
        "Command line",
        "Sync from URL",
        "Upload",
    ]
