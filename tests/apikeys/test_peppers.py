"""APIKEY_PEPPERS: keys under an older pepper keep working and move to the current one on use,
a key under a removed pepper is refused, and manage.py apikey_peppers counts what remains."""

from __future__ import annotations

import hashlib
import hmac
import json
from datetime import timedelta
from io import StringIO
from typing import Any

import pytest
from django.core.exceptions import ImproperlyConfigured
from django.core.management import call_command
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from django.utils.crypto import salted_hmac

from apikeys import conf, crypto, peppers, warm_cache
from apikeys.models import ApiKey
from apikeys.services import api_key_roll
from config import settings as project_settings
from tests.conftest import assert_error

pytestmark = pytest.mark.django_db

ME = "/api/user/me"
A, B, C = "pepper-a-" + "a" * 40, "pepper-b-" + "b" * 40, "pepper-c-" + "c" * 40


def use_peppers(settings: Any, *peppers: str) -> None:
    settings.APIKEYS = {**settings.APIKEYS, "PEPPERS": list(peppers)}


def secret(settings: Any, pepper: str) -> bytes:
    """A pepper's bytes: SECRET_KEY stands for the one derived from SECRET_KEY."""
    if pepper == "SECRET_KEY":
        return salted_hmac("latchkey.apikeys.pepper", "v1", secret=settings.SECRET_KEY).digest()
    return pepper.encode()


def pepper_id(settings: Any, pepper: str) -> str:
    return hmac.new(
        secret(settings, pepper), b"latchkey.apikeys.pepper-id", hashlib.sha256
    ).hexdigest()[:8]


def mac(settings: Any, pepper: str, raw: str) -> str:
    return hmac.new(secret(settings, pepper), raw.encode(), hashlib.sha256).hexdigest()


def v1(settings: Any, pepper: str, raw: str) -> str:
    """The digest the first scheme stored: `v1$` and the MAC, naming no pepper."""
    return f"v1${mac(settings, pepper, raw)}"


def v2(settings: Any, pepper: str, raw: str) -> str:
    return f"v2${pepper_id(settings, pepper)}${mac(settings, pepper, raw)}"


def writes(queries: CaptureQueriesContext) -> list[str]:
    return [q["sql"] for q in queries.captured_queries if q["sql"].startswith("UPDATE")]


def digest_writes(queries: CaptureQueriesContext) -> list[str]:
    """The UPDATEs that set a digest (the current secret's or the previous one's)."""
    return [sql for sql in writes(queries) if 'digest" = ' in sql.split(" WHERE ", 1)[0]]


def get_me(client: Any) -> tuple[Any, CaptureQueriesContext]:
    with CaptureQueriesContext(connection) as queries:
        response = client.get(ME)
    return response, queries


def assert_me(response: Any, key: ApiKey) -> None:
    assert response.status_code == 200, response.content
    assert response.json()["data"]["id"] == key.user.pk


def test_new_keys_are_made_under_the_first_pepper(settings, api_key_factory, key_client):
    use_peppers(settings, B, A)

    key, raw = api_key_factory()

    assert key.digest == v2(settings, B, raw)
    assert ApiKey.objects.get(pk=key.pk).digest == v2(settings, B, raw)
    assert_me(key_client(raw).get(ME), key)


def test_with_no_pepper_set_keys_are_made_under_the_one_derived_from_secret_key(
    settings, api_key_factory
):
    use_peppers(settings)

    key, raw = api_key_factory()

    assert ApiKey.objects.get(pk=key.pk).digest == v2(settings, "SECRET_KEY", raw)


