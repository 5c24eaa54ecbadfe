"""Invitations in the dashboard, as a browser sees them: the invite form and the pending
invitations on the Members page (resend, withdraw), the emailed link and the page it leads to
(accept, decline, switch account, sign up or in from it), the email itself, and the New
organization page."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any
from urllib.parse import quote

import pytest
from django.conf import settings as django_settings
from django.core import mail
from django.test import Client
from django.urls import reverse
from django.utils import dateformat, timezone

from accounts.models import User
from audit.models import AuditEvent
from tenants.models import Invitation, Membership, Organization, Role
from tests.conftest import PASSWORD, set_rates
from tests.dashboard.helpers import (
    HOME,
    LANDING,
    SIGN_IN,
    SIGN_UP,
    assert_rate_limited,
    field_errors,
    input_tag,
    page_html,
    require_verification,
    sign_in,
    signed_in_as,
)

pytestmark = pytest.mark.django_db

PUBLIC_URL = "https://latchkey.example.com"
ORG_NAME = "Acme Rockets"
INVITED = "guest@example.com"
INVITATION = "/invitation"
NEW_ORGANIZATION = "/organizations/new"
NOT_VALID = "This invitation is not valid"
ACCESS_DENIED = "You do not have access to this"
NOT_A_MEMBER = "You are not a member of this organization."
ROLE_REFUSED = "Your role does not allow this."
NOT_FOUND = "We could not find that page"
ALREADY_MEMBER = "This person is already a member of the organization."
EMAIL_MISMATCH = (
    "This invitation was sent to another email address: sign in with that address to accept it."
)
ANOTHER_ADDRESS = "This invitation is for another email address."
ACCEPT_BUTTON = '<button class="button block" type="submit" name="action" value="accept">'
SWITCH_BUTTON = 'name="action" value="switch">Sign in as someone else</button>'
VERIFY_SUBJECT = "Verify your email address for Latchkey"
FULL_NAMES = {
    "owner": "Olive Owner",
    "admin": "Adam Admin",
    "member": "Mia Member",
    "outsider": "Otto Outsider",
}


@pytest.fixture(autouse=True)
def _public_url(settings: Any) -> None:
    # Links are built from PUBLIC_URL, never from the request's Host: a value that is not
    # the test client's host shows which one the email used.
    settings.PUBLIC_URL = PUBLIC_URL


@pytest.fixture
def crew(team: dict[str, Any]) -> dict[str, Any]:
    """The team, its organization called ORG_NAME, everyone with a distinct full name."""
    organization = team["organization"]
    organization.name = ORG_NAME
    organization.save()
    for who, name in FULL_NAMES.items():
        team[who].full_name = name
        team[who].save(update_fields=["full_name"])
    return team


@pytest.fixture
def committed(django_capture_on_commit_callbacks) -> Callable[..., Any]:
    """POST as a browser, and run what the request left for after its commit (the emails)."""

    def post(client: Client, path: str, data: dict[str, str] | None = None) -> Any:
        with django_capture_on_commit_callbacks(execute=True):
            return client.post(path, data or {})

    return post


@pytest.fixture
def invite(committed) -> Callable[..., Any]:
    """Send the Members page's invite form, with its emails."""

    def post(
        client: Client, organization: Organization, email: str = INVITED, role: str = Role.MEMBER
    ) -> Any:
        return committed(client, url("invite", organization.pk), {"email": email, "role": role})

    return post


def url(name: str, *args: str) -> str:
    return reverse(f"dashboard:{name}", args=args)


def html(response: Any) -> str:
    return page_html(response)


def link_path(token: str) -> str:
    return f"/invitations/{token}"


def emailed_token(message: Any) -> str:
    """The token of the one link in an email, which must be PUBLIC_URL + /invitations/<token>."""
    links = re.findall(r"https?://\S+", message.body)
    assert len(links) == 1, message.body
    match = re.fullmatch(rf"{re.escape(PUBLIC_URL)}/invitations/([^/\s]+)", links[0])
    assert match, links[0]
    return match.group(1)


def follow_link(client: Client, token: str) -> Any:
    """Open the emailed link: it only moves the token, then the invitation page."""
    moved = client.get(link_path(token))
    assert moved.status_code == 302
    assert moved["Location"] == INVITATION
    return client.get(INVITATION)


def assert_not_valid(response: Any) -> None:
    assert response.status_code == 400
    assert NOT_VALID in html(response)
    assert ACCEPT_BUTTON not in html(response)
    assert "Create an account" not in html(response)


def messages_on(client: Client, response: Any) -> list[tuple[str, str]]:
    """The redirect followed: each message shown there, as (kind, text)."""
    assert response.status_code == 302, response.status_code
    shown = client.get(response["Location"], follow=True)
    assert shown.status_code == 200
    return re.findall(r'<li class="notice ([^"]*)">(.*?)</li>', html(shown), flags=re.DOTALL)


def the_message(client: Client, response: Any, kind: str) -> str:
    shown = messages_on(client, response)
    texts = [text for tags, text in shown if kind in tags.split()]
    assert len(texts) == 1, shown
    return texts[0]


