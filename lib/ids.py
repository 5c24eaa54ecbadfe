"""Identifiers: ULID primary keys and unique human-readable slugs."""

from __future__ import annotations

import secrets

from django.db.models import Model
from django.utils.text import slugify
from ulid import ULID

ULID_LENGTH = 26
# Numbered slugs tried before a random suffix: `acme`, `acme-2` … `acme-10`.
SLUG_CANDIDATES = 10


def new_ulid() -> str:
    """A new ULID in its canonical 26-character Crockford base32 form."""
    return str(ULID())


def available_slug(
    model: type[Model], field: str, text: str, *, max_length: int, contended: bool = False
) -> str:
    """A slug of `text` not yet taken in `model.field`: `acme`, `acme-2` … `acme-10`, then
    `acme-` and a random suffix.

    One query, reading at most SLUG_CANDIDATES rows, however many slugs share the base: the
    cost of signing up or creating an organization does not grow with a popular name, so no
    one can make it expensive by taking `acme-1` … `acme-9999` first.

    The column's unique constraint stays the real guard; callers retry on a lost race, with
    `contended=True`, which adds a random suffix that concurrent callers will not share.
    """
    base = slugify(text)[: max_length - 10].strip("-_") or "x"
    if contended:
        return f"{base}-{secrets.token_hex(4)}"
    candidates = [base, *(f"{base}-{n}" for n in range(2, SLUG_CANDIDATES + 1))]
    taken = set(
        model._default_manager.filter(**{f"{field}__in": candidates}).values_list(field, flat=True)
    )
    return next(
        (candidate for candidate in candidates if candidate not in taken),
        f"{base}-{secrets.token_hex(4)}",
    )
