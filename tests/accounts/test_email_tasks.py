"""Account email goes out through background tasks (accounts/tasks.py): the same task for every
address, links built from PUBLIC_URL, a budget per recipient, no text of the requester's in a
mail to an unproven address, and a mail server failure that changes no answer and logs no
link."""

from __future__ import annotations

import logging
import re
import smtplib
from collections.abc import Callable
from typing import Any

import pytest
from django.core import mail
from django.test import Client
from django_tasks import default_task_backend

from accounts import tasks
from accounts.models import User
from tests.conftest import PASSWORD, set_rates

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("one_ratelimit_window")]

PUBLIC_URL = "https://links.latchkey.example"
KNOWN = "kate@example.com"
NEW_PASSWORD = "a-long-secure-passphrase"
RESET_TASK = "accounts.tasks.password_reset_email"
VERIFICATION_TASK = "accounts.tasks.verification_email"


# --- Helpers ---------------------------------------------------------------------------------


def _api(path: str) -> Callable[..., Any]:
    def post(client: Client, email: str, **extra: Any) -> Any:
        return client.post(path, {"email": email}, content_type="application/json", **extra)

    return post


def _page(path: str) -> Callable[..., Any]:
    def post(client: Client, email: str, **extra: Any) -> Any:
        return client.post(path, {"email": email}, **extra)

    return post


# The four ways to ask for a mail to an address: (send, the task it queues, what it answers).
REQUESTS = {
    "api-reset": (_api("/api/auth/request-password-reset"), RESET_TASK, 200),
    "api-verification": (_api("/api/auth/send-verification-email"), VERIFICATION_TASK, 200),
    "dashboard-reset": (_page("/reset-password"), RESET_TASK, 302),
    "dashboard-verification": (_page("/verify-email/resend"), VERIFICATION_TASK, 302),
}


def _answer(response: Any) -> tuple:
    """What a client reads: the status, and the body without its timestamp (or, for a page's
    redirect, where it leads)."""
    if response.status_code in (301, 302):
        return response.status_code, response["Location"]
    body = response.json()
    return response.status_code, {k: v for k, v in body.items() if k != "timestamp"}


def _links(message: mail.EmailMessage) -> list[str]:
    return re.findall(r"https?://\S+", message.body)


def _sign_up_api(client: Client, email: str, name: str = "", **extra: Any) -> Any:
    return client.post(
        "/api/auth/sign-up/email",
        {"email": email, "password": NEW_PASSWORD, "name": name},
        content_type="application/json",
        **extra,
    )


def _sign_up_page(client: Client, email: str, name: str = "", **extra: Any) -> Any:
    return client.post(
        "/sign-up", {"email": email, "password": NEW_PASSWORD, "name": name}, **extra
    )


@pytest.fixture
def recorded_tasks(settings) -> list:
    """Queued tasks are kept, not run: DummyBackend records what was enqueued."""
    settings.TASKS = {"default": {"BACKEND": "django_tasks.backends.dummy.DummyBackend"}}
    default_task_backend.clear()
    return default_task_backend.results


@pytest.fixture
def public_url(settings) -> str:
    settings.PUBLIC_URL = PUBLIC_URL
    return PUBLIC_URL


class FailingEmailBackend:
    """A mail server that refuses everything, quoting the message back in its error (as real
    servers do), so a logged exception text would leak the link."""

    def __init__(self, **kwargs: object) -> None:
        pass

    def send_messages(self, messages: list) -> int:
        raise smtplib.SMTPDataError(554, f"Message refused: {messages[0].body}")


# --- The same task for every address ------------------------------------------------------


