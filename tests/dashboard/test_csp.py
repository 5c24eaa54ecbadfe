"""Every HTML page (dashboard, admin, error pages) is sent with a Content-Security-Policy that
allows no inline script or style and no framing, and carries no inline script or style."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

import pytest
from django.contrib import admin
from django.contrib.admin.utils import quote
from django.http import HttpRequest, HttpResponse
from django.test import Client
from django.urls import path, reverse

from audit.models import Action, AuditEvent
from config import urls as project_urls
from ratelimits.counters import Rate
from tests.conftest import PASSWORD

pytestmark = pytest.mark.django_db

# This module is also the URLconf of the tests below: the project's routes, plus one view that
# fails, for the 500 page.
handler400 = project_urls.handler400
handler403 = project_urls.handler403
handler404 = project_urls.handler404
handler500 = project_urls.handler500


def broken_view(request: HttpRequest) -> HttpResponse:
    raise RuntimeError("a fault of ours")


urlpatterns = [path("broken-for-csp-test", broken_view), *project_urls.urlpatterns]


def policy_of(response: HttpResponse) -> dict[str, list[str]]:
    header = response.get("Content-Security-Policy")
    assert header, f"no Content-Security-Policy on {response.status_code} {response.request}"
    directives: dict[str, list[str]] = {}
    for part in header.split(";"):
        name, *values = part.split()
        directives[name] = values
    return directives


def assert_strict_policy(response: HttpResponse) -> None:
    """The policy forbids inline script and style and any framing, and the page needs
    neither: a script element without src, a style element or attribute, or an inline event
    handler would be blocked (and is a sign of markup the policy does not cover)."""
    directives = policy_of(response)
    header = response["Content-Security-Policy"]
    assert "'unsafe-inline'" not in header
    assert "'unsafe-eval'" not in header
    assert directives["frame-ancestors"] == ["'none'"]
    assert directives["script-src"] == ["'self'"]
    assert directives["style-src"] == ["'self'"]
    assert directives["default-src"] == ["'self'"]
    assert directives["object-src"] == ["'none'"]
    assert directives["base-uri"] == ["'none'"]
    assert response["Content-Type"].startswith("text/html")
    html = response.content.decode()
    assert not re.search(r"<script(?![^>]*\ssrc=)[^>]*>", html), "an inline <script>"
    assert "<style" not in html, "an inline <style>"
    assert not re.search(r"<[^>]+\sstyle=", html), "an inline style attribute"
    assert not re.search(r"<[^>]+\son[a-z]+=", html), "an inline event handler"


@pytest.fixture
def person(user_factory, org_factory):
    user = user_factory(email="ada@example.com")
    org_factory(owner=user, name="Analytical Engines")
    return user


@pytest.fixture
def signed_in(person) -> Client:
    client = Client()
    client.force_login(person)
    return client


def nonce_of(client: Client) -> str:
    form = client.get("/settings/api-keys/new").content.decode()
    return re.search(r'name="nonce" value="([^"]+)"', form).group(1)


# Each kind of page, as (how to reach it, the status it answers with).
Visit = Callable[..., HttpResponse]


def anonymous(path: str) -> Visit:
    return lambda ctx: Client().get(path)


def signed_in_get(path: str) -> Visit:
    return lambda ctx: ctx["signed_in"].get(path.format(**ctx))


def created_key(ctx: dict[str, Any]) -> HttpResponse:
    client = ctx["signed_in"]
    data = {"name": "CSP", "scopes": ["user:read"], "expiry": "30", "nonce": nonce_of(client)}
    return client.post("/settings/api-keys/new", data)


def csrf_failure(ctx: dict[str, Any]) -> HttpResponse:
    return Client(enforce_csrf_checks=True).post("/sign-in", {"email": "x@example.com"})


def bad_host(ctx: dict[str, Any]) -> HttpResponse:
    return Client().get("/", HTTP_HOST="not-ours.example")


def too_many(ctx: dict[str, Any]) -> HttpResponse:
    ctx["settings"].RATELIMITS = {**ctx["settings"].RATELIMITS, "USER": Rate.parse("1/min")}
    client = ctx["signed_in"]
    client.post("/settings/password", {})
    return client.post("/settings/password", {})


def server_error(ctx: dict[str, Any]) -> HttpResponse:
    return Client(raise_request_exception=False).get("/broken-for-csp-test")


def admin_get(path: str) -> Visit:
    return lambda ctx: ctx["admin_client"].get(path.format(**ctx))


PAGES = [
    pytest.param(anonymous("/"), 200, id="landing"),
    pytest.param(anonymous("/sign-in"), 200, id="sign-in"),
    pytest.param(anonymous("/sign-up"), 200, id="sign-up"),
    pytest.param(anonymous("/reset-password"), 200, id="password-reset-request"),
    pytest.param(signed_in_get("/organizations/{organization}/projects"), 200, id="projects"),
    pytest.param(signed_in_get("/organizations/{organization}/members"), 200, id="members"),
    pytest.param(signed_in_get("/settings/api-keys"), 200, id="api-keys"),
    pytest.param(signed_in_get("/settings/api-keys/new"), 200, id="api-key-create"),
    pytest.param(created_key, 200, id="api-key-created"),
    pytest.param(signed_in_get("/settings/api-keys/{key_id}/revoke"), 200, id="api-key-revoke"),
    pytest.param(signed_in_get("/settings/password"), 200, id="password-change"),
    pytest.param(signed_in_get("/sign-out"), 200, id="sign-out"),
    pytest.param(bad_host, 400, id="400"),
    pytest.param(signed_in_get("/organizations/{other_organization}/projects"), 403, id="403"),
    pytest.param(csrf_failure, 403, id="403-csrf"),
    pytest.param(anonymous("/no-such-page"), 404, id="404"),
    pytest.param(too_many, 429, id="429"),
    pytest.param(server_error, 500, id="500"),
    pytest.param(anonymous("/admin/login/"), 200, id="admin-login"),
    pytest.param(admin_get("/admin/"), 200, id="admin-index"),
    pytest.param(admin_get("/admin/apikeys/apikey/"), 200, id="admin-api-keys"),
    pytest.param(admin_get("/admin/apikeys/apikey/{key}/change/"), 200, id="admin-api-key"),
    pytest.param(admin_get("/admin/accounts/user/"), 200, id="admin-users"),
    pytest.param(admin_get("/admin/accounts/user/{person}/change/"), 200, id="admin-user"),
    pytest.param(admin_get("/admin/tenants/organization/"), 200, id="admin-organizations"),
    pytest.param(
        admin_get("/admin/tenants/organization/{organization}/change/"),
        200,
        id="admin-organization",
    ),
    pytest.param(admin_get("/admin/audit/auditevent/"), 200, id="admin-audit-events"),
    pytest.param(admin_get("/admin/audit/auditevent/{event}/change/"), 200, id="admin-event"),
]


@pytest.mark.urls(__name__)
@pytest.mark.parametrize(("visit", "status"), PAGES)
def test_every_kind_of_page_is_sent_with_a_strict_policy(
    visit, status, settings, signed_in, person, admin_client, api_key_factory, org_factory
):
    key, _raw = api_key_factory(user=person, name="Listed")
    event = AuditEvent.objects.create(action=Action.KEY_CREATED, actor=person)
    context = {
        "settings": settings,
        "signed_in": signed_in,
        "admin_client": admin_client,
        "organization": person.memberships.get().organization_id,
        "other_organization": org_factory().pk,
        "key": quote(key.pk),
        "key_id": key.pk,
        "person": quote(person.pk),
        "event": quote(event.pk),
    }

    response = visit(context)

    assert response.status_code == status, response.content[:500]
    assert_strict_policy(response)


def test_every_admin_changelist_is_sent_with_a_strict_policy(admin_client, person):
    registered = list(admin.site._registry)
    assert registered

    for model in registered:
        url = reverse(f"admin:{model._meta.app_label}_{model._meta.model_name}_changelist")
        response = admin_client.get(url)

        assert response.status_code == 200, url
        assert_strict_policy(response)


def test_a_sign_in_page_answers_with_the_policy_whatever_the_method(person):
    client = Client()

    response = client.post("/sign-in", {"email": person.email, "password": PASSWORD})

    assert response.status_code == 302
    assert policy_of(response)["frame-ancestors"] == ["'none'"]