@pytest.mark.parametrize(
    ("stored_as", "made_under", "peppers_now"),
    [
        ("v2", A, [B, A]),  # a pepper added in front of the one that made it
        ("v2", A, [C, B, A]),
        ("v1", A, [A]),  # the first scheme, under the current pepper
        ("v1", A, [B, A]),
        ("v1", "SECRET_KEY", []),  # a deployment that never set a pepper
        ("v1", "SECRET_KEY", [B, "SECRET_KEY"]),  # ...listing it behind a new one
        ("v2", "SECRET_KEY", [B, "SECRET_KEY"]),
    ],
)
def test_a_key_under_an_older_pepper_works_and_moves_to_the_first_once(
    settings, api_key_factory, key_client, stored_as, made_under, peppers_now
):
    key, raw = api_key_factory()
    old = {"v1": v1, "v2": v2}[stored_as](settings, made_under, raw)
    ApiKey.objects.filter(pk=key.pk).update(digest=old)
    use_peppers(settings, *peppers_now)
    first = peppers_now[0] if peppers_now else "SECRET_KEY"
    client = key_client(raw)

    response, queries = get_me(client)
    again, queries_again = get_me(client)

    assert_me(response, key)
    assert_me(again, key)
    assert ApiKey.objects.get(pk=key.pk).digest == v2(settings, first, raw)
    # One conditional UPDATE of the digest on the first use (and lastUsedAt's); none after.
    (moved,) = digest_writes(queries)
    assert old in moved.split(" WHERE ", 1)[1]  # only where the row still holds the old one
    assert writes(queries_again) == []


def test_a_key_under_the_first_pepper_never_writes_its_digest(
    settings, api_key_factory, key_client
):
    use_peppers(settings, A, B)
    key, raw = api_key_factory()
    client = key_client(raw)

    response, queries = get_me(client)
    again, queries_again = get_me(client)

    assert_me(response, key)
    assert_me(again, key)
    assert digest_writes(queries) == []  # lastUsedAt alone, on the first use
    assert writes(queries_again) == []
    assert ApiKey.objects.get(pk=key.pk).digest == v2(settings, A, raw)


@pytest.mark.parametrize(
    ("stored_as", "peppers_now"),
    [
        ("v2", [B]),  # its pepper removed
        ("v2", [B, C]),
        ("v1", [B]),  # tried under every configured pepper: none made it
        ("v1", [B, C]),
    ],
)
def test_a_key_whose_pepper_was_removed_is_refused(
    settings, api_key_factory, key_client, stored_as, peppers_now
):
    key, raw = api_key_factory()
    old = {"v1": v1, "v2": v2}[stored_as](settings, A, raw)
    ApiKey.objects.filter(pk=key.pk).update(digest=old)
    use_peppers(settings, *peppers_now)

    response, queries = get_me(key_client(raw))

    assert_error(response, 401, "KEY_INVALID")
    assert writes(queries) == []
    assert ApiKey.objects.get(pk=key.pk).digest == old


def test_a_digest_naming_a_configured_pepper_but_another_key_is_refused(
    settings, api_key_factory, key_client
):
    use_peppers(settings, B, A)
    key, raw = api_key_factory()
    _other, other_raw = api_key_factory()
    # The right pepper id, the wrong MAC: the pepper id proves nothing.
    ApiKey.objects.filter(pk=key.pk).update(digest=v2(settings, A, other_raw))

    assert_error(key_client(raw).get(ME), 401, "KEY_INVALID")
    assert ApiKey.objects.get(pk=key.pk).digest == v2(settings, A, other_raw)


def test_a_rolled_keys_previous_secret_moves_its_own_digest(
    settings, api_key_factory, key_client, client_for
):
    use_peppers(settings, A)
    key, old = api_key_factory()
    response = client_for(key.user).post(
        f"/api/auth/api-key/{key.pk}/roll", {"expiresOldIn": 3600}, format="json"
    )
    new = response.json()["data"]["key"]
    use_peppers(settings, B, A)

    used, queries = get_me(key_client(old))
    stored = ApiKey.objects.get(pk=key.pk)
    again, queries_again = get_me(key_client(old))

    assert_me(used, key)
    assert_me(again, key)
    (moved,) = digest_writes(queries)
    assert '"previous_digest"' in moved
    assert stored.previous_digest == v2(settings, B, old)
    assert stored.digest == v2(settings, A, new)  # the new secret moves when it is used
    assert writes(queries_again) == []

    assert_me(key_client(new).get(ME), key)
    stored = ApiKey.objects.get(pk=key.pk)
    assert (stored.digest, stored.previous_digest) == (v2(settings, B, new), v2(settings, B, old))


