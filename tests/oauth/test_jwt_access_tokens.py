"""Access tokens as RFC 9068 JWTs: what they claim, how a resource server elsewhere verifies
them with the published JWK Set, which resource they are for, what a forged or altered one
gets, how the signing key rotates without breaking live tokens, and that revocation stops a
token at once even when the warm-key cache serves its reads."""

from __future__ import annotations

import base64
import json
import time
from datetime import timedelta
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric import rsa
from django.core.management import call_command
from django.test import Client
from django.utils import timezone
from jwcrypto import jwk, jwt
from rest_framework.test import APIClient

from access.credentials import challenge
from oauth import signing
from oauth.models import AccessToken, Application, SigningKey
from oauth.tokens import issue_access_token
from tests.conftest import assert_error
from tests.oauth.test_authorization_server import (
    EVERY,
    authorization_code,
    exchange,
    pkce,
    refresh,
)

pytestmark = pytest.mark.django_db

JWKS = "/.well-known/jwks.json"
ME = "/api/user/me"


def bearer(raw: str) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {raw}")
    return client


def published_set() -> jwk.JWKSet:
    response = Client().get(JWKS)
    assert response.status_code == 200
    return jwk.JWKSet.from_json(response.content)


def verify_as_a_resource_server(raw: str, audience: str, issuer: str) -> tuple[dict, dict]:
    """(header, claims) as a resource server elsewhere checks a token: with the published
    keys alone."""
    token = jwt.JWT(
        jwt=raw,
        key=published_set(),
        algs=["RS256"],
        expected_type="JWS",
        check_claims={"iss": issuer, "aud": audience, "exp": None},
    )
    return token.token.jose_header, json.loads(token.claims)


def flow(browser: Client, app: Application, **authorize: Any) -> dict:
    verifier, code_challenge = pkce()
    organization = authorize.pop("organization", EVERY)
    code = authorization_code(browser, app, code_challenge, organization=organization, **authorize)
    response = exchange(app, code, verifier)
    assert response.status_code == 200, response.content
    return response.json()


def b64(data: dict) -> str:
    return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()


# --- What a token says ------------------------------------------------------------------------


def test_the_token_endpoint_issues_a_jwt_a_resource_server_can_verify(
    browser: Client, app: Application, person: Any, settings: Any
) -> None:
    from tenants.models import Organization

    alpha = Organization.objects.get(name="Alpha Ltd")
    body = flow(browser, app, organization=alpha.pk)

    header, claims = verify_as_a_resource_server(
        body["access_token"], settings.OAUTH_API_RESOURCE, settings.PUBLIC_URL
    )

    assert header["typ"] == "at+jwt" and header["alg"] == "RS256"
    assert header["kid"] in {key["kid"] for key in json.loads(Client().get(JWKS).content)["keys"]}
    assert claims["sub"] == str(person.pk)
    assert claims["aud"] == settings.OAUTH_API_RESOURCE
    assert claims["client_id"] == app.client_id
    assert claims["scope"] == body["scope"]
    assert claims["organization_id"] == str(alpha.pk)
    assert claims["exp"] - claims["iat"] == settings.OAUTH2_PROVIDER["ACCESS_TOKEN_EXPIRE_SECONDS"]
    assert body["token_type"] == "Bearer"
    stored = AccessToken.objects.get()
    assert stored.jti == claims["jti"] and stored.token == ""  # a checksum, never the token
    assert bearer(body["access_token"]).get(ME).status_code == 200


def test_an_unpinned_token_claims_no_organization(browser: Client, app: Application) -> None:
    body = flow(browser, app)

    claims = json.loads(
        jwt.JWT(jwt=body["access_token"], check_claims=False).token.objects["payload"]
    )

    assert "organization_id" not in claims


def test_a_refreshed_token_is_a_new_jwt_for_the_same_audience(
    browser: Client, app: Application, settings: Any
) -> None:
    body = flow(browser, app)

    renewed = refresh(app, body["refresh_token"])

    assert renewed.status_code == 200, renewed.content
    raw = renewed.json()["access_token"]
    _header, claims = verify_as_a_resource_server(
        raw, settings.OAUTH_API_RESOURCE, settings.PUBLIC_URL
    )
    assert (
        claims["jti"]
        != verify_as_a_resource_server(
            body["access_token"], settings.OAUTH_API_RESOURCE, settings.PUBLIC_URL
        )[1]["jti"]
    )
    assert bearer(raw).get(ME).status_code == 200