def invite_form(response: Any, organization: Organization) -> str | None:
    """The invite form on the Members page, None without it."""
    action = re.escape(url("invite", organization.pk))
    form = re.search(rf'<form\b[^>]*\baction="{action}"[^>]*>(.*?)</form>', html(response), re.S)
    return form.group(1) if form else None


def offered_roles(form: str) -> set[str]:
    select = re.search(r'<select\b[^>]*\bname="role"[^>]*>(.*?)</select>', form, re.S)
    assert select, "the invite form has no role select"
    return set(re.findall(r'<option\b[^>]*\bvalue="([^"]*)"', select.group(1)))


def pending_rows(response: Any) -> dict[str, str]:
    """The pending invitations table's rows, by the address each shows."""
    table = re.search(
        r"<h2\b[^>]*>\s*Pending invitations\s*</h2>(.*?)</table>", html(response), re.S
    )
    if table is None:
        return {}
    rows = re.findall(r"<tr\b[^>]*>\s*<td\b[^>]*>([^<]+)</td>(.*?)</tr>", table.group(1), re.S)
    return dict(rows)


def switcher(response: Any) -> str:
    """The organization switcher's menu."""
    menu = re.search(
        r'<details\b[^>]*\bclass="[^"]*\bswitcher\b[^"]*"[^>]*>(.*?)</details>',
        html(response),
        re.S,
    )
    assert menu, "no organization switcher"
    return menu.group(1)


def members_page(client: Client, organization: Organization) -> Any:
    response = client.get(url("members", organization.pk))
    assert response.status_code == 200
    return response


def memberships(user: User) -> list[tuple[str, str]]:
    return list(Membership.objects.filter(user=user).values_list("organization_id", "role"))


def the_event(action: str) -> AuditEvent:
    [event] = AuditEvent.objects.filter(action=action)
    return event


def state() -> tuple:
    """Everything an invitation page could change."""
    return (
        sorted(Invitation.objects.values_list("pk", "sent_at", "role")),
        sorted(Membership.objects.values_list("organization_id", "user_id", "role")),
        User.objects.count(),
        Organization.objects.count(),
    )


# --- The invite form ---------------------------------------------------------------------------

# (viewer, the roles the invite form offers; None: no form)
INVITE_FORMS = [
    ("owner", {"owner", "admin", "member"}),
    ("admin", {"admin", "member"}),
    ("member", None),
]


@pytest.mark.parametrize(("viewer", "offered"), INVITE_FORMS)
def test_owners_and_admins_see_the_invite_form_with_the_roles_they_may_give(
    browser, crew, viewer, offered
):
    response = members_page(browser(crew[viewer]), crew["organization"])

    form = invite_form(response, crew["organization"])
    if offered is None:
        assert form is None
        assert "Invite someone" not in html(response)
        assert "Send invitation" not in html(response)
    else:
        assert "Invite someone" in html(response)
        assert 'name="email"' in form
        assert offered_roles(form) == offered
        assert '<option value="member" selected>' in form
        assert "expires in 7 days" in html(response)


# Every invitation route, and what each is sent.
ROUTES = ["invite", "invitation-resend", "invitation-withdraw"]


def route_url(name: str, organization: Organization, invitation: Invitation) -> str:
    if name == "invite":
        return url(name, organization.pk)
    return url(name, organization.pk, invitation.pk)


@pytest.mark.parametrize(
    ("who", "message"),
    [("member", ROLE_REFUSED), ("outsider", NOT_A_MEMBER)],
)
@pytest.mark.parametrize("name", ROUTES)
def test_those_who_may_not_manage_invitations_are_refused(
    browser, crew, invitation_factory, committed, who, message, name
):
    invitation, _ = invitation_factory(crew["organization"], "held@example.com", by=crew["owner"])
    before = state()

    response = committed(
        browser(crew[who]),
        route_url(name, crew["organization"], invitation),
        {"email": INVITED, "role": Role.MEMBER},
    )

    assert response.status_code == 403
    assert ACCESS_DENIED in html(response)
    assert message in html(response)
    assert state() == before
    assert mail.outbox == []
    assert not AuditEvent.objects.filter(action__startswith="invitation.").exists()


@pytest.mark.parametrize("name", ROUTES)
def test_a_signed_out_visitor_is_sent_to_sign_in(browser, crew, invitation_factory, name):
    invitation, _ = invitation_factory(crew["organization"], "held@example.com", by=crew["owner"])
    path = route_url(name, crew["organization"], invitation)
    before = state()

    response = browser().post(path, {"email": INVITED, "role": Role.MEMBER})

    assert response.status_code == 302
    assert response["Location"] == f"{SIGN_IN}?next={quote(path, safe='/')}"
    assert state() == before


