"""Identifiers: ULID primary keys and unique human-readable slugs."""

from __future__ import annotations

import secrets

from django.db.models import Model
from django.utils.text import slugify
from ulid import ULID

ULID_LENGTH = 26


def new_ulid() -> str:
    """A new ULID in its canonical 26-character Crockford base32 form."""
    return str(ULID())


def available_slug(
    model: type[Model], field: str, text: str, *, max_length: int, contended: bool = False
) -> str:
    """A slug of `text` not yet taken in `model.field`: `acme`, then `acme-2`, `acme-3`, ...

    The column's unique constraint stays the real guard; callers retry on a lost race, with
    `contended=True`, which adds a random suffix that concurrent callers will not share.
    """
    base = slugify(text)[: max_length - 10].strip("-_") or "x"
    if contended:
        return f"{base}-{secrets.token_hex(4)}"
    taken = set(
        model._default_manager.filter(**{f"{field}__startswith": base}).values_list(
            field, flat=True
        )
    )
    if base not in taken:
        return base
    for n in range(2, 1000):
        candidate = f"{base}-{n}"
        if candidate not in taken:
            return candidate
    return f"{base}-{secrets.token_hex(4)}"