@pytest.mark.parametrize("way", REQUESTS)
def test_every_address_queues_the_same_task_and_gets_the_same_answer(
    recorded_tasks, user_factory, way
):
    send, task_path, status = REQUESTS[way]
    user_factory(email="verified@example.com")
    user_factory(email="unverified@example.com", verified=False)
    user_factory(email="inactive@example.com", is_active=False)
    addresses = [
        "verified@example.com",
        "unverified@example.com",
        "inactive@example.com",
        "nobody@example.com",
    ]

    answers = [_answer(send(Client(), address)) for address in addresses]

    assert answers[0][0] == status
    assert answers == [answers[0]] * len(addresses)
    assert [result.task.module_path for result in recorded_tasks] == [task_path] * 4
    assert all(not result.args for result in recorded_tasks)  # keyword arguments only
    shapes = {
        (tuple(sorted(result.kwargs)), tuple(sorted(result.kwargs["origin"])))
        for result in recorded_tasks
    }
    assert len(shapes) == 1
    assert [result.kwargs["email"] for result in recorded_tasks] == addresses
    # Nothing was sent by the request itself: only the (unrun) tasks would.
    assert mail.outbox == []


@pytest.mark.parametrize("way", REQUESTS)
def test_the_task_mails_only_an_account_that_can_use_it(user_factory, way):
    send, task_path, _status = REQUESTS[way]
    user_factory(email="verified@example.com")
    user_factory(email="unverified@example.com", verified=False)
    user_factory(email="inactive@example.com", is_active=False)

    for address in ["verified@example.com", "unverified@example.com", "inactive@example.com"]:
        send(Client(), address)
    send(Client(), "nobody@example.com")

    expected = (
        [["verified@example.com"], ["unverified@example.com"]]
        if task_path == RESET_TASK
        else [["unverified@example.com"]]
    )
    assert [message.to for message in mail.outbox] == expected


@pytest.mark.parametrize(
    ("sign_up", "status"), [(_sign_up_api, 200), (_sign_up_page, 302)], ids=["api", "dashboard"]
)
def test_sign_up_queues_the_verification_task(recorded_tasks, sign_up, status):
    response = sign_up(Client(), "new@example.com", name="New")

    assert response.status_code == status
    user = User.objects.get(email="new@example.com")
    [result] = recorded_tasks
    assert result.task.module_path == VERIFICATION_TASK
    assert result.kwargs["user_id"] == user.pk
    assert mail.outbox == []


# --- Links come from PUBLIC_URL ------------------------------------------------------------------


def _ask_reset(client: Client, **extra: Any) -> Any:
    return _api("/api/auth/request-password-reset")(client, KNOWN, **extra)


def _ask_verification(client: Client, **extra: Any) -> Any:
    return _api("/api/auth/send-verification-email")(client, KNOWN, **extra)


def _ask_reset_page(client: Client, **extra: Any) -> Any:
    return _page("/reset-password")(client, KNOWN, **extra)


def _ask_verification_page(client: Client, **extra: Any) -> Any:
    return _page("/verify-email/resend")(client, KNOWN, **extra)


def _sign_up_api_new(client: Client, **extra: Any) -> Any:
    return _sign_up_api(client, "new@example.com", **extra)


def _sign_up_page_new(client: Client, **extra: Any) -> Any:
    return _sign_up_page(client, "new@example.com", **extra)


# Each way a mail is sent: (ask, the link's path, the answer's status).
MAILS = {
    "api-sign-up": (_sign_up_api_new, "/verify-email/", 200),
    "dashboard-sign-up": (_sign_up_page_new, "/verify-email/", 302),
    "api-verification": (_ask_verification, "/verify-email/", 200),
    "dashboard-verification": (_ask_verification_page, "/verify-email/", 302),
    "api-reset": (_ask_reset, "/reset-password/", 200),
    "dashboard-reset": (_ask_reset_page, "/reset-password/", 302),
}


