"""The dashboard's member and organization-settings pages: the members list with its forms,
changing a role, removing a member, handing ownership over, leaving, renaming and deleting the
organization, for the owner, an admin, a member, an outsider and an anonymous visitor."""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import quote

import pytest
from django.test import Client
from django.urls import reverse

from accounts.models import User
from audit.models import AuditEvent
from tenants.models import Membership, Organization, Role
from tests.dashboard.helpers import HOME, field_errors, input_tag, page_html

pytestmark = pytest.mark.django_db

NAME = "Acme Rockets"
UNKNOWN_ID = "01HZ3K5R4X9Y2V6QF8TJ7W0CDN"
ACCESS_DENIED = "You do not have access to this"
NOT_A_MEMBER = "You are not a member of this organization."
NOT_FOUND = "We could not find that page"
AT_LEAST_ONE_OWNER = "at least one owner"
CHANGES = [
    "member.role_changed",
    "member.removed",
    "member.left",
    "organization.ownership_transferred",
    "organization.deleted",
    "organization.updated",
]
# Everyone's full name, so that a message naming a member is unmistakable.
FULL_NAMES = {
    "owner": "Olive Owner",
    "admin": "Adam Admin",
    "member": "Mia Member",
    "outsider": "Otto Outsider",
    "admin2": "Ada Second",
    "member2": "Max Second",
    "owner2": "Oscar Coowner",
}
# Every page, the methods it answers, and what a POST sends.
PAGES = [
    ("members", "GET"),
    ("member-role", "POST"),
    ("member-remove", "GET"),
    ("member-remove", "POST"),
    ("member-transfer", "GET"),
    ("member-transfer", "POST"),
    ("leave", "GET"),
    ("leave", "POST"),
    ("organization-settings", "GET"),
    ("organization-settings", "POST"),
    ("organization-delete", "POST"),
]
MEMBER_PAGES = {"member-role", "member-remove", "member-transfer"}
POSTED = {"role": "owner", "name": "Hijacked", "confirm": NAME}


@pytest.fixture
def crew(team, member_factory, user_factory) -> dict[str, Any]:
    """The team, its organization called NAME, with a second admin and a second member, every
    person with a distinct full name."""
    organization = team["organization"]
    organization.name = NAME
    organization.save()
    people = {
        **team,
        "admin2": member_factory(organization, role=Role.ADMIN),
        "member2": member_factory(organization, role=Role.MEMBER),
    }
    for who, user in people.items():
        if isinstance(user, User):
            user.full_name = FULL_NAMES[who]
            user.save(update_fields=["full_name"])
    return people


def add_second_owner(crew: dict[str, Any], member_factory, user_factory) -> User:
    crew["owner2"] = member_factory(
        crew["organization"], role=Role.OWNER, user=user_factory(full_name=FULL_NAMES["owner2"])
    )
    return crew["owner2"]


def page_url(name: str, organization_id: str, user_id: str | None = None) -> str:
    args = [organization_id] if user_id is None else [organization_id, user_id]
    return reverse(f"dashboard:{name}", args=args)


def member_url(name: str, crew: dict[str, Any], who: str) -> str:
    return page_url(name, crew["organization"].pk, crew[who].pk)


def org_url(name: str, crew: dict[str, Any]) -> str:
    return page_url(name, crew["organization"].pk)


def url_for(name: str, crew: dict[str, Any], target: str = "member") -> str:
    return member_url(name, crew, target) if name in MEMBER_PAGES else org_url(name, crew)


def send(client: Client, method: str, url: str, data: dict | None = None) -> Any:
    return (
        client.post(url, POSTED if data is None else data) if method == "POST" else client.get(url)
    )


def html(response: Any) -> str:
    return page_html(response)


def messages_on(client: Client, response: Any) -> list[tuple[str, str]]:
    """The redirect followed (to its end): each message shown there, as (kind, text)."""
    assert response.status_code == 302, response.status_code
    shown = client.get(response["Location"], follow=True)
    assert shown.status_code == 200
    return re.findall(r'<li class="notice ([^"]*)">(.*?)</li>', html(shown), flags=re.DOTALL)


