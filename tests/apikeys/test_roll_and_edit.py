"""POST /api/auth/api-key/{keyId}/roll and PATCH /api/auth/api-key/{keyId}, and the
Latchkey-Key-Expires header every key-authenticated answer carries."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from django.utils import timezone

from apikeys import conf
from apikeys.models import ApiKey
from audit.models import Action, AuditEvent
from oauth.models import Application
from oauth.tokens import issue_access_token
from tests.conftest import assert_error

pytestmark = pytest.mark.django_db

ME = "/api/user/me"
CREATE = "/api/auth/api-key/create"
WEEK = 7 * 24 * 60 * 60
HEADER = "Latchkey-Key-Expires"
EXPIRED_REASON = "The API key has expired."
CREATED_FIELDS = {
    "id",
    "name",
    "key",
    "start",
    "scopes",
    "organizationId",
    "allowedCidrs",
    "expiresAt",
    "createdAt",
}
KEY_FIELDS = {
    "id",
    "name",
    "start",
    "scopes",
    "organizationId",
    "allowedCidrs",
    "expiresAt",
    "lastUsedAt",
    "lastUsedIp",
    "createdAt",
    "revokedAt",
    "status",
}


def roll_url(key: ApiKey | str) -> str:
    return f"/api/auth/api-key/{getattr(key, 'pk', key)}/roll"


def edit_url(key: ApiKey | str) -> str:
    return f"/api/auth/api-key/{getattr(key, 'pk', key)}"


def header_time(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> Callable[[float], datetime]:
    """clock(seconds): from now on, it is that many seconds later than when called."""

    def move(seconds: float) -> datetime:
        later = timezone.now() + timedelta(seconds=seconds)
        monkeypatch.setattr(timezone, "now", lambda: later)
        return later

    return move


@pytest.fixture
def oauth_raw(user_factory) -> Callable[..., str]:
    """An OAuth access token `user` granted an application, with `scopes`."""
    application = Application.objects.create(
        name="Acme Reports",
        client_type=Application.CLIENT_PUBLIC,
        authorization_grant_type=Application.GRANT_AUTHORIZATION_CODE,
        redirect_uris="https://client.example/callback",
        user=user_factory(),
    )

    def make(user, scopes: list[str]) -> str:
        return issue_access_token(user=user, application=application, scopes=scopes)

    return make


def roll(client, key, expires_old_in: Any = 3600):
    return client.post(roll_url(key), {"expiresOldIn": expires_old_in}, format="json")


# --- Roll ------------------------------------------------------------------------------------


def test_a_roll_answers_as_a_create_does_and_keeps_everything_but_the_secret(
    client_for, key_client, api_key_factory, team
):
    key, old = api_key_factory(
        user=team["owner"],
        name="Deploys",
        scopes=["user:read", "projects:read"],
        organization=team["organization"],
        expires_in=30 * 86400,
        last_used_at=timezone.now() - timedelta(days=1),
    )

    response = roll(client_for(team["owner"]), key)

    assert response.status_code == 200
    assert response["Cache-Control"] == "no-store"
    body = response.json()
    assert (body["success"], body["status"], body["code"], body["message"]) == (
        True,
        200,
        "OK",
        "API key rolled",
    )
    data = body["data"]
    assert set(data) == CREATED_FIELDS
    new = data["key"]
    assert new != old and new.startswith(conf.prefix())
    assert data["start"] == new[: len(data["start"])] != key.start
    assert (data["id"], data["name"], data["scopes"], data["organizationId"]) == (
        key.pk,
        "Deploys",
        ["user:read", "projects:read"],
        team["organization"].pk,
    )
    rolled = ApiKey.objects.get(pk=key.pk)
    assert rolled.expires_at == key.expires_at
    assert rolled.created_at == key.created_at
    assert rolled.last_used_at == key.last_used_at
    assert rolled.previous_lookup == key.lookup
    assert rolled.previous_digest == key.digest
    assert new not in rolled.digest and old not in rolled.previous_digest


def test_during_the_overlap_both_secrets_work_and_after_it_only_the_new_one(
    client_for, key_client, api_key_factory, clock
):
    key, old = api_key_factory(scopes=["user:read"])
    new = roll(client_for(key.user), key, 3600).json()["data"]["key"]

    during = [key_client(raw).get(ME) for raw in (old, new)]
    clock(3601)
    old_after, new_after = key_client(old).get(ME), key_client(new).get(ME)

    assert [r.status_code for r in during] == [200, 200]
    assert all(r.json()["data"]["id"] == key.user.pk for r in during)
    body = assert_error(old_after, 401, "KEY_EXPIRED", message="Unauthorized")
    assert body["reason"] == EXPIRED_REASON
    assert new_after.status_code == 200
    assert new_after.json()["data"]["id"] == key.user.pk


def test_an_overlap_of_zero_stops_the_old_secret_at_once(client_for, key_client, api_key_factory):
    key, old = api_key_factory(scopes=["user:read"])

    new = roll(client_for(key.user), key, 0).json()["data"]["key"]

    body = assert_error(key_client(old).get(ME), 401, "KEY_EXPIRED", message="Unauthorized")
    assert body["reason"] == EXPIRED_REASON
    assert key_client(new).get(ME).status_code == 200


def test_the_old_secret_never_outlives_the_key(client_for, key_client, api_key_factory, clock):
    key, old = api_key_factory(scopes=["user:read"], expires_in=600)

    new = roll(client_for(key.user), key, WEEK).json()["data"]["key"]
    clock(601)

    assert ApiKey.objects.get(pk=key.pk).previous_expires_at == key.expires_at
    for raw in (old, new):
        assert_error(key_client(raw).get(ME), 401, "KEY_EXPIRED")


def test_rolling_again_ends_the_secret_before_the_previous_one_at_once(
    client_for, key_client, api_key_factory
):
    key, first = api_key_factory(scopes=["user:read"])
    client = client_for(key.user)
    second = roll(client, key, 3600).json()["data"]["key"]

    third = roll(client, key, 3600).json()["data"]["key"]

    # The first secret is no longer any key's: unknown, as a key never issued.
    assert_error(key_client(first).get(ME), 401, "KEY_INVALID")
    assert key_client(second).get(ME).status_code == 200
    assert key_client(third).get(ME).status_code == 200


def test_a_key_may_roll_itself_and_gets_the_new_secret(key_client, api_key_factory):
    key, old = api_key_factory(scopes=["api-keys:write", "user:read"])

    response = roll(key_client(old), key, 0)

    assert response.status_code == 200
    assert_error(key_client(old).get(ME), 401, "KEY_EXPIRED")
    assert key_client(response.json()["data"]["key"]).get(ME).status_code == 200


def test_a_roll_is_audited_with_the_end_of_the_overlap(client_for, api_key_factory):
    key, _old = api_key_factory()
    before = timezone.now()

    data = roll(client_for(key.user), key, 3600).json()["data"]

    event = AuditEvent.objects.get(action=Action.KEY_ROLLED)
    assert (event.actor, event.target_id, event.api_key) == (key.user, key.pk, None)
    assert event.detail["start"] == {"from": key.start, "to": data["start"]}
    assert event.detail["expiresOldIn"] == 3600
    ends = datetime.fromisoformat(event.detail["previousExpiresAt"].replace("Z", "+00:00"))
    assert timedelta(seconds=3600) <= ends - before <= timedelta(seconds=3605)
    assert data["key"] not in str(event.detail)


@pytest.mark.parametrize(
    "seconds", [0, 1, 3600, WEEK, 3600.0], ids=["0", "1", "hour", "week", "integral-float"]
)
def test_every_overlap_from_zero_to_seven_days_is_accepted(client_for, api_key_factory, seconds):
    key, _old = api_key_factory()

    response = roll(client_for(key.user), key, seconds)

    assert response.status_code == 200
    assert ApiKey.objects.get(pk=key.pk).previous_lookup == key.lookup


@pytest.mark.parametrize(
    "body",
    [
        pytest.param({}, id="missing"),
        pytest.param({"expiresOldIn": None}, id="null"),
        pytest.param({"expiresOldIn": -1}, id="negative"),
        pytest.param({"expiresOldIn": WEEK + 1}, id="over-seven-days"),
        pytest.param({"expiresOldIn": 10**30}, id="huge"),
        pytest.param({"expiresOldIn": "3600"}, id="string"),
        pytest.param({"expiresOldIn": 3600.5}, id="fraction"),
        pytest.param({"expiresOldIn": True}, id="bool"),
        pytest.param({"expiresOldIn": [3600]}, id="list"),
        pytest.param({"expiresOldIn": {"seconds": 1}}, id="object"),
    ],
)
def test_a_bad_overlap_is_400_naming_the_field_and_rolls_nothing(
    client_for, api_key_factory, body
):
    key, _old = api_key_factory()

    response = client_for(key.user).post(roll_url(key), body, format="json")

    assert_error(response, 400, "VALIDATION_ERROR", field="expiresOldIn")
    assert ApiKey.objects.get(pk=key.pk).lookup == key.lookup


@pytest.mark.parametrize("body", [[], "3600", 3600, None], ids=["list", "string", "int", "null"])
def test_a_body_that_is_not_an_object_is_400(client_for, api_key_factory, body):
    key, _old = api_key_factory()
    client = client_for(key.user)

    for response in (
        client.post(roll_url(key), body, format="json"),
        client.patch(edit_url(key), body, format="json"),
    ):
        assert_error(response, 400, "VALIDATION_ERROR")
    assert ApiKey.objects.get(pk=key.pk).lookup == key.lookup


# --- Who may roll or edit, for both routes ---------------------------------------------------

OAUTH_REFUSAL = "API keys are issued, renamed and revoked with a session or an API key."
NOT_ACTIVE = "This API key is revoked or expired: it can no longer be rolled or edited."


@pytest.fixture
def caller(api_client, client_for, team, org_factory, member_factory, api_key_factory, oauth_raw):
    """caller(kind): a client that calls as `kind` names: the owner's session ("session"),
    another person's ("outsiders-session"), no credential ("none"), or one of the owner's
    credentials (an OAuth token, keys with or without api-keys:write, pinned to an organization
    the owner also belongs to), or another person's key with every scope."""
    owner = team["owner"]
    other = org_factory()
    member_factory(other, user=owner)
    keys = {
        "key-without-scope": lambda: api_key_factory(user=owner, scopes=["api-keys:read"]),
        "narrower-key": lambda: api_key_factory(user=owner, scopes=["api-keys:write"]),
        "pinned-elsewhere": lambda: api_key_factory(user=owner, scopes=["*"], organization=other),
        "outsiders-key": lambda: api_key_factory(user=team["outsider"], scopes=["*"]),
    }

    def make(kind: str) -> Any:
        if kind == "session":
            return client_for(owner)
        if kind == "outsiders-session":
            return client_for(team["outsider"])
        if kind == "oauth":
            token = oauth_raw(owner, ["api-keys:write", "user:read"])
            api_client.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")
        elif kind in keys:
            api_client.credentials(HTTP_X_API_KEY=keys[kind]()[1])
        return api_client

    return make


