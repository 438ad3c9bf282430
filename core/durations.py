"""Durations as people read them: exact for what took place, rounded for estimates."""

from __future__ import annotations


def format_duration(seconds: float) -> str:
    """'42 s', '3 min 5 s', '1 h 12 min': for people, in progress lines and summaries."""
    seconds = int(round(seconds))
    if seconds < 60:
        return f"{seconds} s"
    if seconds < 3600:
        return f"{seconds // 60} min {seconds % 60} s"
    return f"{seconds // 3600} h {seconds % 3600 // 60} min"


def rough_duration(seconds: float) -> str:
    """An estimate as people say it: "45 s", "1 min 10 s" (to 5 s under a minute, else to 10 s)."""
    seconds = 5 * round(max(0.0, seconds) / 5) if seconds < 57.5 else 10 * round(seconds / 10)
    if seconds < 60:
        return f"{max(5, seconds)} s"
    minutes, rest = divmod(seconds, 60)
    return f"{minutes} min {rest} s" if rest else f"{minutes} min"
