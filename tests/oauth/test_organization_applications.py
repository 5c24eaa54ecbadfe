"""Organization → Applications: owners and admins see the OAuth applications that can act in
their organization, and revoke those pinned to it."""

from __future__ import annotations

import secrets
from typing import Any

import pytest
from django.test import Client

from audit.models import AuditEvent
from oauth.authentication import verified_claims
from oauth.models import AccessToken, Application, RefreshToken
from oauth.tokens import issue_access_token
from tenants.models import Organization

pytestmark = pytest.mark.django_db


@pytest.fixture
def reporter(team) -> Application:
    return Application.objects.create(
        name="Reporter",
        client_type=Application.CLIENT_PUBLIC,
        authorization_grant_type=Application.GRANT_AUTHORIZATION_CODE,
        redirect_uris="https://client.example/callback",
        user=team["outsider"],
    )


def grant(application: Application, user: Any, organization: Organization | None) -> str:
    """A live access and refresh token pair; returns the access token."""
    raw = issue_access_token(
        user=user, application=application, scopes=["projects:read"], organization=organization
    )
    access = AccessToken.objects.get(jti=verified_claims(raw)["jti"])
    refresh = RefreshToken(
        user=user, application=application, access_token=access, organization=organization
    )
    refresh.token = "lkr_" + secrets.token_urlsafe(20)
    refresh.save()
    return raw


def page(team, who: str) -> Any:
    client = Client()
    client.force_login(team[who])
    return client, f"/organizations/{team['organization'].pk}/applications"


@pytest.mark.parametrize("who", ["owner", "admin"])
def test_owners_and_admins_see_the_applications_that_act_here(team, reporter, who) -> None:
    grant(reporter, team["member"], team["organization"])
    grant(reporter, team["admin"], None)
    client, url = page(team, who)

    response = client.get(url)

    assert response.status_code == 200
    body = response.content.decode()
    assert body.count("Reporter") >= 2
    assert "This organization only" in body and "Every organization of the person" in body
    assert team["member"].full_name in body


@pytest.mark.parametrize("who", ["member", "outsider"])
def test_members_and_outsiders_are_refused(team, reporter, who) -> None:
    client, url = page(team, who)

    assert client.get(url).status_code == 403


def test_revoking_ends_the_tokens_pinned_here_and_no_other(
    team, reporter, org_factory, member_factory
) -> None:
    here = grant(reporter, team["member"], team["organization"])
    elsewhere_org = org_factory()
    member_factory(elsewhere_org, user=team["member"])
    elsewhere = grant(reporter, team["member"], elsewhere_org)
    client, url = page(team, "owner")

    response = client.post(f"{url}/{reporter.pk}/revoke")

    assert response.status_code == 302
    live = set(AccessToken.objects.values_list("organization_id", flat=True))
    assert live == {elsewhere_org.pk}
    assert not RefreshToken.objects.filter(
        organization=team["organization"], revoked__isnull=True
    ).exists()
    assert here != elsewhere
    event = AuditEvent.objects.get(action="oauth.revoked")
    assert (event.organization_id, event.detail["by"]) == (team["organization"].pk, "organization")


def test_revoking_what_is_not_pinned_here_is_404(team, reporter) -> None:
    grant(reporter, team["admin"], None)
    client, url = page(team, "owner")

    assert client.post(f"{url}/{reporter.pk}/revoke").status_code == 404
    assert AccessToken.objects.count() == 1


def test_a_member_cannot_revoke(team, reporter) -> None:
    grant(reporter, team["member"], team["organization"])
    client, url = page(team, "member")

    assert client.post(f"{url}/{reporter.pk}/revoke").status_code == 403
    assert AccessToken.objects.count() == 1


def test_an_organizations_revoke_also_forgets_the_remembered_consent(team, reporter) -> None:
    from oauth.models import Consent

    grant(reporter, team["member"], team["organization"])
    Consent.objects.create(
        user=team["member"],
        application=reporter,
        scope="projects:read",
        organization=team["organization"],
    )
    client, url = page(team, "owner")

    client.post(f"{url}/{reporter.pk}/revoke")

    assert not Consent.objects.exists()


def test_leaving_ends_what_was_pinned_to_the_organization(team, reporter) -> None:
    from oauth.models import Consent
    from tenants.models import Membership

    grant(reporter, team["member"], team["organization"])
    kept = grant(reporter, team["member"], None)
    Consent.objects.create(
        user=team["member"],
        application=reporter,
        scope="projects:read",
        organization=team["organization"],
    )

    Membership.objects.get(user=team["member"], organization=team["organization"]).delete()

    assert list(AccessToken.objects.values_list("organization_id", flat=True)) == [None]
    assert not Consent.objects.exists()
    assert AccessToken.objects.get().jti == verified_claims(kept)["jti"]


def test_a_huge_application_id_is_404(team) -> None:
    client, url = page(team, "owner")

    assert client.post(f"{url}/99999999999999999999999/revoke").status_code == 404