@pytest.fixture
def target(team, api_key_factory) -> Callable[[str], ApiKey]:
    """target(kind): a key of the team's owner, named "T": "narrow" (`user:read`, pinned to the
    team's organization), "broad" (`*`), "revoked" or "expired"."""
    owner = team["owner"]
    made = {
        "narrow": lambda: api_key_factory(
            user=owner, scopes=["user:read"], organization=team["organization"], name="T"
        ),
        "broad": lambda: api_key_factory(user=owner, scopes=["*"], name="T"),
        "revoked": lambda: api_key_factory(user=owner, revoked=True, name="T"),
        "expired": lambda: api_key_factory(user=owner, expired=True, name="T"),
    }
    return lambda kind: made[kind]()[0]


NOT_FOUND = (404, "NOT_FOUND", "API key not found.")
OUTRANKED = "An API key can only manage keys with no more access than its own."
# (caller, target, the path's key id if not the target's, then status, code and message)
REFUSALS = [
    ("none", "narrow", None, 401, "UNAUTHORIZED", "Unauthorized"),
    (
        "key-without-scope", "narrow", None,
        403, "INSUFFICIENT_SCOPE", "Insufficient API key scopes. Missing: api-keys:write",
    ),
    ("oauth", "narrow", None, 403, "FORBIDDEN", OAUTH_REFUSAL),
    # Another person's key answers as one that does not exist, as revoking it does.
    ("outsiders-key", "narrow", None, *NOT_FOUND),
    ("outsiders-session", "narrow", None, *NOT_FOUND),
    # A key pinned to another organization sees only the keys pinned there, as revoke.
    ("pinned-elsewhere", "narrow", None, *NOT_FOUND),
    (
        "narrower-key", "broad", None,
        403, "KEY_OUTRANKS_CALLER", OUTRANKED,
    ),
    ("session", "revoked", None, 409, "KEY_NOT_ACTIVE", NOT_ACTIVE),
    ("session", "expired", None, 409, "KEY_NOT_ACTIVE", NOT_ACTIVE),
    ("session", "narrow", "ak_nope", *NOT_FOUND),
    ("session", "narrow", "ak_01HZ3K5R4X9Y2V6QF8TJ7W0CDN", *NOT_FOUND),
]  # fmt: skip