# --- Resources (RFC 8707) ---------------------------------------------------------------------


def test_a_token_for_the_mcp_endpoint_only_is_refused_by_the_api(
    browser: Client, app: Application, settings: Any
) -> None:
    body = flow(browser, app, resource=settings.OAUTH_MCP_RESOURCE)

    _header, claims = verify_as_a_resource_server(
        body["access_token"], settings.OAUTH_MCP_RESOURCE, settings.PUBLIC_URL
    )
    response = bearer(body["access_token"]).get(ME)

    assert claims["aud"] == settings.OAUTH_MCP_RESOURCE
    assert_error(response, 401, "TOKEN_INVALID")
    assert response["WWW-Authenticate"] == challenge(error="invalid_token")


def test_a_token_may_name_both_resources_and_a_refresh_may_narrow_them(
    browser: Client, app: Application, settings: Any
) -> None:
    both = [settings.OAUTH_API_RESOURCE, settings.OAUTH_MCP_RESOURCE]
    verifier, code_challenge = pkce()
    page = browser.get(
        "/oauth/authorize",
        {
            "response_type": "code",
            "client_id": app.client_id,
            "redirect_uri": "https://client.example/callback",
            "scope": "user:read",
            "state": "s",
            "code_challenge": code_challenge,
            "code_challenge_method": "S256",
            "resource": both,
        },
    )
    assert page.status_code == 200, page.content
    from tests.oauth.test_authorization_server import hidden_fields, query

    fields = hidden_fields(page)
    answer = browser.post("/oauth/authorize", {**fields, "organization": EVERY, "allow": "on"})
    assert answer.status_code == 302, answer.content
    body = exchange(app, query(answer["Location"])["code"], verifier).json()
    claims = json.loads(
        jwt.JWT(jwt=body["access_token"], check_claims=False).token.objects["payload"]
    )
    assert bearer(body["access_token"]).get(ME).status_code == 200
    narrowed = refresh(app, body["refresh_token"], resource=settings.OAUTH_MCP_RESOURCE)
    widened = refresh(app, narrowed.json()["refresh_token"], resource="https://elsewhere.example")

    assert sorted(claims["aud"]) == sorted(both)
    assert narrowed.status_code == 200, narrowed.content
    assert_error(bearer(narrowed.json()["access_token"]).get(ME), 401, "TOKEN_INVALID")
    assert widened.status_code == 400 and widened.json()["error"] == "invalid_target"


# --- Forged, altered and foreign tokens -------------------------------------------------------


def forged(kind: str, raw: str, settings: Any) -> str:
    """`raw` (a good token) made into one that must be refused."""
    header_part, payload_part, signature = raw.split(".")
    header = json.loads(base64.urlsafe_b64decode(header_part + "=="))
    claims = json.loads(base64.urlsafe_b64decode(payload_part + "=="))
    if kind == "altered scope":
        return ".".join([header_part, b64({**claims, "scope": "write:all"}), signature])
    if kind == "alg none":
        return ".".join([b64({**header, "alg": "none"}), payload_part, ""])
    ours = signing.signing_key()[1]
    other = jwk.JWK.from_pyca(rsa.generate_private_key(public_exponent=65537, key_size=2048))
    changes: dict[str, tuple[jwk.JWK, dict, dict]] = {  # key, header and claim changes
        "another key, same kid": (other, {}, {}),
        "unknown kid": (other, {"kid": "no-such-kid"}, {}),
        "wrong issuer": (ours, {}, {"iss": "https://evil.example"}),
        "expired": (ours, {}, {"exp": int(time.time()) - 120}),
        "wrong type": (ours, {"typ": "JWT"}, {}),
        "signed by us, never issued": (ours, {}, {"jti": "0" * 32}),
    }
    if kind in changes:
        key, header_change, claims_change = changes[kind]
        token = jwt.JWT(header={**header, **header_change}, claims={**claims, **claims_change})
        token.make_signed_token(key)
        return token.serialize()
    if kind == "hs256 with the public key":
        public = jwk.JWK(**signing.jwk_set()["keys"][0])
        secret = jwk.JWK(kty="oct", k=base64.urlsafe_b64encode(public.export_to_pem()).decode())
        token = jwt.JWT(header={**header, "alg": "HS256"}, claims=claims)
        token.make_signed_token(secret)
        return token.serialize()
    if kind == "not a jwt":
        return "eyJ.not-base64.x"
    raise AssertionError(kind)


