"""Client ID metadata documents: a client whose client_id is the URL of a JSON document
describing it runs the code flow like a registered one, under the same rules; every document
that cannot be used is an error page, never a 500; the document is cached as it says."""

from __future__ import annotations

import html
import io
import json
import socket
import threading
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import SimpleNamespace
from typing import Any

import pytest
import urllib3
from django.test import Client
from django.utils import timezone

from audit.models import AuditEvent
from oauth.models import AccessToken, Application, Grant
from tests.oauth.conftest import REDIRECT
from tests.oauth.test_authorization_server import (
    AUTHORIZE,
    METADATA,
    assert_error_page,
    assert_error_redirect,
    authorize_params,
    consent,
    exchange,
    pkce,
    query,
)

pytestmark = pytest.mark.django_db

NATIVE = "http://127.0.0.1/callback"


# --- A document server on 127.0.0.1 -----------------------------------------------------------


@dataclass
class Served:
    body: bytes
    content_type: str = "application/json"
    cache_control: str = "max-age=600"
    delay: float = 0.0


class DocumentServer:
    """Serves documents on 127.0.0.1 at an ephemeral port, and counts the requests per path."""

    def __init__(self) -> None:
        self.documents: dict[str, Served] = {}
        self.hits: Counter[str] = Counter()
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                server.hits[self.path] += 1
                served = server.documents.get(self.path)
                if served is None:
                    self.send_error(404)
                    return
                time.sleep(served.delay)
                try:
                    self.send_response(200)
                    self.send_header("Content-Type", served.content_type)
                    self.send_header("Cache-Control", served.cache_control)
                    self.send_header("Content-Length", str(len(served.body)))
                    self.end_headers()
                    self.wfile.write(served.body)
                except (BrokenPipeError, ConnectionResetError):
                    pass  # the fetcher gave up first (timeout, size limit): as it should

            def log_message(self, *args: Any) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.httpd.block_on_close = False  # a slow response must not hold the teardown
        self.port = self.httpd.server_address[1]

    def url(self, path: str, host: str = "127.0.0.1") -> str:
        return f"http://{host}:{self.port}{path}"

    def serve(self, path: str, document: dict | None = None, **served: Any) -> str:
        """Serve `document` (its client_id defaulting to its own URL) at `path`; or the raw
        `body` given. Returns the document's URL."""
        url = self.url(path)
        if document is not None:
            served["body"] = json.dumps({"client_id": url, **document}).encode()
        self.documents[path] = Served(**served)
        return url