@pytest.mark.parametrize("route", ["roll", "edit"])
@pytest.mark.parametrize(
    ("who", "kind", "key_id", "status", "code", "message"),
    [pytest.param(*case, id=f"{case[0]}-{case[2] or case[1]}") for case in REFUSALS],
)
def test_who_may_roll_or_edit_a_key(
    caller, target, route, who, kind, key_id, status, code, message
):
    key = target(kind)
    client = caller(who)

    if route == "roll":
        response = client.post(roll_url(key_id or key), {"expiresOldIn": 0}, format="json")
    else:
        response = client.patch(edit_url(key_id or key), {"name": "Taken"}, format="json")

    assert_error(response, status, code, message=message)
    after = ApiKey.objects.get(pk=key.pk)
    assert (after.lookup, after.name, after.scopes) == (key.lookup, "T", key.scopes)
    assert not AuditEvent.objects.filter(action__in=[Action.KEY_ROLLED, Action.KEY_UPDATED])


def test_another_method_on_a_keys_path_is_405(client_for, api_key_factory):
    key, _raw = api_key_factory()
    client = client_for(key.user)

    assert_error(client.get(edit_url(key)), 405, "METHOD_NOT_ALLOWED")
    assert_error(client.get(roll_url(key)), 405, "METHOD_NOT_ALLOWED")
    assert_error(client.patch("/api/auth/api-key/list", {"name": "x"}), 405, "METHOD_NOT_ALLOWED")


