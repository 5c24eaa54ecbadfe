"""The emails that tell a key's owner it was created, rolled, or revoked by someone else."""

from __future__ import annotations

import re

import pytest
from django.core import mail
from django.core.management import call_command

from accounts.services import user_deactivate
from apikeys.models import ApiKey
from apikeys.services import api_key_revoke

pytestmark = pytest.mark.django_db

CREATE = "/api/auth/api-key/create"
REVOKE = "/api/auth/api-key/revoke"
CREATED = "A new API key was created on your Latchkey account"
ROLLED = "An API key of your Latchkey account was rolled"
REVOKED = "An API key of your Latchkey account was revoked"
RAW_KEY = re.compile(r"ba_[0-9A-Za-z]{46}")


@pytest.fixture
def committed(django_capture_on_commit_callbacks):
    """What a request leaves to be done once it commits (its emails, run in-process) is done
    before it returns, as it would be outside a test's transaction."""

    def run(call):
        with django_capture_on_commit_callbacks(execute=True):
            return call()

    return run


def the_mail() -> mail.EmailMessage:
    assert len(mail.outbox) == 1, [m.subject for m in mail.outbox]
    return mail.outbox[0]


def assert_names_the_key(message, key: ApiKey, *, name: str | None = None) -> None:
    """The mail names the key by id, `start` and (unless None) name, and holds no secret."""
    key.refresh_from_db()
    assert f"Id:    {key.pk}" in message.body
    assert f"Start: {key.start}…" in message.body
    if name is not None:
        assert f"Name:  {name}\n" in message.body
    assert not RAW_KEY.search(message.body + message.subject)
    assert key.digest.split("$")[-1] not in message.body
    assert key.lookup not in message.body
    assert f"/settings/api-keys/{key.pk}" in message.body


def test_creating_a_key_mails_its_owner(committed, client_for, user_factory):
    user = user_factory()

    response = committed(
        lambda: client_for(user).post(CREATE, {"name": "CI\n deploys", "scopes": ["user:read"]})
    )

    message = the_mail()
    assert response.status_code == 200
    assert message.to == [user.email]
    assert message.subject == CREATED
    assert_names_the_key(message, ApiKey.objects.get(), name="CI deploys")  # one line
    assert response.json()["data"]["key"] not in message.body
    assert "by your key" not in message.body


def test_a_key_created_by_a_key_names_the_creator(
    committed, key_client, api_key_factory, user_factory
):
    user = user_factory()
    parent, raw = api_key_factory(user=user, scopes=["api-keys:write", "user:read"], name="Bot")

    committed(lambda: key_client(raw).post(CREATE, {"name": "Child", "scopes": ["user:read"]}))

    message = the_mail()
    assert f"by your key “Bot” ({parent.start}…, {parent.pk})" in message.body
    assert_names_the_key(message, ApiKey.objects.get(name="Child"), name="Child")


@pytest.mark.parametrize(
    ("overlap", "says"),
    [
        (
            3600,
            r"The previous secret keeps working until \d+ \w+ \d{4}, \d\d:\d\d UTC, then stops",
        ),
        (0, r"The previous secret has stopped working\."),
    ],
)
def test_rolling_a_key_mails_its_owner(committed, client_for, api_key_factory, overlap, says):
    key, old = api_key_factory(name="Deploys")

    response = committed(
        lambda: client_for(key.user).post(
            f"/api/auth/api-key/{key.pk}/roll", {"expiresOldIn": overlap}, format="json"
        )
    )

    message = the_mail()
    assert message.subject == ROLLED
    assert_names_the_key(message, key, name="Deploys")
    assert f"(it was {key.start}…)" not in message.body  # key was refreshed: the new start
    assert re.search(says, message.body), message.body
    assert old not in message.body and response.json()["data"]["key"] not in message.body


def test_the_roll_mail_shows_the_previous_start(committed, client_for, api_key_factory):
    key, _old = api_key_factory()
    old_start = key.start

    committed(
        lambda: client_for(key.user).post(
            f"/api/auth/api-key/{key.pk}/roll", {"expiresOldIn": 0}, format="json"
        )
    )

    assert f"(it was {old_start}…)" in the_mail().body


def test_revoking_ones_own_key_sends_no_mail(committed, client_for, api_key_factory):
    key, _raw = api_key_factory()

    response = committed(lambda: client_for(key.user).post(REVOKE, {"keyId": key.pk}))

    assert response.status_code == 200
    assert mail.outbox == []


@pytest.mark.parametrize("by", ["operator", "command"])
def test_a_revocation_by_someone_else_mails_the_owner(
    committed, api_key_factory, key_client, operator, by
):
    key, raw = api_key_factory(scopes=["api-keys:write", "user:read"], name="Laptop")
    key_client(raw).post(CREATE, {"name": "Child", "scopes": ["user:read"]})

    if by == "operator":
        committed(lambda: api_key_revoke(key=key, revoked_by=operator, by="operator"))
    else:
        committed(lambda: call_command("revoke_api_key", key.pk, stdout=None))

    message = the_mail()
    assert message.to == [key.user.email]
    assert message.subject == REVOKED
    assert "was revoked by an operator of this service" in message.body
    assert "neither do the 1 key it created" in message.body
    assert_names_the_key(message, key, name="Laptop")


@pytest.mark.parametrize(
    "by", ["owner", "password_reset", "email_secured", "report", "deactivation"]
)
def test_revocations_the_owner_asked_for_or_is_told_of_otherwise_send_no_mail_here(
    committed, api_key_factory, by
):
    # A leak report's own mail (leaks.tasks) tells the owner which keys it revoked.
    key, _raw = api_key_factory()

    committed(lambda: api_key_revoke(key=key, revoked_by=None, by=by))

    assert mail.outbox == []


def test_a_revoked_key_revoked_again_sends_no_mail(committed, api_key_factory, operator):
    key, _raw = api_key_factory(revoked=True)

    committed(lambda: api_key_revoke(key=key, revoked_by=operator, by="operator"))

    assert mail.outbox == []


def test_an_unverified_owner_is_not_mailed_the_name_someone_chose(
    committed, client_for, user_factory
):
    # Until the address is proven, whoever registered it may not be its owner: the mail
    # names the key by its id and start only.
    user = user_factory(verified=False)

    committed(
        lambda: client_for(user).post(
            CREATE, {"name": "Visit evil.example now", "scopes": ["user:read"]}
        )
    )

    message = the_mail()
    assert "evil.example" not in message.body + message.subject
    assert "Name:" not in message.body
    assert_names_the_key(message, ApiKey.objects.get())


def test_a_deactivated_owner_is_not_mailed(committed, api_key_factory, operator):
    key, _raw = api_key_factory()

    committed(lambda: user_deactivate(user=key.user))

    assert mail.outbox == []
