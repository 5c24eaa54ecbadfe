"""Invitations through the API: POST, GET …/invitations, DELETE …/invitations/{invitationId},
POST …/invitations/{invitationId}/resend, and the link's own routes: GET /api/invitations/{token},
POST …/accept, POST …/decline, and sign-up from an invitation."""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Any

import pytest
from django.core import mail
from django.utils import timezone
from rest_framework.test import APIClient

from accounts.models import User
from audit.models import AuditEvent
from tenants.models import Invitation, Membership, Organization, Role
from tests.conftest import PASSWORD, assert_error, set_rates

pytestmark = pytest.mark.django_db

PUBLIC_URL = "https://links.latchkey.example"
UNKNOWN_ID = "01HZ3K5R4X9Y2V6QF8TJ7W0CDN"
GUEST = "guest@example.com"
INVITATION_FIELDS = {
    "id",
    "email",
    "role",
    "status",
    "inviter",
    "createdAt",
    "sentAt",
    "expiresAt",
}
LINK = re.compile(re.escape(PUBLIC_URL) + r"/invitations/([^\s/]+)")


@pytest.fixture(autouse=True)
def _public_url(settings) -> None:
    settings.PUBLIC_URL = PUBLIC_URL


def base(organization: Organization) -> str:
    return f"/api/user/organizations/{organization.pk}/invitations"


@pytest.fixture
def send(django_capture_on_commit_callbacks):
    """send(client, "post", url, body): the request, with what it leaves to be done once it
    commits (the invitation email) done before the response is returned."""

    def call(client: APIClient, method: str, url: str, body: Any = None) -> Any:
        args = () if body is None else (body,)
        with django_capture_on_commit_callbacks(execute=True):
            return getattr(client, method)(url, *args)

    return call


def links_to(address: str) -> list[str]:
    """The invitation tokens mailed to `address`, oldest first."""
    return [
        match
        for message in mail.outbox
        if address in message.to
        for match in LINK.findall(message.body)
    ]


def actions(organization: Organization, action: str) -> list[AuditEvent]:
    return list(AuditEvent.objects.filter(organization_id=organization.pk, action=action))


def roles(organization: Organization) -> dict[str, str]:
    return dict(
        Membership.objects.filter(organization=organization).values_list("user_id", "role")
    )


# --- Who may call the organization's invitation routes -------------------------------------

ENDPOINTS = {
    "list": ("get", "", None, "members:read"),
    "invite": ("post", "", {"email": GUEST, "role": "member"}, "members:write"),
    "withdraw": ("delete", "/{invitation}", None, "members:write"),
    "resend": ("post", "/{invitation}/resend", None, "members:write"),
}

REFUSALS = {
    "anonymous": (401, "UNAUTHORIZED"),
    "outsider session": (403, "NOT_ORGANIZATION_MEMBER"),
    "outsider key with *": (403, "NOT_ORGANIZATION_MEMBER"),
    "owner key without the scope": (403, "INSUFFICIENT_SCOPE"),
    "owner key with * pinned elsewhere": (403, "ORGANIZATION_MISMATCH"),
}


@pytest.mark.parametrize("refusal", REFUSALS)
@pytest.mark.parametrize("endpoint", ENDPOINTS)
def test_callers_without_access_are_refused_and_nothing_changes(
    team,
    send,
    client_for,
    key_client,
    api_key_factory,
    org_factory,
    invitation_factory,
    endpoint,
    refusal,
):
    organization, owner, outsider = team["organization"], team["owner"], team["outsider"]
    invitation, _token = invitation_factory(organization, "pending@example.com", by=owner)
    method, path, body, scope = ENDPOINTS[endpoint]
    other_scope = "members:read" if scope == "members:write" else "projects:read"
    clients = {
        "anonymous": lambda: APIClient(),
        "outsider session": lambda: client_for(outsider),
        "outsider key with *": lambda: key_client(api_key_factory(user=outsider, scopes=["*"])[1]),
        "owner key without the scope": lambda: key_client(
            api_key_factory(user=owner, scopes=[other_scope, "user:read"])[1]
        ),
        "owner key with * pinned elsewhere": lambda: key_client(
            api_key_factory(user=owner, scopes=["*"], organization=org_factory(owner=owner))[1]
        ),
    }
    status, code = REFUSALS[refusal]

    response = send(
        clients[refusal](),
        method,
        base(organization) + path.format(invitation=invitation.pk),
        body,
    )

    body = assert_error(response, status, code)
    if code == "INSUFFICIENT_SCOPE":
        assert body["required_scopes"] == [scope]
    current = Invitation.objects.get()
    assert (current.pk, current.sent_at) == (invitation.pk, invitation.sent_at)
    assert mail.outbox == []
    assert not AuditEvent.objects.filter(action__startswith="invitation.").exists()