@pytest.mark.parametrize(
    "key_id",
    ["ak_", "ak_" + "0" * 27, "ak_" + "%00" * 26, "x" * 300, "AK_01HZ3K5R4X9Y2V6QF8TJ7W0CDN"],
    ids=["empty", "long", "nul", "huge", "upper-prefix"],
)
def test_a_path_that_names_no_key_is_404_before_any_query_for_a_key(
    client_for, api_key_factory, key_id
):
    key, _raw = api_key_factory()

    response = client_for(key.user).post(roll_url(key_id), {"expiresOldIn": 0}, format="json")

    assert_error(response, 404, "NOT_FOUND", message="API key not found.")


def test_a_key_id_is_found_in_any_case(client_for, api_key_factory):
    key, _raw = api_key_factory()

    response = roll(client_for(key.user), "ak_" + key.pk[3:].lower())

    assert response.status_code == 200
    assert response.json()["data"]["id"] == key.pk


# --- Edit ------------------------------------------------------------------------------------


def test_an_edit_changes_the_name_and_scopes_and_is_audited(client_for, api_key_factory):
    key, _raw = api_key_factory(scopes=["user:read"], name="Before", expires_in=3600)

    response = client_for(key.user).patch(
        edit_url(key), {"name": "After", "scopes": ["projects:*", "user:read"]}, format="json"
    )

    assert response.status_code == 200
    body = response.json()
    assert (body["code"], body["message"]) == ("OK", "API key updated")
    data = body["data"]
    assert set(data) == KEY_FIELDS
    assert (data["id"], data["name"], data["scopes"]) == (
        key.pk,
        "After",
        ["projects:*", "user:read"],
    )
    after = ApiKey.objects.get(pk=key.pk)
    assert (after.expires_at, after.organization_id, after.lookup) == (
        key.expires_at,
        None,
        key.lookup,
    )
    event = AuditEvent.objects.get(action=Action.KEY_UPDATED)
    assert (event.actor, event.target_id) == (key.user, key.pk)
    assert event.detail == {
        "name": {"from": "Before", "to": "After"},
        "scopes": {"from": ["user:read"], "to": ["projects:*", "user:read"]},
    }


