"""The users and organizations admin: lists, deactivation, verification emails, members and
roles, and the operator's own account (createsuperuser, sign-in by email)."""

from __future__ import annotations

from io import StringIO
from typing import Any

import pytest
from django.contrib.admin.utils import quote
from django.core import mail
from django.core.management import call_command
from django.test import Client
from django.urls import reverse

from accounts.models import User
from accounts.sessions import live_sessions
from apikeys.services import api_key_revoke
from audit.models import Action, AuditEvent
from tenants.models import Membership, Organization, Role
from tests.conftest import PASSWORD

pytestmark = pytest.mark.django_db

USERS = reverse("admin:accounts_user_changelist")
ORGANIZATIONS = reverse("admin:tenants_organization_changelist")


def user_url(user: User) -> str:
    return reverse("admin:accounts_user_change", args=[quote(user.pk)])


def organization_url(organization: Organization) -> str:
    return reverse("admin:tenants_organization_change", args=[quote(organization.pk)])


def form_data(response) -> dict[str, Any]:
    """The POST data of an admin change form as rendered: every field's current value, and
    every inline's management form and rows."""
    data: dict[str, Any] = {}

    def add(form) -> None:
        for name in form.fields:
            value = form[name].value()
            if value is None or value is False:
                continue  # an empty field, or an unticked checkbox, is not posted
            data[form.add_prefix(name)] = "on" if value is True else value

    add(response.context["adminform"].form)
    for inline in response.context["inline_admin_formsets"]:
        add(inline.formset.management_form)
        for form in inline.formset.forms:
            add(form)
    data["_save"] = "Save"
    return data


def session_count(user: User) -> int:
    return live_sessions(user.pk).count()


# --- Users ----------------------------------------------------------------------------------


def test_the_user_list_shows_status_organizations_and_active_key_count(
    admin_client, user_factory, org_factory, api_key_factory
):
    user = user_factory(email="listed@example.com", full_name="Listed Person", verified=False)
    org_factory(owner=user)
    org_factory(owner=user)
    api_key_factory(user=user)
    api_key_factory(user=user)
    revoked, _raw = api_key_factory(user=user)
    api_key_revoke(key=revoked, revoked_by=None, by="command")

    response = admin_client.get(USERS, {"q": "listed@example.com"})

    assert response.status_code == 200
    html = response.content.decode()
    assert "listed@example.com" in html
    assert "Listed Person" in html
    assert '<td class="field-organization_count">2</td>' in html
    keys_link = f"{reverse('admin:apikeys_apikey_changelist')}?user={user.pk}&amp;status=active"
    assert f'<td class="field-key_count"><a href="{keys_link}">2</a></td>' in html
    assert 'class="field-is_verified"><img src="/static/admin/img/icon-no.svg"' in html
    assert 'class="field-last_login' in html


def test_the_key_count_links_to_the_users_active_keys(admin_client, user_factory, api_key_factory):
    user = user_factory()
    api_key_factory(user=user, name="Mine")
    api_key_factory(name="Someone else's")

    response = admin_client.get(
        reverse("admin:apikeys_apikey_changelist"), {"user": user.pk, "status": "active"}
    )

    assert response.status_code == 200
    html = response.content.decode()
    assert ">Mine<" in html
    assert "Someone else" not in html


@pytest.mark.parametrize(
    ("params", "expected"),
    [
        ({"is_verified__exact": "0"}, {"pending@example.com"}),
        ({"is_active__exact": "0"}, {"gone@example.com"}),
        ({"is_staff__exact": "1"}, {"operator@example.com"}),
    ],
)
def test_the_user_filters(admin_client, user_factory, params, expected):
    user_factory(email="pending@example.com", verified=False)
    user_factory(email="gone@example.com", is_active=False)
    user_factory(email="plain@example.com")

    response = admin_client.get(USERS, params)

    assert response.status_code == 200
    html = response.content.decode()
    shown = {
        email
        for email in (
            "pending@example.com",
            "gone@example.com",
            "plain@example.com",
            "operator@example.com",
        )
        if f">{email}</a>" in html
    }
    assert shown == expected


