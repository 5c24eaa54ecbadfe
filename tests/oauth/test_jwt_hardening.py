"""Access tokens under attack and under operations: audience widening, malformed headers and
requests, every change that must withdraw a warm token, and the key hand-overs that must
never leave a live token without its key."""

from __future__ import annotations

import base64
import json
import time
from typing import Any

import pytest
from django.db import transaction
from django.test import Client
from jwcrypto import jwt

from oauth import signing
from oauth.authentication import verified_claims
from oauth.models import AccessToken, RefreshToken, SigningKey
from oauth.tokens import issue_access_token
from tests.conftest import assert_error
from tests.oauth.test_authorization_server import (
    EVERY,
    authorization_code,
    exchange,
    pkce,
    refresh,
)
from tests.oauth.test_jwt_access_tokens import ME, b64, bearer

pytestmark = pytest.mark.django_db


def claims_of(raw: str) -> dict:
    return json.loads(jwt.JWT(jwt=raw, check_claims=False).token.objects["payload"])


def aud_list(claims: dict) -> list[str]:
    aud = claims["aud"]
    return [aud] if isinstance(aud, str) else sorted(aud)


# --- RFC 8707 audience widening -------------------------------------------------------------


def test_code_consented_for_the_api_only_cannot_be_exchanged_for_an_mcp_token(
    browser: Client, app: Any, settings: Any
) -> None:
    """The consent page said "the Latchkey API" (no resource named at /authorize); the token
    request then names the MCP endpoint."""
    verifier, challenge = pkce()
    code = authorization_code(browser, app, challenge, organization=EVERY)
    response = exchange_with(app, code, verifier, resource=settings.OAUTH_MCP_RESOURCE)

    assert response.status_code == 400
    assert response.json()["error"] == "invalid_target"


def exchange_with(app: Any, code: str, verifier: str, **extra: str) -> Any:
    from tests.oauth.test_authorization_server import token_request

    data = {
        "grant_type": "authorization_code",
        "code": code,
        "redirect_uri": "https://client.example/callback",
        "code_verifier": verifier,
        **extra,
    }
    return token_request(data, app=app)


def test_a_refresh_cannot_widen_an_api_only_token_to_the_mcp_endpoint(
    browser: Client, app: Any, settings: Any
) -> None:
    verifier, challenge = pkce()
    code = authorization_code(browser, app, challenge, organization=EVERY)
    body = exchange(app, code, verifier).json()
    assert aud_list(claims_of(body["access_token"])) == [settings.OAUTH_API_RESOURCE]
    # A refresh token stored with no resource (as before grants carried one) means the API.
    RefreshToken.objects.update(resource=[])

    renewed = refresh(app, body["refresh_token"], resource=settings.OAUTH_MCP_RESOURCE)

    assert renewed.status_code == 400
    assert renewed.json()["error"] == "invalid_target"


# --- Unsigned input: nothing but 401 --------------------------------------------------------


@pytest.mark.parametrize(
    "header",
    [
        '{"alg":"RS256","typ":"at+jwt","kid":' + "[" * 5000 + "]" * 5000 + "}",
        '{"alg":"RS256","typ":"at+jwt","kid":"x","crit":["exp"]}',
        '{"alg":"RS256","typ":"at+jwt","kid":1' + "0" * 5000 + "}",
        '{"alg":"RS256","typ":"at+jwt","kid":"x","b64":false}',
    ],
    ids=["deep nesting", "crit", "huge int", "b64 false"],
)
def test_odd_headers_are_401_not_500(team: dict, header: str) -> None:
    raw = (
        base64.urlsafe_b64encode(header.encode()).rstrip(b"=").decode()
        + "."
        + b64({"sub": "1"})
        + ".c2ln"
    )
    assert raw.startswith("eyJ")
    assert verified_claims(raw) is None
    assert_error(bearer(raw).get(ME), 401, "TOKEN_INVALID")


# --- Introspection -----------------------------------------------------------------------------


