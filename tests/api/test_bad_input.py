"""No input ever produces a 500: every JSON endpoint that takes input answers bad input with a
4xx in the error envelope, and odd-but-valid input with success."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest
from django.core import signing

from accounts.models import User
from tenants.models import Organization, Project
from tests.conftest import PASSWORD, assert_error

pytestmark = pytest.mark.django_db

ORGANIZATIONS = "/api/user/organizations"
SIGN_UP = "/api/auth/sign-up/email"
SIGN_IN = "/api/auth/sign-in/email"
SEND_VERIFICATION = "/api/auth/send-verification-email"
VERIFY = "/api/auth/verify-email"
HUGE = "x" * 100_000

# A valid body for every JSON endpoint that takes one; tests break one thing at a time.
VALID_BODIES: dict[str, dict[str, Any]] = {
    "sign-up": {"email": "new@example.com", "password": "a-long-unusual-pass", "name": "New"},
    "sign-in": {"email": "owner@example.com", "password": PASSWORD},
    "send-verification-email": {"email": "someone@example.com"},
    "create-organization": {"name": "Acme"},
    "rename-organization": {"name": "Acme"},
    "create-project": {"name": "Site", "description": "Marketing site"},
    "update-project": {"name": "Site", "description": "Marketing site"},
}
ROUTES = list(VALID_BODIES)
STRING_FIELDS = [
    ("sign-up", "email"),
    ("sign-up", "password"),
    ("sign-up", "name"),
    ("sign-in", "email"),
    ("sign-in", "password"),
    ("send-verification-email", "email"),
    ("create-organization", "name"),
    ("rename-organization", "name"),
    ("create-project", "name"),
    ("create-project", "description"),
    ("update-project", "name"),
    ("update-project", "description"),
]
BLANK_ALLOWED = {
    ("sign-up", "name"),
    ("create-project", "description"),
    ("update-project", "description"),
}
# Required fields; the rest are optional, and the PATCH routes (rename-organization,
# update-project) are partial updates.
REQUIRED_FIELDS = [
    ("sign-up", "email"),
    ("sign-up", "password"),
    ("sign-in", "email"),
    ("sign-in", "password"),
    ("create-organization", "name"),
    ("create-project", "name"),
]


def assert_client_error(response) -> dict[str, Any]:
    """Some 4xx in the error envelope, where the exact answer is not defined."""
    assert 400 <= response.status_code < 500, response.content
    return assert_error(response, response.status_code)


@pytest.fixture
def world(client_for, team, project_factory) -> dict[str, Any]:
    """The team, signed in as its owner, with one project; an anonymous client too."""
    owner = team["owner"]
    owner.email = "owner@example.com"
    owner.save(update_fields=["email"])
    signed_in = client_for(owner)
    anonymous = client_for(None)
    # A 500 is an answer a client sees, not an exception in the test.
    signed_in.raise_request_exception = anonymous.raise_request_exception = False
    organization = team["organization"]
    project = project_factory(organization, name="Existing", description="Kept")
    return {
        **team,
        "signed_in": signed_in,
        "anonymous": anonymous,
        "project": project,
        "projects_url": f"{ORGANIZATIONS}/{organization.pk}/projects",
        "routes": {
            "sign-up": (anonymous, "POST", SIGN_UP),
            "sign-in": (anonymous, "POST", SIGN_IN),
            "send-verification-email": (anonymous, "POST", SEND_VERIFICATION),
            "create-organization": (signed_in, "POST", ORGANIZATIONS),
            "rename-organization": (signed_in, "PATCH", f"{ORGANIZATIONS}/{organization.pk}"),
            "create-project": (signed_in, "POST", f"{ORGANIZATIONS}/{organization.pk}/projects"),
            "update-project": (
                signed_in,
                "PATCH",
                f"{ORGANIZATIONS}/{organization.pk}/projects/{project.pk}",
            ),
        },
    }


def send(world: dict[str, Any], route: str, body: Any):
    """Send `body` (a str or bytes as is; anything else as JSON) to `route`."""
    client, method, url = world["routes"][route]
    raw = body if isinstance(body, str | bytes) else json.dumps(body)
    return client.generic(method, url, raw, content_type="application/json")


def with_field(route: str, field: str, value: Any) -> dict[str, Any]:
    return {**VALID_BODIES[route], field: value}


def without_field(route: str, field: str) -> dict[str, Any]:
    return {key: value for key, value in VALID_BODIES[route].items() if key != field}


def assert_nothing_changed(world: dict[str, Any]) -> None:
    world["organization"].refresh_from_db()
    world["project"].refresh_from_db()
    assert world["organization"].name != "Acme"
    assert (world["project"].name, world["project"].description) == ("Existing", "Kept")
    assert not Organization.objects.filter(name="Acme").exists()
    assert not User.objects.filter(email="new@example.com").exists()


@pytest.mark.parametrize("route", ROUTES)
def test_the_valid_bodies_succeed(world, route):
    # The baseline every other test here breaks one thing of.
    response = send(world, route, VALID_BODIES[route])

    assert response.status_code in (200, 201), response.content
    assert response.json()["success"] is True


# --- Wrong types, nulls, blanks, huge strings, NUL bytes in string fields ----------------------

REJECTED_VALUES = [
    pytest.param(True, id="true"),
    pytest.param(False, id="false"),
    pytest.param([], id="empty-list"),
    pytest.param(["Acme"], id="list-of-string"),
    pytest.param({}, id="empty-object"),
    pytest.param({"value": "Acme"}, id="object"),
    pytest.param(None, id="null"),
    pytest.param(HUGE, id="100k-chars"),
    pytest.param("😀" * 3000, id="3k-emoji"),
    pytest.param("\u0000", id="nul"),
    pytest.param("Ac\u0000me", id="embedded-nul"),
    pytest.param("\ud800", id="lone-surrogate"),
]


@pytest.mark.parametrize("value", REJECTED_VALUES)
@pytest.mark.parametrize(("route", "field"), STRING_FIELDS)
def test_a_string_field_refuses_what_is_not_a_sane_string(world, route, field, value):
    response = send(world, route, with_field(route, field, value))

    assert_error(response, 400, "VALIDATION_ERROR", field=field)
    assert_nothing_changed(world)


@pytest.mark.parametrize("blank", ["", "   ", "\t\n"])
@pytest.mark.parametrize(("route", "field"), STRING_FIELDS)
def test_a_blank_string_is_refused_unless_the_field_may_be_blank(world, route, field, blank):
    response = send(world, route, with_field(route, field, blank))

    if (route, field) in BLANK_ALLOWED:
        assert response.status_code in (200, 201), response.content
        assert response.json()["success"] is True
    elif (route, field) == ("sign-in", "password") and blank:
        # Passwords keep their whitespace, so a whitespace one is just a wrong password.
        assert_error(response, 401, "INVALID_CREDENTIALS")
    else:
        assert_error(response, 400, "VALIDATION_ERROR", field=field)
        assert_nothing_changed(world)


@pytest.mark.parametrize(("route", "field"), REQUIRED_FIELDS)
def test_a_missing_required_field_is_named(world, route, field):
    response = send(world, route, without_field(route, field))

    body = assert_error(response, 400, "VALIDATION_ERROR", field=field)
    assert body["details"][field] == ["This field is required."]
    assert body["message"] == f"{field}: This field is required."
    assert_nothing_changed(world)


@pytest.mark.parametrize(
    ("route", "field", "value"),
    [
        ("sign-up", "email", 42),
        ("sign-up", "email", 4.2),
        ("sign-up", "password", 1234567890123),
        ("send-verification-email", "email", 42),
    ],
)
def test_a_number_where_an_email_or_password_is_expected_is_refused(world, route, field, value):
    response = send(world, route, with_field(route, field, value))

    assert_error(response, 400, "VALIDATION_ERROR", field=field)
    assert_nothing_changed(world)


@pytest.mark.parametrize("field", ["email", "password"])
@pytest.mark.parametrize("value", [42, 4.2, 10**30])
def test_a_number_in_sign_in_is_just_wrong_credentials(world, field, value):
    response = send(world, "sign-in", with_field("sign-in", field, value))

    assert_error(response, 401, "INVALID_CREDENTIALS")


@pytest.mark.parametrize(
    ("route", "literal", "stored"),
    [
        ("create-organization", "2026", "2026"),
        ("rename-organization", "-7", "-7"),
        ("create-project", "3.5", "3.5"),
        ("update-project", "0", "0"),
    ],
)
def test_a_number_where_a_name_is_expected_is_stored_as_its_text(world, route, literal, stored):
    # DRF's CharField accepts JSON numbers (not booleans) and keeps their decimal text.
    response = send(world, route, f'{{"name": {literal}}}')

    assert response.status_code in (200, 201), response.content
    assert response.json()["data"]["name"] == stored


# --- Bodies that are not an object ------------------------------------------------------------

NOT_AN_OBJECT = [
    pytest.param("[]", "Invalid data. Expected a dictionary, but got list.", id="empty-array"),
    pytest.param(
        '[{"name": "Acme"}]', "Invalid data. Expected a dictionary, but got list.", id="array"
    ),
    pytest.param('"Acme"', "Invalid data. Expected a dictionary, but got str.", id="string"),
    pytest.param("42", "Invalid data. Expected a dictionary, but got int.", id="number"),
    pytest.param("true", "Invalid data. Expected a dictionary, but got bool.", id="boolean"),
    pytest.param("null", "No data provided", id="null"),
]


@pytest.mark.parametrize(("body", "message"), NOT_AN_OBJECT)
@pytest.mark.parametrize("route", ROUTES)
def test_a_body_that_is_not_an_object_is_refused(world, route, body, message):
    response = send(world, route, body)

    body = assert_error(response, 400, "VALIDATION_ERROR", field="non_field_errors")
    assert body["message"] == message
    assert body["details"] == {"non_field_errors": [message]}
    assert_nothing_changed(world)


# --- Bodies that are not JSON at all ----------------------------------------------------------

MALFORMED = [
    pytest.param('{"name": ', id="truncated"),
    pytest.param("{'name': 'Acme'}", id="single-quotes"),
    pytest.param("{name: Acme}", id="bare-words"),
    pytest.param('{"name": "Acme",}', id="trailing-comma"),
    pytest.param('{"name": "Acme"} {}', id="two-documents"),
    pytest.param("   ", id="whitespace-only"),
    pytest.param("name=Acme", id="form-encoded-as-json"),
    pytest.param('{"name": NaN}', id="nan"),
    pytest.param('{"name": Infinity}', id="infinity"),
    pytest.param('{"name": ' + "9" * 5000 + "}", id="5000-digit-integer"),
    pytest.param(b'{"name": "Ac\xffme"}', id="invalid-utf8"),
    pytest.param(b'\xef\xbb\xbf{"name": "Acme"}', id="utf8-bom"),
    pytest.param(b'{"name": "Acme\x00"}', id="raw-nul-byte-in-string"),
]


@pytest.mark.parametrize("body", MALFORMED)
@pytest.mark.parametrize("route", ROUTES)
def test_a_body_that_is_not_json_is_malformed_json(world, route, body):
    response = send(world, route, body)

    assert_error(response, 400, "MALFORMED_JSON")
    assert_nothing_changed(world)


@pytest.mark.parametrize(
    "body",
    [
        pytest.param("[" * 5000 + "]" * 5000, id="deep-array"),
        pytest.param('{"a":' * 5000 + "1" + "}" * 5000, id="deep-object"),
        pytest.param('{"name": ' + "[" * 5000 + "]" * 5000 + "}", id="deep-array-in-a-field"),
    ],
)
@pytest.mark.parametrize("route", ROUTES)
def test_deeply_nested_json_is_a_client_error(world, route, body):
    # Well under the upload limit, but deeper than Python's recursion limit.
    response = send(world, route, body)

    assert_client_error(response)
    assert_nothing_changed(world)


@pytest.mark.parametrize(
    ("content_length", "status", "code"),
    [
        pytest.param("abc", 400, "BAD_REQUEST", id="not-a-number"),
        pytest.param("-1", 400, None, id="negative"),
    ],
)
@pytest.mark.parametrize("route", ROUTES)
def test_a_nonsense_content_length_is_a_client_error(world, route, content_length, status, code):
    client, method, url = world["routes"][route]

    response = client.generic(
        method,
        url,
        json.dumps(VALID_BODIES[route]),
        content_type="application/json",
        CONTENT_LENGTH=content_length,
    )

    assert_error(response, status, code)
    assert_nothing_changed(world)


@pytest.mark.parametrize(
    "charset", ["utf-16", "utf-32", "rot13", "zlib", "bz2", "base64", "hex", "uu", "punycode"]
)
def test_a_body_in_an_unexpected_charset_is_a_client_error(world, charset):
    response = world["signed_in"].generic(
        "POST",
        ORGANIZATIONS,
        '{"name": "Acme"}',
        content_type=f"application/json; charset={charset}",
    )

    assert_error(response, 400, "MALFORMED_JSON")
    assert_nothing_changed(world)


# --- Query parameters -------------------------------------------------------------------------


def test_verify_email_without_a_token_names_the_token(world):
    response = world["anonymous"].post(VERIFY, {})

    assert_error(response, 400, "VALIDATION_ERROR", field="token")


@pytest.mark.parametrize(
    ("body", "code", "field"),
    [
        pytest.param('{"token": ""}', "VALIDATION_ERROR", "token", id="empty"),
        pytest.param('{"token": "\\u0000"}', "VALIDATION_ERROR", "token", id="nul"),
        pytest.param(
            '{"token": "' + "x" * 100_000 + '"}', "VALIDATION_ERROR", "token", id="100k-chars"
        ),
        pytest.param('{"token": "' + "x" * 513 + '"}', "VALIDATION_ERROR", "token", id="over-512"),
        pytest.param('{"token": "abc"}', "INVALID_TOKEN", None, id="garbage"),
        pytest.param('{"token": "a:b:c"}', "INVALID_TOKEN", None, id="signature-shaped"),
        pytest.param('{"token": "\\ud83d\\ude00"}', "INVALID_TOKEN", None, id="emoji"),
        pytest.param('{"token": "\\ud800"}', "VALIDATION_ERROR", "token", id="lone-surrogate"),
        pytest.param('{"token": ["abc"]}', "VALIDATION_ERROR", "token", id="array"),
        pytest.param('{"token": null}', "VALIDATION_ERROR", "token", id="null"),
        pytest.param('{"token": {"a": 1}}', "VALIDATION_ERROR", "token", id="object"),
        pytest.param(
            '{"token": "abc", "secure": null}', "VALIDATION_ERROR", "secure", id="null-secure"
        ),
        pytest.param(
            '{"token": "abc", "secure": [true]}', "VALIDATION_ERROR", "secure", id="list-secure"
        ),
    ],
)
def test_verify_email_refuses_a_bad_token(world, body, code, field):
    response = world["anonymous"].post(VERIFY, body, content_type="application/json")

    assert_error(response, 400, code, field=field)


@pytest.mark.parametrize("query", ["", "?token=abc", "?token=%00", "?token=" + "x" * 5000])
def test_verify_email_by_get_changes_nothing_and_is_405_for_json(world, query):
    response = world["anonymous"].get(f"{VERIFY}{query}", HTTP_ACCEPT="application/json")

    assert_error(response, 405, "METHOD_NOT_ALLOWED")


def test_verify_email_refuses_a_token_signed_for_something_else(world):
    owner = world["owner"]
    owner.is_verified = False
    owner.save(update_fields=["is_verified"])
    forged = signing.TimestampSigner(salt="some.other.purpose").sign_object(
        {"u": owner.pk, "e": owner.email}
    )

    response = world["anonymous"].post(VERIFY, {"token": forged})

    assert_error(response, 400, "INVALID_TOKEN")
    owner.refresh_from_db()
    assert owner.is_verified is False


LIST_ROUTES = ["organizations", "members", "projects"]


def list_url(world: dict[str, Any], route: str) -> str:
    organization = world["organization"]
    return {
        "organizations": ORGANIZATIONS,
        "members": f"{ORGANIZATIONS}/{organization.pk}/members",
        "projects": f"{ORGANIZATIONS}/{organization.pk}/projects",
    }[route]


@pytest.mark.parametrize(
    ("param", "value"),
    [
        ("page", "abc"),
        ("page", "0"),
        ("page", "-1"),
        ("page", "10000000000"),
        ("page", "1.5"),
        ("page", "1e3"),
        ("page", "0x10"),
        ("page", "\u0000"),
        ("page", "😀"),
        ("page", "9" * 5000),
        ("pageSize", "1000"),
        ("pageSize", "101"),
        ("pageSize", "0"),
        ("pageSize", "-5"),
        ("pageSize", "abc"),
        ("pageSize", "10000000000"),
    ],
)
@pytest.mark.parametrize("route", LIST_ROUTES)
def test_an_invalid_page_parameter_is_named(world, route, param, value):
    response = world["signed_in"].get(list_url(world, route), {param: value})

    assert_error(response, 400, "VALIDATION_ERROR", field=param)


@pytest.mark.parametrize(
    ("query", "page", "size", "count"),
    [
        pytest.param("", 1, 20, 1, id="defaults"),
        pytest.param("page=", 1, 20, 1, id="empty-page-means-the-first"),
        pytest.param("page=999", 999, 20, 0, id="past-the-end-is-empty"),
        pytest.param("page=1000000&pageSize=100", 1000000, 100, 0, id="largest-page"),
        pytest.param("pageSize=100", 1, 100, 1, id="largest-page-size"),
        pytest.param("pageSize=1&page=1", 1, 1, 1, id="smallest-page-size"),
        pytest.param("page=1&page=2", 2, 20, 0, id="repeated-takes-the-last"),
        pytest.param("unknown=1&PAGE=7", 1, 20, 1, id="unknown-params-ignored"),
    ],
)
def test_odd_but_valid_page_parameters_succeed(world, query, page, size, count):
    response = world["signed_in"].get(f"{world['projects_url']}?{query}")

    assert response.status_code == 200, response.content
    body = response.json()
    assert len(body["data"]) == count
    assert body["pagination"]["page"] == page
    assert body["pagination"]["pageSize"] == size
    assert body["pagination"]["totalItems"] == 1


# --- Methods nobody serves --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("method", "target"),
    [
        ("PUT", "organizations"),
        ("DELETE", "organizations"),
        ("PUT", "organization"),
        ("POST", "project"),
        ("OPTIONS", "organizations"),
        ("OPTIONS", "organization"),
        ("OPTIONS", "project"),
        ("OPTIONS", "me"),
        ("OPTIONS", "sign-out"),
    ],
)
def test_an_unserved_method_is_405_for_a_signed_in_caller(world, method, target):
    organization = world["organization"]
    url = {
        "organizations": ORGANIZATIONS,
        "organization": f"{ORGANIZATIONS}/{organization.pk}",
        "project": f"{world['projects_url']}/{world['project'].pk}",
        "me": "/api/user/me",
        "sign-out": "/api/auth/sign-out",
    }[target]

    response = world["signed_in"].generic(method, url, "", content_type="application/json")

    assert_error(response, 405, "METHOD_NOT_ALLOWED")


# --- Odd but valid input ----------------------------------------------------------------------

UNICODE_NAMES = [
    pytest.param("Ünïcödé Prøjëct", id="latin-accents"),
    pytest.param("مشروع الموقع", id="arabic-rtl"),
    pytest.param("פרויקט", id="hebrew-rtl"),
    pytest.param("\u202egnp.exe", id="rtl-override"),
    pytest.param("e\u0301e\u0301", id="combining-marks-kept-decomposed"),
    pytest.param("Z\u0351\u0362a\u0333\u0354l\u0324g\u0330o\u0353", id="zalgo"),
    pytest.param("👩‍👩‍👧‍👦 family", id="zwj-emoji"),
    pytest.param("😀" * 100, id="exactly-100-astral-chars"),
    pytest.param("项目 プロジェクト 프로젝트", id="cjk"),
    pytest.param("'; DROP TABLE tenants_project; --", id="sql-looking"),
    pytest.param("<script>alert(1)</script>", id="html-looking"),
]


@pytest.mark.parametrize("name", UNICODE_NAMES)
def test_a_unicode_project_name_round_trips_exactly(world, name):
    client = world["signed_in"]

    created = client.post(world["projects_url"], {"name": name, "description": name})
    fetched = client.get(f"{world['projects_url']}/{created.json()['data']['id']}")

    assert created.status_code == 201, created.content
    assert created.json()["data"]["name"] == name
    assert fetched.status_code == 200
    assert fetched.json()["data"]["name"] == name
    assert fetched.json()["data"]["description"] == name


@pytest.mark.parametrize("name", UNICODE_NAMES)
def test_a_unicode_organization_name_round_trips_and_gets_a_slug(world, name):
    client = world["signed_in"]

    created = client.post(ORGANIZATIONS, {"name": name})
    renamed = client.patch(f"{ORGANIZATIONS}/{world['organization'].pk}", {"name": name})

    assert created.status_code == 201, created.content
    assert created.json()["data"]["name"] == name
    assert re.fullmatch(r"[-a-z0-9_]+", created.json()["data"]["slug"])
    assert renamed.status_code == 200, renamed.content
    assert renamed.json()["data"]["name"] == name


@pytest.mark.parametrize(
    ("email", "name"),
    [
        ("rtl@example.com", "مرحبا بالعالم"),
        ("emoji@example.com", "😀" * 150),
        ("combining@example.com", "Zoe\u0308"),
        ("idn@exämple.com", "IDN Domain"),
        ("plus+tag@example.com", "'''"),
        ("-@example.com", "---"),
    ],
)
def test_sign_up_accepts_odd_but_valid_names_and_addresses(world, email, name):
    response = world["anonymous"].post(
        SIGN_UP, {"email": email, "password": "a-long-unusual-pass", "name": name}
    )

    assert response.status_code == 200, response.content
    assert response.json()["data"]["email"] == email
    assert response.json()["data"]["fullName"] == name
    assert response.json()["data"]["organizationCount"] == 1


def test_sign_up_with_an_email_taken_in_another_case_is_409(world):
    response = send(world, "sign-up", with_field("sign-up", "email", "OWNER@Example.COM"))

    assert_error(response, 409, "EMAIL_TAKEN")


@pytest.mark.parametrize(
    ("route", "body"),
    [
        pytest.param("send-verification-email", {}, id="resend-without-email"),
        pytest.param("update-project", {}, id="update-nothing"),
        pytest.param("create-organization", {"name": "Acme", "extra": [1, {}]}, id="extra-field"),
        pytest.param("create-organization", '{"name": "x", "name": "Acme"}', id="duplicate-key"),
        pytest.param(
            "create-project", {"name": "Acme", "description": "x" * 2000}, id="longest-description"
        ),
        pytest.param("create-organization", {"name": "A" * 100}, id="longest-name"),
        pytest.param(
            "sign-up",
            {"email": "new@example.com", "password": "p" * 1024, "name": "New"},
            id="longest-password",
        ),
    ],
)
def test_odd_but_valid_bodies_succeed(world, route, body):
    response = send(world, route, body)

    assert response.status_code in (200, 201), response.content
    assert response.json()["success"] is True


def test_read_only_fields_in_a_project_body_are_ignored(world):
    elsewhere = world["outsider"].memberships.get().organization

    response = world["signed_in"].post(
        world["projects_url"],
        {
            "name": "Acme",
            "id": "01ARZ3NDEKTSV4RRFFQ69G5FAV",
            "organizationId": elsewhere.pk,
            "createdBy": world["outsider"].pk,
            "createdAt": "2000-01-01T00:00:00.000Z",
        },
    )

    assert response.status_code == 201, response.content
    data = response.json()["data"]
    assert data["id"] != "01ARZ3NDEKTSV4RRFFQ69G5FAV"
    assert data["organizationId"] == world["organization"].pk
    assert data["createdBy"] == world["owner"].pk
    assert not data["createdAt"].startswith("2000")
    assert not Project.objects.filter(organization=elsewhere).exists()
