"""The audit trail: what is recorded, that it is append-only, its two lists, request ids,
and that it never holds a secret."""

from __future__ import annotations

import json
import logging
import re
import smtplib
from typing import NoReturn
from urllib.parse import urlsplit

import pytest
from django.conf import settings as django_settings
from django.core import mail
from django.test import Client
from django_tasks.backends.base import BaseTaskBackend
from rest_framework.test import APIClient

from accounts.models import User
from apikeys.models import ApiKey
from audit.models import AppendOnly, AuditEvent
from ratelimits.counters import Rate

pytestmark = pytest.mark.django_db


class BrokenEmailBackend:
    def __init__(self, **kwargs: object) -> None:
        pass

    def send_messages(self, messages: object) -> int:
        raise smtplib.SMTPServerDisconnected("gone")


class RefusingTaskBackend(BaseTaskBackend):
    """A task queue that cannot take a task (its database is gone, say)."""

    def enqueue(self, task: object, args: object, kwargs: object) -> NoReturn:
        raise ConnectionError("task queue unavailable")


def token_from_outbox() -> str:
    """The token at the end of the emailed link (PUBLIC_URL/verify-email/<token>)."""
    link = re.search(r"https?://\S+", mail.outbox[-1].body).group(0)
    return urlsplit(link).path.rsplit("/", 1)[1]


def actions() -> list[str]:
    return list(AuditEvent.objects.order_by("id").values_list("action", flat=True))


def org_events_url(organization) -> str:
    return f"/api/user/organizations/{organization.pk}/audit-events"


# --- What is recorded --------------------------------------------------------------------


def test_sign_up_sign_in_verification_and_sign_out_are_recorded(api_client):
    api_client.post(
        "/api/auth/sign-up/email",
        {"email": "jane@example.com", "password": "a-long-secure-passphrase", "name": "Jane"},
        HTTP_USER_AGENT="curl/8.0",
    )
    api_client.post("/api/auth/verify-email", {"token": token_from_outbox()})
    api_client.post(
        "/api/auth/sign-in/email", {"email": "jane@example.com", "password": "wrong-password"}
    )
    api_client.post(
        "/api/auth/sign-in/email",
        {"email": "jane@example.com", "password": "a-long-secure-passphrase"},
    )
    api_client.post("/api/auth/sign-out")

    assert actions() == [
        "organization.created",
        "user.signed_up",
        "user.email_verified",
        "user.sign_in_failed",
        "user.signed_in",
        "user.signed_out",
    ]
    signed_up = AuditEvent.objects.get(action="user.signed_up")
    assert signed_up.actor.email == "jane@example.com"
    assert signed_up.organization is not None
    assert (signed_up.ip, signed_up.user_agent) == ("127.0.0.1", "curl/8.0")
    assert len(signed_up.request_id) == 32
    assert AuditEvent.objects.get(action="user.sign_in_failed").detail == {
        "reason": "invalid_credentials"
    }


def test_a_failed_sign_in_for_an_unknown_address_keeps_no_address(api_client):
    api_client.post(
        "/api/auth/sign-in/email", {"email": "who@example.com", "password": "wrong-password"}
    )

    event = AuditEvent.objects.get()
    assert event.actor is None
    assert "who@example.com" not in json.dumps(event.detail)


def test_organization_changes_are_recorded(client_for, team):
    client = client_for(team["owner"])
    client.post("/api/user/organizations", {"name": "Second"})
    client.patch(f"/api/user/organizations/{team['organization'].pk}", {"name": "Renamed"})

    updated = AuditEvent.objects.get(action="organization.updated")
    assert updated.actor == team["owner"]
    assert updated.organization == team["organization"]
    assert updated.detail["name"]["to"] == "Renamed"
    assert AuditEvent.objects.filter(action="organization.created").count() == 1


