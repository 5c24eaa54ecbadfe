"""Leak reports and secret-scanning messages: their input, every part of it bounded, and the
scanner's answer."""

from __future__ import annotations

from typing import Any

from rest_framework import serializers

from api.fields import BoundedListField

MAX_REPORTED_KEYS = 100
MAX_KEY_LENGTH = 200  # a key is at most 57 characters: an 11-character prefix and 46
MAX_SOURCE_LENGTH = 500
MAX_SCANNING_MATCHES = 1000  # GitHub batches matches; a 1 MB body holds a few thousand at most
MAX_TOKEN_LENGTH = 256
MAX_TOKEN_TYPE_LENGTH = 100
MAX_URL_LENGTH = 2000
MAX_LOCATION_LENGTH = 100

TRUE_POSITIVE = "true_positive"
FALSE_POSITIVE = "false_positive"


class StrictCharField(serializers.CharField):
    """A JSON string, and only that: DRF's CharField also takes numbers."""

    def to_internal_value(self, data: Any) -> str:
        if not isinstance(data, str):
            self.fail("invalid")
        return super().to_internal_value(data)


class UntrustedTextField(StrictCharField):
    """Text that someone else chose and that reaches a key owner's email and the audit trail
    (where a leaked key was found): kept to one line of printable characters. Runs of
    whitespace become one space; control and format characters (a right-to-left override
    could disguise a link) and lone surrogates are dropped, rather than refused: a report
    is worth having whatever its free text holds."""

    def to_internal_value(self, data: Any) -> str:
        value = " ".join(super().to_internal_value(data).split())
        return "".join(char for char in value if char.isprintable())


class KeyReportSerializer(serializers.Serializer):
    keys = BoundedListField(
        child=StrictCharField(max_length=MAX_KEY_LENGTH),
        min_length=1,
        max_length=MAX_REPORTED_KEYS,
        help_text="The leaked keys, each exactly as found.",
    )
    source = UntrustedTextField(
        max_length=MAX_SOURCE_LENGTH,
        required=False,
        allow_blank=True,
        help_text="Where they were found, e.g. a URL. The owner's email quotes it.",
    )


class KeyReportReceivedSerializer(serializers.Serializer):
    received = serializers.IntegerField(
        min_value=1, help_text="How many keys the report named, whatever they were."
    )


class ScanningMatchSerializer(serializers.Serializer):
    """One match in a secret-scanning message, as GitHub sends it."""

    token = StrictCharField(
        max_length=MAX_TOKEN_LENGTH,
        allow_blank=True,
        trim_whitespace=False,
        help_text="The string that matched the key pattern.",
    )
    type = StrictCharField(
        max_length=MAX_TOKEN_TYPE_LENGTH,
        required=False,
        allow_blank=True,
        trim_whitespace=False,
        help_text="The name of the pattern that matched, echoed back as `token_type`.",
    )
    url = UntrustedTextField(
        max_length=MAX_URL_LENGTH,
        required=False,
        allow_blank=True,
        help_text="Where it was found (may be empty).",
    )
    source = UntrustedTextField(
        max_length=MAX_LOCATION_LENGTH,
        required=False,
        allow_blank=True,
        help_text="The kind of place: content, commit, issue_comment, npm, …",
    )


def scanning_matches(data: Any) -> list[dict[str, str]]:
    """The matches of a secret-scanning message (a JSON list), validated; ValidationError
    (400 VALIDATION_ERROR) otherwise."""
    serializer = ScanningMatchSerializer(
        data=data, many=True, allow_empty=True, max_length=MAX_SCANNING_MATCHES
    )
    serializer.is_valid(raise_exception=True)
    return serializer.validated_data


class ScanningResultSerializer(serializers.Serializer):
    """GitHub's feedback format: one per match, in the order they came."""

    token_raw = serializers.CharField(help_text="The token, as it was sent.")
    token_type = serializers.CharField(help_text="The match's `type`, as it was sent.")
    label = serializers.ChoiceField(
        choices=[TRUE_POSITIVE, FALSE_POSITIVE],
        help_text="`true_positive`: a real key (revoked now, or before); else `false_positive`.",
    )