def test_introspection_with_a_malformed_query_string_is_not_a_500(
    team: dict, app_factory: Any
) -> None:
    from tests.oauth.conftest import SECRET
    from tests.oauth.test_jwt_access_tokens import basic

    resource_server = app_factory(confidential=True)
    raw = issue_access_token(user=team["owner"], application=app_factory(), scopes=["user:read"])
    response = Client(raise_request_exception=False).post(
        "/oauth/introspect?x=%zz", {"token": raw}, **basic(resource_server, SECRET)
    )
    assert response.status_code == 401
    assert response.json() == {"error": "invalid_client"}


# --- The key list ----------------------------------------------------------------------------


def test_a_first_key_made_in_a_rolled_back_transaction_is_not_used_to_sign(
    team: dict, app_factory: Any
) -> None:
    application = app_factory()
    try:
        with transaction.atomic():
            signing.keys()  # makes the installation's first key, in this transaction
            raise RuntimeError("the request fails")
    except RuntimeError:
        pass
    raw = issue_access_token(user=team["owner"], application=application, scopes=["user:read"])
    kid = jwt.JWT(jwt=raw, check_claims=False).token.jose_header["kid"]

    assert SigningKey.objects.filter(kid=kid).exists(), "signed with a key that is not stored"


# --- The warm-key cache: every change that ends or alters a token withdraws its entry ----------

CHANGES = [
    "authorization revoked by the person",
    "authorization revoked by the organization",
    "application deleted",
    "bulk queryset delete",
    "account secured",
    "organization deleted",
    "role changed",
    "plan changed",
]


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("change", CHANGES)
def test_every_change_withdraws_the_warm_entry(
    team: dict, app_factory: Any, settings: Any, change: str
) -> None:
    from django.core.cache import cache

    from apikeys import warm_cache
    from oauth import services
    from tenants.models import Membership, Role
    from tenants.services import membership_role_change, organization_delete

    settings.APIKEYS = {**settings.APIKEYS, "CACHE_TIMEOUT": 300}
    organization, admin = team["organization"], team["admin"]
    application = app_factory()
    raw = issue_access_token(
        user=admin, application=application, scopes=["projects:read"], organization=organization
    )
    token = AccessToken.objects.get()
    url = f"/api/user/organizations/{organization.pk}/projects"
    assert bearer(raw).get(url).status_code == 200
    assert bearer(raw).get(url).status_code == 200  # served from the entry

    if change == "authorization revoked by the person":
        services.authorization_revoke(user=admin, application_id=application.pk, request=None)
    elif change == "authorization revoked by the organization":
        services.organization_authorization_revoke(
            organization_id=organization.pk, application_id=application.pk, request=None
        )
    elif change == "application deleted":
        services.application_delete(
            user=application.user, application_id=application.pk, request=None
        )
    elif change == "bulk queryset delete":
        AccessToken.objects.filter(user=admin).delete()
    elif change == "account secured":
        with transaction.atomic():
            services.authorizations_end(admin)
    elif change == "organization deleted":
        owner_membership = Membership.objects.get(user=team["owner"], organization=organization)
        organization_delete(actor=owner_membership, request=None)
    elif change == "role changed":
        membership_role_change(
            membership=Membership.objects.get(user=admin, organization=organization),
            role=Role.MEMBER,
        )
    elif change == "plan changed":
        organization.refresh_from_db()
        organization.save()

    assert cache.get(warm_cache.tombstone_key(token.lookup)) is not None, "no tombstone"
    if change not in ("role changed", "plan changed"):
        assert bearer(raw).get(url).status_code in (401, 403, 404)


@pytest.mark.django_db(transaction=True)
def test_refresh_reuse_detection_stops_the_familys_warm_token(
    browser: Client, app: Any, settings: Any
) -> None:
    from tenants.models import Organization

    settings.APIKEYS = {**settings.APIKEYS, "CACHE_TIMEOUT": 300}
    alpha = Organization.objects.get(name="Alpha Ltd")
    verifier, challenge = pkce()
    code = authorization_code(browser, app, challenge, organization=alpha.pk)
    first = exchange(app, code, verifier).json()
    second = refresh(app, first["refresh_token"]).json()
    url = f"/api/user/organizations/{alpha.pk}/projects"
    assert bearer(second["access_token"]).get(url).status_code == 200
    assert bearer(second["access_token"]).get(url).status_code == 200
    assert bearer(first["access_token"]).get(url).status_code == 401  # rotated away

    replay = refresh(app, first["refresh_token"])

    assert replay.status_code == 400
    assert bearer(second["access_token"]).get(url).status_code == 401


