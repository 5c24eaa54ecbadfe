"""The email that tells a person their password changed: in settings, or from a reset link."""

from __future__ import annotations

import pytest
from django.core import mail

from accounts.tokens import make_password_reset_token
from tests.conftest import PASSWORD

pytestmark = pytest.mark.django_db

NEW_PASSWORD = "a-brand-new-passphrase"
SUBJECT = "Your Latchkey password was changed"


def test_changing_the_password_mails_the_owner(
    client_for, user_factory, django_capture_on_commit_callbacks
):
    user = user_factory()

    with django_capture_on_commit_callbacks(execute=True):
        response = client_for(user).post(
            "/api/auth/change-password",
            {"currentPassword": PASSWORD, "newPassword": NEW_PASSWORD},
        )

    assert response.status_code == 200
    [message] = mail.outbox
    assert message.to == [user.email]
    assert message.subject == SUBJECT
    assert f"The password of the Latchkey account {user.email} was changed," in message.body
    assert "http://localhost:8000/reset-password\n" in message.body
    assert NEW_PASSWORD not in message.body and PASSWORD not in message.body


def test_resetting_the_password_mails_the_owner(
    api_client, user_factory, django_capture_on_commit_callbacks
):
    user = user_factory()
    token = make_password_reset_token(user)

    with django_capture_on_commit_callbacks(execute=True):
        response = api_client.post(
            "/api/auth/reset-password", {"token": token, "newPassword": NEW_PASSWORD}
        )

    assert response.status_code == 200
    [message] = mail.outbox
    assert message.subject == SUBJECT
    assert "was reset with an emailed link" in message.body
    assert token not in message.body


def test_a_refused_change_sends_no_mail(
    client_for, user_factory, django_capture_on_commit_callbacks
):
    user = user_factory()

    with django_capture_on_commit_callbacks(execute=True):
        response = client_for(user).post(
            "/api/auth/change-password",
            {"currentPassword": "not-the-password", "newPassword": NEW_PASSWORD},
        )

    assert response.status_code == 400
    assert mail.outbox == []
