"""Cross-origin refusals leave at most one audit event a minute per client network (an IPv6
client by its /64) and reason, however many addresses and requests the client uses."""

from __future__ import annotations

import pytest
from rest_framework.test import APIClient

from audit.models import Action, AuditEvent

pytestmark = pytest.mark.django_db

SIGN_IN = "/api/auth/sign-in/email"
EVIL = "https://evil.example"


def refused(ip: str, **headers: str) -> None:
    """A cross-origin sign-in attempt from `ip`; it must be refused."""
    response = APIClient().post(
        SIGN_IN,
        {"email": "ada@example.com", "password": "whatever-it-is"},
        format="json",
        REMOTE_ADDR=ip,
        **headers,
    )
    assert response.status_code == 403
    assert response.json()["code"] == "CROSS_ORIGIN_REQUEST"


def events() -> list[tuple[str | None, str]]:
    return sorted(
        (event.ip, event.detail["reason"])
        for event in AuditEvent.objects.filter(action=Action.CROSS_ORIGIN_REFUSED)
    )


FOREIGN_ORIGIN = {"HTTP_ORIGIN": EVIL}
CROSS_SITE = {"HTTP_ORIGIN": EVIL, "HTTP_SEC_FETCH_SITE": "cross-site"}
SAME_SITE = {"HTTP_ORIGIN": "https://sibling.example", "HTTP_SEC_FETCH_SITE": "same-site"}
NULL_ORIGIN = {"HTTP_ORIGIN": "null"}


@pytest.mark.parametrize(
    ("attempts", "expected"),
    [
        pytest.param(
            [("203.0.113.7", FOREIGN_ORIGIN)] * 5,
            [("203.0.113.7", "origin:foreign")],
            id="one-address-again-and-again",
        ),
        pytest.param(
            [
                ("2001:db8:1:2::1", CROSS_SITE),
                ("2001:db8:1:2::ffff", CROSS_SITE),
                ("2001:db8:1:2:abcd:ef01:2345:6789", CROSS_SITE),
            ],
            [("2001:db8:1:2::1", "sec-fetch-site:cross-site")],
            id="ipv6-addresses-of-one-64",
        ),
        pytest.param(
            [("2001:db8:1:2::1", CROSS_SITE), ("2001:db8:1:3::1", CROSS_SITE)],
            [
                ("2001:db8:1:2::1", "sec-fetch-site:cross-site"),
                ("2001:db8:1:3::1", "sec-fetch-site:cross-site"),
            ],
            id="two-ipv6-networks",
        ),
        pytest.param(
            [("203.0.113.7", FOREIGN_ORIGIN), ("203.0.113.8", FOREIGN_ORIGIN)],
            [("203.0.113.7", "origin:foreign"), ("203.0.113.8", "origin:foreign")],
            id="two-ipv4-addresses",
        ),
        pytest.param(
            [
                ("203.0.113.7", FOREIGN_ORIGIN),
                ("203.0.113.7", CROSS_SITE),
                ("203.0.113.7", SAME_SITE),
                ("203.0.113.7", NULL_ORIGIN),
                ("203.0.113.7", CROSS_SITE),
                ("203.0.113.7", NULL_ORIGIN),
            ],
            [
                ("203.0.113.7", "origin:foreign"),
                ("203.0.113.7", "origin:null"),
                ("203.0.113.7", "sec-fetch-site:cross-site"),
                ("203.0.113.7", "sec-fetch-site:same-site"),
            ],
            id="one-address-four-reasons",
        ),
    ],
)
def test_cross_origin_refusals_are_recorded_once_a_minute_per_network_and_reason(
    attempts, expected
):
    for ip, headers in attempts:
        refused(ip, **headers)

    assert events() == expected


def test_the_event_says_why_and_from_where(user_factory):
    refused("198.51.100.4", HTTP_ORIGIN=EVIL, HTTP_USER_AGENT="curl/8")

    event = AuditEvent.objects.get(action=Action.CROSS_ORIGIN_REFUSED)
    assert event.ip == "198.51.100.4"
    assert event.detail == {"reason": "origin:foreign", "origin": EVIL, "path": SIGN_IN}