def the_message(client: Client, response: Any, kind: str) -> str:
    """The one message of `kind` ("success", "error") shown after the redirect."""
    shown = messages_on(client, response)
    texts = [text for tags, text in shown if kind in tags.split()]
    assert len(texts) == 1, shown
    return texts[0]


def names(user: User, text: str) -> bool:
    return user.full_name in text or user.email in text


def roles(organization: Organization) -> dict[str, str]:
    return dict(
        Membership.objects.filter(organization=organization).values_list("user_id", "role")
    )


def snapshot(crew: dict[str, Any]) -> tuple:
    organization = crew["organization"]
    return (
        Organization.objects.filter(pk=organization.pk).values_list("name", flat=True).first(),
        roles(organization),
        roles(crew["outsider"].memberships.get().organization),
    )


def assert_untouched(crew: dict[str, Any], before: tuple) -> None:
    assert snapshot(crew) == before
    assert not AuditEvent.objects.filter(action__in=CHANGES).exists()


def the_event(action: str) -> AuditEvent:
    [event] = AuditEvent.objects.filter(action=action)
    return event


def assert_refused(response: Any, message: str | None = None) -> None:
    assert response.status_code == 403
    assert ACCESS_DENIED in html(response)
    if message is not None:
        assert message in html(response)


def rows(response: Any) -> dict[str, str]:
    """The members table's rows, by the email each shows."""
    found = {}
    for row in re.findall(r"<tr\b.*?</tr>", html(response), flags=re.DOTALL):
        email = re.search(r"[\w.+-]+@example\.com", row)
        if email:
            found[email.group(0)] = row
    return found


def role_options(row: str, action: str) -> set[str] | None:
    """The roles offered by the row's form posting to `action`, None without that form."""
    form = re.search(
        rf'<form\b[^>]*\baction="{re.escape(action)}"[^>]*>(.*?)</form>', row, re.DOTALL
    )
    if form is None:
        return None
    select = re.search(r'<select\b[^>]*\bname="role"[^>]*>(.*?)</select>', form.group(1), re.S)
    assert select, "the role form has no select named role"
    return set(re.findall(r'<option\b[^>]*\bvalue="([^"]*)"', select.group(1)))


def links_to(text: str, url: str) -> bool:
    return re.search(rf'<a\b[^>]*\bhref="{re.escape(url)}"', text) is not None


# --- Signed-out visitors and outsiders ------------------------------------------------------


@pytest.mark.parametrize(("name", "method"), PAGES)
def test_a_signed_out_visitor_is_sent_to_sign_in(browser, crew, name, method):
    url = url_for(name, crew)
    before = snapshot(crew)

    response = send(browser(), method, url)

    assert response.status_code == 302
    assert response["Location"] == f"/sign-in?next={quote(url, safe='/')}"
    assert_untouched(crew, before)


@pytest.mark.parametrize(("name", "method"), PAGES)
def test_an_outsider_is_refused_on_every_page(browser, crew, name, method):
    url = url_for(name, crew)
    before = snapshot(crew)

    response = send(browser(crew["outsider"]), method, url)

    assert_refused(response, NOT_A_MEMBER)
    assert NAME not in html(response)
    assert crew["member"].email not in html(response)
    assert_untouched(crew, before)


@pytest.mark.parametrize(("name", "method"), PAGES)
def test_an_unknown_organization_is_refused_like_a_foreign_one(browser, crew, name, method):
    user_id = crew["member"].pk if name in MEMBER_PAGES else None
    before = snapshot(crew)

    response = send(browser(crew["owner"]), method, page_url(name, UNKNOWN_ID, user_id))

    assert_refused(response, NOT_A_MEMBER)
    assert_untouched(crew, before)


# --- The members list --------------------------------------------------------------------

# (viewer, the rows with a role form and a Remove link, the roles that form offers). The only
# owner's row has neither: they can be neither demoted nor removed.
MANAGES = [
    ("owner", {"admin", "admin2", "member", "member2"}, {"owner", "admin", "member"}),
    ("admin", {"admin", "admin2", "member", "member2"}, {"admin", "member"}),
    ("member", set(), set()),
]