@pytest.mark.parametrize(
    "headers",
    [
        {"HTTP_HOST": "evil.example"},
        {"HTTP_X_FORWARDED_HOST": "evil.example"},
        {
            "HTTP_HOST": "evil.example",
            "HTTP_X_FORWARDED_HOST": "evil.example:8443",
            "HTTP_X_FORWARDED_PROTO": "http",
        },
    ],
    ids=["host", "forwarded-host", "both"],
)
@pytest.mark.parametrize("way", MAILS)
def test_links_are_built_from_public_url_never_the_requests_host(
    settings, public_url, user_factory, way, headers
):
    # Both hosts are allowed, and the forwarded one is believed: a link built from the request
    # would name evil.example.
    settings.ALLOWED_HOSTS = ["testserver", "evil.example"]
    settings.USE_X_FORWARDED_HOST = True
    user_factory(email=KNOWN, verified=False)
    ask, path, status = MAILS[way]

    response = ask(Client(), **headers)

    assert response.status_code == status
    [message] = mail.outbox
    links = _links(message)
    assert links
    assert all(link.startswith(f"{public_url}{path}") for link in links), links
    assert "evil.example" not in message.body
    assert "testserver" not in message.body


# --- A budget per recipient -------------------------------------------------------------------

# Spellings of one address that the forms accept (a fullwidth letter is refused as invalid).
SPELLINGS = [
    "kate@example.com",
    "KATE@example.com",
    "\u212aate@example.com",  # KELVIN SIGN
    " Kate@EXAMPLE.com ",
    "kAtE@Example.Com",
]


@pytest.mark.parametrize("way", REQUESTS)
def test_a_recipient_gets_at_most_their_budget_whoever_asks_and_however_spelt(
    settings, user_factory, way
):
    set_rates(settings, EMAIL_RECIPIENT="3/hour")
    send, _task, status = REQUESTS[way]
    user_factory(email=KNOWN, verified=False)

    answers = [
        _answer(send(Client(), SPELLINGS[n % len(SPELLINGS)], REMOTE_ADDR=f"203.0.113.{n}"))
        for n in range(1, 9)
    ]

    assert answers[0][0] == status
    assert answers == [answers[0]] * 8
    # Mail goes to the account's address, never to the spelling someone typed.
    assert [message.to for message in mail.outbox] == [[KNOWN]] * 3


@pytest.mark.usefixtures("fresh_fallback")
def test_with_the_cache_down_a_recipient_still_gets_at_most_their_budget(settings, user_factory):
    set_rates(settings, EMAIL_RECIPIENT="3/hour", PASSWORD_RESET="1/hour")
    settings.CACHES = {"default": {"BACKEND": "tests.conftest.BrokenCache"}}
    user_factory(email=KNOWN)
    send = _api("/api/auth/request-password-reset")

    statuses = [
        send(Client(), KNOWN, REMOTE_ADDR=f"198.51.100.{n}").status_code for n in range(1, 9)
    ]

    # The per-IP limit fails open with the cache; the per-recipient one is counted here.
    assert statuses == [200] * 8
    assert [message.to for message in mail.outbox] == [[KNOWN]] * 3


def test_the_default_recipient_budget_is_five_an_hour(user_factory):
    user_factory(email=KNOWN)
    send = _api("/api/auth/request-password-reset")

    statuses = [
        send(Client(), KNOWN, REMOTE_ADDR=f"198.51.100.{n}").status_code for n in range(1, 8)
    ]

    assert statuses == [200] * 7
    assert len(mail.outbox) == 5


def test_one_recipients_budget_is_not_anothers(settings, user_factory):
    set_rates(settings, EMAIL_RECIPIENT="1/hour")
    user_factory(email=KNOWN)
    user_factory(email="joe@example.com")
    send = _api("/api/auth/request-password-reset")

    for _ in range(3):
        send(Client(), KNOWN)
    send(Client(), "joe@example.com")

    assert [message.to for message in mail.outbox] == [[KNOWN], ["joe@example.com"]]


# --- No requester's text in a mail to an unproven address ----------------------------------

NAMES = [
    "Visit http://evil.example now",
    "Your account is locked: call +1 555 0100 to unlock it",
    '<a href="https://evil.example/claim">Claim your prize</a>',
]


def _sign_up_api_named(name: str) -> None:
    _sign_up_api(Client(), "new@example.com", name=name)


def _sign_up_page_named(name: str) -> None:
    _sign_up_page(Client(), "new@example.com", name=name)