ROLE_REFUSALS = [
    # Members invite nobody and manage no invitation, with a session or a key.
    ("member", "post", "", {"email": GUEST, "role": "member"}),
    ("member key", "post", "", {"email": GUEST, "role": "member"}),
    ("member", "delete", "/{member_invitation}", None),
    ("member", "post", "/{member_invitation}/resend", None),
    # Nobody invites above their own role, or manages an invitation above it.
    ("admin", "post", "", {"email": GUEST, "role": "owner"}),
    ("admin key", "post", "", {"email": GUEST, "role": "owner"}),
    ("admin", "post", "", {"email": "owner-to-be@example.com", "role": "admin"}),
    ("admin", "delete", "/{owner_invitation}", None),
    ("admin key", "post", "/{owner_invitation}/resend", None),
]


@pytest.mark.parametrize(("who", "method", "path", "body"), ROLE_REFUSALS)
def test_a_role_that_does_not_reach_is_refused(
    team,
    send,
    client_for,
    key_client,
    api_key_factory,
    invitation_factory,
    who,
    method,
    path,
    body,
):
    organization, owner = team["organization"], team["owner"]
    member_invitation, _ = invitation_factory(organization, "m@example.com", by=owner)
    owner_invitation, _ = invitation_factory(
        organization, "owner-to-be@example.com", role=Role.OWNER, by=owner
    )
    name, _sep, kind = who.partition(" ")
    if kind == "key":
        client = key_client(api_key_factory(user=team[name], scopes=["members:write"])[1])
    else:
        client = client_for(team[name])
    before = set(Invitation.objects.values_list("pk", "role", "sent_at"))
    url = base(organization) + path.format(
        member_invitation=member_invitation.pk, owner_invitation=owner_invitation.pk
    )

    response = send(client, method, url, body)

    assert_error(response, 403, "INSUFFICIENT_ROLE")
    assert set(Invitation.objects.values_list("pk", "role", "sent_at")) == before
    assert mail.outbox == []


# --- POST …/invitations -----------------------------------------------------------------------

INVITES = [
    # (inviter, role given)
    ("owner", "member"),
    ("owner", "admin"),
    ("owner", "owner"),
    ("owner key", "admin"),
    ("admin", "member"),
    ("admin", "admin"),
    ("admin key", "member"),
]


@pytest.mark.parametrize(("who", "role"), INVITES)
def test_owners_and_admins_invite_and_the_link_is_mailed(
    team, send, client_for, key_client, api_key_factory, who, role
):
    organization = team["organization"]
    name, _sep, kind = who.partition(" ")
    inviter = team[name]
    if kind == "key":
        client = key_client(api_key_factory(user=inviter, scopes=["members:write"])[1])
    else:
        client = client_for(inviter)
    before = timezone.now()

    response = send(client, "post", base(organization), {"email": GUEST, "role": role})

    assert response.status_code == 201, response.content
    body = response.json()
    assert (body["success"], body["message"]) == (True, "Invitation sent")
    data = body["data"]
    assert set(data) == INVITATION_FIELDS
    invitation = Invitation.objects.get()
    assert (data["id"], data["email"], data["role"], data["status"]) == (
        invitation.pk,
        GUEST,
        role,
        "pending",
    )
    assert data["inviter"] == {
        "userId": inviter.pk,
        "email": inviter.email,
        "fullName": inviter.full_name,
    }
    assert before + timedelta(days=7) - timedelta(minutes=1) < invitation.expires_at
    assert invitation.expires_at <= timezone.now() + timedelta(days=7)
    # One mail, to the invited address, with a link built from PUBLIC_URL.
    assert [message.to for message in mail.outbox] == [[GUEST]]
    (token,) = links_to(GUEST)
    assert token.startswith(invitation.pk + ".")
    assert token not in str(AuditEvent.objects.values_list("detail", flat=True))
    (event,) = actions(organization, "invitation.created")
    assert (event.actor_id, event.target_id) == (inviter.pk, invitation.pk)
    assert event.detail == {"invitationId": invitation.pk, "email": GUEST, "role": role}