@pytest.fixture
def documents(settings: Any) -> Iterator[DocumentServer]:
    """A document server, with development documents (plain http on loopback) allowed."""
    settings.OAUTH_CIMD_ALLOW_LOCALHOST_HTTP = True
    server = DocumentServer()
    thread = threading.Thread(target=server.httpd.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    yield server
    server.httpd.shutdown()
    server.httpd.server_close()


def document(**changes: Any) -> dict:
    """A good client ID metadata document for a web client, with `changes`."""
    body = {
        "client_name": "Acme Notes",
        "client_uri": "https://notes.example",
        "redirect_uris": [REDIRECT, NATIVE],
        "grant_types": ["authorization_code", "refresh_token"],
        "response_types": ["code"],
        "token_endpoint_auth_method": "none",
        **changes,
    }
    return {name: value for name, value in body.items() if value is not None}


def client_named(client_id: str) -> Any:
    """What the flow helpers need of a client: its id, and that it is public."""
    return SimpleNamespace(client_id=client_id, client_type=Application.CLIENT_PUBLIC)


def page_text(response: Any) -> str:
    return html.unescape(response.content.decode())


def assert_refused(response: Any, client_id: str) -> None:
    """The person sees the error page naming whose document it was; nothing is registered or
    granted."""
    assert_error_page(response)
    assert "client ID metadata document" in page_text(response)
    assert not Application.objects.filter(client_id=client_id).exists()
    assert not Grant.objects.exists()


# --- The flow ----------------------------------------------------------------------------------


def test_a_client_named_by_its_document_runs_the_code_flow(
    browser: Client, documents: DocumentServer
) -> None:
    client_id = documents.serve("/acme/client.json", document())
    client = client_named(client_id)
    verifier, challenge = pkce()

    page = browser.get(AUTHORIZE, authorize_params(client, challenge))

    assert page.status_code == 200, page.content
    text = page_text(page)
    assert "Acme Notes wants to use your Latchkey account" in text
    # Who vouches for that name: the host that publishes the document.
    assert f"published by <strong>127.0.0.1:{documents.port}</strong>" in text
    answer = consent(browser, client, challenge=challenge)
    assert answer.status_code == 302, answer.content
    response = exchange(client, query(answer["Location"])["code"], verifier)
    assert response.status_code == 200, response.content
    assert response.json()["token_type"] == "Bearer"
    application = Application.objects.get(client_id=client_id)
    assert application.registration_source == Application.RegistrationSource.CIMD
    assert (application.name, application.client_type) == ("Acme Notes", "public")
    assert application.user_id is None
    assert AccessToken.objects.filter(application=application).exists()


def test_a_native_client_redirects_to_loopback_on_any_port(
    browser: Client, documents: DocumentServer
) -> None:
    client = client_named(documents.serve("/native.json", document(redirect_uris=[NATIVE])))
    verifier, challenge = pkce()
    native = "http://127.0.0.1:53412/callback"

    answer = consent(browser, client, challenge=challenge, redirect_uri=native)

    assert answer["Location"].startswith(native + "?")
    response = exchange(client, query(answer["Location"])["code"], verifier, redirect_uri=native)
    assert response.status_code == 200, response.content


def test_a_first_sight_is_audited_as_a_registration_once(
    browser: Client, documents: DocumentServer
) -> None:
    client = client_named(documents.serve("/acme/client.json", document()))

    browser.get(AUTHORIZE, authorize_params(client, pkce()[1]))
    browser.get(AUTHORIZE, authorize_params(client, pkce()[1]))

    event = AuditEvent.objects.get(action="oauth.application_registered")
    assert event.detail["clientId"] == client.client_id
    assert event.detail["by"] == "cimd"
    assert event.detail["application"] == "Acme Notes"
    assert event.detail["documentHost"] == f"127.0.0.1:{documents.port}"
    assert event.detail["redirectUris"] == [REDIRECT, NATIVE]


# --- The same rules as every client --------------------------------------------------------------


def test_pkce_is_required(browser: Client, documents: DocumentServer) -> None:
    client = client_named(documents.serve("/acme/client.json", document()))
    params = authorize_params(client, None)
    del params["code_challenge_method"]

    response = browser.get(AUTHORIZE, params)

    assert_error_redirect(response, "invalid_request")


@pytest.mark.parametrize("scope", ["admin", "user:read superpowers"], ids=str)
def test_scopes_come_from_the_catalogue(
    browser: Client, documents: DocumentServer, scope: str
) -> None:
    client = client_named(documents.serve("/acme/client.json", document(scope=scope)))

    response = browser.get(AUTHORIZE, authorize_params(client, pkce()[1], scope=scope))

    assert_error_redirect(response, "invalid_scope")


@pytest.mark.parametrize(
    "redirect_uri",
    ["https://client.example/other", "https://evil.example/callback", "http://localhost/callback"],
)
def test_a_redirect_uri_not_in_the_document_gets_the_error_page(
    browser: Client, documents: DocumentServer, redirect_uri: str
) -> None:
    client = client_named(documents.serve("/acme/client.json", document()))

    response = browser.get(
        AUTHORIZE, authorize_params(client, pkce()[1], redirect_uri=redirect_uri)
    )

    assert_error_page(response)
    assert not Grant.objects.exists()


@pytest.mark.parametrize(
    "changes",
    [
        {"token_endpoint_auth_method": "client_secret_basic"},
        {"token_endpoint_auth_method": "private_key_jwt"},
        {"token_endpoint_auth_method": None},
        {"client_secret": "shh"},
        {"redirect_uris": []},
        {"redirect_uris": ["http://client.example/callback"]},
        {"redirect_uris": ["https://client.example/callback#frag"]},
        {"redirect_uris": ["https://user@client.example/callback"]},
        {"redirect_uris": [f"https://client.example/{n}" for n in range(11)]},
        {"redirect_uris": "https://client.example/callback"},
        {"grant_types": ["implicit"]},
        {"grant_types": ["authorization_code", "client_credentials"]},
        {"response_types": ["token"]},
        {"client_name": 42},
    ],
    ids=[
        "confidential method", "private_key_jwt", "no auth method (client_secret_basic)",
        "a secret", "no redirect URI", "plain http redirect", "redirect with fragment",
        "redirect with user", "eleven redirects", "redirects not a list", "implicit grant",
        "client credentials grant", "token response type", "name not a string",
    ],
)  # fmt: skip
def test_a_document_describing_a_client_this_server_does_not_take_is_refused(
    browser: Client, documents: DocumentServer, changes: dict
) -> None:
    client_id = documents.serve("/acme/client.json", document(**changes))

    response = browser.get(AUTHORIZE, authorize_params(client_named(client_id), pkce()[1]))

    assert_refused(response, client_id)


def test_a_document_naming_another_client_id_is_refused(
    browser: Client, documents: DocumentServer
) -> None:
    other = documents.serve("/other.json", document())
    client_id = documents.serve("/acme/client.json", document(client_id=other))

    response = browser.get(AUTHORIZE, authorize_params(client_named(client_id), pkce()[1]))

    assert_refused(response, client_id)
    assert not Application.objects.filter(client_id=other).exists()


# --- What is fetched, and how --------------------------------------------------------------------


def test_plain_http_documents_are_refused_when_the_setting_is_off(
    browser: Client, documents: DocumentServer, settings: Any
) -> None:
    settings.OAUTH_CIMD_ALLOW_LOCALHOST_HTTP = False
    client_id = documents.serve("/acme/client.json", document())

    response = browser.get(AUTHORIZE, authorize_params(client_named(client_id), pkce()[1]))

    assert_refused(response, client_id)
    assert documents.hits["/acme/client.json"] == 0


@pytest.mark.parametrize(
    "client_id",
    [
        "http://client.example/client.json",
        "http://10.0.0.7/client.json",
        "http://169.254.169.254/latest/meta-data",
        "http://[::ffff:127.0.0.1]/client.json",
        "http://localhost.evil.example/client.json",
        "http://127.0.0.1.nip.io/client.json",
        "http://localhost@evil.example/client.json",
    ],
)
def test_plain_http_is_only_for_loopback(
    browser: Client, documents: DocumentServer, monkeypatch: pytest.MonkeyPatch, client_id: str
) -> None:
    looked_up: list[Any] = []
    monkeypatch.setattr(socket, "getaddrinfo", lambda *args, **kw: looked_up.append(args) or [])

    response = browser.get(AUTHORIZE, authorize_params(client_named(client_id), pkce()[1]))

    assert_refused(response, client_id)
    assert looked_up == []  # not even resolved


def test_localhost_is_reached_at_127_0_0_1_without_a_lookup(
    browser: Client, documents: DocumentServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    documents.serve("/acme/client.json", document())
    client_id = documents.url("/acme/client.json", host="localhost")
    documents.documents["/acme/client.json"].body = json.dumps(
        {"client_id": client_id, **document()}
    ).encode()
    real = socket.getaddrinfo
    looked_up: list[str] = []

    def getaddrinfo(host: Any, *args: Any, **kwargs: Any) -> Any:
        looked_up.append(host)
        return real(host, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)

    response = browser.get(AUTHORIZE, authorize_params(client_named(client_id), pkce()[1]))

    assert response.status_code == 200, response.content
    assert "localhost" not in looked_up


@pytest.mark.parametrize(
    "served",
    [
        {"body": b"{}", "content_type": "text/html"},
        {"body": b"<html>not json</html>"},
        {"body": b"[1, 2, 3]"},
        {"body": b'{"client_id": "' + b"x" * 20000 + b'"}'},
    ],
    ids=["not a JSON media type", "not JSON", "not an object", "over the size limit"],
)
def test_a_document_that_is_not_a_json_object_within_the_limit_is_refused(
    browser: Client, documents: DocumentServer, served: dict
) -> None:
    client_id = documents.serve("/acme/client.json", **served)

    response = browser.get(AUTHORIZE, authorize_params(client_named(client_id), pkce()[1]))

    assert_refused(response, client_id)


def test_an_oversize_document_is_refused_even_when_it_is_valid(
    browser: Client, documents: DocumentServer, settings: Any
) -> None:
    settings.OAUTH2_PROVIDER = {**settings.OAUTH2_PROVIDER, "CIMD_MAX_DOCUMENT_SIZE": 200}
    client_id = documents.serve("/acme/client.json", document(client_uri="https://x.example/"))

    response = browser.get(AUTHORIZE, authorize_params(client_named(client_id), pkce()[1]))

    assert_refused(response, client_id)


def test_a_document_that_does_not_come_in_time_is_refused(
    browser: Client, documents: DocumentServer, settings: Any
) -> None:
    settings.OAUTH2_PROVIDER = {**settings.OAUTH2_PROVIDER, "CIMD_FETCH_TIMEOUT_SECONDS": 0.3}
    client_id = documents.serve("/slow.json", document(), delay=1.0)
    started = time.monotonic()

    response = browser.get(AUTHORIZE, authorize_params(client_named(client_id), pkce()[1]))

    assert time.monotonic() - started < 0.9
    assert_refused(response, client_id)


def test_a_missing_document_is_refused(browser: Client, documents: DocumentServer) -> None:
    client_id = documents.url("/nothing-here.json")

    response = browser.get(AUTHORIZE, authorize_params(client_named(client_id), pkce()[1]))

    assert_refused(response, client_id)


# --- https documents: django-oauth-toolkit's fetcher, Latchkey's rules ---------------------------


HTTPS_ID = "https://notes.example/oauth/client.json"


def resolving_to(monkeypatch: pytest.MonkeyPatch, *addresses: str) -> None:
    """The client's host name resolves to these addresses (as DNS would answer)."""

    def getaddrinfo(host: Any, port: Any, *args: Any, **kwargs: Any) -> list:
        family = socket.AF_INET6 if ":" in addresses[0] else socket.AF_INET
        return [(family, socket.SOCK_STREAM, 6, "", (ip, port)) for ip in addresses]

    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)


@pytest.fixture
def https_fetches(monkeypatch: pytest.MonkeyPatch) -> list[dict]:
    """No real TLS connection: each https fetch is recorded and answered with the document
    for HTTPS_ID."""
    fetches: list[dict] = []
    body = json.dumps({"client_id": HTTPS_ID, **document()}).encode()

    def urlopen(pool: Any, method: str, url: str, headers: dict, **kwargs: Any) -> Any:
        fetches.append({"address": pool.host, "path": url, "host": headers["Host"], **kwargs})
        return urllib3.HTTPResponse(
            body=io.BytesIO(body),
            headers={"Content-Type": "application/json", "Cache-Control": "max-age=600"},
            status=200,
            preload_content=False,
        )

    monkeypatch.setattr(urllib3.HTTPSConnectionPool, "urlopen", urlopen)
    return fetches


def test_an_https_document_is_fetched_from_the_public_address_checked(
    browser: Client, monkeypatch: pytest.MonkeyPatch, https_fetches: list[dict]
) -> None:
    resolving_to(monkeypatch, "93.184.215.14")

    response = browser.get(AUTHORIZE, authorize_params(client_named(HTTPS_ID), pkce()[1]))

    assert response.status_code == 200, response.content
    assert "published by <strong>notes.example</strong>" in page_text(response)
    [fetch] = https_fetches
    assert (fetch["address"], fetch["host"], fetch["path"]) == (
        "93.184.215.14",
        "notes.example",
        "/oauth/client.json",
    )
    assert fetch["redirect"] is False


@pytest.mark.parametrize(
    "addresses",
    [
        ("10.0.0.5",),
        ("127.0.0.1",),
        ("169.254.169.254",),
        ("192.168.1.10",),
        ("100.64.0.1",),
        ("::1",),
        ("fd00::1",),
        ("::ffff:10.0.0.1",),
        ("93.184.215.14", "10.0.0.5"),
    ],
    ids=[
        "private", "loopback", "cloud metadata", "home network", "carrier-grade NAT",
        "ipv6 loopback", "ipv6 unique local", "ipv4-mapped private", "one public, one private",
    ],
)  # fmt: skip
def test_an_https_document_on_a_non_public_address_is_never_fetched(
    browser: Client,
    monkeypatch: pytest.MonkeyPatch,
    https_fetches: list[dict],
    addresses: tuple[str, ...],
) -> None:
    resolving_to(monkeypatch, *addresses)

    response = browser.get(AUTHORIZE, authorize_params(client_named(HTTPS_ID), pkce()[1]))

    assert_refused(response, HTTPS_ID)
    assert https_fetches == []


def test_the_localhost_setting_does_not_open_https_to_private_addresses(
    browser: Client, monkeypatch: pytest.MonkeyPatch, https_fetches: list[dict], settings: Any
) -> None:
    settings.OAUTH_CIMD_ALLOW_LOCALHOST_HTTP = True
    resolving_to(monkeypatch, "127.0.0.1")

    response = browser.get(AUTHORIZE, authorize_params(client_named(HTTPS_ID), pkce()[1]))

    assert_refused(response, HTTPS_ID)
    assert https_fetches == []


@pytest.mark.parametrize("enabled", [True, False])
def test_metadata_advertises_documents_and_registration(settings: Any, enabled: bool) -> None:
    settings.OAUTH2_PROVIDER = {**settings.OAUTH2_PROVIDER, "CIMD_ENABLED": enabled}

    body = Client().get(METADATA).json()

    assert body["client_id_metadata_document_supported"] is enabled
    assert body["registration_endpoint"] == f"{settings.PUBLIC_URL}/oauth/register"


def test_documents_are_not_fetched_when_disabled(
    browser: Client, documents: DocumentServer, settings: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings.OAUTH2_PROVIDER = {**settings.OAUTH2_PROVIDER, "CIMD_ENABLED": False}
    resolving_to(monkeypatch, "93.184.215.14")

    response = browser.get(AUTHORIZE, authorize_params(client_named(HTTPS_ID), pkce()[1]))

    assert_refused(response, HTTPS_ID)


# --- Caching -------------------------------------------------------------------------------------


def authorize_twice(browser: Client, client_id: str) -> list[Any]:
    client = client_named(client_id)
    return [browser.get(AUTHORIZE, authorize_params(client, pkce()[1])) for _ in range(2)]


def test_a_document_is_not_fetched_again_within_its_max_age(
    browser: Client, documents: DocumentServer
) -> None:
    client_id = documents.serve("/acme/client.json", document(), cache_control="max-age=3600")

    responses = authorize_twice(browser, client_id)

    assert [r.status_code for r in responses] == [200, 200]
    assert documents.hits["/acme/client.json"] == 1
    application = Application.objects.get(client_id=client_id)
    remaining = (application.cimd_expires_at - timezone.now()).total_seconds()
    assert 3500 < remaining <= 3600


def test_an_https_document_is_not_fetched_again_within_its_max_age(
    browser: Client, monkeypatch: pytest.MonkeyPatch, https_fetches: list[dict]
) -> None:
    resolving_to(monkeypatch, "93.184.215.14")

    responses = authorize_twice(browser, HTTPS_ID)

    assert [r.status_code for r in responses] == [200, 200]
    assert len(https_fetches) == 1


def expire(client_id: str) -> None:
    Application.objects.filter(client_id=client_id).update(
        cimd_expires_at=timezone.now() - timedelta(seconds=1)
    )


def test_a_stale_document_is_fetched_again_and_its_changes_shown(
    browser: Client, documents: DocumentServer
) -> None:
    client_id = documents.serve("/acme/client.json", document())
    authorize_twice(browser, client_id)
    documents.serve("/acme/client.json", document(client_name="Acme Notes 2"))
    expire(client_id)

    response = browser.get(AUTHORIZE, authorize_params(client_named(client_id), pkce()[1]))

    assert "Acme Notes 2 wants to use your Latchkey account" in page_text(response)
    assert documents.hits["/acme/client.json"] == 2
    assert AuditEvent.objects.filter(action="oauth.application_registered").count() == 1


def test_a_failed_refresh_keeps_the_last_good_document(
    browser: Client, documents: DocumentServer
) -> None:
    client_id = documents.serve("/acme/client.json", document())
    authorize_twice(browser, client_id)
    documents.serve("/acme/client.json", body=b"oops", content_type="text/plain")
    expire(client_id)

    response = browser.get(AUTHORIZE, authorize_params(client_named(client_id), pkce()[1]))

    assert response.status_code == 200
    assert "Acme Notes wants to use your Latchkey account" in page_text(response)