def test_an_edit_that_changes_nothing_records_nothing(client_for, api_key_factory):
    key, _raw = api_key_factory(scopes=["user:read"], name="Same")

    response = client_for(key.user).patch(
        edit_url(key), {"name": "Same", "scopes": ["user:read"]}, format="json"
    )

    assert response.status_code == 200
    assert not AuditEvent.objects.filter(action=Action.KEY_UPDATED).exists()


# (the editing key's scopes, the edited key's scopes before, after; code, or None for 200).
# "self" edits the editing key itself.
SCOPE_RULES = [
    (["api-keys:write", "projects:*"], ["projects:read"], ["projects:write"], None),
    (["api-keys:write", "projects:*"], ["projects:read"], ["projects:*"], None),
    (
        ["api-keys:write", "projects:read"],
        ["projects:read"],
        ["projects:read", "projects:write"],
        "KEY_BROADER_THAN_CREATOR",
    ),
    (
        ["api-keys:write", "read:all"], ["projects:read"], ["projects:*"],
        "KEY_BROADER_THAN_CREATOR",
    ),
    (["api-keys:write", "read:all"], ["projects:read"], ["members:read"], None),
    (
        ["api-keys:write", "write:all"], ["projects:write"], ["members:write"],
        "KEY_BROADER_THAN_CREATOR",
    ),
    (["api-keys:write", "projects:*"], ["*"], ["projects:read"], "KEY_OUTRANKS_CALLER"),
    (["api-keys:write", "projects:read"], "self", ["api-keys:write"], None),
    (["api-keys:write"], "self", ["api-keys:write", "projects:read"], "KEY_BROADER_THAN_CREATOR"),
    (["*"], ["user:read"], ["admin"], None),
    (None, ["user:read"], ["*"], None),  # a session may give its user's key any scope
]  # fmt: skip