def test_the_mail_holds_no_text_the_inviter_chose(team, send, client_for):
    organization, owner = team["organization"], team["owner"]
    organization.name = "URGENT call 555-0100 to keep your account"
    organization.save()
    owner.full_name = "Security Desk"
    owner.save()

    send(client_for(owner), "post", base(organization), {"email": GUEST, "role": "admin"})

    (message,) = mail.outbox
    text = f"{message.subject}\n{message.body}"
    assert "URGENT" not in text and "Security Desk" not in text
    assert owner.email in message.body
    assert "as an admin" in message.body
    assert "7 days" in message.body


def test_inviting_a_member_is_a_conflict_whatever_the_spelling(team, send, client_for):
    organization = team["organization"]
    address = team["member"].email.upper()

    response = send(client_for(team["owner"]), "post", base(organization), {"email": address})

    assert_error(response, 409, "ALREADY_MEMBER")
    assert not Invitation.objects.exists()
    assert mail.outbox == []


def test_a_second_invitation_to_an_address_replaces_the_first(
    team, send, client_for, invitation_factory
):
    organization = team["organization"]
    first, first_token = invitation_factory(organization, GUEST, by=team["owner"])

    response = send(
        client_for(team["admin"]), "post", base(organization), {"email": "Guest@Example.com"}
    )

    assert response.status_code == 201, response.content
    (current,) = Invitation.objects.all()
    assert current.pk != first.pk and current.invited_by_id == team["admin"].pk
    assert_error(APIClient().get(f"/api/invitations/{first_token}"), 404, "NOT_FOUND")
    (event,) = actions(organization, "invitation.created")
    assert event.detail["replaced"] == first.pk


def test_an_unverified_inviter_is_refused(team, send, client_for):
    owner = team["owner"]
    owner.is_verified = False
    owner.save()

    response = send(client_for(owner), "post", base(team["organization"]), {"email": GUEST})

    assert_error(response, 403, "EMAIL_NOT_VERIFIED")
    assert not Invitation.objects.exists()


BAD_INPUT = [
    ({}, "email"),
    ({"email": "not-an-address"}, "email"),
    ({"email": ""}, "email"),
    ({"email": "\uff47uest@example.com"}, "email"),  # a fullwidth look-alike g
    ({"email": "a" * 250 + "@example.com"}, "email"),
    ({"email": GUEST, "role": "superuser"}, "role"),
    ({"email": GUEST, "role": None}, "role"),
    ({"email": ["guest@example.com"]}, "email"),
]


@pytest.mark.parametrize(("body", "field"), BAD_INPUT)
def test_bad_input_is_refused_with_the_field_named(team, send, client_for, body, field):
    response = send(client_for(team["owner"]), "post", base(team["organization"]), body)

    assert_error(response, 400, "VALIDATION_ERROR", field=field)
    assert not Invitation.objects.exists()
    assert mail.outbox == []


def test_invitations_are_limited_per_inviter(team, send, client_for, settings):
    set_rates(settings, INVITATIONS="2/hour")
    client = client_for(team["admin"])
    url = base(team["organization"])

    statuses = [
        send(client, "post", url, {"email": f"g{n}@example.com"}).status_code for n in range(3)
    ]

    assert statuses == [201, 201, 429]
    # Another inviter of the same organization still has their own budget.
    other = send(client_for(team["owner"]), "post", url, {"email": "g9@example.com"})
    assert other.status_code == 201
    assert Invitation.objects.count() == 3


def test_invitations_are_limited_per_organization_and_outsiders_spend_none(
    team, send, client_for, settings
):
    set_rates(settings, INVITATIONS_ORGANIZATION="2/day")
    url = base(team["organization"])
    # An outsider's refused attempts do not spend the organization's budget.
    for n in range(3):
        refused = send(client_for(team["outsider"]), "post", url, {"email": f"x{n}@example.com"})
        assert refused.status_code == 403

    first = send(client_for(team["owner"]), "post", url, {"email": "a@example.com"})
    second = send(client_for(team["admin"]), "post", url, {"email": "b@example.com"})
    third = send(client_for(team["owner"]), "post", url, {"email": "c@example.com"})

    assert (first.status_code, second.status_code) == (201, 201)
    assert_error(third, 429, "RATE_LIMITED")
    assert set(Invitation.objects.values_list("email", flat=True)) == {
        "a@example.com",
        "b@example.com",
    }


