"""Reading a Prometheus text page in tests."""

from __future__ import annotations

import re

__all__ = ["samples"]

_SAMPLE = re.compile(r"^(?P<name>[^{\s]+)(?:\{(?P<labels>.*)\})? (?P<value>\S+)$")


def samples(page: bytes) -> dict[str, str]:
    """Each sample line of a page as ``name{labels}`` -> value text (comment lines left out).

    Labels stay as written, so a key reads like the line: ``m{a="1",b="2"}``; ``m{}`` if none.
    """
    found: dict[str, str] = {}
    for line in page.decode().splitlines():
        if not line or line.startswith("#"):
            continue
        match = _SAMPLE.match(line)
        assert match is not None, line
        found[f"{match['name']}{{{match['labels'] or ''}}}"] = match["value"]
    return found