FORGERIES = [
    "altered scope",
    "alg none",
    "another key, same kid",
    "wrong issuer",
    "expired",
    "wrong type",
    "unknown kid",
    "signed by us, never issued",
    "hs256 with the public key",
    "not a jwt",
]


@pytest.mark.parametrize("kind", FORGERIES)
def test_a_forged_or_altered_token_is_401(
    team: dict, settings: Any, kind: str, app_factory: Any
) -> None:
    raw = issue_access_token(user=team["owner"], application=app_factory(), scopes=["user:read"])
    if kind == "another key, same kid":
        # Signed with a key of the attacker's own under the real kid.
        header = json.loads(base64.urlsafe_b64decode(raw.split(".")[0] + "=="))
        assert header["kid"] in {key["kid"] for key in signing.jwk_set()["keys"]}

    response = bearer(forged(kind, raw, settings)).get(ME)

    assert_error(response, 401, "TOKEN_INVALID")
    assert response["WWW-Authenticate"] == challenge(error="invalid_token")


# --- The JWK Set and rotation -----------------------------------------------------------------


def test_the_jwk_set_publishes_public_keys_only(team: dict, app_factory: Any, settings) -> None:
    issue_access_token(user=team["owner"], application=app_factory(), scopes=["user:read"])

    response = Client().get(JWKS)

    assert response.status_code == 200
    assert response["Cache-Control"] == f"public, max-age={settings.OAUTH_JWKS_MAX_AGE}"
    [key] = response.json()["keys"]
    assert key["kty"] == "RSA" and key["alg"] == "RS256" and key["use"] == "sig"
    assert set(key) == {"kty", "n", "e", "kid", "alg", "use"}  # no private part
    assert SigningKey.objects.get().kid == key["kid"]
    assert "PRIVATE" not in SigningKey.objects.get().private_key.split("\n")[0].replace(
        "ENCRYPTED PRIVATE", ""
    )


def test_rotation_publishes_the_next_key_before_it_signs_and_keeps_live_tokens(
    team: dict, app_factory: Any, settings: Any
) -> None:
    application = app_factory()
    before = issue_access_token(user=team["owner"], application=application, scopes=["user:read"])
    old_kid = SigningKey.objects.get().kid

    call_command("rotate_oauth_signing_key", stdout=open("/dev/null", "w"))  # noqa: SIM115
    published = {key["kid"] for key in Client().get(JWKS).json()["keys"]}
    pending = issue_access_token(user=team["owner"], application=application, scopes=["user:read"])
    SigningKey.objects.exclude(kid=old_kid).update(signs_from=timezone.now())
    signing.forget()
    after = issue_access_token(user=team["owner"], application=application, scopes=["user:read"])

    new_kid = SigningKey.objects.exclude(kid=old_kid).get().kid
    assert published == {old_kid, new_kid}
    assert jwt.JWT(jwt=pending, check_claims=False).token.jose_header["kid"] == old_kid
    assert jwt.JWT(jwt=after, check_claims=False).token.jose_header["kid"] == new_kid
    for raw in (before, pending, after):
        assert bearer(raw).get(ME).status_code == 200