@pytest.mark.parametrize(("viewer", "managed", "offered"), MANAGES)
def test_the_members_page_offers_each_viewer_what_they_may_manage(
    browser, crew, viewer, managed, offered
):
    response = browser(crew[viewer]).get(org_url("members", crew))

    assert response.status_code == 200
    by_email = rows(response)
    everyone = {"owner", "admin", "admin2", "member", "member2"}
    assert set(by_email) == {crew[who].email for who in everyone}
    for who in everyone:
        row = by_email[crew[who].email]
        options = role_options(row, member_url("member-role", crew, who))
        remove = member_url("member-remove", crew, who)
        if who in managed:
            assert options == offered, who
            assert links_to(row, remove), who
            assert "Remove" in row, who
        else:
            assert options is None, who
            assert not links_to(row, remove), who


def test_with_a_second_owner_an_owner_may_manage_both_owners(browser, crew, member_factory):
    second = member_factory(crew["organization"], role="owner")

    response = browser(crew["owner"]).get(org_url("members", crew))

    assert response.status_code == 200
    by_email = rows(response)
    crew = {**crew, "owner2": second}
    for who in ("owner", "owner2"):
        row = by_email[crew[who].email]
        assert role_options(row, member_url("member-role", crew, who)) == {
            "owner",
            "admin",
            "member",
        }
        assert links_to(row, member_url("member-remove", crew, who))


@pytest.mark.parametrize("viewer", ["admin", "member"])
def test_only_an_owner_sees_the_ownership_links(browser, crew, viewer):
    response = browser(crew[viewer]).get(org_url("members", crew))

    assert response.status_code == 200
    assert "Transfer ownership" not in html(response)
    for who in ["owner", "admin", "admin2", "member", "member2"]:
        assert not links_to(html(response), member_url("member-transfer", crew, who))


def test_an_owner_may_hand_ownership_to_every_other_member(browser, crew):
    response = browser(crew["owner"]).get(org_url("members", crew))

    assert response.status_code == 200
    by_email = rows(response)
    for who in ["admin", "admin2", "member", "member2"]:
        row = by_email[crew[who].email]
        assert links_to(row, member_url("member-transfer", crew, who)), who
        assert "Transfer ownership" in row, who
    assert not links_to(html(response), member_url("member-transfer", crew, "owner"))


def test_a_member_sees_no_role_select_and_no_remove_link(browser, crew):
    response = browser(crew["member"]).get(org_url("members", crew))

    assert response.status_code == 200
    assert not re.search(r'<select\b[^>]*\bname="role"', html(response))
    assert "/remove" not in html(response)
    assert "/role" not in html(response)


@pytest.mark.parametrize("viewer", ["owner", "admin", "member"])
def test_every_viewer_may_leave(browser, crew, viewer):
    response = browser(crew[viewer]).get(org_url("members", crew))

    assert response.status_code == 200
    assert links_to(html(response), org_url("leave", crew))
    assert "Leave organization" in html(response)


# --- Changing a role -------------------------------------------------------------------------

ROLE_CHANGES = [
    # (viewer, target, new role, a second owner exists)
    ("owner", "member", "admin", False),
    ("owner", "admin", "member", False),
    ("owner", "member", "owner", False),
    ("owner", "admin", "owner", False),
    ("admin", "member", "admin", False),
    ("admin", "admin2", "member", False),
    ("admin", "admin", "member", False),
    ("owner", "owner2", "admin", True),
    ("owner", "owner", "member", True),
]


