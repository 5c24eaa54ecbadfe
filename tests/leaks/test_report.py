"""POST /api/keys/report: anyone reports leaked keys; the live ones are revoked and their owners
told, and the answer says nothing about which were keys."""

from __future__ import annotations

import json
import re

import pytest
from django.core import mail
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from apikeys import crypto
from apikeys.models import ApiKey
from audit.models import Action, AuditEvent
from leaks import services
from tests.conftest import assert_error, set_rates

pytestmark = pytest.mark.django_db

REPORT = "/api/keys/report"
RECEIVED = {
    "success": True,
    "status": 202,
    "code": "OK",
    "message": "Report received. Thank you.",
}


def received(count: int) -> dict:
    return {**RECEIVED, "data": {"received": count}}


def test_a_live_key_is_revoked_its_owner_emailed_and_the_report_audited(
    api_client, api_key_factory, user_factory
):
    owner = user_factory(email="owner@example.com")
    key, raw = api_key_factory(user=owner, name="CI deploy bot")
    source = "https://gist.example.com/someone/1234"

    response = api_client.post(
        REPORT, {"keys": [raw], "source": source}, REMOTE_ADDR="203.0.113.9"
    )

    assert response.status_code == 202
    assert response.json() == received(1)
    key.refresh_from_db()
    assert key.revoked_at is not None and key.revoked_by is None
    [message] = mail.outbox
    assert message.to == ["owner@example.com"]
    assert message.subject == "Your Latchkey API key was found in public and revoked"
    assert f'"CI deploy bot" ({key.start}…, id {key.pk})' in message.body
    assert f"Found at, in the report's words: {source}" in message.body
    assert raw not in message.body and raw[len(key.start) :] not in message.body
    revoked = AuditEvent.objects.get(action=Action.KEY_REVOKED, target_id=key.pk)
    assert revoked.detail == {"by": "report", "reason": "public_report"}
    reported = AuditEvent.objects.get(action=Action.KEY_LEAK_REPORTED)
    assert (reported.target_type, reported.target_id, reported.actor) == ("apikey", key.pk, None)
    assert reported.detail == {
        "reportedBy": "report",
        "source": source,
        "network": "203.0.113.9",
    }
    assert raw not in str(reported.detail)


def test_the_revoked_key_no_longer_authenticates(api_client, api_key_factory, key_client):
    _key, raw = api_key_factory()

    api_client.post(REPORT, {"keys": [raw]})

    assert_error(key_client(raw).get("/api/user/me"), 401, "KEY_REVOKED")


def test_the_keys_a_reported_key_created_are_revoked_with_it(
    api_client, api_key_factory, key_client
):
    parent, raw = api_key_factory(scopes=["*"])
    child_raw = (
        key_client(raw)
        .post("/api/auth/api-key/create", {"name": "child", "scopes": ["user:read"]})
        .json()["data"]["key"]
    )

    api_client.post(REPORT, {"keys": [raw]})

    assert_error(key_client(child_raw).get("/api/user/me"), 401, "KEY_REVOKED")
    assert ApiKey.objects.filter(user=parent.user, revoked_at__isnull=True).count() == 0


def test_a_look_alike_with_a_valid_checksum_is_not_revoked(
    api_client, api_key_factory, look_alike
):
    key, raw = api_key_factory()
    fake = look_alike(raw)
    assert fake != raw and crypto.parse(fake, "ba_").lookup == key.lookup

    response = api_client.post(REPORT, {"keys": [fake]})

    assert response.status_code == 202
    assert response.json() == received(1)
    key.refresh_from_db()
    assert key.revoked_at is None
    assert mail.outbox == []
    assert not AuditEvent.objects.filter(action=Action.KEY_LEAK_REPORTED).exists()


KINDS = ["live", "look-alike", "revoked", "expired", "unknown lookup", "bad checksum", "garbage"]


def reported_string(kind: str, raw: str, look_alike) -> str:
    other = "ba_" + "Z" * 40
    return {
        "live": raw,
        "look-alike": look_alike(raw),
        "revoked": raw,
        "expired": raw,
        "unknown lookup": other + crypto.checksum(other),
        "bad checksum": raw[:-1] + ("0" if raw[-1] != "0" else "1"),
        "garbage": "not a key at all",
    }[kind]