def test_the_key_object_takes_the_moved_digest_so_the_request_writes_it_once(
    settings, api_key_factory, django_assert_num_queries
):
    # The object a request holds may be stored in the warm-key cache after the move.
    use_peppers(settings, A)
    key, raw = api_key_factory()
    use_peppers(settings, B, A)
    parsed = crypto.parse(raw, conf.prefix())

    with django_assert_num_queries(1):  # the conditional UPDATE
        assert peppers.rehash_if_old(parsed, key) is True
    with django_assert_num_queries(0):
        assert peppers.rehash_if_old(parsed, key) is False

    assert key.digest == v2(settings, B, raw)
    assert ApiKey.objects.get(pk=key.pk).digest == v2(settings, B, raw)


@pytest.mark.django_db(transaction=True)
def test_with_the_warm_key_cache_a_moved_key_is_read_again_and_written_once(
    settings, api_key_factory, key_client, monkeypatch
):
    settings.APIKEYS = {**settings.APIKEYS, "CACHE_TIMEOUT": 300}
    use_peppers(settings, A)
    key, raw = api_key_factory(scopes=["*"])
    client = key_client(raw)
    assert_me(client.get(ME), key)  # warm: this worker's copy and the shared entry
    use_peppers(settings, B, A)
    # A minute later, so the request that moves the digest also moves lastUsedAt and stores
    # the entry again: the entry it stores must hold the new digest.
    later = timezone.now() + timedelta(seconds=61)
    monkeypatch.setattr(timezone, "now", lambda: later)

    response, queries = get_me(client)
    again, queries_again = get_me(client)

    assert_me(response, key)
    assert_me(again, key)
    assert len(digest_writes(queries)) == 1
    assert writes(queries_again) == []
    assert ApiKey.objects.get(pk=key.pk).digest == v2(settings, B, raw)
    # The entry holding the old digest was withdrawn; any entry stored since holds the new.
    entry, _storable = warm_cache.get(key.lookup)
    assert entry is None or entry.key.digest == v2(settings, B, raw)


@pytest.mark.parametrize(
    ("stored_as", "peppers_now", "found"),
    [("v2", [B, A], True), ("v1", [B, A], True), ("v2", [B], False), ("v1", [B], False)],
)
def test_a_reported_key_is_found_under_any_configured_pepper(
    settings, api_key_factory, api_client, stored_as, peppers_now, found
):
    key, raw = api_key_factory()
    ApiKey.objects.filter(pk=key.pk).update(
        digest={"v1": v1, "v2": v2}[stored_as](settings, A, raw)
    )
    use_peppers(settings, *peppers_now)

    response = api_client.post("/api/keys/report", {"keys": [raw]}, format="json")

    assert response.status_code == 202  # the same answer whatever was reported
    assert (ApiKey.objects.get(pk=key.pk).revoked_at is not None) is found


# --- manage.py apikey_peppers ----------------------------------------------------------------


def run(*args: str) -> str:
    out = StringIO()
    call_command("apikey_peppers", *args, stdout=out)
    return out.getvalue()


