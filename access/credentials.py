"""Which credential a request presents, read from its headers alone."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any


def presented_key(meta: Mapping[str, Any]) -> str | None:
    """The key a request presents, or None when it names none.

    `X-Api-Key` (any case, as headers are) wins; otherwise `Authorization: Bearer <key>`.
    Another Authorization scheme (Basic, say) is not ours and is ignored.
    """
    raw = meta.get("HTTP_X_API_KEY")
    if raw is None:
        scheme, _sep, credentials = meta.get("HTTP_AUTHORIZATION", "").partition(" ")
        if scheme.lower() != "bearer":
            return None
        raw = credentials
    return raw.strip()
