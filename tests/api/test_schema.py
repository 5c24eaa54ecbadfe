"""The OpenAPI schema: served, valid OpenAPI 3.1, complete, true to the views, and committed."""

from __future__ import annotations

import io
import json
import re
from pathlib import Path

import pytest
import yaml
from django.core.management import call_command
from django.urls import URLPattern, URLResolver, get_resolver
from openapi_spec_validator import validate

COMMITTED = Path(__file__).resolve().parents[2] / "docs" / "openapi.yaml"

pytestmark = pytest.mark.django_db


@pytest.fixture
def schema(client):
    response = client.get("/api/schema")
    assert response.status_code == 200
    return response.json()


def api_routes() -> dict[str, type]:
    """Every route under /api/ (path template with {camelCase} parameters: view class)."""
    routes: dict[str, type] = {}

    def walk(patterns, prefix: str) -> None:
        for pattern in patterns:
            text = str(pattern.pattern)
            if isinstance(pattern, URLResolver):
                walk(pattern.url_patterns, prefix + text)
            elif isinstance(pattern, URLPattern) and prefix.startswith("api/"):
                path = re.sub(
                    r"<(?:ulid|str):(\w+)>",
                    lambda m: "{" + re.sub(r"_(\w)", lambda c: c.group(1).upper(), m[1]) + "}",
                    "/" + prefix + text,
                )
                routes[path] = pattern.callback.view_class

    walk(get_resolver().url_patterns, "")
    return routes


def test_the_schema_is_valid_openapi_3_1(schema):
    assert schema["openapi"].startswith("3.1")
    validate(schema)


@pytest.mark.parametrize(
    ("query", "accept", "content_type"),
    [
        ("", "", "application/json"),
        ("?format=json", "", "application/json"),
        ("?format=yaml", "", "application/yaml"),
        ("", "application/yaml", "application/yaml"),
        ("", "application/vnd.oai.openapi", "application/vnd.oai.openapi"),
        ("", "application/vnd.oai.openapi+json", "application/vnd.oai.openapi+json"),
    ],
)
def test_the_schema_is_served_as_json_or_yaml(client, query, accept, content_type):
    headers = {"HTTP_ACCEPT": accept} if accept else {}
    response = client.get(f"/api/schema{query}", **headers)

    assert response.status_code == 200
    assert response["Content-Type"].startswith(content_type)
    body = response.content.decode()
    parsed = json.loads(body) if "json" in content_type else yaml.safe_load(body)
    assert parsed["info"]["title"] == "Latchkey API"


def test_every_api_route_and_method_is_documented(schema):
    routes = api_routes()
    documented = {path for path in schema["paths"]}
    # The schema and the docs page describe the API; they are not part of it.
    assert documented == set(routes) - {"/api/schema", "/api/docs"}
    # GET /api/auth/verify-email only sends a browser's old link on to the dashboard.
    undocumented = {("/api/auth/verify-email", "get")}
    for path, view in routes.items():
        if path in documented:
            methods = {m for m in ("get", "post", "patch", "put", "delete") if hasattr(view, m)}
            expected = {m for m in methods if (path, m) not in undocumented}
            assert set(schema["paths"][path]) == expected, path


def test_each_operation_names_the_scope_its_view_requires(schema):
    for path, view_class in api_routes().items():
        if hasattr(view_class, "get_required_scope"):
            continue  # its scope depends on the body: the next test
        for method, operation in schema["paths"].get(path, {}).items():
            scopes = getattr(view_class, "required_scopes", None) or {}
            scope = scopes.get(method.upper())
            if scope:
                assert operation["x-required-scopes"] == [scope], (path, method)
                assert f"`{scope}`" in operation["description"]
                assert {"ApiKeyAuth": [scope]} in operation["security"]
            else:
                assert "x-required-scopes" not in operation, (path, method)


def test_the_aggregate_scope_depends_on_the_entity_and_says_so(schema):
    operation = schema["paths"]["/api/user/organizations/{organizationId}/aggregate"]["post"]
    assert "`projects:read`" in operation["description"]
    scopes = ["api-keys:read", "members:read", "projects:read"]
    assert operation["x-required-scopes"] == scopes


