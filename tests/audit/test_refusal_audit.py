"""Refused keys in the audit trail: at most one row a minute per client network and reason,
however many dead keys arrive from that network."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest
from django.utils import timezone

from apikeys import conf, crypto
from apikeys.models import ApiKey
from apikeys.services import api_key_revoke
from audit.models import AuditEvent

pytestmark = pytest.mark.django_db

REFUSED = {
    "revoked": ("KEY_REVOKED", "The API key has been revoked."),
    "expired": ("KEY_EXPIRED", "The API key has expired."),
}


@pytest.fixture
def dead_key(api_key_factory: Callable, user_factory: Callable) -> Callable[[str], tuple]:
    """A key of a new owner that was revoked, or has expired; returns (key, raw)."""

    def make(reason: str) -> tuple[ApiKey, str]:
        key, raw = api_key_factory(user=user_factory())
        if reason == "revoked":
            api_key_revoke(key=key, revoked_by=key.user)
        else:
            ApiKey.objects.filter(pk=key.pk).update(
                expires_at=timezone.now() - timedelta(minutes=1)
            )
        return key, raw

    return make


def presented(client: Any, raw: str, address: str) -> Any:
    return client.get("/api/user/me", HTTP_X_API_KEY=raw, REMOTE_ADDR=address)


def assert_refused(response: Any, reason: str) -> None:
    code, message = REFUSED[reason]
    body = response.json()
    assert response.status_code == 401
    assert (body["success"], body["code"], body["error"]) == (False, code, "Unauthorized")
    assert body["reason"] == message


@pytest.mark.parametrize("reason", ["revoked", "expired"])
@pytest.mark.parametrize(
    ("first", "second", "rows"),
    [
        pytest.param("203.0.113.7", "203.0.113.7", 1, id="same-address"),
        pytest.param("203.0.113.7", "198.51.100.9", 2, id="another-address"),
        pytest.param("2001:db8:1:2::10", "2001:db8:1:2:ffff::1", 1, id="same-ipv6-64"),
        pytest.param("2001:db8:1:2::10", "2001:db8:1:3::10", 2, id="another-ipv6-64"),
        pytest.param("::ffff:203.0.113.7", "203.0.113.7", 1, id="ipv4-mapped-ipv6"),
    ],
)
def test_two_dead_keys_within_a_minute_leave_one_row_per_network(
    api_client, dead_key, reason, first, second, rows
):
    key, raw = dead_key(reason)
    other, other_raw = dead_key(reason)

    responses = [presented(api_client, raw, first), presented(api_client, other_raw, second)]

    for response in responses:
        assert_refused(response, reason)
    events = list(AuditEvent.objects.filter(action="api_key.refused").order_by("id"))
    assert len(events) == rows
    assert [(e.api_key_id, e.actor_id, e.detail) for e in events] == [
        (key.pk, key.user_id, {"reason": reason}),
        (other.pk, other.user_id, {"reason": reason}),
    ][:rows]


def test_the_same_key_from_another_network_leaves_another_row(api_client, dead_key):
    key, raw = dead_key("revoked")

    for address in ["203.0.113.7", "203.0.113.7", "198.51.100.9"]:
        assert_refused(presented(api_client, raw, address), "revoked")

    events = AuditEvent.objects.filter(action="api_key.refused").order_by("id")
    assert [(e.ip, e.api_key_id) for e in events] == [
        ("203.0.113.7", key.pk),
        ("198.51.100.9", key.pk),
    ]


def test_each_reason_has_its_own_row(api_client, dead_key):
    revoked = dead_key("revoked")[1]
    expired = dead_key("expired")[1]

    for reason, raw in [("revoked", revoked), ("expired", expired)] * 2:
        assert_refused(presented(api_client, raw, "203.0.113.7"), reason)

    events = AuditEvent.objects.filter(action="api_key.refused").order_by("id")
    assert [e.detail["reason"] for e in events] == ["revoked", "expired"]


@pytest.mark.parametrize(
    "raw",
    [
        pytest.param("ba_short", id="malformed"),
        pytest.param(None, id="well-formed-unknown"),
    ],
)
def test_malformed_and_unknown_keys_leave_no_row(api_client, raw):
    # They name no account, key or organization; their floods are recorded by the per-IP
    # limit they spend (access.rate_limited).
    response = presented(api_client, raw or crypto.generate(conf.prefix()), "203.0.113.7")

    body = response.json()
    assert (response.status_code, body["code"]) == (401, "KEY_INVALID")
    assert body["reason"] == "The API key is malformed, unknown, or its owner is deactivated."
    assert not AuditEvent.objects.filter(action="api_key.refused").exists()