# --- GET …/invitations ------------------------------------------------------------------------


@pytest.mark.parametrize("who", ["owner", "admin", "member"])
def test_every_member_lists_the_pending_and_expired_invitations(
    team, client_for, invitation_factory, who
):
    organization = team["organization"]
    pending, _ = invitation_factory(
        organization, "p@example.com", role=Role.ADMIN, by=team["admin"]
    )
    expired, _ = invitation_factory(organization, "e@example.com", expires_in=-60)
    invitation_factory(team["outsider"].memberships.get().organization, "other@example.com")

    response = client_for(team[who]).get(base(organization))

    assert response.status_code == 200, response.content
    data = response.json()["data"]
    assert [(i["id"], i["email"], i["role"], i["status"]) for i in data] == [
        (pending.pk, "p@example.com", "admin", "pending"),
        (expired.pk, "e@example.com", "member", "expired"),
    ]
    assert data[0]["inviter"]["userId"] == team["admin"].pk
    assert data[1]["inviter"]["userId"] == team["owner"].pk
    assert all(set(item) == INVITATION_FIELDS for item in data)
    assert response.json()["pagination"]["totalItems"] == 2


# --- DELETE …/invitations/{invitationId} and POST …/resend ------------------------------------


def test_withdrawing_ends_the_link(team, send, client_for, invitation_factory):
    organization = team["organization"]
    invitation, token = invitation_factory(organization, GUEST, by=team["owner"])

    response = send(client_for(team["admin"]), "delete", f"{base(organization)}/{invitation.pk}")

    assert response.status_code == 200, response.content
    assert response.json()["data"] == {"id": invitation.pk}
    assert not Invitation.objects.exists()
    assert_error(APIClient().get(f"/api/invitations/{token}"), 404, "NOT_FOUND")
    (event,) = actions(organization, "invitation.withdrawn")
    assert (event.actor_id, event.detail["email"]) == (team["admin"].pk, GUEST)


def test_resending_mails_a_new_link_and_the_old_one_stops(
    team, send, client_for, invitation_factory
):
    organization = team["organization"]
    invitation, old_token = invitation_factory(
        organization, GUEST, by=team["owner"], expires_in=-5
    )

    response = send(
        client_for(team["admin"]), "post", f"{base(organization)}/{invitation.pk}/resend"
    )

    assert response.status_code == 200, response.content
    data = response.json()["data"]
    assert (data["id"], data["status"]) == (invitation.pk, "pending")
    (new_token,) = links_to(GUEST)
    assert new_token != old_token
    assert_error(APIClient().get(f"/api/invitations/{old_token}"), 404, "NOT_FOUND")
    assert APIClient().get(f"/api/invitations/{new_token}").status_code == 200
    invitation.refresh_from_db()
    assert invitation.expires_at > timezone.now() + timedelta(days=6)
    assert len(actions(organization, "invitation.resent")) == 1


@pytest.mark.parametrize("method,suffix", [("delete", ""), ("post", "/resend")])
def test_another_organizations_invitation_is_not_found(
    team, send, client_for, invitation_factory, method, suffix
):
    elsewhere = team["outsider"].memberships.get().organization
    invitation, _ = invitation_factory(elsewhere, GUEST, by=team["outsider"])
    organization = team["organization"]

    for pk in (invitation.pk, UNKNOWN_ID):
        response = send(client_for(team["owner"]), method, f"{base(organization)}/{pk}{suffix}")
        assert_error(response, 404, "NOT_FOUND")
    assert Invitation.objects.get().sent_at == invitation.sent_at
    assert mail.outbox == []


# --- The link: GET /api/invitations/{token} ---------------------------------------------------


def test_the_link_shows_the_organization_the_inviter_and_the_role_only(team, invitation_factory):
    organization, admin = team["organization"], team["admin"]
    _invitation, token = invitation_factory(organization, GUEST, role=Role.ADMIN, by=admin)

    response = APIClient().get(f"/api/invitations/{token}")

    assert response.status_code == 200, response.content
    assert response.json()["data"] == {
        "organization": {"name": organization.name},
        "inviter": {"name": admin.full_name},
        "role": "admin",
    }