def test_a_retired_key_is_pruned_once_no_live_token_can_carry_it(
    team: dict, app_factory: Any, settings: Any
) -> None:
    issue_access_token(user=team["owner"], application=app_factory(), scopes=["user:read"])
    old_kid = SigningKey.objects.get().kid
    signing.rotate(now=True)
    lifetime = settings.OAUTH2_PROVIDER["ACCESS_TOKEN_EXPIRE_SECONDS"]

    assert signing.prune() == 0  # tokens it signed may still be live
    # The new key started signing a token's lifetime ago, plus the time every server takes
    # to learn it did, plus the margins.
    handover = signing.KEYS_TTL + 2 * signing.HANDOVER_MARGIN
    SigningKey.objects.exclude(kid=old_kid).update(
        signs_from=timezone.now() - timedelta(seconds=lifetime + handover - 5)
    )
    SigningKey.objects.filter(kid=old_kid).update(
        signs_from=timezone.now() - timedelta(seconds=lifetime + handover + 60)
    )
    assert signing.prune() == 0  # five seconds short
    SigningKey.objects.exclude(kid=old_kid).update(
        signs_from=timezone.now() - timedelta(seconds=lifetime + handover + 1)
    )
    assert signing.prune() == 1
    assert [key["kid"] for key in Client().get(JWKS).json()["keys"]] != [old_kid]
    assert not SigningKey.objects.filter(kid=old_kid).exists()


def test_keys_stay_readable_while_the_old_secret_is_a_fallback(
    team: dict, app_factory: Any, settings: Any
) -> None:
    raw = issue_access_token(user=team["owner"], application=app_factory(), scopes=["user:read"])
    kid = SigningKey.objects.get().kid
    settings.SECRET_KEY_FALLBACKS = [settings.SECRET_KEY]
    settings.SECRET_KEY = "a-new-secret-key-" + "x" * 40
    signing._loaded.clear()
    signing.forget()

    assert bearer(raw).get(ME).status_code == 200
    assert signing.signing_key()[0] == kid


def test_keys_no_secret_can_read_are_replaced_and_their_tokens_refused(
    team: dict, app_factory: Any, settings: Any
) -> None:
    application = app_factory()
    raw = issue_access_token(user=team["owner"], application=application, scopes=["user:read"])
    kid = SigningKey.objects.get().kid
    settings.SECRET_KEY = "a-new-secret-key-" + "y" * 40
    signing._loaded.clear()
    signing.forget()

    fresh = issue_access_token(user=team["owner"], application=application, scopes=["user:read"])

    assert signing.signing_key()[0] != kid
    assert bearer(fresh).get(ME).status_code == 200
    # The old public key is still published: its tokens live out their hour.
    assert bearer(raw).get(ME).status_code == 200


# --- Revocation through the warm-key cache ----------------------------------------------------


@pytest.fixture
def warm_cache_on(settings: Any) -> None:
    settings.APIKEYS = {**settings.APIKEYS, "CACHE_TIMEOUT": 300}


def projects_url(organization: Any) -> str:
    return f"/api/user/organizations/{organization.pk}/projects"


@pytest.mark.django_db(transaction=True)
def test_a_warm_token_reads_with_no_query_and_revocation_stops_it_at_once(
    team: dict,
    app_factory: Any,
    warm_cache_on: None,
    django_assert_num_queries: Any,
) -> None:
    application = app_factory()
    url = projects_url(team["organization"])
    raw = issue_access_token(user=team["owner"], application=application, scopes=["*"])
    assert bearer(raw).get(url).status_code == 200  # warms the cache

    # count and page: the two queries the view runs with no authentication at all
    with django_assert_num_queries(2):
        assert bearer(raw).get(url).status_code == 200
    revoked = Client().post("/oauth/revoke", {"token": raw, "client_id": application.client_id})
    response = bearer(raw).get(url)

    assert revoked.status_code == 200
    assert_error(response, 401, "TOKEN_INVALID")


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("change", ["deactivated", "removed from the organization"])
def test_a_warm_token_stops_when_its_person_changes(
    team: dict, app_factory: Any, warm_cache_on: None, change: str
) -> None:
    from tenants.models import Membership

    organization, admin = team["organization"], team["admin"]
    raw = issue_access_token(
        user=admin, application=app_factory(), scopes=["projects:read"], organization=organization
    )
    url = projects_url(organization)
    assert bearer(raw).get(url).status_code == 200
    assert bearer(raw).get(url).status_code == 200

    if change == "deactivated":
        admin.is_active = False
        admin.save()
    else:
        Membership.objects.get(user=admin, organization=organization).delete()

    assert_error(bearer(raw).get(url), 401, "TOKEN_INVALID")


# --- Introspection (RFC 7662) -----------------------------------------------------------------

INTROSPECT = "/oauth/introspect"