def test_key_lifecycle_is_recorded(client_for, key_client, team):
    owner = team["owner"]
    client = client_for(owner)
    created = client.post(
        "/api/auth/api-key/create",
        {
            "name": "deploy",
            "scopes": ["projects:read"],
            "expiresIn": 3600,
            "metadata": {"organizationId": team["organization"].pk},
        },
    ).json()["data"]
    client.post("/api/auth/api-key/update", {"keyId": created["id"], "name": "deploy-2"})
    client.post("/api/auth/api-key/revoke", {"keyId": created["id"]})
    key_client(created["key"]).get("/api/user/me")
    key_client(created["key"]).get("/api/user/me")

    assert actions() == [
        "api_key.created",
        "api_key.renamed",
        "api_key.revoked",
        "api_key.refused",
    ]
    event = AuditEvent.objects.get(action="api_key.created")
    assert event.detail["scopes"] == ["projects:read"]
    assert event.detail["organizationId"] == team["organization"].pk
    assert event.detail["expiresAt"] == created["expiresAt"]
    assert (event.target_type, event.target_id) == ("apikey", created["id"])
    revoked = AuditEvent.objects.get(action="api_key.revoked")
    assert (revoked.actor, revoked.detail) == (owner, {"by": "owner"})
    refused = AuditEvent.objects.get(action="api_key.refused")
    assert refused.detail == {"reason": "revoked"}


def test_a_cascading_revocation_records_each_key(client_for, key_client, api_key_factory):
    parent, raw = api_key_factory(scopes=["api-keys:write", "user:read"])
    key_client(raw).post("/api/auth/api-key/create", {"name": "child", "scopes": ["user:read"]})

    client_for(parent.user).post("/api/auth/api-key/revoke", {"keyId": parent.pk})

    revoked = AuditEvent.objects.filter(action="api_key.revoked").order_by("id")
    assert [e.detail.get("cascadeFrom") for e in revoked] == [None, parent.pk]


def test_scope_denials_and_rate_limit_trips_are_recorded_once_a_window(
    key_client, api_key_factory, settings
):
    key, raw = api_key_factory(scopes=["user:read"])
    client = key_client(raw)
    for _ in range(3):
        assert client.get("/api/auth/api-key/list").status_code == 403
    settings.RATELIMITS = {**settings.RATELIMITS, "KEY": Rate.parse("1/min")}
    for _ in range(3):
        client.get("/api/user/me")

    denied = AuditEvent.objects.get(action="access.scope_denied")
    assert denied.detail["required"] == "api-keys:read"
    assert denied.api_key == key
    tripped = AuditEvent.objects.get(action="access.rate_limited")
    assert tripped.detail == {"policy": "key", "limit": 1, "window": 60}


def test_cross_origin_refusals_are_recorded(client_for, user_factory):
    client = client_for(user_factory())

    response = client.post(
        "/api/user/organizations", {"name": "x"}, HTTP_ORIGIN="https://evil.example"
    )

    assert response.status_code == 403
    event = AuditEvent.objects.get()
    assert event.action == "access.cross_origin_refused"
    assert event.detail["origin"] == "https://evil.example"


def test_a_successful_key_read_writes_no_event(key_client, api_key_factory):
    _key, raw = api_key_factory()
    client = key_client(raw)
    client.get("/api/user/me")
    before = AuditEvent.objects.count()

    for _ in range(3):
        assert client.get("/api/user/me").status_code == 200

    assert AuditEvent.objects.count() == before == 1  # api_key.created, from the factory


def test_a_rolled_back_change_leaves_no_event(settings):
    # The verification mail is queued in the sign-up's transaction: if the queue refuses it,
    # the account, its organization and their events are rolled back together.
    settings.TASKS = {"default": {"BACKEND": f"{__name__}.RefusingTaskBackend"}}
    client = APIClient(raise_request_exception=False)

    response = client.post(
        "/api/auth/sign-up/email",
        {"email": "jane@example.com", "password": "a-long-secure-passphrase"},
    )

    assert response.status_code == 500
    assert response.json()["code"] == "INTERNAL_ERROR"
    assert not User.objects.filter(email="jane@example.com").exists()
    assert AuditEvent.objects.count() == 0


