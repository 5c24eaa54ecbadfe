"""ApiRequestGuardMiddleware: cross-origin writes (as Go 1.25's CrossOriginProtection decides),
JSON-only bodies for cookie-authenticated writes, and the body size limit, seen through real
endpoints."""

from __future__ import annotations

import pytest
from django.conf import settings as django_settings
from rest_framework.test import APIClient

from accounts.models import User
from tenants.models import Organization, Project
from tests.conftest import PASSWORD, assert_error

pytestmark = pytest.mark.django_db

ORGANIZATIONS = "/api/user/organizations"
SIGN_IN = "/api/auth/sign-in/email"
SIGN_UP = "/api/auth/sign-up/email"
SIGN_OUT = "/api/auth/sign-out"
ME = "/api/user/me"
TRUSTED = "https://app.example.com"

# assert_error(response, **EXPECTED): the whole envelope, and nothing beyond it.
REFUSED_CROSS_ORIGIN = {
    "status": 403,
    "code": "CROSS_ORIGIN_REQUEST",
    "message": "Cross-origin request refused.",
    "extra": {},
}
UNSUPPORTED_MEDIA_TYPE = {
    "status": 415,
    "code": "UNSUPPORTED_MEDIA_TYPE",
    "message": "Send the body as JSON with Content-Type: application/json.",
    "extra": {},
}
PAYLOAD_TOO_LARGE = {
    "status": 413,
    "code": "PAYLOAD_TOO_LARGE",
    "message": "The request body is too large.",
    "extra": {},
}


def assert_not_refused_as_cross_origin(response) -> None:
    assert response.status_code != 403 or response.json()["code"] != "CROSS_ORIGIN_REQUEST"


@pytest.fixture
def owner(user_factory) -> User:
    return user_factory(email="owner@example.com")


# --- Where the request comes from -------------------------------------------------------------

# (headers the browser sent, TRUSTED_ORIGINS, allowed?)
ORIGIN_CASES = [
    # Sec-Fetch-Site decides when present.
    pytest.param({"Sec-Fetch-Site": "same-origin"}, [], True, id="fetch-site-same-origin"),
    pytest.param({"Sec-Fetch-Site": "none"}, [], True, id="fetch-site-none"),
    pytest.param({"Sec-Fetch-Site": "cross-site"}, [], False, id="fetch-site-cross-site"),
    pytest.param({"Sec-Fetch-Site": "same-site"}, [], False, id="fetch-site-same-site"),
    pytest.param({"Sec-Fetch-Site": "garbage"}, [], False, id="fetch-site-unknown-value"),
    pytest.param(
        {"Sec-Fetch-Site": "cross-site", "Origin": TRUSTED},
        [TRUSTED],
        True,
        id="fetch-site-cross-site-from-trusted-origin",
    ),
    pytest.param(
        {"Sec-Fetch-Site": "same-site", "Origin": TRUSTED},
        [TRUSTED],
        True,
        id="fetch-site-same-site-from-trusted-origin",
    ),
    pytest.param(
        {"Sec-Fetch-Site": "cross-site", "Origin": TRUSTED},
        [],
        False,
        id="fetch-site-cross-site-from-origin-no-longer-trusted",
    ),
    pytest.param(
        {"Sec-Fetch-Site": "cross-site", "Origin": "https://evil.example"},
        [TRUSTED],
        False,
        id="fetch-site-cross-site-from-untrusted-origin",
    ),
    pytest.param(
        # The browser's Sec-Fetch-Site outranks an Origin that merely names our host.
        {"Sec-Fetch-Site": "cross-site", "Origin": "http://testserver"},
        [],
        False,
        id="fetch-site-cross-site-with-our-own-origin",
    ),
    pytest.param(
        {"Sec-Fetch-Site": "same-origin", "Origin": "https://evil.example"},
        [],
        True,
        id="fetch-site-same-origin-with-foreign-origin",
    ),
    # No Sec-Fetch-Site (older browsers, non-browser clients): Origin decides.
    pytest.param({}, [], True, id="no-fetch-site-no-origin"),
    pytest.param({"Origin": "http://testserver"}, [], True, id="origin-is-our-host"),
    pytest.param({"Origin": TRUSTED}, [TRUSTED], True, id="origin-trusted"),
    pytest.param({"Origin": TRUSTED}, [], False, id="origin-not-in-trusted-list"),
    pytest.param({"Origin": "https://evil.example"}, [TRUSTED], False, id="origin-foreign"),
    pytest.param({"Origin": "http://testserver:8080"}, [], False, id="origin-our-host-other-port"),
    pytest.param(
        {"Origin": "http://testserver.evil.example"}, [], False, id="origin-our-host-as-prefix"
    ),
    pytest.param({"Origin": "null"}, [], False, id="origin-null"),
    pytest.param({"Origin": "http://["}, [], False, id="origin-unparseable"),
]