@pytest.fixture
def keys_under_three_peppers(settings, api_key_factory):
    """Under A: two keys, one rolled (its previous secret too); under B (current): one; one v1
    digest; one under C, no longer configured. Revoked and expired keys, and a previous secret
    past its overlap, count nowhere."""
    use_peppers(settings, A)
    api_key_factory()
    rolled, _raw = api_key_factory()
    api_key_roll(key=rolled, expires_old_in=3600)
    ended, _raw = api_key_factory()
    api_key_roll(key=ended, expires_old_in=0)  # its previous secret stopped at once
    api_key_factory(revoked=True)
    api_key_factory(expired=True)
    use_peppers(settings, C)
    api_key_factory()
    use_peppers(settings, B, A)
    api_key_factory()
    legacy, raw = api_key_factory()
    ApiKey.objects.filter(pk=legacy.pk).update(digest=v1(settings, A, raw))


def test_the_command_counts_working_secrets_under_each_pepper(settings, keys_under_three_peppers):
    out = run()

    lines = [" ".join(line.split()) for line in out.splitlines()]
    assert lines == [
        f"pepper 1 ({pepper_id(settings, B)}) current 1 key, 0 previous secrets",
        f"pepper 2 ({pepper_id(settings, A)}) 3 keys, 1 previous secret",
        "v1 digests (pepper found on next use) 1 key, 0 previous secrets",
        "under no configured pepper (refused) 1 key, 0 previous secrets",
    ]
    assert all(pepper not in out for pepper in (A, B, C))


def test_the_command_prints_json(settings, keys_under_three_peppers):
    counted = json.loads(run("--json"))

    assert counted == {
        "peppers": [
            {"position": 1, "id": pepper_id(settings, B), "keys": 1, "previousSecrets": 0},
            {"position": 2, "id": pepper_id(settings, A), "keys": 3, "previousSecrets": 1},
        ],
        "v1": {"keys": 1, "previousSecrets": 0},
        "unknown": {"keys": 1, "previousSecrets": 0},
    }


def test_the_command_counts_nothing_once_every_key_has_moved(
    settings, api_key_factory, key_client
):
    use_peppers(settings, A)
    _key, raw = api_key_factory()
    use_peppers(settings, B, A)
    key_client(raw).get(ME)

    counted = json.loads(run("--json"))

    assert [entry["keys"] for entry in counted["peppers"]] == [1, 0]


# --- APIKEY_PEPPERS, APIKEY_PEPPER ----------------------------------------------------------


@pytest.mark.parametrize(
    ("environment", "expected"),
    [
        ({}, ()),
        ({"APIKEY_PEPPER": "one"}, ("one",)),  # the single pepper of old
        ({"APIKEY_PEPPERS": "new"}, ("new",)),
        ({"APIKEY_PEPPERS": "new, old"}, ("new", "old")),
        ({"APIKEY_PEPPERS": "new,SECRET_KEY"}, ("new", "SECRET_KEY")),
        ({"APIKEY_PEPPERS": "", "APIKEY_PEPPER": "one"}, ("one",)),
    ],
)
def test_the_peppers_setting_reads_a_list_or_the_single_pepper(monkeypatch, environment, expected):
    for name in ("APIKEY_PEPPERS", "APIKEY_PEPPER"):
        monkeypatch.delenv(name, raising=False)
    for name, value in environment.items():
        monkeypatch.setenv(name, value)

    assert project_settings._peppers() == expected


@pytest.mark.parametrize(
    ("environment", "message"),
    [
        ({"APIKEY_PEPPERS": "new,,old"}, "empty entry"),
        ({"APIKEY_PEPPERS": "new,"}, "empty entry"),
        ({"APIKEY_PEPPERS": "new,new"}, "twice"),
        ({"APIKEY_PEPPERS": "new", "APIKEY_PEPPER": "old"}, "not both"),
    ],
)
def test_a_bad_peppers_setting_stops_start_up(monkeypatch, environment, message):
    for name in ("APIKEY_PEPPERS", "APIKEY_PEPPER"):
        monkeypatch.delenv(name, raising=False)
    for name, value in environment.items():
        monkeypatch.setenv(name, value)

    with pytest.raises(ImproperlyConfigured, match=message):
        project_settings._peppers()