@pytest.mark.parametrize(("viewer", "target", "role", "two_owners"), ROLE_CHANGES)
def test_owners_and_admins_change_a_role(
    browser, crew, member_factory, user_factory, viewer, target, role, two_owners
):
    if two_owners:
        add_second_owner(crew, member_factory, user_factory)
    previous = roles(crew["organization"])[crew[target].pk]
    client = browser(crew[viewer])

    response = client.post(member_url("member-role", crew, target), {"role": role})

    assert response.status_code == 302
    assert response["Location"] == org_url("members", crew)
    assert roles(crew["organization"])[crew[target].pk] == role
    assert names(crew[target], the_message(client, response, "success"))
    event = the_event("member.role_changed")
    assert event.organization_id == crew["organization"].pk
    assert (event.actor_id, event.target_id) == (crew[viewer].pk, crew[target].pk)
    assert event.detail["role"] == {"from": previous, "to": role}


ROLE_REFUSALS = [
    # An admin never touches an owner; a member manages nobody, themselves included.
    ("admin", "owner", "member"),
    ("admin", "owner", "admin"),
    ("member", "member2", "admin"),
    ("member", "member", "admin"),
    ("member", "admin", "member"),
    ("member", "owner", "member"),
]


@pytest.mark.parametrize(("viewer", "target", "role"), ROLE_REFUSALS)
def test_a_role_change_out_of_reach_is_refused(browser, crew, viewer, target, role):
    before = snapshot(crew)

    response = browser(crew[viewer]).post(member_url("member-role", crew, target), {"role": role})

    assert_refused(response)
    assert_untouched(crew, before)


@pytest.mark.parametrize("target", ["member", "admin2", "admin"])
def test_an_admin_makes_no_one_an_owner(browser, crew, target):
    before = snapshot(crew)
    client = browser(crew["admin"])

    response = client.post(member_url("member-role", crew, target), {"role": "owner"})

    # Refused as out of reach, or as a role the form does not offer: never done.
    assert response.status_code in (302, 400, 403)
    if response.status_code == 302:
        assert response["Location"] == org_url("members", crew)
        the_message(client, response, "error")
    assert_untouched(crew, before)


@pytest.mark.parametrize("role", ["admin", "member"])
def test_the_only_owner_keeps_the_owner_role(browser, crew, role):
    before = snapshot(crew)
    client = browser(crew["owner"])

    response = client.post(member_url("member-role", crew, "owner"), {"role": role})

    assert response.status_code == 302
    assert response["Location"] == org_url("members", crew)
    assert AT_LEAST_ONE_OWNER in the_message(client, response, "error")
    assert_untouched(crew, before)


@pytest.mark.parametrize(
    "data",
    [{"role": "superuser"}, {"role": ""}, {"role": "Owner"}, {"role": "admin "}, {}],
    ids=["unknown", "blank", "capitalised", "padded", "missing"],
)
def test_an_invalid_role_changes_nothing(browser, crew, data):
    before = snapshot(crew)
    client = browser(crew["owner"])

    response = client.post(member_url("member-role", crew, "member"), data)

    assert response.status_code in (302, 400)
    if response.status_code == 302:
        assert response["Location"] == org_url("members", crew)
        the_message(client, response, "error")
    assert_untouched(crew, before)


# --- Unknown members -------------------------------------------------------------------------

MEMBER_ROUTES = [
    ("member-role", "POST"),
    ("member-remove", "GET"),
    ("member-remove", "POST"),
    ("member-transfer", "GET"),
    ("member-transfer", "POST"),
]


@pytest.mark.parametrize("target", ["unknown", "outsider"])
@pytest.mark.parametrize(("name", "method"), MEMBER_ROUTES)
def test_someone_who_is_not_a_member_is_not_found(browser, crew, name, method, target):
    user_id = UNKNOWN_ID if target == "unknown" else crew["outsider"].pk
    before = snapshot(crew)

    response = send(
        browser(crew["owner"]),
        method,
        page_url(name, crew["organization"].pk, user_id),
        {"role": "admin"},
    )

    assert response.status_code == 404
    assert NOT_FOUND in html(response)
    assert crew["outsider"].email not in html(response)
    assert_untouched(crew, before)


# --- Removing a member -----------------------------------------------------------------------

REMOVALS = [
    # (viewer, target, a second owner exists)
    ("owner", "member", False),
    ("owner", "admin", False),
    ("admin", "member", False),
    ("admin", "admin2", False),
    ("owner", "owner2", True),
    ("owner", "owner", True),
]