@pytest.mark.parametrize(
    ("inviter", "role"),
    [("owner", Role.OWNER), ("owner", Role.ADMIN), ("admin", Role.ADMIN), ("admin", Role.MEMBER)],
)
def test_inviting_emails_a_link_and_lists_the_invitation(browser, crew, invite, inviter, role):
    organization = crew["organization"]
    client = browser(crew[inviter])

    response = invite(client, organization, role=role)

    assert response.status_code == 302
    assert response["Location"] == url("members", organization.pk)
    invitation = Invitation.objects.get()
    assert (invitation.organization_id, invitation.email, invitation.role) == (
        organization.pk,
        INVITED,
        role,
    )
    assert invitation.invited_by_id == crew[inviter].pk
    assert len(mail.outbox) == 1
    assert mail.outbox[0].to == [INVITED]
    token = emailed_token(mail.outbox[0])
    assert token.startswith(f"{invitation.pk}.")
    assert the_message(client, response, "success") == f"Invitation sent to {INVITED}."

    row = pending_rows(members_page(client, organization))[INVITED]
    assert f'<span class="badge role">{Role(role).label}</span>' in row
    assert FULL_NAMES[inviter] in row
    expiry = dateformat.format(timezone.localtime(invitation.expires_at), "j M Y")
    assert f">{expiry}</time>" in row
    assert "Resend" in row and "Withdraw" in row
    event = the_event("invitation.created")
    assert (event.actor_id, event.organization_id) == (crew[inviter].pk, organization.pk)

    # The emailed link leads to this invitation.
    page = follow_link(browser(), token)
    assert page.status_code == 200
    assert f"Join {ORG_NAME}" in html(page)


def test_an_admin_cannot_invite_an_owner(browser, crew, invite):
    before = state()

    response = invite(browser(crew["admin"]), crew["organization"], role=Role.OWNER)

    assert response.status_code in (400, 403)
    if response.status_code == 400:
        assert field_errors(response, "role")
    else:
        assert ACCESS_DENIED in html(response)
    assert state() == before
    assert mail.outbox == []


@pytest.mark.parametrize(
    ("target", "spelling"),
    [
        ("member", str.lower),
        ("admin", str.lower),
        ("owner", str.lower),
        ("member", str.upper),
    ],
)
def test_inviting_a_member_is_refused_on_the_email_field(browser, crew, invite, target, spelling):
    before = state()

    response = invite(browser(crew["owner"]), crew["organization"], spelling(crew[target].email))

    assert response.status_code == 400
    assert field_errors(response, "email") == [ALREADY_MEMBER]
    # The form comes back with what was typed.
    assert f'value="{spelling(crew[target].email)}"' in input_tag(response, "email")
    assert state() == before
    assert mail.outbox == []


@pytest.mark.parametrize(
    "email",
    [
        "",
        "not-an-address",
        "guest@",
        "@example.com",
        "guest@exa mple.com",
        "\uff47uest@example.com",  # a fullwidth g
        f"{'x' * 250}@example.com",
    ],
    ids=["blank", "no-at", "no-domain", "no-local", "space", "look-alike", "too-long"],
)
def test_a_bad_address_is_refused_on_the_email_field(browser, crew, invite, email):
    before = state()

    response = invite(browser(crew["owner"]), crew["organization"], email)

    assert response.status_code == 400
    assert field_errors(response, "email")
    assert invite_form(response, crew["organization"]) is not None
    assert state() == before
    assert mail.outbox == []


def test_an_unverified_inviter_is_told_to_verify_first(browser, crew, invite):
    crew["owner"].is_verified = False
    crew["owner"].save(update_fields=["is_verified"])
    before = state()

    response = invite(browser(crew["owner"]), crew["organization"])

    assert response.status_code == 400
    assert "Verify your email address before inviting anyone." in html(response)
    assert state() == before
    assert mail.outbox == []


# (the budget, whether another inviter in the organization may still invite once it is spent)
BUDGETS = [("INVITATIONS", True), ("INVITATIONS_ORGANIZATION", False)]


@pytest.mark.parametrize(("budget", "others_may"), BUDGETS)
def test_an_invitation_budget_once_spent_gives_429(
    settings, one_ratelimit_window, browser, crew, invite, budget, others_may
):
    set_rates(settings, **{budget: "2/hour"})
    organization = crew["organization"]
    client = browser(crew["owner"])
    for n in range(2):
        assert invite(client, organization, f"guest{n}@example.com").status_code == 302

    response = invite(client, organization, "guest9@example.com")

    assert response.status_code == 429
    notice = re.search(
        r'<div class="notice warning" role="alert">Too many invitations sent\. Please wait '
        r"(\d+) (second|minute)s? and try again\.</div>",
        html(response),
    )
    assert notice, "no friendly 429 notice"
    assert int(response["Retry-After"]) >= 1
    unit = 1 if notice.group(2) == "second" else 60
    assert int(notice.group(1)) * unit >= int(response["Retry-After"])
    assert invite_form(response, organization) is not None
    assert not Invitation.objects.filter(email="guest9@example.com").exists()
    assert len(mail.outbox) == 2

    other = invite(browser(crew["admin"]), organization, "guest8@example.com")

    assert other.status_code == (302 if others_may else 429)
    assert Invitation.objects.filter(email="guest8@example.com").exists() is others_may


def test_inviting_the_same_address_again_replaces_the_invitation(browser, crew, invite):
    organization = crew["organization"]
    client = browser(crew["owner"])
    assert invite(client, organization, role=Role.MEMBER).status_code == 302
    first = emailed_token(mail.outbox[0])

    assert invite(client, organization, role=Role.ADMIN).status_code == 302

    assert list(Invitation.objects.values_list("email", "role")) == [(INVITED, Role.ADMIN)]
    assert len(pending_rows(members_page(client, organization))) == 1
    assert_not_valid(follow_link(browser(), first))
    assert follow_link(browser(), emailed_token(mail.outbox[1])).status_code == 200