def test_a_mail_server_failure_does_not_roll_back_the_sign_up(api_client, settings):
    settings.EMAIL_BACKEND = f"{__name__}.BrokenEmailBackend"

    response = api_client.post(
        "/api/auth/sign-up/email",
        {"email": "jane@example.com", "password": "a-long-secure-passphrase"},
    )

    assert response.status_code == 200
    assert actions() == ["organization.created", "user.signed_up"]


# --- Append-only -------------------------------------------------------------------------


def test_events_cannot_be_changed_or_deleted(client_for, user_factory):
    client_for(user_factory()).post("/api/user/organizations", {"name": "Acme"})
    event = AuditEvent.objects.get()

    event.action = "user.signed_in"
    with pytest.raises(AppendOnly):
        event.save()
    with pytest.raises(AppendOnly):
        event.delete()
    with pytest.raises(AppendOnly):
        AuditEvent.objects.update(action="user.signed_in")
    with pytest.raises(AppendOnly):
        AuditEvent.objects.all().delete()
    assert AuditEvent.objects.get().action == "organization.created"


# --- The lists ---------------------------------------------------------------------------


@pytest.mark.parametrize("actor", ["owner", "admin"])
def test_owners_and_admins_list_the_organizations_events(client_for, team, actor):
    client_for(team["owner"]).patch(
        f"/api/user/organizations/{team['organization'].pk}", {"name": "One"}
    )
    client_for(team["admin"]).patch(
        f"/api/user/organizations/{team['organization'].pk}", {"name": "Two"}
    )
    client_for(team["outsider"]).post("/api/user/organizations", {"name": "Elsewhere"})

    response = client_for(team[actor]).get(org_events_url(team["organization"]))

    assert response.status_code == 200
    data = response.json()["data"]
    assert [e["detail"]["name"]["to"] for e in data] == ["Two", "One"]
    assert data[0]["actor"] == {"id": team["admin"].pk, "email": team["admin"].email}
    assert response.json()["pagination"]["totalItems"] == 2


def test_the_list_filters_by_action_and_actor(client_for, team):
    url = f"/api/user/organizations/{team['organization'].pk}"
    client_for(team["owner"]).patch(url, {"name": "One"})
    client_for(team["admin"]).patch(url, {"name": "Two"})
    client = client_for(team["owner"])

    by_actor = client.get(org_events_url(team["organization"]), {"actor": team["owner"].pk})
    by_action = client.get(org_events_url(team["organization"]), {"action": "user.signed_in"})

    assert [e["actor"]["id"] for e in by_actor.json()["data"]] == [team["owner"].pk]
    assert by_action.json()["data"] == []


@pytest.mark.parametrize(
    "query", [{"action": "nope"}, {"actor": "x" * 40}, {"page": "0"}, {"pageSize": "1000"}]
)
def test_bad_filters_are_400(client_for, team, query):
    response = client_for(team["owner"]).get(org_events_url(team["organization"]), query)

    assert response.status_code == 400
    assert response.json()["code"] == "VALIDATION_ERROR"


