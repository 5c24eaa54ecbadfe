"""End to end with the official MCP Python SDK's client, as an MCP host runs it: its Streamable
HTTP transport with its OAuth support, against a live server, with a person in real Chromium.

The client connects to /mcp with no token and learns everything from the 401: the protected
resource metadata, the authorization server, dynamic registration. It hands the authorization
URL to its redirect handler (here: the test's browser, where the person signs in, chooses an
organization and authorizes) and waits on its loopback listener for the code. Then tools/list,
and tools/call list_projects answering with the person's project. Then the person revokes the
application in the dashboard, and the client's next call is 401: the client sets about
authorizing again, which is where the test stops it.

The SDK's client is asynchronous and Playwright's sync API holds the test's thread, so the
client runs in a thread of its own with its own event loop; the two meet through queues.
"""

from __future__ import annotations

import asyncio
import queue
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs, urlsplit

import anyio
import httpx
import pytest
from mcp import ClientSession
from mcp.client.auth import OAuthClientProvider
from mcp.client.streamable_http import streamable_http_client
from mcp.shared.auth import OAuthClientInformationFull, OAuthClientMetadata, OAuthToken
from mcp.types import CallToolResult, Tool
from playwright.sync_api import expect

from tenants.models import Project
from tests.browser.conftest import (
    ORGANIZATION,
    LoopbackCallback,
    World,
    query,
    sign_in_to_consent,
)

pytestmark = pytest.mark.django_db(transaction=True)

CLIENT_NAME = "Engine Room Assistant"
WAIT = 30  # seconds either side waits for the other


@pytest.fixture
def world(world: World, project_factory: Callable[..., Project]) -> World:
    """conftest's `world`, and a project in the other organization too: list_projects must
    answer with ORGANIZATION's project alone."""
    project_factory(world.elsewhere, name="Analytical Engine")
    return world


# --- The MCP host, in its own thread ----------------------------------------------------------


class Storage:
    """The SDK's TokenStorage, in memory."""

    def __init__(self) -> None:
        self.tokens: OAuthToken | None = None
        self.client_info: OAuthClientInformationFull | None = None

    async def get_tokens(self) -> OAuthToken | None:
        return self.tokens

    async def set_tokens(self, tokens: OAuthToken) -> None:
        self.tokens = tokens

    async def get_client_info(self) -> OAuthClientInformationFull | None:
        return self.client_info

    async def set_client_info(self, client_info: OAuthClientInformationFull) -> None:
        self.client_info = client_info


class AuthorizeAgain(Exception):
    """Raised by the redirect handler once the test has seen what it came for."""


@dataclass
class Host:
    """The SDK's client against `url`. Its redirect handler puts each authorization URL on
    `authorizations` (for the browser) and its callback handler waits for the loopback
    listener. It connects, lists the tools, calls list_projects, puts both on `results`,
    waits for `revoked`, and calls list_projects again. Every HTTP response it receives is
    kept in `responses`, in order."""

    url: str
    loopback: LoopbackCallback
    organization_id: str
    authorizations: queue.Queue[str] = field(default_factory=queue.Queue)
    results: queue.Queue[tuple[list[Tool], CallToolResult]] = field(default_factory=queue.Queue)
    revoked: threading.Event = field(default_factory=threading.Event)
    responses: list[httpx.Response] = field(default_factory=list)
    storage: Storage = field(default_factory=Storage)
    error: BaseException | None = None
    thread: threading.Thread | None = None

    def start(self) -> None:
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def join(self) -> None:
        assert self.thread is not None
        self.thread.join(WAIT)
        assert not self.thread.is_alive(), "the MCP client did not finish"

    def _run(self) -> None:
        try:
            asyncio.run(self.converse())
        except BaseException as exc:  # handed to the test, which asserts on it
            self.error = exc

    async def redirect_handler(self, authorization_url: str) -> None:
        self.authorizations.put(authorization_url)
        if self.revoked.is_set():
            raise AuthorizeAgain()

    async def callback_handler(self) -> tuple[str, str | None]:
        answer = await anyio.to_thread.run_sync(self.loopback.wait, WAIT)
        params = {name: values[0] for name, values in parse_qs(urlsplit(answer).query).items()}
        return params["code"], params.get("state")

    async def record(self, response: httpx.Response) -> None:
        self.responses.append(response)

    async def converse(self) -> None:
        provider = OAuthClientProvider(
            server_url=self.url,
            client_metadata=OAuthClientMetadata(
                client_name=CLIENT_NAME,
                redirect_uris=[self.loopback.redirect_uri],
                grant_types=["authorization_code", "refresh_token"],
                response_types=["code"],
                token_endpoint_auth_method="none",
            ),
            storage=self.storage,
            redirect_handler=self.redirect_handler,
            callback_handler=self.callback_handler,
        )
        http = httpx.AsyncClient(
            auth=provider, timeout=WAIT, event_hooks={"response": [self.record]}
        )
        async with (
            http,
            streamable_http_client(self.url, http_client=http) as (read, write, _session_id),
            ClientSession(read, write) as session,
        ):
            await session.initialize()
            listed = await session.list_tools()
            arguments = {"organizationId": self.organization_id}
            projects = await session.call_tool("list_projects", arguments)
            self.results.put((listed.tools, projects))
            await anyio.to_thread.run_sync(self.revoked.wait, WAIT)
            await session.call_tool("list_projects", arguments)


