"""Serializer fields shared by every app."""

from __future__ import annotations

from datetime import datetime

from rest_framework import serializers

from config.envelope import format_datetime


class Timestamp(serializers.DateTimeField):
    """A read-only UTC timestamp with milliseconds: 2026-04-05T10:00:00.000Z."""

    def __init__(self, **kwargs: object) -> None:
        kwargs.setdefault("read_only", True)
        super().__init__(**kwargs)

    def to_representation(self, value: datetime | None) -> str | None:
        return format_datetime(value)
