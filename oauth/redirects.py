"""Which redirect URIs a client may register: the same rule for the dashboard's form and for
dynamic registration."""

from __future__ import annotations

import re
from urllib.parse import urlsplit

MAX_REDIRECT_URIS = 10

HOST = re.compile(r"[a-z0-9]([a-z0-9-]*[a-z0-9])?(\.[a-z0-9]([a-z0-9-]*[a-z0-9])?)*")


def redirect_uri_problem(uri: str) -> str | None:
    """Why `uri` cannot be a redirect URI, or None: an absolute https URL with a plain (ASCII,
    punycode) host name, no user name and no fragment, or http on a loopback address for a
    native app (RFC 8252)."""
    if "#" in uri or "%" in uri.partition("?")[0].partition("//")[2].partition("/")[0]:
        return f"{uri} must have no fragment and a plain host name."
    try:
        parts = urlsplit(uri)
        port = parts.port
    except ValueError:
        return f"{uri} is not a URL."
    host = parts.hostname or ""
    if not host or parts.username or parts.password or port == 0:
        return f"{uri} must be an absolute URL with a host, and no user name."
    loopback = host in {"127.0.0.1", "localhost", "::1"}
    if not (loopback or HOST.fullmatch(host)):
        return f"{uri} must name its host in plain letters (punycode for other scripts)."
    if parts.scheme == "https" or (parts.scheme == "http" and loopback):
        return None
    return f"{uri} must use https (plain http only on 127.0.0.1, [::1] or localhost)."