# --- The person, in Chromium -------------------------------------------------------------------


def sign_in_and_authorize(page: Any, url: str, loopback: LoopbackCallback) -> None:
    """Open the authorization URL signed out, sign in where it sends, pin the authorization to
    ORGANIZATION and authorize: the browser lands on the client's loopback listener."""
    sign_in_to_consent(page, url, CLIENT_NAME, loopback)
    expect(page.get_by_text("It will reach the MCP endpoint.")).to_be_visible()
    for scope in ("user:read", "projects:read", "projects:write", "api-keys:read"):
        expect(page.locator("ul.scope-list code", has_text=scope)).to_have_count(1)
    page.get_by_label("Organization").select_option(label=ORGANIZATION)
    page.get_by_role("button", name="Authorize").click()
    page.wait_for_url(loopback.at_callback)
    expect(page.locator("body")).to_have_text("ok")


def revoke_in_the_dashboard(page: Any, base: str) -> None:
    page.goto(f"{base}/settings/authorized-applications")
    row = page.get_by_role("row").filter(has_text=CLIENT_NAME)
    expect(row).to_contain_text(ORGANIZATION)
    row.get_by_role("button", name=f"Revoke {CLIENT_NAME}").click()
    expect(page.get_by_text(f"{CLIENT_NAME} no longer has access.")).to_be_visible()


def test_the_sdk_client_authorizes_lists_and_calls_tools_and_stops_when_revoked(
    public_url_is_live_server, page, csp_violations, loopback_callback, world
):
    base = public_url_is_live_server
    mcp = f"{base}/mcp"
    host = Host(url=mcp, loopback=loopback_callback, organization_id=world.organization.pk)
    host.start()

    # Discovery and registration happened on the client's side; what reaches the browser is
    # an authorization URL for the MCP endpoint, with the scopes the 401 named.
    url = host.authorizations.get(timeout=WAIT)
    asked = query(url)
    assert url.startswith(f"{base}/oauth/authorize?")
    assert asked["resource"] == mcp
    assert asked["scope"] == "user:read projects:read projects:write api-keys:read"
    assert asked["code_challenge_method"] == "S256"
    assert asked["redirect_uri"] == loopback_callback.redirect_uri
    first = host.responses[0]
    assert (first.request.url, first.status_code) == (mcp, 401)
    assert first.headers["WWW-Authenticate"] == (
        'Bearer realm="mcp", scope="user:read projects:read projects:write api-keys:read", '
        f'resource_metadata="{base}/.well-known/oauth-protected-resource/mcp"'
    )
    registered = [r for r in host.responses if r.request.url == f"{base}/oauth/register"]
    assert [r.status_code for r in registered] == [201]

    sign_in_and_authorize(page, url, loopback_callback)

    tools, projects = host.results.get(timeout=WAIT)
    assert [tool.name for tool in tools] == [
        "whoami",
        "list_organizations",
        "list_projects",
        "create_project",
        "list_api_keys",
        "revoke_api_key",
    ]
    assert projects.isError is False
    listed = projects.structuredContent["projects"]
    assert [(p["id"], p["name"]) for p in listed] == [(world.project.pk, "Difference Engine")]
    assert projects.structuredContent["pagination"]["totalItems"] == 1

    # The person revokes the application: the client's next call is refused, and the client
    # sets about authorizing again (the test stops it there).
    revoke_in_the_dashboard(page, base)
    host.revoked.set()
    again = host.authorizations.get(timeout=WAIT)
    host.join()

    assert query(again)["client_id"] == asked["client_id"]  # registered once, kept
    refused = [r for r in host.responses if r.request.url == mcp][-1]
    assert refused.status_code == 401
    assert refused.headers["WWW-Authenticate"].startswith(
        'Bearer realm="mcp", error="invalid_token"'
    )
    assert refused.json()["error"]["data"]["code"] == "TOKEN_INVALID"
    assert isinstance(host.error, BaseExceptionGroup)
    assert host.error.subgroup(AuthorizeAgain) is not None
    assert csp_violations == []
