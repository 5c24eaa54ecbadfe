"""Which credential a request presents, read from its headers alone; and whether the one that
authenticated it still awaits confirmation."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from django.conf import settings


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


# Every OAuth access token this server issues is a signed JWT (oauth/tokens.py): its JOSE
# header is base64url JSON, so it starts so, and it has three dot-separated parts. No API key
# has either; a Bearer value that is not one is read as an API key.
JWT_START = "eyJ"


def presented_token(meta: Mapping[str, Any]) -> str | None:
    """The OAuth access token a request presents in `Authorization: Bearer`, or None."""
    if "HTTP_X_API_KEY" in meta:
        return None
    raw = presented_key(meta)
    if raw is None or not raw.startswith(JWT_START) or raw.count(".") != 2:
        return None
    return raw


def resource_metadata_url(resource: str | None = None) -> str:
    """Where a protected resource's metadata is published (RFC 9728): the path form of the
    well-known URL, for `resource` (default: the API)."""
    path = (resource or settings.OAUTH_API_RESOURCE).removeprefix(settings.PUBLIC_URL)
    return f"{settings.PUBLIC_URL}/.well-known/oauth-protected-resource{path}"


def challenge(*, realm: str = "api", resource: str | None = None, **params: str) -> str:
    """A `WWW-Authenticate` challenge (RFC 6750) of the API (or of `resource`, such as the MCP
    endpoint), naming its protected-resource metadata (RFC 9728), with `params` such as
    error="insufficient_scope"."""
    fields = {"realm": realm, **params, "resource_metadata": resource_metadata_url(resource)}
    return "Bearer " + ", ".join(f'{name}="{value}"' for name, value in fields.items())


@dataclass(frozen=True)
class Unconfirmed:
    """A credential authenticated from a cache (the warm-key cache's entry), which stands only
    once the shared cache confirms, on this request, that nothing withdrew it: `expect` lists
    cache keys with whether each must exist (no tombstone; the entry itself, so that a cache
    that lost its state cannot vouch for a copy), `discard` forgets this worker's copy.
    ApiView asks in the round trip that counts the request's rate limits, and authenticates
    the request again when the answer is not the one expected."""

    expect: tuple[tuple[str, bool], ...]
    discard: Callable[[], None]


def unconfirmed(request: Any) -> Unconfirmed | None:
    """The request's credential, if it still awaits that confirmation."""
    return getattr(request, "unconfirmed_credential", None)
