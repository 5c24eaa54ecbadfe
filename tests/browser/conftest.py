"""Real Chromium, driven by Playwright: Debian's `chromium` package, never a browser download.

The browser is /usr/bin/chromium, or CHROMIUM_PATH. Where it is missing the browser tests skip,
except on CI (CI=true), where a missing browser is a failure: .ci/run installs it.
"""

from __future__ import annotations

import os
import re
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from django.conf import settings as django_settings

ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"
LAUNCH_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def chromium_path() -> str | None:
    configured = os.environ.get("CHROMIUM_PATH")
    if configured:
        return configured if Path(configured).exists() else None
    return shutil.which("chromium") or shutil.which("chromium-browser")


@pytest.fixture(scope="session")
def chromium() -> Iterator[object]:
    path = chromium_path()
    if path is None:
        message = "Chromium not found: apt-get install chromium (or set CHROMIUM_PATH)"
        if os.environ.get("CI") == "true":
            pytest.fail(message)
        pytest.skip(message)
    # Playwright's sync API runs an event loop in this thread; the test's own ORM calls are
    # still synchronous, which Django would otherwise refuse.
    os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=path, args=LAUNCH_ARGS)
        yield browser
        browser.close()


@pytest.fixture
def page(chromium: object) -> Iterator[object]:
    context = chromium.new_context()
    page = context.new_page()
    page.set_default_timeout(15_000)
    yield page
    context.close()


@pytest.fixture
def artifacts() -> Path:
    ARTIFACTS.mkdir(exist_ok=True)
    return ARTIFACTS


@pytest.fixture
def csp_violations(page: object) -> list[str]:
    """Every Content-Security-Policy violation Chromium reports on the page's console, across
    navigations: a blocked inline script or style, a script or style from elsewhere."""
    seen: list[str] = []

    def listen(message: object) -> None:
        text = message.text  # type: ignore[attr-defined]
        if "Content Security Policy" in text:
            seen.append(f"{page.url}: {text}")  # type: ignore[attr-defined]

    page.on("console", listen)  # type: ignore[attr-defined]
    return seen


@pytest.fixture
def public_url_is_live_server(live_server: Any, settings: Any) -> str:
    """PUBLIC_URL, and every setting config/settings.py derives from it, pointed at the live
    server for the test; returns that URL.

    The OAuth issuer (the metadata document's endpoints, `iss` in every authorization
    response, a JWT's `iss`), the resources a token is issued for, the protected-resource
    metadata and the 401 challenges all name PUBLIC_URL: a client talking to the live server
    must see its address there. Assigning OAUTH2_PROVIDER sends `setting_changed`, on which
    django-oauth-toolkit reloads its cached `oauth2_settings` (and again when the test ends).
    Should settings.py derive a new setting from PUBLIC_URL, the check at the end fails here,
    naming it, rather than a test failing on an address far from the cause."""
    old, url = settings.PUBLIC_URL, live_server.url
    settings.PUBLIC_URL = url
    settings.OAUTH_API_RESOURCE = f"{url}/api"
    settings.OAUTH_MCP_RESOURCE = f"{url}/mcp"
    settings.OAUTH_RESOURCES = (settings.OAUTH_API_RESOURCE, settings.OAUTH_MCP_RESOURCE)
    settings.OAUTH2_PROVIDER = {
        **settings.OAUTH2_PROVIDER,
        "OIDC_ISS_ENDPOINT": url,
        "OAUTH2_PROTECTED_RESOURCE_IDENTIFIER": f"{url}/api",
        "OAUTH2_PROTECTED_RESOURCE_AUTHORIZATION_SERVERS": [url],
        "OAUTH2_PROTECTED_RESOURCE_DOCUMENTATION": f"{url}/api/docs",
    }
    if old != url:
        # The old address, not followed by more of a URL's authority (a port, a longer host).
        stale = re.compile(re.escape(old) + r"(?![\w:.-])")
        names = [name for name in dir(django_settings) if name.isupper()]
        left = [name for name in names if stale.search(repr(getattr(django_settings, name)))]
        assert not left, f"still derived from the old PUBLIC_URL {old!r}: {left}"
    return url
