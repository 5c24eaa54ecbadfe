"""URL converters."""

from __future__ import annotations


class UlidConverter:
    """A ULID path segment, any case; the view receives it upper-cased (canonical)."""

    regex = "[0-7][0-9A-HJKMNP-TV-Za-hjkmnp-tv-z]{25}"

    def to_python(self, value: str) -> str:
        return value.upper()

    def to_url(self, value: str) -> str:
        return str(value)