def test_the_user_page_shows_their_organizations_and_roles(
    admin_client, user_factory, org_factory
):
    user = user_factory()
    org_factory(owner=user, name="Owned Org")
    other = org_factory(name="Joined Org")
    Membership.objects.create(user=user, organization=other, role=Role.ADMIN)

    response = admin_client.get(user_url(user))

    assert response.status_code == 200
    html = response.content.decode()
    assert "Owned Org" in html
    assert "Joined Org" in html
    assert ">Owner<" in html
    assert ">Admin<" in html


def deactivate_post(client: Client, *users: User, confirm: bool):
    data = {"action": "deactivate_selected", "_selected_action": [u.pk for u in users]}
    if confirm:
        data["post"] = "yes"
    else:
        data["index"] = 0
    return client.post(USERS, data)


def test_deactivating_asks_for_confirmation_first(admin_client, user_factory):
    user = user_factory(email="leaving@example.com")

    response = deactivate_post(admin_client, user, confirm=False)

    assert response.status_code == 200
    html = response.content.decode()
    assert "Deactivate 1 user(s)?" in html
    assert "leaving@example.com" in html
    assert 'value="Yes, deactivate"' in html
    assert f'<input type="hidden" name="_selected_action" value="{user.pk}">' in html
    assert User.objects.get(pk=user.pk).is_active is True
    assert not AuditEvent.objects.filter(action=Action.USER_DEACTIVATED).exists()


def test_deactivating_ends_sessions_stops_keys_and_audits(
    admin_client, operator, user_factory, api_key_factory, client_for, key_client
):
    user = user_factory(email="leaving@example.com")
    bystander = user_factory(email="staying@example.com")
    _key, raw = api_key_factory(user=user)
    signed_in = client_for(user)
    bystander_client = client_for(bystander)
    assert signed_in.get("/api/user/me").status_code == 200
    assert key_client(raw).get("/api/user/me").status_code == 200
    assert session_count(user) == 1

    response = deactivate_post(admin_client, user, confirm=True)

    assert response.status_code == 302
    assert response["Location"] == USERS
    assert User.objects.get(pk=user.pk).is_active is False
    assert session_count(user) == 0
    me = signed_in.get("/api/user/me")
    assert me.status_code == 401
    assert me.json()["code"] == "UNAUTHORIZED"
    by_key = key_client(raw).get("/api/user/me")
    assert by_key.status_code == 401
    assert by_key.json()["code"] == "KEY_REVOKED"
    event = AuditEvent.objects.get(action=Action.USER_DEACTIVATED)
    assert event.actor == operator
    assert (event.target_type, event.target_id) == ("user", user.pk)
    assert event.detail == {"by": "operator"}
    assert event.ip == "127.0.0.1"
    # Only that user: the bystander and the operator stay signed in.
    assert bystander_client.get("/api/user/me").status_code == 200
    listing = admin_client.get(USERS)
    assert listing.status_code == 200
    assert "Deactivated 1 user(s)." in listing.content.decode()


@pytest.mark.django_db(transaction=True)
def test_a_deactivation_in_the_admin_is_felt_at_once_by_a_warm_key(
    settings, admin_client, user_factory, api_key_factory, key_client
):
    settings.APIKEYS = {**settings.APIKEYS, "CACHE_TIMEOUT": 300}
    user = user_factory()
    _key, raw = api_key_factory(user=user)
    client = key_client(raw)
    assert client.get("/api/user/me").status_code == 200  # now in the warm-key cache

    assert deactivate_post(admin_client, user, confirm=True).status_code == 302
    response = client.get("/api/user/me")

    assert response.status_code == 401
    assert response.json()["code"] == "KEY_REVOKED"


def test_an_operator_cannot_deactivate_themselves(admin_client, operator):
    response = deactivate_post(admin_client, operator, confirm=True)

    assert response.status_code == 302
    assert User.objects.get(pk=operator.pk).is_active is True
    assert not AuditEvent.objects.filter(action=Action.USER_DEACTIVATED).exists()
    listing = admin_client.get(USERS)
    assert "You cannot deactivate your own account here." in listing.content.decode()


