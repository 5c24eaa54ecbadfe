"""POST /api/keys/secret-scanning: GitHub's secret-scanning partner messages, verified by their
ECDSA signature, each match that is a live key revoked, and the answer in GitHub's format."""

from __future__ import annotations

import base64
import json

import pytest
from django.core import mail
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from apikeys import crypto
from apikeys.models import ApiKey
from audit.models import Action, AuditEvent
from leaks import signatures
from tests.conftest import assert_error
from tests.leaks.conftest import new_scanner

pytestmark = pytest.mark.django_db

SCANNING = "/api/keys/secret-scanning"
URL = "https://github.com/octocat/hello/blob/0123abc/settings.py"


TOKEN_TYPE = "latchkey_api_key"


def message(*tokens: str) -> bytes:
    return json.dumps(
        [{"token": t, "type": TOKEN_TYPE, "url": URL, "source": "content"} for t in tokens],
        separators=(",", ":"),
    ).encode()


def send(client, body: bytes, headers: dict[str, str]):
    return client.generic("POST", SCANNING, body, content_type="application/json", headers=headers)


def test_a_live_key_is_revoked_and_labelled_a_true_positive(
    api_client, api_key_factory, scanner, user_factory, look_alike
):
    owner = user_factory(email="owner@example.com")
    key, raw = api_key_factory(user=owner, name="deploy")
    fake = look_alike(raw)
    body = message(raw, fake, "ba_short")

    response = send(api_client, body, scanner.headers(body))

    assert response.status_code == 200, response.content
    assert response["Content-Type"] == "application/json"
    assert response.json() == [
        {"token_raw": raw, "token_type": "latchkey_api_key", "label": "true_positive"},
        {"token_raw": fake, "token_type": "latchkey_api_key", "label": "false_positive"},
        {"token_raw": "ba_short", "token_type": "latchkey_api_key", "label": "false_positive"},
    ]
    key.refresh_from_db()
    assert key.revoked_at is not None
    [email] = mail.outbox
    assert email.to == ["owner@example.com"]
    assert email.body.startswith("Hello,\n\nGitHub's secret scanning found an API key")
    assert f'"deploy" ({key.start}…, id {key.pk})' in email.body
    assert URL in email.body and raw not in email.body
    revoked = AuditEvent.objects.get(action=Action.KEY_REVOKED, target_id=key.pk)
    assert revoked.detail == {"by": "report", "reason": "secret_scanning"}
    reported = AuditEvent.objects.get(action=Action.KEY_LEAK_REPORTED)
    assert reported.detail == {
        "reportedBy": "github",
        "source": URL,
        "location": "content",
        "network": "127.0.0.1",
    }


def test_a_key_already_revoked_is_still_a_true_positive_but_mailed_once(
    api_client, api_key_factory, scanner
):
    _key, raw = api_key_factory()
    body = message(raw)

    first = send(api_client, body, scanner.headers(body))
    again = send(api_client, body, scanner.headers(body))

    assert first.json() == again.json()
    assert again.json()[0]["label"] == "true_positive"
    assert len(mail.outbox) == 1
    assert AuditEvent.objects.filter(action=Action.KEY_LEAK_REPORTED).count() == 1


def test_the_matches_come_back_in_order_with_their_own_type(api_client, scanner):
    body = json.dumps(
        [
            {"token": "one", "type": "a", "url": "", "source": "commit"},
            {"token": "two"},
            {"token": "", "type": "c"},
        ]
    ).encode()

    response = send(api_client, body, scanner.headers(body))

    assert response.json() == [
        {"token_raw": "one", "token_type": "a", "label": "false_positive"},
        {"token_raw": "two", "token_type": "", "label": "false_positive"},
        {"token_raw": "", "token_type": "c", "label": "false_positive"},
    ]


def test_an_empty_list_gets_an_empty_answer(api_client, scanner):
    response = send(api_client, b"[]", scanner.headers(b"[]"))

    assert response.status_code == 200
    assert response.json() == []


def reencode(signature: str) -> str:
    return base64.b64encode(base64.b64decode(signature)).decode()