def test_the_organizations_events_are_refused_to_others(
    api_client, client_for, key_client, api_key_factory, team, org_factory
):
    url = org_events_url(team["organization"])
    _key, without_scope = api_key_factory(user=team["owner"], scopes=["projects:read"])
    elsewhere = org_factory(owner=team["owner"])
    _key, pinned = api_key_factory(user=team["owner"], scopes=["*"], organization=elsewhere)
    _key, member_key = api_key_factory(user=team["member"], scopes=["audit:read"])

    expectations = [
        (api_client.get(url), 401, "UNAUTHORIZED"),
        (client_for(team["member"]).get(url), 403, "INSUFFICIENT_ROLE"),
        (key_client(member_key).get(url), 403, "INSUFFICIENT_ROLE"),
        (client_for(team["outsider"]).get(url), 403, "NOT_ORGANIZATION_MEMBER"),
        (key_client(without_scope).get(url), 403, "INSUFFICIENT_SCOPE"),
        (key_client(pinned).get(url), 403, "ORGANIZATION_MISMATCH"),
    ]

    for response, status, code in expectations:
        assert (response.status_code, response.json()["code"]) == (status, code)


def test_own_events_list_the_callers_and_a_pinned_key_only_its_organizations(
    client_for, key_client, api_key_factory, team, org_factory
):
    owner = team["owner"]
    elsewhere = org_factory(owner=owner)
    client = client_for(owner)
    client.patch(f"/api/user/organizations/{team['organization'].pk}", {"name": "Here"})
    client.patch(f"/api/user/organizations/{elsewhere.pk}", {"name": "There"})
    client_for(team["admin"]).patch(
        f"/api/user/organizations/{team['organization'].pk}", {"name": "Not mine"}
    )
    _key, pinned = api_key_factory(user=owner, scopes=["audit:read"], organization=elsewhere)

    own = client.get("/api/user/audit-events", {"action": "organization.updated"})
    through_pin = key_client(pinned).get(
        "/api/user/audit-events", {"action": "organization.updated"}
    )

    assert [e["detail"]["name"]["to"] for e in own.json()["data"]] == ["There", "Here"]
    assert [e["detail"]["name"]["to"] for e in through_pin.json()["data"]] == ["There"]


def test_own_events_need_credentials_and_the_scope(api_client, key_client, api_key_factory):
    _key, raw = api_key_factory(scopes=["user:read"])

    assert api_client.get("/api/user/audit-events").status_code == 401
    refused = key_client(raw).get("/api/user/audit-events")
    assert (refused.status_code, refused.json()["code"]) == (403, "INSUFFICIENT_SCOPE")


def test_own_events_bad_filter_is_400(client_for, user_factory):
    response = client_for(user_factory()).get("/api/user/audit-events", {"action": 5})

    assert response.status_code == 400


# --- Request ids -------------------------------------------------------------------------


def test_every_response_carries_a_request_id(api_client):
    first = api_client.get("/api/health")
    second = api_client.get("/api/nope")

    assert len(first["X-Request-Id"]) == 32
    assert first["X-Request-Id"] != second["X-Request-Id"]


@pytest.mark.parametrize(
    ("offered", "kept"),
    [
        ("req-2026-11-22-abcdef", True),
        ("01HZ3K5R4X9Y2V6QF8TJ7W0CDN", True),
        ("short", False),
        ("x" * 65, False),
        ("has space in it", False),
        ("new\nline-injected-value", False),
    ],
)
def test_a_well_formed_client_request_id_is_kept(api_client, offered, kept):
    response = api_client.get("/api/health", HTTP_X_REQUEST_ID=offered)

    assert (response["X-Request-Id"] == offered) is kept


def test_the_request_id_reaches_the_audit_row_and_the_logs(client_for, user_factory, caplog):
    client = client_for(user_factory())

    with caplog.at_level(logging.WARNING):
        client.post(
            "/api/user/organizations",
            {"name": "x"},
            HTTP_ORIGIN="https://evil.example",
            HTTP_X_REQUEST_ID="trace-1234567890",
        )

    assert AuditEvent.objects.get().request_id == "trace-1234567890"
    refused = [r for r in caplog.records if "Cross-origin request refused" in r.getMessage()]
    assert refused[0].request_id == "trace-1234567890"


# --- No secret, anywhere -----------------------------------------------------------------