@pytest.mark.parametrize("kind", KINDS)
def test_only_a_real_key_ends_up_revoked(api_client, api_key_factory, look_alike, kind):
    key, raw = api_key_factory(revoked=kind == "revoked", expired=kind == "expired")

    response = api_client.post(REPORT, {"keys": [reported_string(kind, raw, look_alike)]})

    assert response.status_code == 202
    assert response.json() == received(1)
    key.refresh_from_db()
    assert (key.revoked_at is not None) == (kind in ("live", "revoked", "expired"))
    assert len(mail.outbox) == (1 if kind in ("live", "expired") else 0)


def test_the_answer_is_the_same_whatever_the_keys_are(api_client, api_key_factory, look_alike):
    answers = set()
    for kind in KINDS:
        _key, raw = api_key_factory(revoked=kind == "revoked", expired=kind == "expired")
        response = api_client.post(
            REPORT, {"keys": [reported_string(kind, raw, look_alike)], "source": "somewhere"}
        )
        # Everything a client reads but the request id and the rate-limit counters.
        varying = {"X-Request-Id", "X-RateLimit-Remaining", "X-RateLimit-Reset", "RateLimit"}
        headers = tuple(
            sorted((name, value) for name, value in response.items() if name not in varying)
        )
        answers.add((response.status_code, response.content, headers))

    assert len(answers) == 1, answers


def test_an_already_revoked_key_gets_no_second_email_nor_event(api_client, api_key_factory):
    key, raw = api_key_factory()
    api_client.post(REPORT, {"keys": [raw]})
    revoked_at = ApiKey.objects.get(pk=key.pk).revoked_at

    again = api_client.post(REPORT, {"keys": [raw, raw]})

    assert again.json() == received(2)
    assert len(mail.outbox) == 1
    assert AuditEvent.objects.filter(action=Action.KEY_LEAK_REPORTED).count() == 1
    assert ApiKey.objects.get(pk=key.pk).revoked_at == revoked_at


def test_a_key_its_owner_revoked_before_is_left_alone(api_client, api_key_factory):
    _key, raw = api_key_factory(revoked=True)

    response = api_client.post(REPORT, {"keys": [raw]})

    assert response.json() == received(1)
    assert mail.outbox == []
    assert not AuditEvent.objects.filter(action=Action.KEY_LEAK_REPORTED).exists()


def test_one_owner_gets_one_email_for_all_their_keys_in_a_report(
    api_client, api_key_factory, user_factory
):
    owner, other = user_factory(), user_factory()
    first, first_raw = api_key_factory(user=owner, name="first")
    second, second_raw = api_key_factory(user=owner, name="second")
    _theirs, their_raw = api_key_factory(user=other, name="theirs")

    response = api_client.post(REPORT, {"keys": [first_raw, "junk", second_raw, their_raw]})

    assert response.json() == received(4)
    by_recipient = {message.to[0]: message for message in mail.outbox}
    assert set(by_recipient) == {owner.email, other.email}
    mine = by_recipient[owner.email]
    assert mine.subject == "2 of your Latchkey API keys were found in public and revoked"
    assert first.pk in mine.body and second.pk in mine.body
    assert "theirs" not in mine.body
    assert AuditEvent.objects.filter(action=Action.KEY_LEAK_REPORTED).count() == 3


def test_a_credential_sent_along_is_ignored(api_client, api_key_factory, client_for, user_factory):
    _key, raw = api_key_factory()
    signed_in = client_for(user_factory())
    # A key in the header, even the reported one, or one that does not work: never read.
    for client, headers in [
        (api_client, {"HTTP_X_API_KEY": raw}),
        (api_client, {"HTTP_AUTHORIZATION": "Bearer ba_not-a-key"}),
        (signed_in, {}),
    ]:
        response = client.post(REPORT, {"keys": ["junk"]}, **headers)
        assert response.status_code == 202, response.content
        assert response.json() == received(1)