# --- Resend and withdraw ------------------------------------------------------------------------


def test_resend_sends_a_new_link_and_the_old_one_stops_working(browser, crew, invite, committed):
    organization = crew["organization"]
    client = browser(crew["owner"])
    assert invite(client, organization).status_code == 302
    members_page(client, organization)  # shows (and so clears) the "Invitation sent" message
    invitation = Invitation.objects.get()
    old = emailed_token(mail.outbox[0])

    response = committed(client, url("invitation-resend", organization.pk, invitation.pk))

    assert response.status_code == 302
    assert response["Location"] == url("members", organization.pk)
    assert the_message(client, response, "success") == "Invitation sent again."
    assert len(mail.outbox) == 2
    assert mail.outbox[1].to == [INVITED]
    new = emailed_token(mail.outbox[1])
    assert new != old
    assert_not_valid(follow_link(browser(), old))
    again = follow_link(browser(), new)
    assert again.status_code == 200
    assert f"Join {ORG_NAME}" in html(again)
    assert Invitation.objects.get().pk == invitation.pk
    assert the_event("invitation.resent").target_id == invitation.pk


def test_withdraw_removes_the_invitation_and_its_link(browser, crew, invite, committed):
    organization = crew["organization"]
    client = browser(crew["owner"])
    assert invite(client, organization).status_code == 302
    members_page(client, organization)  # shows (and so clears) the "Invitation sent" message
    invitation = Invitation.objects.get()
    token = emailed_token(mail.outbox[0])

    response = committed(client, url("invitation-withdraw", organization.pk, invitation.pk))

    assert response.status_code == 302
    assert response["Location"] == url("members", organization.pk)
    assert the_message(client, response, "success") == "Invitation withdrawn."
    assert not Invitation.objects.exists()
    assert INVITED not in pending_rows(members_page(client, organization))
    assert INVITED not in html(members_page(client, organization))
    assert_not_valid(follow_link(browser(), token))
    assert len(mail.outbox) == 1
    assert the_event("invitation.withdrawn").actor_id == crew["owner"].pk


@pytest.mark.parametrize("name", ["invitation-resend", "invitation-withdraw"])
def test_an_admin_cannot_resend_or_withdraw_an_owner_invitation(
    browser, crew, invitation_factory, committed, name
):
    organization = crew["organization"]
    invitation, token = invitation_factory(
        organization, INVITED, role=Role.OWNER, by=crew["owner"]
    )
    client = browser(crew["admin"])
    row = pending_rows(members_page(client, organization))[INVITED]
    assert '<span class="badge role">Owner</span>' in row
    assert "Resend" not in row and "Withdraw" not in row
    before = state()

    response = committed(client, url(name, organization.pk, invitation.pk))

    assert response.status_code == 403
    assert ROLE_REFUSED in html(response)
    assert state() == before
    assert mail.outbox == []
    assert follow_link(browser(), token).status_code == 200


def test_resending_an_expired_invitation_brings_it_back(
    browser, crew, invitation_factory, committed
):
    organization = crew["organization"]
    invitation, old = invitation_factory(organization, INVITED, by=crew["admin"], expires_in=-1)
    client = browser(crew["owner"])
    row = pending_rows(members_page(client, organization))[INVITED]
    assert '<span class="badge expired">Expired</span>' in row

    response = committed(client, url("invitation-resend", organization.pk, invitation.pk))

    assert response.status_code == 302
    assert len(mail.outbox) == 1
    new = emailed_token(mail.outbox[0])
    assert new != old
    assert follow_link(browser(), new).status_code == 200
    assert_not_valid(follow_link(browser(), old))
    row = pending_rows(members_page(client, organization))[INVITED]
    assert "Expired" not in row
    assert "<time datetime=" in row


def test_an_admin_cannot_replace_an_owner_invitation(browser, crew, invitation_factory, invite):
    organization = crew["organization"]
    _, token = invitation_factory(organization, INVITED, role=Role.OWNER, by=crew["owner"])
    before = state()

    response = invite(browser(crew["admin"]), organization, INVITED, Role.MEMBER)

    assert response.status_code == 403
    assert ROLE_REFUSED in html(response)
    assert state() == before
    assert mail.outbox == []
    assert follow_link(browser(), token).status_code == 200


@pytest.mark.parametrize("name", ["invitation-resend", "invitation-withdraw"])
def test_another_organizations_invitation_is_not_found(
    browser, crew, invitation_factory, committed, name
):
    foreign_organization = crew["outsider"].memberships.get().organization
    foreign, token = invitation_factory(foreign_organization, INVITED, by=crew["outsider"])
    before = state()

    response = committed(browser(crew["owner"]), url(name, crew["organization"].pk, foreign.pk))

    assert response.status_code == 404
    assert NOT_FOUND in html(response)
    assert state() == before
    assert mail.outbox == []
    assert follow_link(browser(), token).status_code == 200