@pytest.mark.parametrize(("headers", "trusted", "allowed"), ORIGIN_CASES)
def test_signed_in_write_is_refused_only_when_cross_origin(
    client_for, owner, settings, headers, trusted, allowed
):
    settings.TRUSTED_ORIGINS = trusted

    response = client_for(owner).post(ORGANIZATIONS, {"name": "Acme"}, headers=headers)

    if allowed:
        assert response.status_code == 201, response.content
        assert response.json()["success"] is True
        assert response.json()["data"]["name"] == "Acme"
        assert Organization.objects.filter(name="Acme").exists()
    else:
        assert_error(response, **REFUSED_CROSS_ORIGIN)
        assert not Organization.objects.filter(name="Acme").exists()


@pytest.mark.parametrize(("headers", "trusted", "allowed"), ORIGIN_CASES)
def test_sign_in_is_refused_before_the_credentials_are_checked_when_cross_origin(
    api_client, settings, headers, trusted, allowed
):
    settings.TRUSTED_ORIGINS = trusted

    response = api_client.post(
        SIGN_IN, {"email": "nobody@example.com", "password": "wrong-password"}, headers=headers
    )

    if allowed:
        # Past the guard: the view ran and judged the credentials.
        assert response.status_code == 401
        assert response.json()["code"] == "INVALID_CREDENTIALS"
        assert response.json()["success"] is False
    else:
        assert_error(response, **REFUSED_CROSS_ORIGIN)


@pytest.mark.parametrize(
    ("method", "target"),
    [
        ("patch", "organization"),
        ("post", "projects"),
        ("patch", "project"),
        ("delete", "project"),
    ],
)
def test_every_unsafe_method_is_guarded(client_for, team, project_factory, method, target):
    organization = team["organization"]
    project = project_factory(organization, name="Kept")
    urls = {
        "organization": f"{ORGANIZATIONS}/{organization.pk}",
        "projects": f"{ORGANIZATIONS}/{organization.pk}/projects",
        "project": f"{ORGANIZATIONS}/{organization.pk}/projects/{project.pk}",
    }

    response = getattr(client_for(team["owner"]), method)(
        urls[target], {"name": "Renamed"}, headers={"Sec-Fetch-Site": "cross-site"}
    )

    assert_error(response, **REFUSED_CROSS_ORIGIN)
    organization.refresh_from_db()
    assert organization.name != "Renamed"
    assert list(Project.objects.values_list("name", flat=True)) == ["Kept"]


@pytest.mark.parametrize("method", ["get", "head"])
@pytest.mark.parametrize("fetch_site", ["cross-site", "same-site"])
@pytest.mark.parametrize("path", [ORGANIZATIONS, ME, "/api/auth/status"])
def test_safe_methods_are_never_refused(client_for, owner, method, fetch_site, path):
    response = getattr(client_for(owner), method)(
        path, headers={"Sec-Fetch-Site": fetch_site, "Origin": "https://evil.example"}
    )

    assert response.status_code == 200
    if method == "get":
        assert response.json()["success"] is True
    else:
        assert response.content == b""


def test_an_unknown_api_path_is_guarded_too(client_for, owner):
    refused = client_for(owner).post(
        "/api/no-such-route", {}, headers={"Sec-Fetch-Site": "cross-site"}
    )
    same_origin = client_for(owner).post(
        "/api/no-such-route", {}, headers={"Sec-Fetch-Site": "same-origin"}
    )

    assert_error(refused, **REFUSED_CROSS_ORIGIN)
    assert same_origin.status_code == 404
    assert same_origin.json()["code"] == "NOT_FOUND"


# --- Requests that bring their own credential -------------------------------------------------

# Headers that present an API key: no other site can make a browser send them without a
# preflight, so they skip the origin check, and authentication then judges the key alone.
PRESENTED_KEYS = [
    pytest.param({"X-Api-Key": "lk_bogus"}, id="x-api-key"),
    pytest.param({"X-Api-Key": ""}, id="x-api-key-empty"),
    pytest.param({"Authorization": "Bearer lk_bogus"}, id="authorization-bearer"),
    pytest.param({"Authorization": "bearer lk_bogus"}, id="authorization-bearer-lower-case"),
    pytest.param({"Authorization": "Bearer "}, id="authorization-bearer-empty"),
]
CROSS_SITE = {"Sec-Fetch-Site": "cross-site", "Origin": "https://evil.example"}