@pytest.mark.parametrize(
    ("case", "reason"),
    [
        ("valid", None),
        ("another scanner's key", "The signature does not verify the body with the named key."),
        ("tampered body", "The signature does not verify the body with the named key."),
        (
            "signature of another body",
            "The signature does not verify the body with the named key.",
        ),
        ("unknown key id", "No listed secret-scanning public key has this identifier."),
        ("no headers", "required"),
        ("no signature", "required"),
        ("no key id", "required"),
        ("malformed base64", "The signature is not a base64 DER signature."),
        ("not DER", "The signature does not verify the body with the named key."),
        ("non-ASCII signature", "The signature is not a base64 DER signature."),
        ("overlong signature", "The signature is not a base64 DER signature."),
        ("overlong key id", "The signature is not a base64 DER signature."),
    ],
)
def test_only_a_message_signed_by_a_listed_key_is_read(
    api_client, api_key_factory, scanner, case, reason
):
    key, raw = api_key_factory()
    body = message(raw)
    good = scanner.headers(body)
    stranger = new_scanner()
    headers = {
        "valid": good,
        "another scanner's key": {**good, "Github-Public-Key-Signature": stranger.sign(body)},
        "tampered body": good,
        "signature of another body": scanner.headers(message("ba_other")),
        "unknown key id": {**good, "Github-Public-Key-Identifier": stranger.key_id},
        "no headers": {},
        "no signature": {"Github-Public-Key-Identifier": scanner.key_id},
        "no key id": {"Github-Public-Key-Signature": good["Github-Public-Key-Signature"]},
        "malformed base64": {**good, "Github-Public-Key-Signature": "not base64!"},
        "not DER": {
            **good,
            "Github-Public-Key-Signature": base64.b64encode(b"\x30" * 70).decode(),
        },
        "non-ASCII signature": {**good, "Github-Public-Key-Signature": "MEU\u00e9"},
        "overlong signature": {**good, "Github-Public-Key-Signature": "A" * 400},
        "overlong key id": {**good, "Github-Public-Key-Identifier": "a" * 200},
    }[case]
    sent = body.replace(b"content", b"commit!") if case == "tampered body" else body

    response = send(api_client, sent, headers)

    if reason is None:
        assert response.status_code == 200
        assert response.json()[0]["label"] == "true_positive"
        return
    body = assert_error(response, 401, "UNAUTHORIZED", message="Unauthorized")
    assert reason in body["reason"]
    key.refresh_from_db()
    assert key.revoked_at is None
    assert mail.outbox == []


def test_the_signature_is_checked_before_the_body_is_parsed(api_client, scanner):
    # Not even malformed JSON is looked at without a valid signature.
    response = send(api_client, b"{not json", {"Github-Public-Key-Identifier": scanner.key_id})

    assert_error(response, 401, "UNAUTHORIZED")


def test_without_a_configured_key_list_every_message_is_refused(
    api_client, api_key_factory, settings
):
    settings.LEAKS = {**settings.LEAKS, "SCANNING_PUBLIC_KEYS": ""}
    scanner = new_scanner()
    _key, raw = api_key_factory()
    body = message(raw)

    response = send(api_client, body, scanner.headers(body))

    body = assert_error(response, 401, "UNAUTHORIZED")
    assert body["reason"] == "This deployment takes no secret-scanning messages."
    assert ApiKey.objects.filter(revoked_at__isnull=True).count() == 1


def test_a_credential_sent_along_is_not_read(api_client, api_key_factory, scanner):
    _key, raw = api_key_factory()
    body = message("junk")

    response = send(api_client, body, {**scanner.headers(body), "X-Api-Key": raw})

    assert response.status_code == 200
    assert response.json()[0]["label"] == "false_positive"


