"""Durations in tidegate.yml: `7d`, `12h`, `30m`, `45s`, `2w`, or a number of seconds."""

from __future__ import annotations

import re

_DURATION = re.compile(r"^\s*(\d+)\s*([smhdw])\s*$")
_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}


def parse_duration(text: str | int) -> int:
    """Seconds in a duration such as `7d`, `12h` or `30m` (an integer is already seconds)."""
    if isinstance(text, int):
        if text < 0:
            raise ValueError(f"invalid duration {text}: a number of seconds cannot be negative")
        return text
    match = _DURATION.match(text)
    if not match:
        raise ValueError(f"invalid duration {text!r}: use a number and one of s, m, h, d, w (e.g. 7d)")
    return int(match.group(1)) * _SECONDS[match.group(2)]
