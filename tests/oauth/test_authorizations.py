"""What a person has authorized, and revoking it: Settings → Authorized applications, and the
audit events of authorizing, revoking and presenting a spent refresh token."""

from __future__ import annotations

from typing import Any

import pytest
from django.test import Client
from rest_framework.test import APIClient

from audit.models import AuditEvent
from oauth.models import AccessToken, Application, RefreshToken
from tenants.models import Organization
from tests.oauth.test_authorization_server import (
    TOKEN,
    authorization_code,
    exchange,
    pkce,
)

pytestmark = pytest.mark.django_db

PAGE = "/settings/authorized-applications"


@pytest.fixture
def granted(browser: Client, app: Application, person) -> dict[str, Any]:
    """The person authorized the application, pinned to Alpha Ltd."""
    alpha = Organization.objects.get(name="Alpha Ltd")
    verifier, challenge = pkce()
    code = authorization_code(browser, app, challenge, organization=alpha.pk)
    response = exchange(app, code, verifier)
    assert response.status_code == 200, response.content
    return {**response.json(), "organization": alpha}


def test_authorizing_is_audited(granted, app: Application, person) -> None:
    event = AuditEvent.objects.get(action="oauth.authorized")

    assert (event.actor_id, event.organization_id) == (person.pk, granted["organization"].pk)
    assert event.detail["clientId"] == app.client_id
    assert sorted(event.detail["scopes"]) == ["projects:read", "user:read"]


def test_the_page_lists_the_application_with_its_scopes_and_pin(
    granted, browser: Client, app: Application
) -> None:
    response = browser.get(PAGE)

    assert response.status_code == 200
    page = response.content.decode()
    assert "Acme Reports" in page
    assert "projects:read" in page and "user:read" in page
    assert "Alpha Ltd" in page
    assert f"/settings/authorized-applications/{app.pk}/revoke" in page


def test_another_persons_page_does_not_list_it(granted, user_factory) -> None:
    someone = Client()
    someone.force_login(user_factory())

    page = someone.get(PAGE).content.decode()

    assert "Acme Reports" not in page
    assert "No application has access to your account." in page


def test_revoking_ends_every_token_at_once(granted, browser: Client, app: Application) -> None:
    api = APIClient()
    api.credentials(HTTP_AUTHORIZATION=f"Bearer {granted['access_token']}")
    assert api.get("/api/user/me").status_code == 200

    response = browser.post(f"{PAGE}/{app.pk}/revoke")

    assert response.status_code == 302
    assert not AccessToken.objects.exists()
    assert not RefreshToken.objects.filter(revoked__isnull=True).exists()
    assert api.get("/api/user/me").json()["code"] == "TOKEN_INVALID"
    refreshed = Client().post(
        TOKEN,
        {
            "grant_type": "refresh_token",
            "refresh_token": granted["refresh_token"],
            "client_id": app.client_id,
        },
    )
    assert refreshed.status_code == 400
    event = AuditEvent.objects.get(action="oauth.revoked")
    assert event.detail["clientId"] == app.client_id
    after = browser.get(PAGE).content.decode()
    assert "Acme Reports no longer has access." in after  # the message, once
    assert f"/settings/authorized-applications/{app.pk}/revoke" not in after
    assert "No application has access to your account." in after


def test_revoking_what_was_never_granted_is_404(browser: Client, app: Application) -> None:
    assert browser.post(f"{PAGE}/{app.pk}/revoke").status_code == 404
    assert browser.post(f"{PAGE}/999999/revoke").status_code == 404


def test_a_get_revokes_nothing(granted, browser: Client, app: Application) -> None:
    response = browser.get(f"{PAGE}/{app.pk}/revoke")

    assert response.status_code == 302
    assert AccessToken.objects.exists()


def test_the_page_needs_a_signed_in_person() -> None:
    response = Client().get(PAGE)

    assert response.status_code == 302
    assert response["Location"].startswith("/sign-in")


def test_presenting_a_spent_refresh_token_is_audited(granted, app: Application) -> None:
    body = {
        "grant_type": "refresh_token",
        "refresh_token": granted["refresh_token"],
        "client_id": app.client_id,
    }
    assert Client().post(TOKEN, body).status_code == 200

    again = Client().post(TOKEN, body)

    assert again.status_code == 400
    event = AuditEvent.objects.get(action="oauth.refresh_reused")
    assert event.detail["clientId"] == app.client_id