# --- The link ---------------------------------------------------------------------------------


def test_the_link_moves_its_token_out_of_the_url(browser, crew, invitation_factory):
    _, token = invitation_factory(crew["organization"], INVITED, by=crew["owner"])
    client = browser()

    moved = client.get(link_path(token))

    assert moved.status_code == 302
    assert moved["Location"] == INVITATION
    assert "no-store" in moved["Cache-Control"]
    page = client.get(INVITATION)
    assert page.status_code == 200
    assert "no-store" in page["Cache-Control"]
    assert f"Join {ORG_NAME}" in html(page)
    signature = token.partition(".")[2]
    assert signature not in html(page)
    assert signature not in page.content.decode()


def unusable_token(kind: str, crew: dict[str, Any], invitation_factory, browser) -> str:
    """A link that leads nowhere, of the kind named."""
    organization = crew["organization"]
    if kind == "expired":
        return invitation_factory(organization, INVITED, by=crew["owner"], expires_in=-1)[1]
    invitation, token = invitation_factory(organization, INVITED, by=crew["owner"])
    pk, _, signature = token.partition(".")
    if kind == "tampered":
        return f"{pk}.{signature[:-1]}{'1' if signature[-1] == '0' else '0'}"
    if kind == "another-invitation":
        other, _ = invitation_factory(organization, "other@example.com", by=crew["owner"])
        return f"{other.pk}.{signature}"
    if kind == "unsigned":
        return f"{pk}."
    if kind == "malformed":
        return "not-a-token"
    if kind == "oversized":
        return f"{pk}.{signature * 10}"
    if kind == "withdrawn":
        withdrawn = browser(crew["owner"]).post(
            url("invitation-withdraw", organization.pk, invitation.pk)
        )
        assert withdrawn.status_code == 302
        return token
    raise AssertionError(kind)


UNUSABLE = [
    "expired",
    "tampered",
    "another-invitation",
    "unsigned",
    "malformed",
    "oversized",
    "withdrawn",
]


@pytest.mark.parametrize("kind", UNUSABLE)
@pytest.mark.parametrize("action", [None, "accept", "decline"])
@pytest.mark.parametrize("signed_in", [False, True])
def test_an_unusable_link_shows_the_not_valid_page(
    browser, crew, invitation_factory, user_factory, kind, action, signed_in
):
    token = unusable_token(kind, crew, invitation_factory, browser)
    client = browser(user_factory(email=INVITED) if signed_in else None)
    before = state()
    events = AuditEvent.objects.count()
    assert client.get(link_path(token))["Location"] == INVITATION

    response = (
        client.get(INVITATION) if action is None else client.post(INVITATION, {"action": action})
    )

    assert_not_valid(response)
    assert state() == before
    assert AuditEvent.objects.count() == events


def test_the_invitation_page_without_a_link_is_not_valid(browser, crew):
    assert_not_valid(browser().get(INVITATION))
    assert_not_valid(browser(crew["member"]).get(INVITATION))


# --- Signed out: sign up or sign in from the invitation ---------------------------------------


@pytest.fixture
def invited(crew, invitation_factory) -> dict[str, Any]:
    """An invitation from the owner to INVITED, as an admin, and its token."""
    invitation, token = invitation_factory(
        crew["organization"], INVITED, role=Role.ADMIN, by=crew["owner"]
    )
    return {**crew, "invitation": invitation, "token": token}


def test_signed_out_the_page_names_the_organization_the_inviter_and_the_role(browser, invited):
    response = follow_link(browser(), invited["token"])

    assert response.status_code == 200
    body = html(response)
    assert f"<h1>Join {ORG_NAME}</h1>" in body
    assert f"<dt>Organization</dt><dd>{ORG_NAME}</dd>" in body
    assert f"<dt>Invited by</dt><dd>{FULL_NAMES['owner']}</dd>" in body
    assert '<dt>Role</dt><dd><span class="badge role">Admin</span></dd>' in body
    assert f"<strong>{INVITED}</strong>" in body
    assert f'<a class="button block" href="{SIGN_UP}">Create an account</a>' in body
    assert re.search(rf'<a\b[^>]*href="{SIGN_IN}\?next={INVITATION}"[^>]*>[^<]*sign in</a>', body)
    assert ACCEPT_BUTTON not in body
    assert 'value="decline">Decline this invitation</button>' in body


def test_sign_up_from_the_invitation_prefills_the_invited_address(browser, invited):
    client = browser()
    follow_link(client, invited["token"])

    response = client.get(SIGN_UP)

    assert response.status_code == 200
    assert f'value="{INVITED}"' in input_tag(response, "email")
    assert f"you join <strong>{ORG_NAME}</strong> as admin." in html(response)
    assert "You get an organization of your own" not in html(response)


def test_sign_up_without_an_invitation_prefills_nothing(browser, invited):
    response = browser().get(SIGN_UP)

    assert response.status_code == 200
    assert "value=" not in input_tag(response, "email")
    assert ORG_NAME not in html(response)