@pytest.mark.parametrize(
    ("editor", "before", "after", "code"),
    [pytest.param(*rule, id=f"{rule[0]}:{rule[1]}->{rule[2]}") for rule in SCOPE_RULES],
)
def test_scopes_change_by_the_rules_of_creation(
    client_for, key_client, api_key_factory, user_factory, editor, before, after, code
):
    user = user_factory()
    editing, raw = api_key_factory(user=user, scopes=editor) if editor else (None, None)
    edited = editing if before == "self" else api_key_factory(user=user, scopes=before)[0]
    client = key_client(raw) if raw else client_for(user)
    scopes_before = list(edited.scopes)

    response = client.patch(edit_url(edited), {"scopes": after}, format="json")

    if code is None:
        assert response.status_code == 200, response.content
        assert response.json()["data"]["scopes"] == after
        assert ApiKey.objects.get(pk=edited.pk).scopes == after
    else:
        assert_error(response, 403, code)
        assert ApiKey.objects.get(pk=edited.pk).scopes == scopes_before


@pytest.mark.parametrize(
    ("body", "field"),
    [
        pytest.param({"scopes": ["widgets:read"]}, "scopes", id="unknown-scope"),
        pytest.param({"scopes": []}, "scopes", id="no-scope"),
        pytest.param({"scopes": "user:read"}, "scopes", id="scopes-not-a-list"),
        pytest.param({"scopes": [1]}, "scopes", id="scope-not-a-string"),
        pytest.param({"scopes": ["user:read"] * 65}, "scopes", id="too-many-scopes"),
        pytest.param({"name": ""}, "name", id="blank-name"),
        pytest.param({"name": "x" * 101}, "name", id="long-name"),
        pytest.param({"name": None}, "name", id="null-name"),
        pytest.param({"name": "ok", "expiresIn": 3600}, "expiresIn", id="expiresIn"),
        pytest.param({"expiresAt": "2030-01-01T00:00:00Z"}, "expiresAt", id="expiresAt"),
        pytest.param({"metadata": {"organizationId": None}}, "metadata", id="metadata"),
        pytest.param({"organizationId": None}, "organizationId", id="organizationId"),
        pytest.param({"name": "ok", "keyId": "ak_x"}, "keyId", id="unknown-field"),
        pytest.param({}, "non_field_errors", id="empty"),
    ],
)
def test_an_edit_with_bad_input_is_400_naming_the_field_and_changes_nothing(
    client_for, api_key_factory, body, field
):
    key, _raw = api_key_factory(scopes=["user:read"], name="Kept")

    response = client_for(key.user).patch(edit_url(key), body, format="json")

    assert_error(response, 400, "VALIDATION_ERROR", field=field)
    after = ApiKey.objects.get(pk=key.pk)
    assert (after.name, after.scopes) == ("Kept", ["user:read"])


def test_expiry_and_pin_are_refused_as_fixed_at_creation(client_for, api_key_factory):
    key, _raw = api_key_factory()

    response = client_for(key.user).patch(
        edit_url(key), {"expiresIn": 60, "metadata": {}, "name": 5 * "x"}, format="json"
    )

    body = assert_error(response, 400, "VALIDATION_ERROR")
    assert body["details"] == {
        "expiresIn": ["Fixed at creation: issue a new key instead."],
        "metadata": ["Fixed at creation: issue a new key instead."],
    }


def test_a_narrowed_key_loses_the_scope_on_its_next_request(
    client_for, key_client, api_key_factory
):
    key, raw = api_key_factory(scopes=["user:read", "projects:read"])
    assert key_client(raw).get(ME).status_code == 200

    client_for(key.user).patch(edit_url(key), {"scopes": ["projects:read"]}, format="json")
    response = key_client(raw).get(ME)

    body = assert_error(response, 403, "INSUFFICIENT_SCOPE")
    assert body["required_scopes"] == ["user:read"]


def test_the_rename_route_still_renames_only(client_for, api_key_factory):
    key, _raw = api_key_factory(scopes=["user:read"])

    response = client_for(key.user).post(
        "/api/auth/api-key/update", {"keyId": key.pk, "name": "Renamed"}, format="json"
    )

    assert response.status_code == 200
    assert response.json()["data"]["name"] == "Renamed"
    assert AuditEvent.objects.filter(action=Action.KEY_RENAMED).count() == 1


