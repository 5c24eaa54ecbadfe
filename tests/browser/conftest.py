"""Real Chromium, driven by Playwright: Debian's `chromium` package, never a browser download.

The browser is /usr/bin/chromium, or CHROMIUM_PATH. Where it is missing the browser tests skip,
except on CI (CI=true), where a missing browser is a failure: .ci/run installs it.

Also what the OAuth and MCP tests share: the person and organizations that authorize a client,
an application's loopback callback listener, signing in on the way to the consent page, and
`query` to read a URL's parameters.
"""

from __future__ import annotations

import os
import queue
import re
import shutil
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from django.conf import settings as django_settings
from playwright.sync_api import expect

from tenants.models import Organization, Project
from tests.conftest import PASSWORD

EMAIL = "ada@example.com"
ORGANIZATION = "Analytical Engines"
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


def query(url: str) -> dict[str, str]:
    """The query parameters of `url`, each of which must stand there once."""
    params = parse_qs(urlsplit(url).query, keep_blank_values=True)
    assert all(len(values) == 1 for values in params.values()), params
    return {name: values[0] for name, values in params.items()}


class LoopbackCallback:
    def __init__(self, origin: str) -> None:
        self.origin = origin
        self.received: list[str] = []
        self._arrivals: queue.Queue[str] = queue.Queue()

    @property
    def redirect_uri(self) -> str:
        return f"{self.origin}/callback"

    @property
    def at_callback(self) -> re.Pattern[str]:
        return re.compile(re.escape(self.redirect_uri) + r"\?")

    def _arrive(self, url: str) -> None:
        self.received.append(url)
        self._arrivals.put(url)

    def wait(self, timeout: float) -> str:
        try:
            return self._arrivals.get(timeout=timeout)
        except queue.Empty:
            raise TimeoutError(f"nothing reached {self.redirect_uri} in {timeout}s") from None


@pytest.fixture
def loopback_callback() -> Iterator[LoopbackCallback]:
    """An application's loopback listener (RFC 8252), as a native app or an MCP host runs one:
    a tiny HTTP server on 127.0.0.1, on a free port, in a thread, so that its origin is not the
    live server's (http://localhost:<port>). Shut down when the test ends.

    It answers GET /callback with "ok" (any other path with 404) and gives:
    - `origin`: http://127.0.0.1:<port>; `redirect_uri`: the origin's /callback;
      `at_callback`: a pattern for `page.wait_for_url` matching the redirect URI with a query;
    - `received`: the full URL of every callback that arrived, in order;
    - `wait(timeout)`: blocks until a callback arrives that no earlier `wait` returned, and
      returns its full URL (TimeoutError after `timeout` seconds); safe from any thread."""

    class Callback(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            if urlsplit(self.path).path != "/callback":
                self.send_error(404)
                return
            listener._arrive(listener.origin + self.path)
            body = b"ok"
            self.send_response(200)
            self.send_header("Content-Type", "text/plain")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Callback)
    listener = LoopbackCallback(f"http://127.0.0.1:{server.server_port}")
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield listener
    server.shutdown()
    server.server_close()
    thread.join()


@dataclass
class World:
    organization: Organization
    elsewhere: Organization
    project: Project


@pytest.fixture
def world(
    user_factory: Callable[..., Any],
    org_factory: Callable[..., Organization],
    project_factory: Callable[..., Project],
) -> World:
    """Someone (EMAIL) who owns ORGANIZATION, with a project, and one more organization, so
    that the choice on the consent page is a pin."""
    person = user_factory(email=EMAIL, password=PASSWORD)
    elsewhere = org_factory(owner=person, name="Babbage & Co")
    organization = org_factory(owner=person, name=ORGANIZATION)
    return World(
        organization=organization,
        elsewhere=elsewhere,
        project=project_factory(organization, name="Difference Engine"),
    )


def sign_in_to_consent(page: Any, url: str, application: str, loopback: LoopbackCallback) -> None:
    """Open the authorization URL signed out, sign in as EMAIL on the page it sends to, and land
    on the consent page for `application`, which names the loopback's host as where the browser
    goes next."""
    page.goto(url)
    page.wait_for_url(re.compile(r"/sign-in\?next="))
    page.get_by_label("Email").fill(EMAIL)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(re.compile(r"/oauth/authorize\?"))
    expect(page.get_by_role("heading", level=1)).to_contain_text(application)
    expect(page.get_by_text(f"sent back to {urlsplit(loopback.origin).netloc}")).to_be_visible()