# --- Remembered consent --------------------------------------------------------------------


def ask(browser: Client, app: Application, scope: str = "projects:read user:read") -> Any:
    from tests.oauth.test_authorization_server import authorize_params

    return browser.get("/oauth/authorize", authorize_params(app, pkce()[1], scope=scope))


def test_asking_again_for_no_more_is_answered_without_the_page(
    granted, browser: Client, app: Application
) -> None:
    for scope in ("projects:read user:read", "user:read"):
        response = ask(browser, app, scope)

        assert response.status_code == 302, scope
        assert "code=" in response["Location"]
    assert AuditEvent.objects.filter(action="oauth.authorized").count() == 3


def test_asking_for_more_asks_again(granted, browser: Client, app: Application) -> None:
    response = ask(browser, app, "projects:read projects:write user:read")

    assert response.status_code == 200
    assert "Acme Reports wants to use your Latchkey account" in response.content.decode()


def test_leaving_the_chosen_organization_asks_again(
    granted, browser: Client, app: Application, person
) -> None:
    from tenants.models import Membership

    Membership.objects.filter(user=person, organization=granted["organization"]).delete()

    assert ask(browser, app).status_code == 200


def test_revoking_forgets_the_answer(granted, browser: Client, app: Application) -> None:
    browser.post(f"{PAGE}/{app.pk}/revoke")

    assert ask(browser, app).status_code == 200


def test_a_denial_is_not_remembered(browser: Client, app: Application) -> None:
    from oauth.models import Consent
    from tests.oauth.test_authorization_server import consent

    response = consent(browser, app, challenge=pkce()[1], allow=False)

    assert response.status_code == 302
    assert "error=access_denied" in response["Location"]
    assert not Consent.objects.exists()
    assert ask(browser, app).status_code == 200


def test_a_remembered_consent_without_tokens_is_listed_and_revocable(
    granted, browser: Client, app: Application
) -> None:
    from oauth.models import Consent

    # The client revoked its own tokens (RFC 7009): the remembered answer still stands.
    RefreshToken.objects.update(revoked=timezone_now())
    AccessToken.objects.all().delete()

    assert "Acme Reports" in browser.get(PAGE).content.decode()
    assert browser.post(f"{PAGE}/{app.pk}/revoke").status_code == 302
    assert not Consent.objects.exists()
    assert ask(browser, app).status_code == 200


def test_prompt_consent_shows_the_page(granted, browser: Client, app: Application) -> None:
    from tests.oauth.test_authorization_server import authorize_params

    response = browser.get("/oauth/authorize", authorize_params(app, pkce()[1], prompt="consent"))

    assert response.status_code == 200


def timezone_now() -> Any:
    from django.utils import timezone

    return timezone.now()


def last_used_cell(page: str) -> str:
    row = page.split("Acme Reports", 1)[1]
    return row.split('<td class="nowrap">', 1)[1].split("</td>", 1)[0]


def test_the_page_says_when_the_application_last_used_its_access(
    granted, browser: Client, app: Application, settings
) -> None:
    assert last_used_cell(browser.get(PAGE).content.decode()) == "Never"
    api = APIClient()
    api.credentials(HTTP_AUTHORIZATION="Bearer " + granted["access_token"])
    assert api.get("/api/user/me").status_code == 200
    used = AccessToken.objects.get().last_used_at

    renewed = Client().post(
        TOKEN,
        {
            "grant_type": "refresh_token",
            "refresh_token": granted["refresh_token"],
            "client_id": app.client_id,
        },
    )

    assert used is not None
    assert renewed.status_code == 200
    # The refreshed token carries the last use on: the application has not used it yet.
    assert AccessToken.objects.get().last_used_at == used
    cell = last_used_cell(browser.get(PAGE).content.decode())
    assert f'datetime="{used.isoformat()}"' in cell


def test_a_token_records_its_use_at_most_once_a_minute(granted, django_assert_num_queries) -> None:
    api = APIClient()
    api.credentials(HTTP_AUTHORIZATION="Bearer " + granted["access_token"])
    assert api.get("/api/user/me").status_code == 200
    first = AccessToken.objects.get().last_used_at

    # The token, the pinned organization's membership, the person's organization count: no
    # UPDATE within the minute.
    with django_assert_num_queries(3):
        assert api.get("/api/user/me").status_code == 200

    assert AccessToken.objects.get().last_used_at == first