def test_three_security_schemes_are_declared(schema):
    schemes = schema["components"]["securitySchemes"]
    assert schemes["ApiKeyAuth"] == {
        "type": "apiKey",
        "in": "header",
        "name": "X-Api-Key",
        "description": schemes["ApiKeyAuth"]["description"],
    }
    assert schemes["BearerAuth"]["scheme"] == "bearer"
    assert schemes["cookieAuth"]["in"] == "cookie"


def test_sessions_only_routes_accept_only_the_cookie(schema):
    for path in ("/api/auth/sign-out", "/api/auth/change-password"):
        assert schema["paths"][path]["post"]["security"] == [{"cookieAuth": []}]


def test_successes_are_the_envelope_and_lists_carry_pagination(schema):
    listing = schema["paths"]["/api/auth/api-key/list"]["get"]["responses"]["200"]
    parts = listing["content"]["application/json"]["schema"]["allOf"]
    assert parts[0] == {"$ref": "#/components/schemas/Envelope"}
    assert parts[1]["required"] == ["data", "pagination"]
    assert parts[1]["properties"]["data"]["items"] == {"$ref": "#/components/schemas/ApiKey"}
    envelope = schema["components"]["schemas"]["Envelope"]
    assert envelope["required"] == ["success", "status", "code", "message", "data"]


def test_errors_are_documented_with_their_codes(schema):
    create = schema["paths"]["/api/auth/api-key/create"]["post"]["responses"]
    assert {"400", "401", "403", "413", "415", "429"} <= set(create)
    responses = schema["components"]["responses"]
    assert "`KEY_EXPIRED`" in responses["Error401"]["description"]
    assert "`INSUFFICIENT_SCOPE`" in responses["Error403"]["description"]
    error403 = schema["components"]["schemas"]["Error403"]
    assert "ORGANIZATION_MISMATCH" in error403["properties"]["code"]["enum"]
    sign_up = schema["paths"]["/api/auth/sign-up/email"]["post"]["responses"]
    assert sign_up["409"] == {"$ref": "#/components/responses/Error409"}
    assert "`EMAIL_TAKEN`" in responses["Error409"]["description"]


def test_request_bodies_name_fields_as_clients_send_them(schema):
    body = schema["components"]["schemas"]["ApiKeyCreateRequest"]
    assert {"name", "scopes", "expiresIn", "metadata"} <= set(body["properties"])
    metadata = schema["components"]["schemas"]["MetadataRequest"]
    assert "organizationId" in metadata["properties"]


def test_the_committed_schema_is_current(settings):
    # Generated on the embedded defaults, as `make schema` writes it.
    settings.SESSION_COOKIE_NAME = "sessionid"
    out = io.StringIO()
    call_command("spectacular", "--validate", stdout=out)
    assert COMMITTED.read_text() == out.getvalue(), (
        "docs/openapi.yaml is stale: run `make schema` and commit it"
    )


def test_the_docs_page_is_served_from_our_own_files_within_the_csp(client):
    page = client.get("/api/docs", HTTP_ACCEPT="text/html")
    assert page.status_code == 200
    html = page.content.decode()
    assert "/static/drf_spectacular_sidecar/swagger-ui-dist/swagger-ui-bundle.js" in html
    assert "<script>" not in html and "<style>" not in html  # nothing inline
    assert "https://" not in html  # no CDN
    policy = page["Content-Security-Policy"]
    assert "script-src 'self'" in policy and "img-src 'self' data:" in policy

    script = client.get("/api/docs?script=")
    assert script.status_code == 200
    assert script["Content-Type"].startswith("application/javascript")
    assert "/api/schema" in script.content.decode()


@pytest.mark.parametrize(
    ("method", "query", "accept", "status"),
    [
        ("get", "?format=json", "", 404),
        ("get", "", "application/json", 406),
        ("delete", "", "", 405),
    ],
)
def test_the_docs_page_answers_errors_in_the_envelope(client, method, query, accept, status):
    headers = {"HTTP_ACCEPT": accept} if accept else {}
    response = getattr(client, method)(f"/api/docs{query}", **headers)

    assert response.status_code == status
    assert response["Content-Type"].startswith("application/json")
    body = response.json()
    assert body["success"] is False and body["status"] == status


def test_the_docs_script_holds_no_csrf_token(client):
    script = client.get("/api/docs?script=").content.decode()
    assert "csrf" not in script.lower()