@pytest.mark.parametrize(("viewer", "target", "two_owners"), REMOVALS)
def test_the_remove_page_asks_first_naming_the_member(
    browser, crew, member_factory, user_factory, viewer, target, two_owners
):
    if two_owners:
        add_second_owner(crew, member_factory, user_factory)
    before = snapshot(crew)

    response = browser(crew[viewer]).get(member_url("member-remove", crew, target))

    assert response.status_code == 200
    assert names(crew[target], html(response))
    assert '<form method="post"' in html(response)
    assert_untouched(crew, before)


@pytest.mark.parametrize(("viewer", "target", "two_owners"), REMOVALS)
def test_owners_and_admins_remove_a_member(
    browser, crew, member_factory, user_factory, viewer, target, two_owners
):
    if two_owners:
        add_second_owner(crew, member_factory, user_factory)
    previous = roles(crew["organization"])[crew[target].pk]
    client = browser(crew[viewer])

    response = client.post(member_url("member-remove", crew, target))

    assert response.status_code == 302
    # whoever removed themselves may no longer see the members: they land on their dashboard
    expected = org_url("members", crew) if target != viewer else reverse("dashboard:home")
    assert response["Location"] == expected
    assert crew[target].pk not in roles(crew["organization"])
    event = the_event("member.removed")
    assert event.organization_id == crew["organization"].pk
    assert (event.actor_id, event.target_id) == (crew[viewer].pk, crew[target].pk)
    assert event.detail["role"] == previous
    assert names(crew[target], the_message(client, response, "success"))


REMOVE_REFUSALS = [
    ("admin", "owner", "GET"),
    ("admin", "owner", "POST"),
    ("member", "member2", "GET"),
    ("member", "member2", "POST"),
    ("member", "admin", "POST"),
    ("member", "owner", "POST"),
    ("member", "member", "POST"),
]


@pytest.mark.parametrize(("viewer", "target", "method"), REMOVE_REFUSALS)
def test_a_removal_out_of_reach_is_refused(browser, crew, viewer, target, method):
    before = snapshot(crew)

    response = send(browser(crew[viewer]), method, member_url("member-remove", crew, target))

    assert_refused(response)
    assert_untouched(crew, before)


def test_the_only_owner_cannot_be_removed(browser, crew):
    before = snapshot(crew)
    client = browser(crew["owner"])

    response = client.post(member_url("member-remove", crew, "owner"))

    assert response.status_code == 302
    assert response["Location"] == org_url("members", crew)
    assert AT_LEAST_ONE_OWNER in the_message(client, response, "error")
    assert_untouched(crew, before)


# --- Handing ownership over ------------------------------------------------------------------


@pytest.mark.parametrize("target", ["admin", "member"])
def test_the_transfer_page_asks_first_naming_the_member(browser, crew, target):
    before = snapshot(crew)

    response = browser(crew["owner"]).get(member_url("member-transfer", crew, target))

    assert response.status_code == 200
    assert names(crew[target], html(response))
    assert '<form method="post"' in html(response)
    assert_untouched(crew, before)


@pytest.mark.parametrize("target", ["admin", "member"])
def test_the_owner_hands_ownership_over_and_becomes_an_admin(browser, crew, target):
    client = browser(crew["owner"])

    response = client.post(member_url("member-transfer", crew, target))

    assert response.status_code == 302
    assert response["Location"] == org_url("members", crew)
    after = roles(crew["organization"])
    assert (after[crew[target].pk], after[crew["owner"].pk]) == (Role.OWNER, Role.ADMIN)
    assert names(crew[target], the_message(client, response, "success"))
    event = the_event("organization.ownership_transferred")
    assert event.organization_id == crew["organization"].pk
    assert (event.actor_id, event.target_id) == (crew["owner"].pk, crew[target].pk)