def spoiled(token: str) -> dict[str, str]:
    pk, _dot, signature = token.partition(".")
    flipped = "0" if signature[-1] != "0" else "1"
    return {
        "tampered signature": f"{pk}.{signature[:-1]}{flipped}",
        "no signature": pk,
        "another id": f"{UNKNOWN_ID}.{signature}",
        "lower-case id of another": f"{UNKNOWN_ID.lower()}.{signature}",
        "garbage": "not-a-token",
        "overlong": token + "a" * 300,
        "NUL byte": f"{pk[:-1]}\x00.{signature}",
    }


@pytest.mark.parametrize(
    "kind",
    [
        "tampered signature",
        "no signature",
        "another id",
        "lower-case id of another",
        "garbage",
        "overlong",
        "NUL byte",
    ],
)
@pytest.mark.parametrize("route", ["", "/accept", "/decline"])
def test_a_spoiled_link_is_not_found_on_every_route(
    team, client_for, invitation_factory, kind, route
):
    invitation, token = invitation_factory(team["organization"], team["outsider"].email)
    client = client_for(team["outsider"])
    url = f"/api/invitations/{spoiled(token)[kind]}{route}"

    response = client.get(url) if route == "" else client.post(url)

    assert_error(response, 404, "NOT_FOUND")
    assert Invitation.objects.filter(pk=invitation.pk).exists()
    assert team["outsider"].memberships.count() == 1


@pytest.mark.parametrize("route", ["", "/accept", "/decline"])
def test_an_expired_link_is_not_found(team, client_for, invitation_factory, route):
    _invitation, token = invitation_factory(
        team["organization"], team["outsider"].email, expires_in=-1
    )
    client = client_for(team["outsider"])
    url = f"/api/invitations/{token}{route}"

    response = client.get(url) if route == "" else client.post(url)

    assert_error(response, 404, "NOT_FOUND")
    assert roles(team["organization"]).get(team["outsider"].pk) is None


# --- POST /api/invitations/{token}/accept -----------------------------------------------------


@pytest.mark.parametrize("verified", [True, False])
@pytest.mark.parametrize("role", ["member", "admin", "owner"])
def test_accepting_joins_with_the_role_and_proves_the_address(
    team, send, client_for, user_factory, invitation_factory, role, verified
):
    organization = team["organization"]
    guest = user_factory(email="Guest@Example.com", verified=verified)
    inviter = team["owner"] if role == "owner" else team["admin"]
    invitation, token = invitation_factory(organization, GUEST, role=role, by=inviter)

    response = send(client_for(guest), "post", f"/api/invitations/{token}/accept")

    assert response.status_code == 200, response.content
    data = response.json()["data"]
    assert (data["id"], data["name"], data["role"]) == (organization.pk, organization.name, role)
    assert roles(organization)[guest.pk] == role
    guest.refresh_from_db()
    assert guest.is_verified and guest.verified_at is not None
    assert not Invitation.objects.exists()
    (event,) = actions(organization, "member.added")
    assert (event.actor_id, event.target_id) == (guest.pk, guest.pk)
    assert event.detail == {
        "role": role,
        "invitationId": invitation.pk,
        "invitedBy": inviter.pk,
    }
    assert AuditEvent.objects.filter(action="user.email_verified").count() == (not verified)
    (message,) = [m for m in mail.outbox if guest.email in m.to]
    assert message.subject == f"You joined {organization.name}"
    # The link is spent.
    again = send(client_for(guest), "post", f"/api/invitations/{token}/accept")
    assert_error(again, 404, "NOT_FOUND")


def test_another_address_cannot_accept(team, send, client_for, invitation_factory):
    organization, outsider = team["organization"], team["outsider"]
    _invitation, token = invitation_factory(organization, GUEST, by=team["owner"])

    response = send(client_for(outsider), "post", f"/api/invitations/{token}/accept")

    assert_error(response, 403, "INVITATION_EMAIL_MISMATCH")
    assert outsider.pk not in roles(organization)
    assert Invitation.objects.exists()
    assert not actions(organization, "member.added")