@pytest.mark.parametrize("role", [Role.OWNER, Role.ADMIN, Role.MEMBER])
@pytest.mark.parametrize("spelling", [INVITED, INVITED.upper()], ids=["as-invited", "upper"])
@pytest.mark.parametrize("verification", [False, True], ids=["optional", "required"])
def test_signing_up_from_the_invitation_joins_that_organization_and_no_other(
    settings, browser, invited, committed, role, spelling, verification
):
    # Even where an account must verify its address before signing in: the link proved it.
    if verification:
        require_verification(settings)
    invitation, organization = invited["invitation"], invited["organization"]
    Invitation.objects.filter(pk=invitation.pk).update(role=role)
    organizations = Organization.objects.count()
    client = browser()
    follow_link(client, invited["token"])

    response = committed(
        client, SIGN_UP, {"name": "Gail Guest", "email": spelling, "password": PASSWORD}
    )

    assert response.status_code == 302
    assert response["Location"] == url("projects", organization.pk)
    user = User.objects.get(full_name="Gail Guest")
    assert user.is_verified is True
    assert memberships(user) == [(organization.pk, role)]
    assert Organization.objects.count() == organizations
    assert signed_in_as(client) == user.pk
    assert not Invitation.objects.exists()
    assert VERIFY_SUBJECT not in [message.subject for message in mail.outbox]
    assert all("/verify-email/" not in message.body for message in mail.outbox)
    event = the_event("member.added")
    assert (event.organization_id, event.target_id) == (organization.pk, user.pk)
    assert event.detail["role"] == role
    assert the_message(client, response, "success") == f"You joined {ORG_NAME}."
    landed = client.get(response["Location"])
    assert landed.status_code == 200
    # The new account's switcher holds that one organization.
    assert re.findall(r'href="(/organizations/[^"]+/projects)"', switcher(landed)) == [
        url("projects", organization.pk)
    ]
    assert_not_valid(follow_link(browser(), invited["token"]))


@pytest.mark.parametrize(
    "email", ["someone@example.com", "guest@example.org", "guest+x@example.com"]
)
def test_signing_up_from_the_invitation_with_another_address_is_an_ordinary_sign_up(
    browser, invited, committed, email
):
    """A link someone else sent cannot steer a sign-up: with another address the account is
    an ordinary one, unverified and with an organization of its own, and the invitation stays
    for the address it was sent to."""
    organization = invited["organization"]
    client = browser()
    follow_link(client, invited["token"])

    response = committed(
        client, SIGN_UP, {"name": "Gail Guest", "email": email, "password": PASSWORD}
    )

    assert response.status_code == 302
    user = User.objects.get(full_name="Gail Guest")
    assert (user.email, user.is_verified) == (email, False)
    assert signed_in_as(client) == user.pk
    assert not Membership.objects.filter(organization=organization, user=user).exists()
    assert [m.role for m in user.memberships.all()] == [Role.OWNER]
    assert Invitation.objects.filter(pk=invited["invitation"].pk).exists()
    assert [message.to for message in mail.outbox] == [[email]]  # the verification link
    # The session no longer holds the invitation.
    assert_not_valid(client.get(INVITATION))


def test_signing_up_with_the_invited_address_of_an_existing_account_is_refused(
    browser, invited, user_factory, committed
):
    user_factory(email=INVITED)
    client = browser()
    follow_link(client, invited["token"])
    before = state()

    response = committed(
        client, SIGN_UP, {"name": "Gail Guest", "email": INVITED, "password": PASSWORD}
    )

    assert response.status_code == 400
    assert field_errors(response, "email") == ["An account with this email already exists."]
    assert state() == before
    assert mail.outbox == []


def test_sign_in_from_the_invitation_prefills_the_invited_address(browser, invited):
    client = browser()
    follow_link(client, invited["token"])

    response = client.get(f"{SIGN_IN}?next={INVITATION}")

    assert response.status_code == 200
    assert f'value="{INVITED}"' in input_tag(response, "email")
    assert f'<input type="hidden" name="next" value="{INVITATION}">' in html(response)
    assert f"Sign in as {INVITED} to join <strong>{ORG_NAME}</strong>." in html(response)


# --- Signed in: accept, or switch accounts ------------------------------------------------------


@pytest.mark.parametrize("verified", [True, False])
def test_accepting_with_the_invited_address_joins_and_verifies_it(
    browser, invited, user_factory, org_factory, committed, verified
):
    organization = invited["organization"]
    user = user_factory(email=INVITED, verified=verified)
    own = org_factory(owner=user)
    client = browser(user)
    page = follow_link(client, invited["token"])
    assert page.status_code == 200
    assert ACCEPT_BUTTON in html(page)
    assert ANOTHER_ADDRESS not in html(page)

    response = committed(client, INVITATION, {"action": "accept"})

    assert response.status_code == 302
    assert response["Location"] == url("projects", organization.pk)
    assert sorted(memberships(user)) == sorted(
        [(own.pk, Role.OWNER), (organization.pk, Role.ADMIN)]
    )
    user.refresh_from_db()
    assert user.is_verified is True
    assert not Invitation.objects.exists()
    event = the_event("member.added")
    assert (event.actor_id, event.organization_id) == (user.pk, organization.pk)
    assert AuditEvent.objects.filter(action="user.email_verified").exists() is not verified
    assert the_message(client, response, "success") == f"You joined {ORG_NAME}."
    assert_not_valid(follow_link(client, invited["token"]))