@pytest.mark.parametrize("credential", PRESENTED_KEYS)
def test_a_request_presenting_an_api_key_skips_the_origin_check(api_client, credential):
    response = api_client.post(
        ORGANIZATIONS, {"name": "Acme"}, headers={**CROSS_SITE, **credential}
    )

    # Not refused as cross-origin: authentication judged the (bogus) key instead.
    assert_not_refused_as_cross_origin(response)
    assert response.status_code == 401, response.content
    assert response.json()["success"] is False
    assert not Organization.objects.filter(name="Acme").exists()


@pytest.mark.parametrize("credential", PRESENTED_KEYS)
def test_a_bogus_api_key_never_falls_back_to_the_session_cookie(client_for, owner, credential):
    # The guard skips the origin check for these headers only because authentication never
    # falls back to the session when one is present. If it did, a cross-site write would ride
    # the victim's cookie past the guard.
    response = client_for(owner).post(
        ORGANIZATIONS, {"name": "Acme"}, headers={**CROSS_SITE, **credential}
    )

    assert_not_refused_as_cross_origin(response)
    assert response.status_code == 401, response.content
    assert response.json()["success"] is False
    assert not Organization.objects.filter(name="Acme").exists()


@pytest.mark.parametrize(
    "authorization",
    ["Basic b3duZXJAZXhhbXBsZS5jb206eA==", "Digest username=owner", "lk_bogus"],
)
def test_another_authorization_scheme_does_not_skip_the_origin_check(
    client_for, owner, authorization
):
    # A browser can attach Basic credentials on its own, so they are as ambient as a cookie.
    response = client_for(owner).post(
        ORGANIZATIONS, {"name": "Acme"}, headers={**CROSS_SITE, "Authorization": authorization}
    )

    assert_error(response, **REFUSED_CROSS_ORIGIN)
    assert not Organization.objects.filter(name="Acme").exists()


# --- Sign-in, sign-up and sign-out ------------------------------------------------------------


def test_cross_site_sign_in_with_good_credentials_starts_no_session(api_client, owner):
    response = api_client.post(
        SIGN_IN,
        {"email": "owner@example.com", "password": PASSWORD},
        headers={"Sec-Fetch-Site": "cross-site"},
    )

    assert_error(response, **REFUSED_CROSS_ORIGIN)
    assert django_settings.SESSION_COOKIE_NAME not in response.cookies
    assert api_client.get(ME).status_code == 401


def test_cross_site_sign_up_creates_nothing(api_client):
    response = api_client.post(
        SIGN_UP,
        {"email": "new@example.com", "password": "correct-horse-battery", "name": "New"},
        headers={"Sec-Fetch-Site": "cross-site"},
    )

    assert_error(response, **REFUSED_CROSS_ORIGIN)
    assert not User.objects.filter(email="new@example.com").exists()


def test_cross_site_sign_out_leaves_the_session_alone(client_for, owner):
    client = client_for(owner)

    response = client.post(SIGN_OUT, headers={"Sec-Fetch-Site": "cross-site"})

    assert_error(response, **REFUSED_CROSS_ORIGIN)
    assert client.get(ME).status_code == 200


# --- Cookie-authenticated writes must be JSON -------------------------------------------------

MULTIPART = (
    '--BoUnDaRy\r\nContent-Disposition: form-data; name="name"\r\n\r\nAcme\r\n--BoUnDaRy--\r\n'
)


@pytest.mark.parametrize(
    ("content_type", "body"),
    [
        pytest.param("application/x-www-form-urlencoded", "name=Acme", id="form-urlencoded"),
        pytest.param("application/x-www-form-urlencoded", "", id="form-urlencoded-empty"),
        pytest.param("multipart/form-data; boundary=BoUnDaRy", MULTIPART, id="multipart"),
        pytest.param("text/plain", '{"name": "Acme"}', id="text-plain-json-looking"),
        pytest.param("text/plain;charset=UTF-8", '{"name": "Acme"}', id="text-plain-charset"),
        pytest.param("", '{"name": "Acme"}', id="no-content-type"),
        pytest.param("application/xml", "<name>Acme</name>", id="xml"),
    ],
)
def test_a_signed_in_write_that_is_not_json_gets_415(client_for, owner, content_type, body):
    response = client_for(owner).generic("POST", ORGANIZATIONS, body, content_type=content_type)

    assert_error(response, **UNSUPPORTED_MEDIA_TYPE)
    assert not Organization.objects.filter(name="Acme").exists()


@pytest.mark.parametrize(
    "content_type",
    ["application/json", "application/json; charset=utf-8", "APPLICATION/JSON"],
)
def test_a_signed_in_json_write_is_accepted(client_for, owner, content_type):
    response = client_for(owner).generic(
        "POST", ORGANIZATIONS, '{"name": "Acme"}', content_type=content_type
    )

    assert response.status_code == 201, response.content
    assert response.json()["data"]["name"] == "Acme"