def test_accepting_needs_a_signed_in_browser(
    team, send, key_client, api_key_factory, invitation_factory
):
    guest = team["outsider"]
    _invitation, token = invitation_factory(team["organization"], guest.email)
    url = f"/api/invitations/{token}/accept"

    anonymous = send(APIClient(), "post", url)
    keyed = send(key_client(api_key_factory(user=guest, scopes=["*"])[1]), "post", url)

    assert_error(anonymous, 401, "UNAUTHORIZED")
    assert_error(keyed, 403, "SESSION_REQUIRED")
    assert guest.pk not in roles(team["organization"])
    assert Invitation.objects.exists()


def test_a_member_accepting_is_a_conflict(team, send, client_for, invitation_factory):
    member = team["member"]
    _invitation, token = invitation_factory(team["organization"], member.email, role=Role.ADMIN)

    response = send(client_for(member), "post", f"/api/invitations/{token}/accept")

    assert_error(response, 409, "ALREADY_MEMBER")
    assert roles(team["organization"])[member.pk] == "member"
    assert not Invitation.objects.exists()  # it ends all the same


# --- What an inviter can no longer give ends -------------------------------------------------

INVITER_CHANGES = [
    # (how the admin who invited is changed, the roles of their invitations that survive)
    ("removed", ("delete", "/members/{admin}", None), set()),
    ("leaves", ("post", "/leave", None), set()),
    ("demoted", ("patch", "/members/{admin}", {"role": "member"}), {"member"}),
]


@pytest.mark.parametrize(("change", "request_", "surviving"), INVITER_CHANGES)
def test_an_inviters_invitations_end_with_what_they_may_give(
    team, send, client_for, invitation_factory, change, request_, surviving
):
    organization, admin = team["organization"], team["admin"]
    tokens = {
        role: invitation_factory(organization, f"{role}@example.com", role=role, by=admin)[1]
        for role in ("admin", "member")
    }
    invitation_factory(organization, "owners-guest@example.com", by=team["owner"])
    method, path, body = request_
    who = "admin" if change == "leaves" else "owner"
    url = f"/api/user/organizations/{organization.pk}" + path.format(admin=admin.pk)

    response = send(client_for(team[who]), method, url, body)

    assert response.status_code == 200, response.content
    assert set(Invitation.objects.values_list("email", flat=True)) == {
        "owners-guest@example.com",
        *(f"{role}@example.com" for role in surviving),
    }
    for role, token in tokens.items():
        status = 200 if role in surviving else 404
        assert APIClient().get(f"/api/invitations/{token}").status_code == status, role
    withdrawn = actions(organization, "invitation.withdrawn")
    assert len(withdrawn) == 2 - len(surviving)
    reason = "inviter_demoted" if change == "demoted" else "inviter_left"
    assert {event.detail["reason"] for event in withdrawn} == {reason}


def test_a_link_whose_inviter_no_longer_may_give_its_role_is_not_found(
    team, client_for, user_factory, invitation_factory
):
    # Demoted behind the services' back (an operator's shell): the link checks on its own.
    organization, admin = team["organization"], team["admin"]
    _invitation, token = invitation_factory(organization, GUEST, role=Role.ADMIN, by=admin)
    Membership.objects.filter(user=admin).update(role=Role.MEMBER)
    guest = user_factory(email=GUEST)

    assert_error(APIClient().get(f"/api/invitations/{token}"), 404, "NOT_FOUND")
    response = client_for(guest).post(f"/api/invitations/{token}/accept")

    assert_error(response, 404, "NOT_FOUND")
    assert guest.pk not in roles(organization)


def test_resending_needs_a_verified_sender_and_names_them(
    team, send, client_for, invitation_factory
):
    organization, admin = team["organization"], team["admin"]
    invitation, _token = invitation_factory(organization, GUEST, by=team["owner"])
    url = f"{base(organization)}/{invitation.pk}/resend"
    User.objects.filter(pk=admin.pk).update(is_verified=False)

    refused = send(client_for(admin), "post", url)
    User.objects.filter(pk=admin.pk).update(is_verified=True)
    resent = send(client_for(admin), "post", url)

    assert_error(refused, 403, "EMAIL_NOT_VERIFIED")
    assert resent.status_code == 200, resent.content
    assert resent.json()["data"]["inviter"]["userId"] == admin.pk
    (message,) = mail.outbox
    assert admin.email in message.body


