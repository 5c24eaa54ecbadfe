"""Serializer fields shared by every app."""

from __future__ import annotations

import unicodedata
from datetime import datetime
from typing import Any

from rest_framework import serializers

from api.envelope import format_datetime


class Timestamp(serializers.DateTimeField):
    """A read-only UTC timestamp with milliseconds: 2026-04-05T10:00:00.000Z."""

    def __init__(self, **kwargs: object) -> None:
        kwargs.setdefault("read_only", True)
        super().__init__(**kwargs)

    def to_representation(self, value: datetime | None) -> str | None:
        return format_datetime(value)


class BoundedListField(serializers.ListField):
    """A ListField that refuses an overlong list before validating a single item, so a
    large body of junk items costs nothing and yields one error, not one per item."""

    def to_internal_value(self, data: Any) -> list:
        if isinstance(data, list) and self.max_length is not None and len(data) > self.max_length:
            self.fail("max_length", max_length=self.max_length)
        return super().to_internal_value(data)


class EmailField(serializers.EmailField):
    """An email address with no invisible characters (a soft hyphen or zero-width space would
    make a second account for the same mailbox) and a domain that can be written on an
    envelope (IDNA-encodable), so that sending to it cannot fail for its form."""

    def to_internal_value(self, data: Any) -> str:
        value = super().to_internal_value(data)
        if any(unicodedata.category(char).startswith(("C", "Z")) for char in value):
            self.fail("invalid")
        try:
            value.rsplit("@", 1)[1].encode("idna")
        except (UnicodeError, ValueError, IndexError):
            self.fail("invalid")
        return value