def test_an_invited_person_already_a_member_is_told_so(
    browser, invited, user_factory, member_factory, committed
):
    user = member_factory(invited["organization"], user=user_factory(email=INVITED))
    client = browser(user)

    page = follow_link(client, invited["token"])

    assert page.status_code == 200
    assert f"You are already a member of {ORG_NAME}." in html(page)
    assert ACCEPT_BUTTON not in html(page)
    response = committed(client, INVITATION, {"action": "accept"})
    assert response.status_code == 302
    assert response["Location"] == HOME
    assert the_message(client, response, "info") == f"You are already a member of {ORG_NAME}."
    assert memberships(user) == [(invited["organization"].pk, Role.MEMBER)]
    assert not AuditEvent.objects.filter(action="member.added").exists()


def test_signed_in_with_another_address_the_page_offers_to_switch(browser, invited):
    other = invited["outsider"]
    client = browser(other)

    response = follow_link(client, invited["token"])

    assert response.status_code == 200
    assert ANOTHER_ADDRESS in html(response)
    assert f"You are signed in as <strong>{other.email}</strong>" in html(response)
    assert SWITCH_BUTTON in html(response)
    assert ACCEPT_BUTTON not in html(response)


@pytest.mark.parametrize("who", ["outsider", "member"])
def test_accepting_signed_in_with_another_address_does_not_join(browser, invited, committed, who):
    client = browser(invited[who])
    follow_link(client, invited["token"])
    before = state()

    response = committed(client, INVITATION, {"action": "accept"})

    assert response.status_code == 200
    # A member of the organization is told so; anyone else that the invitation is not theirs.
    shown = f"You are already a member of {ORG_NAME}." if who == "member" else ANOTHER_ADDRESS
    assert shown in html(response)
    assert ACCEPT_BUTTON not in html(response)
    assert state() == before
    assert not AuditEvent.objects.filter(action="member.added").exists()
    assert signed_in_as(client) == invited[who].pk


def test_switching_accounts_signs_out_and_comes_back_to_the_invitation(
    browser, invited, user_factory, committed
):
    person = user_factory(email=INVITED)
    client = browser(invited["outsider"])
    follow_link(client, invited["token"])
    old_session = client.cookies[django_settings.SESSION_COOKIE_NAME].value

    response = committed(client, INVITATION, {"action": "switch"})

    assert response.status_code == 302
    assert response["Location"] == f"{SIGN_IN}?next={INVITATION}"
    assert signed_in_as(client) is None
    assert client.cookies[django_settings.SESSION_COOKIE_NAME].value != old_session
    stale = Client()
    stale.cookies[django_settings.SESSION_COOKIE_NAME] = old_session
    assert stale.get(HOME)["Location"] == f"{SIGN_IN}?next={HOME}"
    assert memberships(invited["outsider"]) == [
        (invited["outsider"].memberships.get().organization_id, Role.OWNER)
    ]

    sign_in_page = client.get(response["Location"])
    assert sign_in_page.status_code == 200
    assert f'value="{INVITED}"' in input_tag(sign_in_page, "email")

    signed = sign_in(client, INVITED, next=INVITATION)
    assert signed.status_code == 302
    assert signed["Location"] == INVITATION
    assert signed_in_as(client) == person.pk
    page = client.get(INVITATION)
    assert page.status_code == 200
    assert ACCEPT_BUTTON in html(page)

    joined = committed(client, INVITATION, {"action": "accept"})
    assert joined["Location"] == url("projects", invited["organization"].pk)
    assert memberships(person) == [(invited["organization"].pk, Role.ADMIN)]


def test_switching_signed_out_does_nothing(browser, invited, committed):
    client = browser()
    follow_link(client, invited["token"])
    before = state()

    response = committed(client, INVITATION, {"action": "switch"})

    assert response.status_code == 200
    assert "Create an account" in html(response)
    assert state() == before


# --- Decline ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("who", "lands"),
    [(None, LANDING), ("invited", HOME), ("outsider", HOME)],
)
def test_declining_ends_the_invitation(browser, invited, user_factory, committed, who, lands):
    users = {None: None, "invited": user_factory(email=INVITED), "outsider": invited["outsider"]}
    user = users[who]
    client = browser(user)
    follow_link(client, invited["token"])
    people = Membership.objects.count()

    response = committed(client, INVITATION, {"action": "decline"})

    assert response.status_code == 302
    assert response["Location"] == lands
    assert not Invitation.objects.exists()
    assert Membership.objects.count() == people
    event = the_event("invitation.declined")
    assert event.organization_id == invited["organization"].pk
    assert event.target_id == invited["invitation"].pk
    assert event.actor_id == (user.pk if user else None)
    assert the_message(client, response, "success") == "Invitation declined."
    assert_not_valid(client.get(INVITATION))
    assert_not_valid(follow_link(browser(), invited["token"]))


# --- New organization ---------------------------------------------------------------------------