def _reset_of_unverified_named(name: str) -> None:
    User.objects.create_user("new@example.com", PASSWORD, full_name=name)
    _api("/api/auth/request-password-reset")(Client(), "new@example.com")


def _resend_of_unverified_named(name: str) -> None:
    User.objects.create_user("new@example.com", PASSWORD, full_name=name)
    _api("/api/auth/send-verification-email")(Client(), "new@example.com")


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize(
    "mail_for",
    [
        _sign_up_api_named,
        _sign_up_page_named,
        _reset_of_unverified_named,
        _resend_of_unverified_named,
    ],
    ids=["api-sign-up", "dashboard-sign-up", "reset", "resend-verification"],
)
def test_no_text_of_the_requesters_reaches_a_mail_to_an_unproven_address(mail_for, name):
    mail_for(name)

    assert User.objects.get(email="new@example.com").full_name == name
    [message] = mail.outbox
    assert message.to == ["new@example.com"]
    for text in (message.subject, message.body):
        assert name not in text
        assert "evil.example" not in text
        assert "555 0100" not in text


# --- A mail server failure --------------------------------------------------------------------


@pytest.fixture
def failing_mail(settings, public_url, monkeypatch) -> list[str]:
    """The mail server refuses; returns the tokens the tasks made (which must be logged
    nowhere)."""
    settings.EMAIL_BACKEND = f"{__name__}.FailingEmailBackend"
    made: list[str] = []
    for name in ("make_verification_token", "make_password_reset_token"):
        original = getattr(tasks, name)

        def record(user: User, _original: Callable = original) -> str:
            made.append(_original(user))
            return made[-1]

        monkeypatch.setattr(tasks, name, record)
    return made


def _assert_nothing_secret_logged(caplog: Any, tokens: list[str]) -> None:
    logged = caplog.text + "\n".join(record.getMessage() for record in caplog.records)
    assert any(record.levelno >= logging.ERROR for record in caplog.records), "nothing logged"
    assert PUBLIC_URL not in logged
    assert "/verify-email/" not in logged
    assert "/reset-password/" not in logged
    assert "open this link" not in logged  # the mail's own text
    for token in tokens:
        assert token not in logged


def test_sign_up_succeeds_when_the_mail_server_fails(api_client, failing_mail, caplog):
    with caplog.at_level(logging.DEBUG):
        response = _sign_up_api(api_client, "new@example.com", name="New")

    assert response.status_code == 200
    body = response.json()
    assert body["success"] is True
    assert body["message"] == "Account created. Check your email to verify your address."
    assert body["data"]["email"] == "new@example.com"
    user = User.objects.get(email="new@example.com")
    assert user.memberships.count() == 1
    assert mail.outbox == []
    assert len(failing_mail) == 1
    _assert_nothing_secret_logged(caplog, failing_mail)
    # The account works: its owner can sign in and ask for a new link later.
    signed_in = api_client.post(
        "/api/auth/sign-in/email", {"email": "new@example.com", "password": NEW_PASSWORD}
    )
    assert signed_in.status_code == 200


def test_dashboard_sign_up_succeeds_when_the_mail_server_fails(failing_mail, caplog):
    with caplog.at_level(logging.DEBUG):
        response = _sign_up_page(Client(), "new@example.com", name="New")

    assert response.status_code == 302
    assert User.objects.filter(email="new@example.com").exists()
    _assert_nothing_secret_logged(caplog, failing_mail)


@pytest.mark.parametrize("way", REQUESTS)
def test_requests_answer_the_same_when_the_mail_server_fails(
    user_factory, failing_mail, caplog, way
):
    send, _task, status = REQUESTS[way]
    user_factory(email=KNOWN, verified=False)

    with caplog.at_level(logging.DEBUG):
        known = send(Client(), KNOWN)
    unknown = send(Client(), "nobody@example.com")

    assert known.status_code == status
    assert _answer(known) == _answer(unknown)
    assert len(failing_mail) == 1  # the task ran, and its mail failed
    _assert_nothing_secret_logged(caplog, failing_mail)