def test_the_source_is_kept_to_one_printable_line(api_client, api_key_factory):
    _key, raw = api_key_factory()
    source = "https://example.com/\u202egpj.exe\n\nClick\there\ud800  now\x07"

    response = api_client.post(REPORT, {"keys": [raw], "source": source})

    assert response.status_code == 202
    cleaned = "https://example.com/gpj.exe Click here now"
    assert f"Found at, in the report's words: {cleaned}\n" in mail.outbox[0].body
    event = AuditEvent.objects.get(action=Action.KEY_LEAK_REPORTED)
    assert event.detail["source"] == cleaned


def test_without_a_source_the_email_says_so(api_client, api_key_factory):
    _key, raw = api_key_factory()

    api_client.post(REPORT, {"keys": [raw]})

    assert "The report does not say where it was found." in mail.outbox[0].body


def test_a_deactivated_owner_gets_no_email(api_client, api_key_factory, user_factory):
    owner = user_factory()
    key, raw = api_key_factory(user=owner)
    type(owner).objects.filter(pk=owner.pk).update(is_active=False)

    api_client.post(REPORT, {"keys": [raw]})

    assert ApiKey.objects.get(pk=key.pk).revoked_at is not None
    assert mail.outbox == []


def test_every_string_shaped_like_a_key_costs_a_digest_comparison(
    api_client, api_key_factory, look_alike, monkeypatch
):
    # The time a report takes must not tell which strings are keys: the lookup and the
    # HMAC run for each string that parses, whether its lookup id exists or not.
    _key, raw = api_key_factory()
    other = "ba_" + "Q" * 40
    compared: list[str] = []
    real_verify = crypto.verify

    def spy(candidate: str, stored: str, peppers) -> int | None:
        compared.append(stored)
        return real_verify(candidate, stored, peppers)

    monkeypatch.setattr(crypto, "verify", spy)

    api_client.post(
        REPORT, {"keys": [other + crypto.checksum(other), look_alike(raw), "junk", raw]}
    )

    assert len(compared) == 3
    assert all(re.fullmatch(r"v2\$[0-9a-f]{8}\$[0-9a-f]{64}", stored) for stored in compared)


def test_a_report_of_unknown_keys_costs_one_query(
    api_client, django_assert_max_num_queries, settings
):
    settings.RATELIMITS = {**settings.RATELIMITS, "ENABLED": False}
    keys = []
    for n in range(100):
        body = f"ba_{n:040d}"
        keys.append(body + crypto.checksum(body))

    # The keys named by the lookup ids, all at once.
    with django_assert_max_num_queries(1):
        response = api_client.post(REPORT, {"keys": keys})

    assert response.json() == received(100)


def test_reports_are_limited_per_ip(api_client, settings, one_ratelimit_window):
    set_rates(settings, KEY_REPORT="2/hour")

    answers = [api_client.post(REPORT, {"keys": ["junk"]}) for _ in range(3)]

    assert [a.status_code for a in answers[:2]] == [202, 202]
    body = assert_error(answers[2], 429, "RATE_LIMITED")
    assert body["retryAfter"] > 0
    assert answers[2]["Retry-After"]
    assert answers[2]["RateLimit-Policy"] == '"key_report";q=2;w=3600'
    elsewhere = api_client.post(REPORT, {"keys": ["junk"]}, REMOTE_ADDR="198.51.100.7")
    assert elsewhere.status_code == 202


LONG = "x" * 201


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({}, "keys"),
        ({"keys": []}, "keys"),
        ({"keys": "ba_abc"}, "keys"),
        ({"keys": {"a": "b"}}, "keys"),
        ({"keys": None}, "keys"),
        ({"keys": ["k"] * 101}, "keys"),
        ({"keys": [1]}, "keys.0"),
        ({"keys": [None]}, "keys.0"),
        ({"keys": [["nested"]]}, "keys.0"),
        ({"keys": [{"k": 1}]}, "keys.0"),
        ({"keys": [True]}, "keys.0"),
        ({"keys": ["ok", LONG]}, "keys.1"),
        ({"keys": ["   "]}, "keys.0"),
        ({"keys": ["a\x00b"]}, "keys.0"),
        ({"keys": ["junk"], "source": 5}, "source"),
        ({"keys": ["junk"], "source": ["a"]}, "source"),
        ({"keys": ["junk"], "source": "s" * 501}, "source"),
        (["ba_abc"], "non_field_errors"),
        ("ba_abc", "non_field_errors"),
    ],
)
def test_bad_input_is_a_validation_error(api_client, body, field):
    response = api_client.post(REPORT, body, format="json")

    assert_error(response, 400, "VALIDATION_ERROR", field=field)


