"""Resource indicators (RFC 8707) at the authorization endpoint: a client names the resources
its token is for, among the API and the MCP endpoint; naming none means the API. Every grant
carries its resources explicitly, and the consent page names them."""

from __future__ import annotations

from typing import Any

import pytest
from django.conf import settings as django_settings
from django.test import Client

from oauth.models import AccessToken, Application, Grant
from tests.oauth.test_authorization_server import (
    AUTHORIZE,
    EVERY,
    assert_error_page,
    assert_error_redirect,
    authorize_params,
    exchange,
    hidden_fields,
    pkce,
    query,
)

pytestmark = pytest.mark.django_db

API = django_settings.OAUTH_API_RESOURCE
MCP = django_settings.OAUTH_MCP_RESOURCE
PUBLIC_URL = django_settings.PUBLIC_URL


def authorize(browser: Client, app: Application, resources: list[str], **overrides: str) -> Any:
    """GET the authorization endpoint with each of `resources` as a `resource` parameter."""
    params = authorize_params(app, overrides.pop("challenge", None) or pkce()[1], **overrides)
    return browser.get(AUTHORIZE, {**params, "resource": resources})


def allow(browser: Client, page: Any) -> Any:
    assert page.status_code == 200, page.content
    return browser.post(AUTHORIZE, {**hidden_fields(page), "organization": EVERY, "allow": "on"})


def granted(browser: Client, app: Application, resources: list[str]) -> Grant:
    answer = allow(browser, authorize(browser, app, resources))
    assert answer.status_code == 302, answer.content
    return Grant.objects.get(code=query(answer["Location"])["code"])


def page_text(response: Any) -> str:
    return response.content.decode()


THE_API = "<strong>the Latchkey API</strong>"
THE_MCP = "<strong>the MCP endpoint</strong>"


@pytest.mark.parametrize(
    ("resources", "stored", "named"),
    [
        ([], [API], f"It will reach {THE_API}."),
        ([API], [API], f"It will reach {THE_API}."),
        ([MCP], [MCP], f"It will reach {THE_MCP}."),
        ([API, MCP], [API, MCP], f"It will reach {THE_API} and {THE_MCP}."),
        ([MCP, API], [MCP, API], f"It will reach {THE_MCP} and {THE_API}."),
        ([MCP, MCP], [MCP], f"It will reach {THE_MCP}."),
    ],
    ids=["none: the API", "the API", "the MCP endpoint", "both", "both, MCP first", "repeated"],
)
def test_the_grant_carries_the_resources_named_or_the_api(
    browser: Client, app: Application, resources: list[str], stored: list[str], named: str
) -> None:
    page = authorize(browser, app, resources)

    assert named in page_text(page)
    answer = allow(browser, page)
    assert answer.status_code == 302, answer.content
    assert Grant.objects.get(code=query(answer["Location"])["code"]).resource == stored


def test_the_token_is_for_the_grants_resources(browser: Client, app: Application) -> None:
    verifier, challenge = pkce()
    answer = allow(browser, authorize(browser, app, [MCP], challenge=challenge))

    response = exchange(app, query(answer["Location"])["code"], verifier)

    assert response.status_code == 200, response.content
    assert AccessToken.objects.get(application=app).resource == [MCP]


@pytest.mark.parametrize(
    ("approved", "asked", "asks_again"),
    [
        ([], [], False),
        ([], [API], False),
        ([], [MCP], True),
        ([MCP], [API, MCP], True),
        ([API, MCP], [MCP], False),
        ([API, MCP], [], False),
    ],
    ids=[
        "the API again",
        "the API by name",
        "the MCP endpoint after the API",
        "both after the MCP endpoint",
        "one of both",
        "the default after both",
    ],
)
def test_a_remembered_consent_covers_the_resources_it_approved_and_no_more(
    browser: Client, app: Application, approved: list[str], asked: list[str], asks_again: bool
) -> None:
    granted(browser, app, approved)

    answer = authorize(browser, app, asked)

    if asks_again:
        assert answer.status_code == 200  # the consent page, naming what is asked
        assert b"Allow" in answer.content or b"allow" in answer.content
    else:
        assert answer.status_code == 302, answer.content
        code = query(answer["Location"])["code"]
        assert Grant.objects.get(code=code).resource == (asked or [API])


@pytest.mark.parametrize(
    "resources",
    [
        ["https://evil.example/api"],
        [f"{PUBLIC_URL}/other"],
        [f"{PUBLIC_URL}/api/"],
        [f"{PUBLIC_URL}/api/projects"],
        [f"{PUBLIC_URL}/api#fragment"],
        [f"{PUBLIC_URL}/api?x=1"],
        [PUBLIC_URL.replace("://", "://user@") + "/api"],
        [PUBLIC_URL],
        ["not a uri"],
        ["urn:latchkey:api"],
        [""],
        [f"{API} {MCP}"],
        [API, "https://evil.example/api"],
        [MCP, MCP, "https://evil.example/mcp"],
    ],
    ids=[
        "foreign host", "another path", "trailing slash", "below the API", "fragment", "query",
        "user name", "the server itself", "malformed", "urn", "empty", "two in one parameter",
        "one good, one foreign", "repeated, then foreign",
    ],
)  # fmt: skip
def test_a_resource_this_server_does_not_serve_is_invalid_target(
    browser: Client, app: Application, resources: list[str]
) -> None:
    response = authorize(browser, app, resources)

    assert_error_redirect(response, "invalid_target")
    assert query(response["Location"])["error_description"]
    assert not Grant.objects.exists()


def test_an_unknown_resource_with_a_bad_redirect_uri_gets_the_error_page(
    browser: Client, app: Application
) -> None:
    response = authorize(
        browser, app, ["https://evil.example/api"], redirect_uri="https://evil.example/cb"
    )

    assert_error_page(response)


@pytest.mark.parametrize(
    "resource",
    ["https://evil.example/api", f"{API} https://evil.example/api", "not a uri"],
    ids=["foreign", "added to a good one", "malformed"],
)
def test_a_resource_tampered_into_the_consent_form_is_a_400(
    browser: Client, app: Application, resource: str
) -> None:
    page = authorize(browser, app, [API])
    answer = {**hidden_fields(page), "resource": resource, "organization": EVERY, "allow": "on"}

    response = browser.post(AUTHORIZE, answer)

    assert_error_page(response)
    assert not Grant.objects.exists()