# --- Latchkey-Key-Expires --------------------------------------------------------------------


def test_the_header_carries_the_keys_expiry(key_client, api_key_factory):
    key, raw = api_key_factory(scopes=["user:read"], expires_in=3600)

    ok = key_client(raw).get(ME)
    refused = key_client(raw).get("/api/auth/api-key/list")  # 403: no api-keys:read

    assert ok.status_code == 200
    assert refused.status_code == 403
    for response in (ok, refused):
        assert response[HEADER] == header_time(key.expires_at)


def test_the_header_is_absent_for_a_key_that_never_expires_and_for_other_credentials(
    api_client, client_for, key_client, api_key_factory, oauth_raw
):
    key, raw = api_key_factory(scopes=["user:read"])
    _expired, expired_raw = api_key_factory(scopes=["user:read"], expired=True)

    responses = {
        "never-expiring key": key_client(raw).get(ME),
        "session": client_for(key.user).get(ME),
        "oauth": api_client.get(
            ME, headers={"Authorization": f"Bearer {oauth_raw(key.user, ['user:read'])}"}
        ),
        "none": api_client.get("/api/auth/status"),
        "expired key": key_client(expired_raw).get(ME),
    }

    assert {name: r.status_code for name, r in responses.items()} == {
        "never-expiring key": 200,
        "session": 200,
        "oauth": 200,
        "none": 401,
        "expired key": 401,
    }
    assert {name: HEADER in r for name, r in responses.items()} == dict.fromkeys(responses, False)


@pytest.mark.parametrize(
    ("expires_in", "overlap", "ends"),
    [(None, 600, "overlap"), (7200, 600, "overlap"), (300, 600, "key")],
    ids=["never-expiring", "overlap-sooner", "key-sooner"],
)
def test_the_old_secrets_header_names_whichever_end_comes_first(
    client_for, key_client, api_key_factory, expires_in, overlap, ends
):
    key, old = api_key_factory(scopes=["user:read"], expires_in=expires_in)
    new = roll(client_for(key.user), key, overlap).json()["data"]["key"]
    rolled = ApiKey.objects.get(pk=key.pk)

    old_response, new_response = key_client(old).get(ME), key_client(new).get(ME)

    expected = rolled.previous_expires_at if ends == "overlap" else rolled.expires_at
    assert old_response[HEADER] == header_time(expected)
    if expires_in is None:
        assert HEADER not in new_response
    else:
        assert new_response[HEADER] == header_time(rolled.expires_at)


def test_the_header_costs_no_query_and_an_old_secret_one_query_for_the_key(
    client_for, key_client, api_key_factory, django_assert_max_num_queries
):
    key, old = api_key_factory(scopes=["user:read"], expires_in=3600)
    new = roll(client_for(key.user), key, 600).json()["data"]["key"]
    ApiKey.objects.filter(pk=key.pk).update(last_used_at=timezone.now())

    for raw in (old, new):
        # 1. SELECT the key by either lookup id (one query, two unique indexes), JOIN its user.
        # 2. SELECT COUNT(*) of the user's memberships, for organizationCount.
        with django_assert_max_num_queries(2):
            response = key_client(raw).get(ME)
        assert response.status_code == 200
        assert response[HEADER].endswith("Z")


def test_no_input_produces_a_500(client_for, api_key_factory):
    key, _raw = api_key_factory()
    client = client_for(key.user)
    bodies: list[Any] = [{"expiresOldIn": "\x00"}, {"name": "\x00"}, {"scopes": [None]}, {"x": {}}]

    for body in bodies:
        for response in (
            client.post(roll_url(key), body, format="json"),
            client.patch(edit_url(key), body, format="json"),
        ):
            assert response.status_code == 400, response.content