def test_invitation_mail_has_a_budget_of_its_own_per_address(
    team, send, client_for, settings, org_factory
):
    set_rates(settings, INVITATION_RECIPIENT="2/day", EMAIL_RECIPIENT="1/hour")
    owner = team["owner"]
    organizations = [team["organization"], org_factory(owner=owner), org_factory(owner=owner)]

    for organization in organizations:
        response = send(client_for(owner), "post", base(organization), {"email": GUEST})
        assert response.status_code == 201, response.content
    send(APIClient(), "post", "/api/auth/request-password-reset", {"email": owner.email})

    # Two invitations went out, the third was held back, whichever organization sent it;
    # the invitations spent nothing of the reset and verification mails' budget.
    assert len(links_to(GUEST)) == 2
    assert Invitation.objects.count() == 3
    assert [m.to for m in mail.outbox if m.to != [GUEST]] == [[owner.email]]


def test_a_refused_cross_origin_call_logs_and_audits_no_token(
    team, invitation_factory, caplog, settings
):
    _invitation, token = invitation_factory(team["organization"], GUEST)
    client = APIClient()

    response = client.post(
        f"/api/invitations/{token}/decline", HTTP_ORIGIN="https://elsewhere.example"
    )

    assert_error(response, 403, "CROSS_ORIGIN_REQUEST")
    secret = token.partition(".")[2]
    assert secret not in caplog.text
    assert "/api/invitations/{token}/decline" in caplog.text
    assert secret not in str(list(AuditEvent.objects.values_list("detail", flat=True)))
    assert Invitation.objects.exists()


# --- POST /api/invitations/{token}/decline ----------------------------------------------------


@pytest.mark.parametrize("who", [None, "outsider"])
def test_whoever_holds_the_link_declines_it(team, send, client_for, invitation_factory, who):
    organization = team["organization"]
    _invitation, token = invitation_factory(organization, GUEST, by=team["owner"])
    client = client_for(team[who]) if who else APIClient()

    response = send(client, "post", f"/api/invitations/{token}/decline")

    assert response.status_code == 200, response.content
    assert response.json()["message"] == "Invitation declined"
    assert not Invitation.objects.exists()
    (event,) = actions(organization, "invitation.declined")
    assert event.actor_id == (team[who].pk if who else None)
    assert_error(APIClient().get(f"/api/invitations/{token}"), 404, "NOT_FOUND")


# --- Sign-up from an invitation ---------------------------------------------------------------


def sign_up(send, token: str, email: str = GUEST) -> Any:
    return send(
        APIClient(),
        "post",
        "/api/auth/sign-up/email",
        {"email": email, "password": PASSWORD, "name": "Gwen Guest", "invitationToken": token},
    )


def test_signing_up_from_an_invitation_joins_that_organization_verified(
    team, send, invitation_factory
):
    organization = team["organization"]
    _invitation, token = invitation_factory(organization, GUEST, role=Role.ADMIN)
    organizations_before = Organization.objects.count()

    response = sign_up(send, token, email="GUEST@example.com")

    assert response.status_code == 200, response.content
    body = response.json()
    assert body["message"] == "Account created and invitation accepted."
    assert (body["data"]["isVerified"], body["data"]["organizationCount"]) == (True, 1)
    guest = User.objects.get(email="GUEST@example.com")
    assert list(guest.memberships.values_list("organization_id", "role")) == [
        (organization.pk, "admin")
    ]
    assert Organization.objects.count() == organizations_before  # none of their own
    assert not Invitation.objects.exists()
    assert [m.subject for m in mail.outbox] == [f"You joined {organization.name}"]
    assert AuditEvent.objects.get(action="user.signed_up").detail == {
        "invitationId": _invitation.pk
    }


@pytest.mark.parametrize(
    ("email", "token_kind", "status", "code"),
    [
        ("someone.else@example.com", "valid", 403, "INVITATION_EMAIL_MISMATCH"),
        (GUEST, "tampered", 400, "INVALID_TOKEN"),
        (GUEST, "expired", 400, "INVALID_TOKEN"),
    ],
)
def test_signing_up_from_a_bad_invitation_creates_nothing(
    team, send, invitation_factory, email, token_kind, status, code
):
    _invitation, token = invitation_factory(
        team["organization"], GUEST, expires_in=-1 if token_kind == "expired" else 3600
    )
    if token_kind == "tampered":
        token = spoiled(token)["tampered signature"]
    users = User.objects.count()

    response = sign_up(send, token, email=email)

    assert_error(response, status, code)
    assert User.objects.count() == users
    assert Invitation.objects.exists()
    assert mail.outbox == []
