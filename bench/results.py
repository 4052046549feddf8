"""bench/RESULTS.md: each harness owns one marked section (`<!-- name:start -->` … `<!-- name:end -->`) that
its latest run replaces; everything else in the file (the history) is left as it is."""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path

RESULTS = Path(__file__).resolve().parent / "RESULTS.md"


def replace_section(start: str, end: str, section: str, place: Callable[[str, str], str]) -> None:
    """Put `section` between the markers; the first time, `place(text, block)` decides where it goes."""
    text = RESULTS.read_text(encoding="utf-8") if RESULTS.exists() else "# Benchmark results\n"
    block = f"{start}\n{section}{end}"
    if start in text and end in text:
        text = re.sub(re.escape(start) + ".*?" + re.escape(end), lambda _: block, text, flags=re.DOTALL)
    else:
        text = place(text, block)
    RESULTS.write_text(text, encoding="utf-8")
