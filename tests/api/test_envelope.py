"""The JSON envelope on every answer under /api/, errors included."""

from __future__ import annotations

import pytest
from django.test import Client
from django.urls import URLPattern, URLResolver, get_resolver

from tenants.views import OrganizationAPIView
from tests.conftest import assert_error

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize("method", ["get", "post", "put", "patch", "delete"])
def test_unknown_api_paths_are_404_in_the_envelope(api_client, method):
    response = getattr(api_client, method)("/api/does/not/exist")

    assert_error(response, 404, "NOT_FOUND")


@pytest.mark.parametrize(
    "path", ["/api", "/api/", "/api/user/me/", "/api/user/organizations/nope"]
)
def test_near_miss_paths_are_404_not_redirects(api_client, path):
    assert_error(api_client.get(path), 404, "NOT_FOUND")


def test_wrong_method_is_405(client_for, user_factory):
    response = client_for(user_factory()).delete("/api/user/me")

    body = assert_error(response, 405, "METHOD_NOT_ALLOWED")
    assert "DELETE" in body["message"]


def test_options_is_not_a_backdoor(api_client):
    assert api_client.options("/api/user/me").status_code in {401, 405}


def test_malformed_json_is_400(client_for, user_factory):
    response = client_for(user_factory()).post(
        "/api/user/organizations", data="{not json", content_type="application/json"
    )

    assert_error(response, 400, "MALFORMED_JSON")


def test_form_bodies_are_415(client_for, user_factory):
    response = client_for(user_factory()).post(
        "/api/user/organizations", data="name=x", content_type="application/x-www-form-urlencoded"
    )

    assert_error(response, 415, "UNSUPPORTED_MEDIA_TYPE")


def test_asking_for_html_only_is_406_in_json(client_for, user_factory):
    response = client_for(user_factory()).get("/api/user/me", HTTP_ACCEPT="text/html")

    assert_error(response, 406, "NOT_ACCEPTABLE")


def test_django_handlers_answer_json_under_api_and_html_elsewhere(rf):
    from api import views

    api = views.page_not_found(rf.get("/api/x"), Exception())
    page = views.page_not_found(rf.get("/elsewhere"), Exception())
    error = views.server_error(rf.get("/api/x"))

    assert api.status_code == 404
    assert api["Content-Type"] == "application/json"
    assert page.status_code == 404
    assert page["Content-Type"].startswith("text/html")
    assert error.status_code == 500
    assert b'"INTERNAL_ERROR"' in error.content


def test_an_unexpected_error_in_a_view_is_a_json_500(client_for, user_factory, monkeypatch):
    from accounts import views

    def explode(user):
        raise RuntimeError("boom")

    monkeypatch.setattr(views, "user_data", explode)
    client = Client(raise_request_exception=False)
    client.force_login(user_factory())

    response = client.get("/api/user/me")

    body = assert_error(response, 500, "INTERNAL_ERROR")
    assert "boom" not in str(body)


def test_health_needs_no_credentials(api_client):
    response = api_client.get("/api/health")

    assert response.status_code == 200
    assert response.json()["data"]["checks"]["database"] == "ok"


def test_health_checks_a_configured_cache(api_client, settings):
    settings.CACHE_CONFIGURED = True

    response = api_client.get("/api/health")

    assert response.json()["data"]["checks"] == {"database": "ok", "cache": "ok"}


def test_health_reports_an_unreachable_cache_as_503(api_client, settings):
    settings.CACHE_CONFIGURED = True
    settings.CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": "redis://127.0.0.1:1/0",
        }
    }

    response = api_client.get("/api/health")

    body = assert_error(response, 503, "SERVICE_UNAVAILABLE")
    assert body["data"]["checks"]["cache"] == "unavailable"


def _api_patterns(resolver: URLResolver, prefix: str = ""):
    for entry in resolver.url_patterns:
        if isinstance(entry, URLResolver):
            yield from _api_patterns(entry, prefix + str(entry.pattern))
        elif isinstance(entry, URLPattern):
            yield prefix + str(entry.pattern), entry.callback


def test_every_tenant_route_goes_through_the_tenancy_gate():
    tenant_routes = [
        (route, callback)
        for route, callback in _api_patterns(get_resolver())
        if route.startswith("api/") and "<ulid:organization_id>" in route
    ]

    assert len(tenant_routes) >= 4
    for route, callback in tenant_routes:
        assert issubclass(callback.view_class, OrganizationAPIView), route


def test_every_api_view_declares_a_scope_for_each_method_it_handles():
    from rest_framework.permissions import AllowAny

    for route, callback in _api_patterns(get_resolver()):
        view = getattr(callback, "view_class", None)
        if not route.startswith("api/") or view is None:
            continue
        if AllowAny in view.permission_classes or hasattr(view, "get_required_scope"):
            continue
        for method in ("get", "post", "put", "patch", "delete"):
            if hasattr(view, method):
                assert method.upper() in view.required_scopes, f"{route} {method}"