@pytest.mark.parametrize(
    ("body", "status", "code"),
    [
        (b"{not json", 400, "MALFORMED_JSON"),
        (b"", 400, "VALIDATION_ERROR"),
        (b"{}", 400, "VALIDATION_ERROR"),
        (b'"token"', 400, "VALIDATION_ERROR"),
        (b"null", 400, "VALIDATION_ERROR"),
        (b"[1, 2]", 400, "VALIDATION_ERROR"),
        (b'[{"type": "x"}]', 400, "VALIDATION_ERROR"),
        (b'[{"token": 5}]', 400, "VALIDATION_ERROR"),
        (b'[{"token": null}]', 400, "VALIDATION_ERROR"),
        (b'[{"token": ["a"]}]', 400, "VALIDATION_ERROR"),
        (b'[{"token": "a", "url": {"x": 1}}]', 400, "VALIDATION_ERROR"),
        (b'[{"token": "' + b"a" * 257 + b'"}]', 400, "VALIDATION_ERROR"),
        (b'[{"token": "a", "url": "' + b"u" * 2001 + b'"}]', 400, "VALIDATION_ERROR"),
        (json.dumps([{"token": "a"}] * 1001).encode(), 400, "VALIDATION_ERROR"),
        (b'[{"token": "a\\u0000b"}]', 400, "VALIDATION_ERROR"),
        (b'[{"token": "\\ud800"}]', 400, "VALIDATION_ERROR"),
        (b"[" * 5000 + b"]" * 5000, 400, "MALFORMED_JSON"),
        (b'[{"token": "a", "url": "\\u202ehttps://x\\n\\u0007", "extra": 1}]', 200, None),
        (json.dumps([{"token": "a"}] * 1000).encode(), 200, None),
    ],
)
def test_a_signed_body_of_any_shape_never_fails_the_server(
    api_client, scanner, body, status, code
):
    response = send(api_client, body, scanner.headers(body))

    if code is None:
        assert response.status_code == status
        assert all(item["label"] == "false_positive" for item in response.json())
    else:
        assert_error(response, status, code)


@pytest.fixture
def no_limits(settings):
    # Hundreds of requests from one address: the limits are tested elsewhere.
    settings.RATELIMITS = {**settings.RATELIMITS, "ENABLED": False}


JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(), inner, max_size=4),
    max_leaves=12,
)
TEXT = st.text(max_size=300) | st.integers() | st.none()
MATCH = st.fixed_dictionaries(
    {"token": TEXT}, optional={"type": TEXT, "url": TEXT, "source": TEXT, "other": JSON}
)


@settings(
    max_examples=150,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(document=st.lists(MATCH, max_size=5) | JSON)
def test_no_signed_json_document_fails_the_server(api_client, scanner, no_limits, document):
    body = json.dumps(document).encode()  # Infinity too, which is no JSON: MALFORMED_JSON

    response = send(api_client, body, scanner.headers(body))

    assert response.status_code in (200, 400), response.content
    if response.status_code == 400:
        assert assert_error(response, 400)["code"] in ("VALIDATION_ERROR", "MALFORMED_JSON")
    else:
        results = response.json()
        assert [item["token_raw"] for item in results] == [m["token"] for m in document]
        assert {item["label"] for item in results} <= {"false_positive"}


def test_a_url_and_location_that_someone_chose_are_cleaned(api_client, api_key_factory, scanner):
    _key, raw = api_key_factory()
    body = json.dumps(
        [
            {
                "token": raw,
                "type": "t",
                "url": "https://x.example/\u202eevil\n\tpath",
                "source": "com\u200bmit\u0007",
            }
        ]
    ).encode()

    response = send(api_client, body, scanner.headers(body))

    assert response.json()[0]["label"] == "true_positive"
    event = AuditEvent.objects.get(action=Action.KEY_LEAK_REPORTED)
    assert event.detail["source"] == "https://x.example/evil path"
    assert event.detail["location"] == "commit"
    assert "https://x.example/evil path" in mail.outbox[0].body


def test_a_message_of_many_matches_costs_a_few_queries(
    api_client, scanner, django_assert_max_num_queries
):
    tokens = []
    for n in range(1000):
        body = f"ba_{n:040d}"
        tokens.append(body + crypto.checksum(body))
    body = message(*tokens)

    # Two lookups of 500 lookup ids each; nothing else for keys that do not exist.
    with django_assert_max_num_queries(2):
        response = send(api_client, body, scanner.headers(body))

    assert response.status_code == 200
    assert len(response.json()) == 1000


def test_the_header_names_are_githubs():
    assert signatures.KEY_ID_HEADER == "Github-Public-Key-Identifier"
    assert signatures.SIGNATURE_HEADER == "Github-Public-Key-Signature"