def test_the_new_owner_manages_the_previous_one(browser, crew):
    handed = browser(crew["owner"]).post(member_url("member-transfer", crew, "member"))
    assert handed.status_code == 302

    refused = browser(crew["owner"]).post(member_url("member-transfer", crew, "admin"))
    done = browser(crew["member"]).post(
        member_url("member-role", crew, "owner"), {"role": "member"}
    )

    assert_refused(refused)
    assert done.status_code == 302
    assert roles(crew["organization"])[crew["owner"].pk] == Role.MEMBER


@pytest.mark.parametrize("method", ["GET", "POST"])
@pytest.mark.parametrize(
    ("viewer", "target"), [("admin", "member"), ("admin", "admin2"), ("member", "admin")]
)
def test_only_an_owner_hands_ownership_over(browser, crew, viewer, target, method):
    before = snapshot(crew)

    response = send(browser(crew[viewer]), method, member_url("member-transfer", crew, target))

    assert_refused(response)
    assert_untouched(crew, before)


# --- Leaving ---------------------------------------------------------------------------------


@pytest.mark.parametrize("viewer", ["owner", "admin", "member"])
def test_the_leave_page_asks_first(browser, crew, viewer):
    before = snapshot(crew)

    response = browser(crew[viewer]).get(org_url("leave", crew))

    assert response.status_code == 200
    assert NAME in html(response)
    assert '<form method="post"' in html(response)
    assert_untouched(crew, before)


@pytest.mark.parametrize(
    ("viewer", "two_owners"), [("admin", False), ("member", False), ("owner", True)]
)
def test_a_member_leaves(browser, crew, member_factory, user_factory, viewer, two_owners):
    if two_owners:
        add_second_owner(crew, member_factory, user_factory)
    previous = roles(crew["organization"])[crew[viewer].pk]
    client = browser(crew[viewer])

    response = client.post(org_url("leave", crew))

    assert response.status_code == 302
    assert response["Location"] == HOME
    assert crew[viewer].pk not in roles(crew["organization"])
    the_message(client, response, "success")
    event = the_event("member.left")
    assert event.organization_id == crew["organization"].pk
    assert (event.actor_id, event.target_id) == (crew[viewer].pk, crew[viewer].pk)
    assert event.detail["role"] == previous
    assert_refused(client.get(org_url("members", crew)), NOT_A_MEMBER)


def test_the_only_owner_cannot_leave(browser, crew):
    before = snapshot(crew)
    client = browser(crew["owner"])

    response = client.post(org_url("leave", crew))

    assert response.status_code == 302
    assert response["Location"] == org_url("members", crew)
    assert AT_LEAST_ONE_OWNER in the_message(client, response, "error")
    assert_untouched(crew, before)
    assert roles(crew["organization"])[crew["owner"].pk] == Role.OWNER


# --- Organization settings: renaming ---------------------------------------------------------


@pytest.mark.parametrize("viewer", ["owner", "admin"])
def test_the_settings_page_shows_the_rename_form(browser, crew, viewer):
    response = browser(crew[viewer]).get(org_url("organization-settings", crew))

    assert response.status_code == 200
    assert f'value="{NAME}"' in input_tag(response, "name")


def test_the_owner_sees_the_danger_zone(browser, crew):
    response = browser(crew["owner"]).get(org_url("organization-settings", crew))

    assert response.status_code == 200
    action = re.escape(org_url("organization-delete", crew))
    form = re.search(rf'<form\b[^>]*\baction="{action}"[^>]*>(.*?)</form>', html(response), re.S)
    assert form, "no form posting to the delete page"
    assert re.search(r'<input\b[^>]*\bname="confirm"', form.group(1))


def test_an_admin_sees_no_danger_zone(browser, crew):
    response = browser(crew["admin"]).get(org_url("organization-settings", crew))

    assert response.status_code == 200
    assert org_url("organization-delete", crew) not in html(response)
    assert 'name="confirm"' not in html(response)


@pytest.mark.parametrize("method", ["GET", "POST"])
def test_a_member_may_not_open_the_settings(browser, crew, method):
    before = snapshot(crew)

    response = send(browser(crew["member"]), method, org_url("organization-settings", crew))

    assert_refused(response)
    assert_untouched(crew, before)