@pytest.mark.parametrize(
    ("content", "content_type", "status", "code"),
    [
        (b"{not json", "application/json", 400, "MALFORMED_JSON"),
        (b'{"keys": ["a"', "application/json", 400, "MALFORMED_JSON"),
        (b"[" * 5000 + b"]" * 5000, "application/json", 400, "MALFORMED_JSON"),
        (b'{"keys": ["\\ud800"]}', "application/json", 400, "VALIDATION_ERROR"),
        (b'{"keys": ["junk"], "source": "\\ud800"}', "application/json", 202, None),
        (b"keys=ba_abc", "application/x-www-form-urlencoded", 415, "UNSUPPORTED_MEDIA_TYPE"),
        (b"ba_abc", "text/plain", 415, "UNSUPPORTED_MEDIA_TYPE"),
        (b"", "application/json", 400, "VALIDATION_ERROR"),
    ],
)
def test_a_body_that_is_not_a_json_object_never_fails_the_server(
    api_client, content, content_type, status, code
):
    response = api_client.generic("POST", REPORT, content, content_type=content_type)

    if code is None:
        assert response.status_code == status
        assert response.json() == received(1)
    else:
        assert_error(response, status, code)


JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(), inner, max_size=4),
    max_leaves=12,
)
KEYS = st.lists(st.text(max_size=210) | st.integers() | st.none(), max_size=102)
REPORTS = st.fixed_dictionaries({"keys": KEYS}, optional={"source": st.text(max_size=510)})


@settings(
    max_examples=150,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(document=REPORTS | JSON)
def test_no_json_document_fails_the_server(api_client, no_limits, document):
    body = json.dumps(document)  # Infinity too, which is no JSON: MALFORMED_JSON

    response = api_client.generic("POST", REPORT, body, content_type="application/json")

    assert response.status_code in (202, 400), response.content
    if response.status_code == 400:
        assert assert_error(response, 400)["code"] in ("VALIDATION_ERROR", "MALFORMED_JSON")
    else:
        assert response.json() == received(len(document["keys"]))


@pytest.fixture
def no_limits(settings):
    # Hundreds of requests from one address: the limits are tested above.
    settings.RATELIMITS = {**settings.RATELIMITS, "ENABLED": False}


def test_get_is_not_allowed(api_client):
    assert_error(api_client.get(REPORT), 405, "METHOD_NOT_ALLOWED")


def test_the_service_answers_for_each_token_whether_it_is_a_key(api_key_factory, look_alike):
    _live, live = api_key_factory()
    _old, revoked = api_key_factory(revoked=True)

    found = services.leaked_keys_report(
        sightings=[
            services.Sighting(token=token)
            for token in (live, look_alike(live), revoked, "junk", live)
        ],
        reporter=services.REPORT,
        network="192.0.2.1",
    )

    assert found == [True, False, True, False, True]
    assert len(mail.outbox) == 1


def test_a_sighting_never_shows_its_token():
    sighting = services.Sighting(token="ba_secret", source="https://example.com")

    assert "ba_secret" not in repr(sighting)


def test_an_unproven_address_is_sent_no_text_that_others_chose(
    api_client, api_key_factory, user_factory
):
    # Whoever registered someone else's address could create a key and report it with a
    # place of their choosing: that person's mailbox gets neither the key's name nor it.
    owner = user_factory(verified=False)
    key, raw = api_key_factory(user=owner, name="Click here: https://evil.example")

    api_client.post(REPORT, {"keys": [raw], "source": "https://evil.example/login"})

    [message] = mail.outbox
    assert f"- ({key.start}…, id {key.pk})" in message.body
    assert "evil.example" not in message.body
    assert ApiKey.objects.get(pk=key.pk).revoked_at is not None