def test_unticking_active_on_the_user_page_is_a_deactivation(
    admin_client, operator, user_factory, client_for
):
    user = user_factory(email="unticked@example.com")
    signed_in = client_for(user)
    page = admin_client.get(user_url(user))
    data = form_data(page)
    del data["is_active"]

    response = admin_client.post(user_url(user), data)

    assert response.status_code == 302
    assert User.objects.get(pk=user.pk).is_active is False
    assert session_count(user) == 0
    assert signed_in.get("/api/user/me").status_code == 401
    event = AuditEvent.objects.get(action=Action.USER_DEACTIVATED)
    assert (event.actor, event.target_id) == (operator, user.pk)


def test_saving_the_user_page_unchanged_records_no_deactivation(admin_client, user_factory):
    user = user_factory()

    response = admin_client.post(user_url(user), form_data(admin_client.get(user_url(user))))

    assert response.status_code == 302
    assert User.objects.get(pk=user.pk).is_active is True
    assert not AuditEvent.objects.filter(action=Action.USER_DEACTIVATED).exists()


def test_reactivating_a_user_brings_back_no_key(
    admin_client, operator, user_factory, api_key_factory, key_client, api_client
):
    user = user_factory(email="returning@example.com")
    _key, raw = api_key_factory(user=user)
    deactivate_post(admin_client, user, confirm=True)
    page = admin_client.get(user_url(user))
    data = form_data(page)
    data["is_active"] = "on"

    response = admin_client.post(user_url(user), data)

    assert response.status_code == 302
    assert User.objects.get(pk=user.pk).is_active is True
    by_key = key_client(raw).get("/api/user/me")
    assert (by_key.status_code, by_key.json()["code"]) == (401, "KEY_REVOKED")
    signed_in = api_client.post(
        "/api/auth/sign-in/email", {"email": "returning@example.com", "password": PASSWORD}
    )
    assert signed_in.status_code == 200
    event = AuditEvent.objects.get(action=Action.USER_REACTIVATED)
    assert (event.actor, event.target_id) == (operator, user.pk)


def test_resending_verification_emails_the_unverified_only(admin_client, user_factory, settings):
    pending = user_factory(email="pending@example.com", verified=False)
    done = user_factory(email="done@example.com", verified=True)

    response = admin_client.post(
        USERS,
        {
            "action": "resend_verification",
            "_selected_action": [pending.pk, done.pk],
            "index": 0,
        },
    )

    assert response.status_code == 302
    assert [message.to for message in mail.outbox] == [["pending@example.com"]]
    assert f"{settings.PUBLIC_URL}/verify-email/" in mail.outbox[0].body
    html = admin_client.get(USERS).content.decode()
    assert "Queued 1 verification email(s)." in html
    assert "Skipped 1 user(s) already verified or inactive." in html


def test_createsuperuser_noinput_reads_the_environment_and_signs_in_by_email(monkeypatch):
    monkeypatch.setenv("DJANGO_SUPERUSER_EMAIL", "Root@Example.com")
    monkeypatch.setenv("DJANGO_SUPERUSER_PASSWORD", "a-long-operator-passphrase")
    out = StringIO()

    call_command("createsuperuser", "--noinput", stdout=out)

    assert "Superuser created successfully." in out.getvalue()
    user = User.objects.get(email="Root@Example.com")
    assert (user.is_superuser, user.is_staff, user.is_active) == (True, True, True)
    assert user.check_password("a-long-operator-passphrase")
    client = Client()
    signed_in = client.post(
        reverse("admin:login"),
        {
            "username": "root@example.com",  # the email, in another case
            "password": "a-long-operator-passphrase",
            "next": reverse("admin:index"),  # as the sign-in form posts it
        },
    )
    assert signed_in.status_code == 302
    assert signed_in["Location"] == reverse("admin:index")
    index = client.get(reverse("admin:index"))
    assert index.status_code == 200
    assert "Site administration" in index.content.decode()


def test_the_admin_sign_in_form_asks_for_the_email(user_factory):
    user_factory(email="staff@example.com", is_staff=True)
    client = Client()

    page = client.get(reverse("admin:login"))
    wrong = client.post(
        reverse("admin:login"), {"username": "staff@example.com", "password": "not-it"}
    )

    assert page.status_code == 200
    assert "Email address" in page.content.decode()
    assert wrong.status_code == 200
    assert "Please enter the correct email address and password" in wrong.content.decode()


