"""The user guide and its screenshots stay in step with the browser tests that take them."""

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
GUIDE = ROOT / "docs" / "guide.md"
IMAGE = re.compile(r"(?:\]\(|src=\")(img/[^)\"]+\.png)")
SHOT = re.compile(r"""screenshot\(\s*\w+,\s*"([a-z0-9-]+)"|"(phone-[a-z0-9-]+)\"""")


def test_every_guide_image_is_taken_by_a_browser_test() -> None:
    """Each image the guide shows is a screenshot some e2e test takes, and the README links it."""
    referenced = {Path(m).stem for m in IMAGE.findall(GUIDE.read_text(encoding="utf-8"))}
    taken: set[str] = set()
    for test_file in Path(__file__).parent.glob("test_*.py"):
        for groups in SHOT.findall(test_file.read_text(encoding="utf-8")):
            taken.update(g for g in groups if g)
    assert referenced, "the guide shows no screenshots"
    assert referenced <= taken, f"not taken by any test: {sorted(referenced - taken)}"
    assert "(docs/guide.md)" in (ROOT / "README.md").read_text(encoding="utf-8")