@pytest.mark.parametrize(("method", "target"), [("POST", "sign-out"), ("DELETE", "project")])
@pytest.mark.parametrize(
    "content_type", ["application/x-www-form-urlencoded", "multipart/form-data", "text/plain"]
)
def test_a_form_body_is_refused_even_where_the_view_reads_no_body(
    client_for, team, project_factory, method, target, content_type
):
    # Sign-out and delete never look at the body, so only the guard stands between a
    # cross-site form and the action.
    project = project_factory(team["organization"], name="Kept")
    url = {
        "sign-out": SIGN_OUT,
        "project": f"{ORGANIZATIONS}/{team['organization'].pk}/projects/{project.pk}",
    }[target]
    client = client_for(team["owner"])

    response = client.generic(method, url, "a=1", content_type=content_type)

    assert_error(response, **UNSUPPORTED_MEDIA_TYPE)
    assert client.get(ME).status_code == 200
    assert Project.objects.filter(pk=project.pk).exists()


def test_an_empty_text_plain_write_reaches_the_view(client_for, owner):
    # Some WSGI servers report text/plain for a request that declared no type at all.
    response = client_for(owner).generic("POST", ORGANIZATIONS, "", content_type="text/plain")

    assert response.status_code == 400
    assert response.json()["code"] == "VALIDATION_ERROR"
    assert response.json()["details"] == {"name": ["This field is required."]}


@pytest.mark.parametrize(
    ("content_type", "body"),
    [
        pytest.param(
            "application/x-www-form-urlencoded",
            "email=owner%40example.com&password=correct-horse-battery-staple",
            id="form-urlencoded",
        ),
        pytest.param(
            "text/plain",
            '{"email": "owner@example.com", "password": "correct-horse-battery-staple"}',
            id="text-plain",
        ),
    ],
)
def test_a_form_cannot_sign_anyone_in(api_client, owner, content_type, body):
    response = api_client.generic("POST", SIGN_IN, body, content_type=content_type)

    assert_error(response, **UNSUPPORTED_MEDIA_TYPE)
    assert django_settings.SESSION_COOKIE_NAME not in response.cookies


# --- Body size -------------------------------------------------------------------------------


def json_body_of_size(size: int) -> str:
    """A valid organization body exactly `size` bytes long."""
    template = '{"name": "Acme", "padding": "%s"}'
    body = template % ("x" * (size - len(template % "")))
    assert len(body.encode()) == size
    return body


@pytest.mark.parametrize(
    ("over_limit", "headers"),
    [
        pytest.param(0, {}, id="at-the-limit"),
        pytest.param(1, {}, id="one-byte-over"),
        pytest.param(1, {"Sec-Fetch-Site": "cross-site"}, id="over-and-cross-site"),
        pytest.param(1, {"X-Api-Key": "lk_bogus"}, id="over-with-an-api-key"),
    ],
)
def test_a_body_over_the_upload_limit_gets_413(client_for, owner, settings, over_limit, headers):
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 2048

    response = client_for(owner).generic(
        "POST",
        ORGANIZATIONS,
        json_body_of_size(2048 + over_limit),
        content_type="application/json",
        headers=headers,
    )

    if over_limit:
        assert_error(response, **PAYLOAD_TOO_LARGE)
        assert not Organization.objects.filter(name="Acme").exists()
    else:
        assert response.status_code == 201, response.content


def test_a_body_over_the_default_limit_gets_413(client_for, owner):
    body = json_body_of_size(django_settings.DATA_UPLOAD_MAX_MEMORY_SIZE + 1)

    response = client_for(owner).generic(
        "POST", ORGANIZATIONS, body, content_type="application/json"
    )

    assert_error(response, **PAYLOAD_TOO_LARGE)


# --- HTML forms outside /api/ keep Django's CSRF token ----------------------------------------


def test_an_html_form_post_without_a_csrf_token_is_refused_by_django():
    client = APIClient(enforce_csrf_checks=True)

    response = client.post(
        "/admin/login/", {"username": "a@example.com", "password": "x"}, format="multipart"
    )

    assert response.status_code == 403
    assert response["Content-Type"].startswith("text/html")
    assert b"This form has expired" in response.content


def test_an_html_form_post_with_its_csrf_token_is_accepted():
    client = APIClient(enforce_csrf_checks=True)
    client.get("/admin/login/")
    token = client.cookies[django_settings.CSRF_COOKIE_NAME].value

    response = client.post(
        "/admin/login/",
        {"username": "a@example.com", "password": "x", "csrfmiddlewaretoken": token},
        format="multipart",
    )

    # The login form again, with its "wrong credentials" error: the token check passed.
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/html")
    assert b"errornote" in response.content