@pytest.mark.parametrize(
    ("url", "signed_in"),
    [(reverse("admin:login"), False), (reverse("admin:index"), True), (USERS, True)],
    ids=["sign-in", "index", "users"],
)
def test_the_admin_is_latchkeys_with_its_favicon(admin_client, url, signed_in):
    response = (admin_client if signed_in else Client()).get(url)

    body = response.content.decode()
    assert response.status_code == 200
    assert '<div id="site-name"><a href="/admin/">Latchkey administration</a></div>' in body
    assert "| Latchkey administration</title>" in body
    assert "Django administration" not in body
    assert "Django site admin" not in body
    assert '<link rel="icon" href="/static/dashboard/favicon.svg" type="image/svg+xml">' in body


# --- Organizations --------------------------------------------------------------------------


def test_the_organization_list_shows_plan_members_and_keys(
    admin_client, org_factory, member_factory, api_key_factory
):
    organization = org_factory(name="Counted Org")
    owner = organization.memberships.get().user
    member_factory(organization)
    member_factory(organization, role=Role.ADMIN)
    api_key_factory(user=owner, organization=organization)
    api_key_factory(user=owner, organization=organization)
    api_key_factory(user=owner)  # not pinned: not the organization's

    response = admin_client.get(ORGANIZATIONS, {"q": "Counted"})

    assert response.status_code == 200
    html = response.content.decode()
    assert "Counted Org" in html
    assert '<td class="field-plan">free</td>' in html
    assert '<td class="field-member_count">3</td>' in html
    assert '<td class="field-key_count">2</td>' in html


def test_the_plan_filter(admin_client, org_factory):
    org_factory(name="Free Org")
    paying = org_factory(name="Paying Org")
    paying.plan = "pro"
    paying.save(update_fields=["plan"])

    response = admin_client.get(ORGANIZATIONS, {"plan": "pro"})

    assert response.status_code == 200
    html = response.content.decode()
    assert "Paying Org" in html
    assert "Free Org" not in html


def test_the_organization_page_lists_members_with_their_roles(
    admin_client, org_factory, member_factory, user_factory
):
    organization = org_factory()
    member_factory(organization, user=user_factory(email="second@example.com"), role=Role.ADMIN)

    response = admin_client.get(organization_url(organization))

    assert response.status_code == 200
    html = response.content.decode()
    assert "second@example.com" in html
    assert '<option value="admin" selected>Admin</option>' in html
    assert '<option value="owner" selected>Owner</option>' in html


def test_changing_roles_removing_members_and_the_plan_are_audited(
    admin_client, operator, org_factory, member_factory
):
    organization = org_factory()
    promoted = member_factory(organization, role=Role.MEMBER)
    removed = member_factory(organization, role=Role.MEMBER)
    data = form_data(admin_client.get(organization_url(organization)))
    rows = {data[f"memberships-{i}-user"]: i for i in range(3)}
    data[f"memberships-{rows[promoted.pk]}-role"] = Role.ADMIN
    data[f"memberships-{rows[removed.pk]}-DELETE"] = "on"
    data["plan"] = "pro"

    response = admin_client.post(organization_url(organization), data)

    assert response.status_code == 302
    assert Membership.objects.get(user=promoted, organization=organization).role == Role.ADMIN
    assert not Membership.objects.filter(user=removed, organization=organization).exists()
    assert Organization.objects.get(pk=organization.pk).plan == "pro"
    events = {e.action: e for e in AuditEvent.objects.filter(organization_id=organization.pk)}
    role_changed = events[Action.MEMBER_ROLE_CHANGED]
    assert role_changed.actor == operator
    assert role_changed.target_id == promoted.pk
    assert role_changed.detail == {"role": {"from": "member", "to": "admin"}, "by": "operator"}
    member_removed = events[Action.MEMBER_REMOVED]
    assert (member_removed.actor, member_removed.target_id) == (operator, removed.pk)
    assert member_removed.detail == {"role": "member", "by": "operator"}
    updated = events[Action.ORGANIZATION_UPDATED]
    assert updated.actor == operator
    assert updated.detail == {"plan": {"from": "free", "to": "pro"}, "by": "operator"}