# --- Rotation across workers ----------------------------------------------------------------


def test_the_jwk_set_names_a_rotated_in_key_for_a_full_cache_lifetime_before_it_signs(
    team: dict, app_factory: Any, settings: Any
) -> None:
    """This worker read the key list a moment before `rotate_oauth_signing_key` ran in
    another process; a resource server fetches the JWK Set from it and caches it for
    OAUTH_JWKS_MAX_AGE. The new key must not sign before that cached copy expires."""
    issue_access_token(user=team["owner"], application=app_factory(), scopes=["user:read"])
    stale = signing.keys()
    pending = signing.rotate()  # as the management command does, in its own process
    # This worker's copy, read a second before the rotation: it serves it KEYS_TTL seconds.
    signing._keys = stale.__class__(**{**stale.__dict__, "read_at": time.time() - 1})
    last_served_at = signing._keys.read_at + signing.KEYS_TTL

    served = {key["kid"] for key in Client().get("/.well-known/jwks.json").json()["keys"]}
    cached_until = last_served_at + settings.OAUTH_JWKS_MAX_AGE

    assert pending.kid not in served
    assert pending.signs_from.timestamp() >= cached_until, (
        f"signs {cached_until - pending.signs_from.timestamp():.0f}s before a resource "
        "server's cached JWK Set names it"
    )


def test_a_token_signed_by_a_key_another_worker_just_made_is_accepted(
    team: dict, app_factory: Any
) -> None:
    """`rotate --now` (or two workers racing to make the first key) in another process: this
    worker read its list under UNKNOWN_KID_REREAD seconds ago."""
    application = app_factory()
    issue_access_token(user=team["owner"], application=application, scopes=["user:read"])
    mine = signing.keys()
    signing.rotate(now=True)
    raw = issue_access_token(user=team["owner"], application=application, scopes=["user:read"])
    signing._keys = mine.__class__(**{**mine.__dict__, "read_at": time.time() - 1})

    assert bearer(raw).get(ME).status_code == 200


def test_a_worker_that_cannot_read_the_current_key_never_signs_with_an_unpublished_one(
    team: dict, app_factory: Any, settings: Any
) -> None:
    """The rotation ran where SECRET_KEY differs (a cron/shell host, or a new SECRET_KEY
    deployed there first): this worker cannot decrypt the current key, so it keeps signing
    with the one before it, which stops being published a token lifetime later."""
    from datetime import timedelta

    from django.utils import timezone

    application = app_factory()
    issue_access_token(user=team["owner"], application=application, scopes=["user:read"])
    ours = settings.SECRET_KEY
    settings.SECRET_KEY = "another-hosts-secret-key-" + "z" * 40
    other = signing.rotate(now=True)
    settings.SECRET_KEY = ours
    lifetime = settings.OAUTH2_PROVIDER["ACCESS_TOKEN_EXPIRE_SECONDS"]
    SigningKey.objects.filter(pk=other.pk).update(
        signs_from=timezone.now() - timedelta(seconds=lifetime + 61)
    )
    SigningKey.objects.exclude(pk=other.pk).update(
        signs_from=timezone.now() - timedelta(seconds=lifetime + 120)
    )
    signing._loaded.clear()
    signing.forget()

    raw = issue_access_token(user=team["owner"], application=application, scopes=["user:read"])
    kid = jwt.JWT(jwt=raw, check_claims=False).token.jose_header["kid"]

    published = {key["kid"] for key in signing.jwk_set()["keys"]}
    assert kid in published, "signed with an unpublished key"
    assert bearer(raw).get(ME).status_code == 200


def test_issue_access_token_keeps_only_a_digest(team: dict, app_factory: Any) -> None:
    raw = issue_access_token(user=team["owner"], application=app_factory(), scopes=["user:read"])
    assert AccessToken.objects.get().token != raw, "the bearer JWT is stored in plaintext"