def test_the_new_organization_page_shows_its_form(browser, crew):
    response = browser(crew["member"]).get(NEW_ORGANIZATION)

    assert response.status_code == 200
    assert "<h1>New organization</h1>" in html(response)
    assert input_tag(response, "name")
    assert "Create organization</button>" in html(response)


@pytest.mark.parametrize("who", ["owner", "member"])
def test_creating_an_organization_makes_its_creator_the_owner(browser, crew, who):
    client = browser(crew[who])

    response = client.post(NEW_ORGANIZATION, {"name": "Bolt Labs"})

    created = Organization.objects.get(name="Bolt Labs")
    assert response.status_code == 302
    assert response["Location"] == url("projects", created.pk)
    assert list(created.memberships.values_list("user_id", "role")) == [(crew[who].pk, Role.OWNER)]
    assert the_message(client, response, "success") == "Organization “Bolt Labs” created."
    # The creator keeps the organizations they had.
    assert crew["organization"].memberships.filter(user=crew[who]).exists()


@pytest.mark.parametrize(
    "data", [{"name": ""}, {"name": "   "}, {}], ids=["blank", "spaces", "missing"]
)
def test_a_blank_organization_name_is_refused(browser, crew, data):
    organizations = Organization.objects.count()

    response = browser(crew["owner"]).post(NEW_ORGANIZATION, data)

    assert response.status_code == 400
    assert field_errors(response, "name")
    assert Organization.objects.count() == organizations


@pytest.mark.parametrize("method", ["GET", "POST"])
def test_the_new_organization_page_sends_a_visitor_to_sign_in(browser, crew, method):
    organizations = Organization.objects.count()
    client = browser()

    response = (
        client.get(NEW_ORGANIZATION)
        if method == "GET"
        else client.post(NEW_ORGANIZATION, {"name": "Bolt Labs"})
    )

    assert response.status_code == 302
    assert response["Location"] == f"{SIGN_IN}?next={NEW_ORGANIZATION}"
    assert Organization.objects.count() == organizations


@pytest.mark.parametrize(
    "page",
    [
        lambda o: url("projects", o.pk),
        lambda o: url("members", o.pk),
        lambda o: url("organization-settings", o.pk),
        lambda o: url("api-keys"),
        lambda o: url("password-change"),
        lambda o: NEW_ORGANIZATION,
    ],
    ids=["projects", "members", "settings", "api-keys", "password", "new-organization"],
)
def test_the_switcher_links_to_a_new_organization(browser, crew, page):
    response = browser(crew["owner"]).get(page(crew["organization"]))

    assert response.status_code == 200
    assert re.search(
        rf'<a\b[^>]*\bhref="{NEW_ORGANIZATION}"[^>]*>New organization</a>', switcher(response)
    )


def test_without_an_organization_the_dashboard_links_to_a_new_one(browser, user_factory):
    response = browser(user_factory()).get(HOME)

    assert response.status_code == 200
    assert f'<a href="{NEW_ORGANIZATION}">create an organization</a>' in html(response)


def test_creating_organizations_past_the_budget_gives_429(
    settings, one_ratelimit_window, browser, crew
):
    set_rates(settings, ORGANIZATION_CREATE="2/hour")
    client = browser(crew["owner"])
    for n in range(2):
        assert client.post(NEW_ORGANIZATION, {"name": f"Bolt {n}"}).status_code == 302

    response = client.post(NEW_ORGANIZATION, {"name": "Bolt 9"})

    assert_rate_limited(response)
    assert not Organization.objects.filter(name="Bolt 9").exists()
    # The budget is the person's own: someone else may still create one.
    assert browser(crew["admin"]).post(NEW_ORGANIZATION, {"name": "Bolt 8"}).status_code == 302


# --- The email ----------------------------------------------------------------------------------


@pytest.mark.parametrize("role", [Role.ADMIN, Role.MEMBER])
@pytest.mark.parametrize("resent", [False, True])
def test_the_invitation_email_holds_no_text_the_inviter_chose(
    browser, crew, invite, committed, role, resent
):
    organization, owner = crew["organization"], crew["owner"]
    organization.name = "EVIL ORG call 555"
    organization.save()
    owner.full_name = "Mallory Phisher"
    owner.save(update_fields=["full_name"])
    client = browser(owner)
    assert invite(client, organization, role=role).status_code == 302
    if resent:
        invitation = Invitation.objects.get()
        path = url("invitation-resend", organization.pk, invitation.pk)
        assert committed(client, path).status_code == 302

    message = mail.outbox[-1]

    assert len(mail.outbox) == (2 if resent else 1)
    assert message.to == [INVITED]
    # (Not "555" alone: the link's hex signature may hold it by chance.)
    for chosen in ["EVIL", "ORG call", "call 555", "Mallory", "Phisher"]:
        assert chosen not in message.subject
        assert chosen not in message.body
    assert owner.email in message.body
    article = "an" if role == Role.ADMIN else "a"
    assert f"as {article} {Role(role).label.lower()}." in message.body
    assert message.subject == "You are invited to join an organization on Latchkey"
    # The page behind the link names the organization and the inviter.
    page = follow_link(browser(), emailed_token(message))
    assert "EVIL ORG call 555" in html(page)
    assert "Mallory Phisher" in html(page)