def basic(app: Application, secret: str) -> dict[str, str]:
    pair = f"{app.client_id}:{secret}".encode()
    return {"HTTP_AUTHORIZATION": "Basic " + base64.b64encode(pair).decode()}


@pytest.fixture
def resource_server(app_factory: Any) -> Application:
    return app_factory(confidential=True)


def test_a_confidential_client_introspects_a_live_token(
    team: dict, app_factory: Any, resource_server: Application, settings: Any
) -> None:
    from tests.oauth.conftest import SECRET

    organization = team["organization"]
    application = app_factory()
    raw = issue_access_token(
        user=team["owner"],
        application=application,
        scopes=["projects:read"],
        organization=organization,
    )
    stored = AccessToken.objects.get()

    response = Client().post(INTROSPECT, {"token": raw}, **basic(resource_server, SECRET))

    assert response.status_code == 200
    assert response["Cache-Control"] == "no-store"
    assert response.json() == {
        "active": True,
        "token_type": "Bearer",
        "scope": "projects:read",
        "client_id": application.client_id,
        "sub": str(team["owner"].pk),
        "aud": [settings.OAUTH_API_RESOURCE],
        "iss": settings.PUBLIC_URL,
        "iat": int(stored.created.timestamp()),
        "exp": int(stored.expires.timestamp()),
        "jti": stored.jti,
        "organization_id": str(organization.pk),
    }


@pytest.mark.parametrize(
    "token",
    ["revoked", "expired", "deactivated owner", "refresh token", "garbage", "forged"],
)
def test_anything_but_a_live_access_token_is_inactive(
    team: dict, app_factory: Any, resource_server: Application, token: str, settings: Any
) -> None:
    from oauth.models import RefreshToken
    from tests.oauth.conftest import SECRET

    application = app_factory()
    owner = team["owner"]
    raw = issue_access_token(
        user=owner,
        application=application,
        scopes=["user:read"],
        expires_in=-1 if token == "expired" else 3600,
    )
    if token == "revoked":
        AccessToken.objects.get().revoke()
    if token == "deactivated owner":
        type(owner).objects.filter(pk=owner.pk).update(is_active=False)
    if token == "refresh token":
        refresh_row = RefreshToken(
            user=owner, application=application, access_token=AccessToken.objects.get()
        )
        refresh_row.token = raw = "lkr_" + "r" * 40
        refresh_row.save()
    if token == "garbage":
        raw = "not a token"
    if token == "forged":
        raw = forged("another key, same kid", raw, settings)

    response = Client().post(INTROSPECT, {"token": raw}, **basic(resource_server, SECRET))

    assert response.status_code == 200
    assert response.json() == {"active": False}


@pytest.mark.parametrize(
    "caller", ["nobody", "wrong secret", "public client", "secret in the body", "bearer token"]
)
def test_only_a_confidential_client_may_introspect(
    team: dict, app_factory: Any, resource_server: Application, caller: str
) -> None:
    from tests.oauth.conftest import SECRET

    public = app_factory()
    raw = issue_access_token(user=team["owner"], application=public, scopes=["user:read"])
    data: dict[str, str] = {"token": raw}
    headers: dict[str, str] = {}
    if caller == "wrong secret":
        headers = basic(resource_server, "wrong")
    if caller == "public client":
        headers = basic(public, SECRET)
    if caller == "secret in the body":
        data.update(client_id=resource_server.client_id, client_secret=SECRET)
    if caller == "bearer token":
        headers = {"HTTP_AUTHORIZATION": f"Bearer {raw}"}

    response = Client().post(INTROSPECT, data, **headers)

    if caller == "secret in the body":
        assert response.status_code == 200 and response.json()["active"] is True
        return
    assert response.status_code == 401
    assert response.json() == {"error": "invalid_client"}
    assert "scope" not in response.content.decode()


def test_introspection_needs_a_token_and_a_post(resource_server: Application) -> None:
    from tests.oauth.conftest import SECRET

    missing = Client().post(INTROSPECT, {}, **basic(resource_server, SECRET))
    in_the_url = Client().get(INTROSPECT, {"token": "x"}, **basic(resource_server, SECRET))

    assert missing.status_code == 400 and missing.json()["error"] == "invalid_request"
    assert in_the_url.status_code == 405