def test_no_secret_reaches_an_audit_row_or_a_log_line(api_client, caplog, settings):
    settings.RATELIMITS = {
        **settings.RATELIMITS,
        "SIGNIN_FAILURES_ACCOUNT_IP": Rate.parse("2/5min"),
    }
    password = "Sentinel-Passw0rd-7f3a9c"
    wrong = "Sentinel-Wrong-Passw0rd-11d2"
    changed = "Sentinel-Changed-Passw0rd-5e8b"
    reset_to = "Sentinel-Reset-Passw0rd-0c47"
    secrets: list[str] = [password, wrong, changed, reset_to]

    with caplog.at_level(logging.DEBUG):
        api_client.post(
            "/api/auth/sign-up/email",
            {"email": "sentinel@example.com", "password": password, "name": "S"},
        )
        token = token_from_outbox()
        secrets.append(token)
        api_client.post("/api/auth/verify-email", {"token": token})
        api_client.post(
            "/api/auth/sign-in/email", {"email": "sentinel@example.com", "password": password}
        )
        secrets.append(api_client.cookies[django_settings.SESSION_COOKIE_NAME].value)
        created = api_client.post(
            "/api/auth/api-key/create",
            {"name": "sentinel", "scopes": ["user:read", "api-keys:write"]},
        ).json()["data"]
        secrets.append(created["key"])
        secrets.append(ApiKey.objects.get(pk=created["id"]).digest)
        child = Client(HTTP_X_API_KEY=created["key"]).post(
            "/api/auth/api-key/create",
            {"name": "child", "scopes": ["user:read"]},
            content_type="application/json",
        )
        secrets.append(child.json()["data"]["key"])
        Client(HTTP_X_API_KEY=created["key"]).get("/api/auth/api-key/list")  # scope denied
        api_client.post("/api/auth/api-key/revoke", {"keyId": created["id"]})
        Client(HTTP_X_API_KEY=created["key"]).get("/api/user/me")  # revoked key used
        Client(HTTP_X_API_KEY=created["key"][:-1] + "x").get("/api/user/me")  # malformed
        api_client.post(
            "/api/auth/change-password", {"currentPassword": wrong, "newPassword": changed}
        )
        api_client.post(
            "/api/auth/change-password", {"currentPassword": password, "newPassword": changed}
        )
        secrets.append(api_client.cookies[django_settings.SESSION_COOKIE_NAME].value)
        api_client.post("/api/auth/sign-out")
        api_client.post("/api/auth/request-password-reset", {"email": "sentinel@example.com"})
        reset_link = re.search(r"https?://\S+", mail.outbox[-1].body).group(0)
        reset_token = urlsplit(reset_link).path.rsplit("/", 1)[1]
        secrets += [reset_token, reset_token.split(".")[1]]
        api_client.post(
            "/api/auth/reset-password", {"token": reset_token, "newPassword": reset_to}
        )
        for _ in range(3):
            api_client.post(
                "/api/auth/sign-in/email", {"email": "sentinel@example.com", "password": wrong}
            )
        Client().post(
            "/api/auth/sign-in/email",
            {"email": "sentinel@example.com", "password": password},
            content_type="application/json",
            HTTP_ORIGIN="https://evil.example",
        )

    rows = json.dumps(list(AuditEvent.objects.values()), default=str) + "".join(
        str(event) for event in AuditEvent.objects.all()
    )
    logs = "\n".join(record.getMessage() for record in caplog.records) + caplog.text
    assert {e for e in actions()} >= {
        "user.signed_up",
        "user.email_verified",
        "user.signed_in",
        "api_key.created",
        "access.scope_denied",
        "api_key.revoked",
        "api_key.refused",
        "user.signed_out",
        "user.password_changed",
        "user.password_reset_requested",
        "user.password_reset",
        "user.sign_in_failed",
        "access.rate_limited",
        "access.cross_origin_refused",
    }
    for secret in secrets:
        assert secret not in rows
        assert secret not in logs