@pytest.mark.parametrize("viewer", ["owner", "admin"])
def test_owners_and_admins_rename_the_organization(browser, crew, viewer):
    client = browser(crew[viewer])
    url = org_url("organization-settings", crew)

    response = client.post(url, {"name": "Acme Orbital"})

    assert response.status_code == 302
    assert response["Location"] == url
    assert Organization.objects.get(pk=crew["organization"].pk).name == "Acme Orbital"
    the_message(client, response, "success")
    event = the_event("organization.updated")
    assert (event.organization_id, event.actor_id) == (crew["organization"].pk, crew[viewer].pk)
    assert event.detail["name"] == {"from": NAME, "to": "Acme Orbital"}


@pytest.mark.parametrize(
    "data",
    [{"name": ""}, {"name": "   "}, {}, {"name": "n" * 101}],
    ids=["blank", "whitespace", "missing", "too-long"],
)
def test_an_invalid_name_is_refused_with_the_reason(browser, crew, data):
    before = snapshot(crew)

    response = browser(crew["owner"]).post(org_url("organization-settings", crew), data)

    assert response.status_code == 400
    assert field_errors(response, "name")
    assert_untouched(crew, before)


# --- Organization settings: deleting ---------------------------------------------------------


def test_the_owner_deletes_the_organization(browser, crew, project_factory):
    project_factory(crew["organization"], name="Apollo")
    organization_id = crew["organization"].pk
    client = browser(crew["owner"])

    response = client.post(org_url("organization-delete", crew), {"confirm": NAME})

    assert response.status_code == 302
    assert response["Location"] == HOME
    assert not Organization.objects.filter(pk=organization_id).exists()
    assert not Membership.objects.filter(organization_id=organization_id).exists()
    assert NAME in the_message(client, response, "success")
    event = the_event("organization.deleted")
    assert event.actor_id == crew["owner"].pk
    assert event.detail["organizationId"] == organization_id
    assert roles(crew["outsider"].memberships.get().organization) == {
        crew["outsider"].pk: Role.OWNER
    }


@pytest.mark.parametrize(
    "data",
    [
        {"confirm": "acme rockets"},
        {"confirm": "Acme"},
        {"confirm": f"{NAME}!"},
        {"confirm": f" {NAME}"},
        {"confirm": ""},
        {},
    ],
    ids=["case", "prefix", "suffix", "padded", "blank", "missing"],
)
def test_deleting_needs_the_exact_name(browser, crew, data):
    before = snapshot(crew)

    response = browser(crew["owner"]).post(org_url("organization-delete", crew), data)

    assert response.status_code == 400
    assert field_errors(response, "confirm")
    assert f'value="{NAME}"' in input_tag(response, "name")  # the settings page again
    assert_untouched(crew, before)


@pytest.mark.parametrize("viewer", ["admin", "member"])
def test_only_the_owner_deletes_the_organization(browser, crew, viewer):
    before = snapshot(crew)

    response = browser(crew[viewer]).post(org_url("organization-delete", crew), {"confirm": NAME})

    assert_refused(response)
    assert_untouched(crew, before)


# --- CSRF and escaping ------------------------------------------------------------------------


def test_a_members_name_is_escaped_in_the_message(browser, crew):
    crew["member"].full_name = "<b>Bold</b>"
    crew["member"].save(update_fields=["full_name"])
    client = browser(crew["owner"])

    response = client.post(member_url("member-role", crew, "member"), {"role": "admin"})

    shown = client.get(response["Location"])
    assert "<b>Bold</b>" not in shown.content.decode()
    assert "&lt;b&gt;Bold&lt;/b&gt;" in shown.content.decode()


@pytest.mark.parametrize("name", sorted({name for name, method in PAGES if method == "POST"}))
def test_a_form_without_the_csrf_token_is_refused(browser, crew, name):
    before = snapshot(crew)

    response = browser(crew["owner"], enforce_csrf_checks=True).post(
        url_for(name, crew, "admin"), POSTED
    )

    assert response.status_code == 403
    assert "This form has expired" in html(response)
    assert_untouched(crew, before)
