"""The membership lifecycle, as members manage it: PATCH and DELETE
/api/user/organizations/{organizationId}/members/{userId}, POST …/leave, POST
…/transfer-ownership, and DELETE /api/user/organizations/{organizationId}."""

from __future__ import annotations

from typing import Any

import pytest
from django.core import mail
from rest_framework.test import APIClient

from accounts.models import User
from apikeys.models import ApiKey
from audit.models import AuditEvent
from tenants.models import Membership, Organization, Project, Role
from tests.conftest import assert_error

pytestmark = pytest.mark.django_db

NAME = "Acme Rockets"
UNKNOWN_ID = "01HZ3K5R4X9Y2V6QF8TJ7W0CDN"
LIFECYCLE_ACTIONS = [
    "member.role_changed",
    "member.removed",
    "member.left",
    "organization.ownership_transferred",
    "organization.deleted",
]
MEMBER_FIELDS = {"userId", "email", "fullName", "handle", "role", "joinedAt"}

# The warm-key cache, off (every request reads the database) and on (a key's second request
# is answered from the cache, which a change must reach once it commits: hence transaction).
CACHE = [
    pytest.param(0, id="cold-key"),
    pytest.param(300, id="warm-key", marks=pytest.mark.django_db(transaction=True)),
]


def base(organization: Organization) -> str:
    return f"/api/user/organizations/{organization.pk}"


@pytest.fixture
def crew(team, member_factory) -> dict[str, Any]:
    """The team (one owner), renamed so that its name is unmistakable, with a second admin and
    a second member."""
    organization = team["organization"]
    organization.name = NAME
    organization.save()
    return {
        **team,
        "admin2": member_factory(organization, role=Role.ADMIN),
        "member2": member_factory(organization, role=Role.MEMBER),
    }


def add_second_owner(crew: dict[str, Any], member_factory) -> None:
    crew["owner2"] = member_factory(crew["organization"], role=Role.OWNER)


@pytest.fixture
def caller(crew, client_for, key_client, api_key_factory):
    """caller("admin") is the admin's session; caller("admin key") a key of the admin's with
    members:write (and nothing else), not pinned."""

    def make(who: str) -> APIClient:
        name, _sep, kind = who.partition(" ")
        if kind == "key":
            _key, raw = api_key_factory(user=crew[name], scopes=["members:write"])
            return key_client(raw)
        return client_for(crew[name])

    return make


@pytest.fixture
def call(crew, django_capture_on_commit_callbacks):
    """call(client, "patch", "/members/{admin}", {"role": "member"}): the request under the
    organization's path, with "{name}" naming a crew member's id. What the request leaves to
    be done once it commits (its emails) is done before the response is returned, as it would
    be outside a test's transaction."""

    def send(client: APIClient, method: str, path: str, body: Any = None) -> Any:
        url = base(crew["organization"]) + resolve(path, crew)
        args = () if body is None else (resolve(body, crew),)
        with django_capture_on_commit_callbacks(execute=True):
            return getattr(client, method)(url, *args)

    return send


def resolve(template: Any, crew: dict[str, Any]) -> Any:
    """A path or body whose "{admin}" placeholders name the crew's users' ids."""
    ids = {name: user.pk for name, user in crew.items() if isinstance(user, User)}
    if isinstance(template, str):
        return template.format(**ids)
    if isinstance(template, dict):
        return {field: resolve(value, crew) for field, value in template.items()}
    return template


def assert_ok(response: Any, message: str) -> Any:
    """The success envelope with `message`; returns its data."""
    assert response.status_code == 200, response.content
    body = response.json()
    assert (body["success"], body["status"], body["code"], body["message"]) == (
        True,
        200,
        "OK",
        message,
    ), body
    return body["data"]


def roles(organization: Organization) -> dict[str, str]:
    return dict(
        Membership.objects.filter(organization=organization).values_list("user_id", "role")
    )


def an_owner(organization: Organization) -> User:
    return Membership.objects.filter(organization=organization, role=Role.OWNER).first().user


def listed(client_for, organization: Organization, viewer: User | None = None) -> dict:
    """GET …/members as `viewer` (an owner by default): each listed member by user id."""
    response = client_for(viewer or an_owner(organization)).get(
        f"{base(organization)}/members", {"pageSize": 100}
    )
    assert response.status_code == 200, response.content
    return {member["userId"]: member for member in response.json()["data"]}


def events(client_for, organization: Organization, action: str) -> list[dict]:
    """The organization's audit events with `action`, newest first, as an owner lists them."""
    response = client_for(an_owner(organization)).get(
        f"{base(organization)}/audit-events", {"action": action}
    )
    assert response.status_code == 200, response.content
    return response.json()["data"]


def mail_to(user: User) -> list[str]:
    """Subject and body of each message sent to `user`."""
    return [f"{m.subject}\n{m.body}" for m in mail.outbox if user.email in m.to]


def snapshot(crew: dict[str, Any]) -> tuple:
    organization = crew["organization"]
    return (
        Organization.objects.filter(pk=organization.pk).exists(),
        roles(organization),
        Project.objects.filter(organization=organization).count(),
    )


def assert_untouched(crew: dict[str, Any], before: tuple) -> None:
    assert snapshot(crew) == before
    assert not AuditEvent.objects.filter(action__in=LIFECYCLE_ACTIONS).exists()
    assert mail.outbox == []


# --- Who may call at all: credentials, scope, tenancy --------------------------------------

ENDPOINTS = {
    "change role": ("patch", "/members/{member}", {"role": "admin"}),
    "remove member": ("delete", "/members/{member}", None),
    "leave": ("post", "/leave", None),
    "transfer ownership": ("post", "/transfer-ownership", {"userId": "{member}"}),
    "delete organization": ("delete", "", {"confirm": NAME}),
}

# Missing members:write. write:all leaves it out, as an administrative scope.
WITHOUT_SCOPE = ["members:read", "organizations:write", "projects:*", "user:read"]

REFUSALS = {
    "anonymous": (401, "UNAUTHORIZED"),
    "outsider session": (403, "NOT_ORGANIZATION_MEMBER"),
    "outsider key with *": (403, "NOT_ORGANIZATION_MEMBER"),
    "owner key without members:write": (403, "INSUFFICIENT_SCOPE"),
    "owner key with write:all": (403, "INSUFFICIENT_SCOPE"),
    "owner key with * pinned elsewhere": (403, "ORGANIZATION_MISMATCH"),
}


@pytest.mark.parametrize("refusal", REFUSALS)
@pytest.mark.parametrize("endpoint", ENDPOINTS)
def test_callers_without_access_are_refused_and_nothing_changes(
    crew, call, client_for, key_client, api_key_factory, org_factory, endpoint, refusal
):
    owner, outsider = crew["owner"], crew["outsider"]
    clients = {
        "anonymous": lambda: APIClient(),
        "outsider session": lambda: client_for(outsider),
        "outsider key with *": lambda: key_client(api_key_factory(user=outsider, scopes=["*"])[1]),
        "owner key without members:write": lambda: key_client(
            api_key_factory(user=owner, scopes=WITHOUT_SCOPE)[1]
        ),
        "owner key with write:all": lambda: key_client(
            api_key_factory(user=owner, scopes=["write:all"])[1]
        ),
        "owner key with * pinned elsewhere": lambda: key_client(
            api_key_factory(user=owner, scopes=["*"], organization=org_factory(owner=owner))[1]
        ),
    }
    client = clients[refusal]()
    status, code = REFUSALS[refusal]
    if endpoint == "delete organization" and code == "INSUFFICIENT_SCOPE":
        code = "SESSION_REQUIRED"  # a key of a member, whatever its scopes
    before = snapshot(crew)

    response = call(client, *ENDPOINTS[endpoint])

    body = assert_error(response, status, code)
    if code == "INSUFFICIENT_SCOPE":
        assert body["required_scopes"] == ["members:write"]
    assert_untouched(crew, before)


@pytest.mark.parametrize("scopes", [["*"], ["organizations:write", "members:write"]])
@pytest.mark.parametrize("pinned", [False, True], ids=["unpinned", "pinned-here"])
def test_deleting_the_organization_needs_a_session_whatever_the_key(
    crew, call, key_client, api_key_factory, scopes, pinned
):
    organization = crew["organization"]
    _key, raw = api_key_factory(
        user=crew["owner"], scopes=scopes, organization=organization if pinned else None
    )
    before = snapshot(crew)

    response = call(key_client(raw), "delete", "", {"confirm": NAME})

    assert_error(response, 403, "SESSION_REQUIRED")
    assert_untouched(crew, before)


# --- Who may do what to whom: roles ---------------------------------------------------------

ROLE_REFUSALS = [
    # Members manage nobody, with a session or a key holding members:write.
    ("member", "patch", "/members/{member2}", {"role": "admin"}),
    ("member", "patch", "/members/{member}", {"role": "admin"}),
    ("member key", "patch", "/members/{member2}", {"role": "admin"}),
    ("member", "delete", "/members/{member2}", None),
    ("member key", "delete", "/members/{member2}", None),
    # Admins never touch an owner, and make no one an owner.
    ("admin", "patch", "/members/{owner}", {"role": "member"}),
    ("admin key", "patch", "/members/{owner}", {"role": "admin"}),
    ("admin", "patch", "/members/{member}", {"role": "owner"}),
    ("admin", "patch", "/members/{admin}", {"role": "owner"}),
    ("admin key", "patch", "/members/{admin2}", {"role": "owner"}),
    ("admin", "delete", "/members/{owner}", None),
    ("admin key", "delete", "/members/{owner}", None),
    # Only an owner hands ownership over, or deletes the organization.
    ("admin", "post", "/transfer-ownership", {"userId": "{member}"}),
    ("admin", "post", "/transfer-ownership", {"userId": "{admin2}"}),
    ("admin key", "post", "/transfer-ownership", {"userId": "{member}"}),
    ("member", "post", "/transfer-ownership", {"userId": "{admin}"}),
    ("member key", "post", "/transfer-ownership", {"userId": "{member}"}),
    ("admin", "delete", "", {"confirm": NAME}),
    ("member", "delete", "", {"confirm": NAME}),
]


@pytest.mark.parametrize(("who", "method", "path", "body"), ROLE_REFUSALS)
def test_a_role_that_does_not_reach_is_refused(crew, caller, call, who, method, path, body):
    before = snapshot(crew)

    response = call(caller(who), method, path, body)

    assert_error(response, 403, "INSUFFICIENT_ROLE")
    assert_untouched(crew, before)


LAST_OWNER = [
    ("owner", "patch", "/members/{owner}", {"role": "admin"}),
    ("owner", "patch", "/members/{owner}", {"role": "member"}),
    ("owner key", "patch", "/members/{owner}", {"role": "admin"}),
    ("owner", "delete", "/members/{owner}", None),
    ("owner key", "delete", "/members/{owner}", None),
    ("owner", "post", "/leave", None),
    ("owner key", "post", "/leave", None),
]


@pytest.mark.parametrize(("who", "method", "path", "body"), LAST_OWNER)
def test_the_only_owner_stays(crew, caller, call, who, method, path, body):
    before = snapshot(crew)

    response = call(caller(who), method, path, body)

    assert_error(response, 409, "LAST_OWNER")
    assert_untouched(crew, before)


NOT_MEMBERS = [
    ("patch", "/members/{outsider}", {"role": "admin"}),
    ("patch", f"/members/{UNKNOWN_ID}", {"role": "admin"}),
    ("delete", "/members/{outsider}", None),
    ("delete", f"/members/{UNKNOWN_ID}", None),
    ("post", "/transfer-ownership", {"userId": "{outsider}"}),
    ("post", "/transfer-ownership", {"userId": UNKNOWN_ID}),
]


@pytest.mark.parametrize(("method", "path", "body"), NOT_MEMBERS)
def test_someone_who_is_not_a_member_is_not_found(crew, caller, call, method, path, body):
    outsiders_org = crew["outsider"].memberships.get().organization
    before = snapshot(crew)

    response = call(caller("owner"), method, path, body)

    assert_error(response, 404, "NOT_FOUND")
    assert_untouched(crew, before)
    assert roles(outsiders_org) == {crew["outsider"].pk: "owner"}


# --- PATCH …/members/{userId} ---------------------------------------------------------------

ROLE_CHANGES = [
    # (caller, target, new role, a second owner exists)
    ("owner", "member", "admin", False),
    ("owner", "admin", "member", False),
    ("owner", "member", "owner", False),
    ("owner", "admin", "owner", False),
    ("owner key", "member", "admin", False),
    ("admin", "member", "admin", False),
    ("admin", "admin2", "member", False),
    ("admin", "admin", "member", False),
    ("admin key", "member2", "admin", False),
    ("owner", "owner2", "admin", True),
    ("owner", "owner", "admin", True),
    ("owner", "owner", "member", True),
    ("owner2 key", "owner", "member", True),
]


@pytest.mark.parametrize(("who", "target", "role", "two_owners"), ROLE_CHANGES)
def test_owners_and_admins_change_roles(
    crew, caller, call, client_for, member_factory, who, target, role, two_owners
):
    if two_owners:
        add_second_owner(crew, member_factory)
    organization, member = crew["organization"], crew[target]
    previous = roles(organization)[member.pk]
    client = caller(who)

    response = call(client, "patch", f"/members/{member.pk}", {"role": role})

    data = assert_ok(response, "Member updated")
    assert set(data) == MEMBER_FIELDS
    assert (data["userId"], data["email"], data["role"]) == (member.pk, member.email, role)
    assert data == listed(client_for, organization)[member.pk]
    assert roles(organization)[member.pk] == role
    [event] = events(client_for, organization, "member.role_changed")
    assert event["detail"] == {"role": {"from": previous, "to": role}, "by": "api"}
    assert (event["targetType"], event["targetId"]) == ("user", member.pk)
    assert event["actor"]["id"] == crew[who.partition(" ")[0]].pk
    [message] = mail_to(member)
    assert NAME in message
    assert role in message.lower()


@pytest.mark.parametrize(
    ("who", "target"), [("owner", "admin"), ("owner", "owner"), ("admin", "member")]
)
def test_giving_the_same_role_again_changes_nothing(crew, caller, call, client_for, who, target):
    organization, member = crew["organization"], crew[target]
    role = roles(organization)[member.pk]
    before = snapshot(crew)

    response = call(caller(who), "patch", f"/members/{member.pk}", {"role": role})

    data = assert_ok(response, "Member updated")
    assert (data["userId"], data["role"]) == (member.pk, role)
    assert data == listed(client_for, organization)[member.pk]
    assert_untouched(crew, before)


def test_a_new_owner_is_told_they_are_now_an_owner(crew, caller, call):
    response = call(caller("owner"), "patch", "/members/{member}", {"role": "owner"})

    assert_ok(response, "Member updated")

    [message] = mail_to(crew["member"])
    assert NAME in message
    assert "owner" in message.lower()


@pytest.mark.parametrize(
    "body",
    [{"role": "superuser"}, {"role": 5}, {"role": None}, {"role": "Owner"}, {"role": ""}],
)
def test_a_bad_role_is_400(crew, caller, call, body):
    before = snapshot(crew)

    response = call(caller("owner"), "patch", "/members/{member}", body)

    assert_error(response, 400, "VALIDATION_ERROR", field="role")
    assert_untouched(crew, before)


def test_a_patch_without_a_role_changes_nothing(crew, caller, call):
    # PATCH is a partial update: a field left out keeps its value.
    before = snapshot(crew)

    response = call(caller("owner"), "patch", "/members/{member}", {})

    assert response.status_code == 200
    assert response.json()["data"]["role"] == "member"
    assert_untouched(crew, before)


@pytest.mark.parametrize("cache_timeout", CACHE)
def test_a_demoted_admins_key_loses_the_access_on_its_next_request(
    settings, crew, caller, call, api_key_factory, key_client, cache_timeout
):
    settings.APIKEYS = {**settings.APIKEYS, "CACHE_TIMEOUT": cache_timeout}
    organization = crew["organization"]
    _key, raw = api_key_factory(user=crew["admin"], scopes=["members:write"])
    admins_key = key_client(raw)
    promoted = call(admins_key, "patch", "/members/{member}", {"role": "admin"})
    assert_ok(promoted, "Member updated")

    demoted = call(caller("owner"), "patch", "/members/{admin}", {"role": "member"})
    assert_ok(demoted, "Member updated")
    response = call(admins_key, "patch", "/members/{member2}", {"role": "admin"})

    assert_error(response, 403, "INSUFFICIENT_ROLE")
    assert roles(organization)[crew["member2"].pk] == "member"


# --- DELETE …/members/{userId} --------------------------------------------------------------

REMOVALS = [
    # (caller, target, a second owner exists)
    ("owner", "admin", False),
    ("owner", "member", False),
    ("owner key", "member", False),
    ("admin", "member", False),
    ("admin", "admin2", False),
    ("admin", "admin", False),
    ("admin key", "member2", False),
    ("owner", "owner2", True),
    ("owner", "owner", True),
]


@pytest.mark.parametrize(("who", "target", "two_owners"), REMOVALS)
def test_owners_and_admins_remove_members(
    crew, caller, call, client_for, member_factory, who, target, two_owners
):
    if two_owners:
        add_second_owner(crew, member_factory)
    organization, member = crew["organization"], crew[target]
    before = roles(organization)
    role = before[member.pk]

    response = call(caller(who), "delete", f"/members/{member.pk}")

    assert assert_ok(response, "Member removed") == {"userId": member.pk}
    assert set(listed(client_for, organization)) == set(before) - {member.pk}
    assert member.pk not in roles(organization)
    [event] = events(client_for, organization, "member.removed")
    assert event["detail"] == {"role": role, "by": "api"}
    assert (event["targetType"], event["targetId"]) == ("user", member.pk)
    assert event["actor"]["id"] == crew[who.partition(" ")[0]].pk
    if member != crew[who.partition(" ")[0]]:  # someone removing themselves is not told
        [message] = mail_to(member)
        assert NAME in message


@pytest.mark.parametrize("cache_timeout", CACHE)
@pytest.mark.parametrize("scopes", [["projects:read"], ["*"]])
def test_a_removed_members_key_loses_the_organization_on_its_next_request(
    settings, crew, caller, call, api_key_factory, key_client, cache_timeout, scopes
):
    settings.APIKEYS = {**settings.APIKEYS, "CACHE_TIMEOUT": cache_timeout}
    organization = crew["organization"]
    _key, raw = api_key_factory(user=crew["member"], scopes=scopes)
    members_key = key_client(raw)
    projects = f"{base(organization)}/projects"
    assert members_key.get(projects).status_code == 200

    removed = call(caller("owner"), "delete", "/members/{member}")
    assert_ok(removed, "Member removed")
    response = members_key.get(projects)

    assert_error(response, 403, "NOT_ORGANIZATION_MEMBER")


# --- POST …/leave ---------------------------------------------------------------------------

LEAVERS = [
    # (caller, a second owner exists)
    ("member", False),
    ("member key", False),
    ("admin", False),
    ("admin key", False),
    ("owner", True),
    ("owner key", True),
]


@pytest.mark.parametrize(("who", "two_owners"), LEAVERS)
def test_any_member_may_leave(crew, caller, call, client_for, member_factory, who, two_owners):
    if two_owners:
        add_second_owner(crew, member_factory)
    organization = crew["organization"]
    leaver = crew[who.partition(" ")[0]]
    role = roles(organization)[leaver.pk]
    client = caller(who)

    response = call(client, "post", "/leave")

    assert assert_ok(response, "Left the organization") == {"organizationId": organization.pk}
    assert leaver.pk not in listed(client_for, organization)
    assert leaver.pk not in roles(organization)
    [event] = events(client_for, organization, "member.left")
    assert event["detail"] == {"role": role}
    assert event["actor"]["id"] == leaver.pk
    assert_error(client_for(leaver).get(base(organization)), 403, "NOT_ORGANIZATION_MEMBER")


# --- POST …/transfer-ownership -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("who", "new_owner"), [("owner", "admin"), ("owner", "member"), ("owner key", "member2")]
)
def test_the_owner_transfers_ownership_and_becomes_an_admin(
    crew, caller, call, client_for, who, new_owner
):
    organization, previous, successor = crew["organization"], crew["owner"], crew[new_owner]

    response = call(caller(who), "post", "/transfer-ownership", {"userId": successor.pk})

    data = assert_ok(response, "Ownership transferred")
    assert set(data) == MEMBER_FIELDS
    assert (data["userId"], data["email"], data["role"]) == (
        successor.pk,
        successor.email,
        "owner",
    )
    members = listed(client_for, organization, viewer=successor)
    assert data == members[successor.pk]
    assert members[previous.pk]["role"] == "admin"
    assert [m["userId"] for m in members.values() if m["role"] == "owner"] == [successor.pk]
    [event] = events(client_for, organization, "organization.ownership_transferred")
    assert event["detail"] == {"from": previous.pk, "to": successor.pk}
    assert event["actor"]["id"] == previous.pk
    [message] = mail_to(successor)
    assert NAME in message
    assert "owner" in message.lower()


def test_the_new_owner_may_then_act_as_owner_and_the_previous_one_may_not(crew, caller, call):
    organization = crew["organization"]
    transferred = call(caller("owner"), "post", "/transfer-ownership", {"userId": "{admin}"})
    assert_ok(transferred, "Ownership transferred")

    refused = call(caller("owner"), "post", "/transfer-ownership", {"userId": "{member}"})
    taken_back = call(caller("admin"), "post", "/transfer-ownership", {"userId": "{owner}"})

    assert_error(refused, 403, "INSUFFICIENT_ROLE")
    assert assert_ok(taken_back, "Ownership transferred")["userId"] == crew["owner"].pk
    assert roles(organization)[crew["owner"].pk] == "owner"
    assert roles(organization)[crew["admin"].pk] == "admin"


@pytest.mark.parametrize(
    "body",
    [
        {},
        {"userId": None},
        {"userId": ""},
        {"userId": 5},
        {"userId": "not-a-ulid"},
        {"userId": "!" * 26},
        {"userId": [UNKNOWN_ID]},
        {"userId": "{owner}"},  # the caller
    ],
)
def test_transfer_with_bad_input_is_400(crew, caller, call, body):
    before = snapshot(crew)

    response = call(caller("owner"), "post", "/transfer-ownership", body)

    assert_error(response, 400, "VALIDATION_ERROR", field="userId")
    assert_untouched(crew, before)


# --- DELETE /api/user/organizations/{organizationId} -------------------------------------------


def test_the_owner_deletes_the_organization(
    crew, call, client_for, key_client, api_key_factory, project_factory
):
    organization, owner = crew["organization"], crew["owner"]
    project_factory(organization)
    project_factory(organization)
    _key, pinned = api_key_factory(
        user=crew["admin"], scopes=["user:read"], organization=organization
    )
    _key, unpinned = api_key_factory(user=owner, scopes=["user:read"])
    session = client_for(owner)
    assert session.patch(base(organization), {"name": NAME}).status_code == 200
    recorded = set(
        AuditEvent.objects.filter(organization_id=organization.pk).values_list("pk", flat=True)
    )
    assert recorded
    elsewhere = crew["outsider"].memberships.get().organization

    response = call(session, "delete", "", {"confirm": NAME})

    assert assert_ok(response, "Organization deleted") == {"id": organization.pk}
    assert_error(session.get(base(organization)), 403, "NOT_ORGANIZATION_MEMBER")
    listed_for_admin = client_for(crew["admin"]).get("/api/user/organizations").json()["data"]
    assert organization.pk not in [o["id"] for o in listed_for_admin]
    assert not Organization.objects.filter(pk=organization.pk).exists()
    assert not Project.objects.filter(organization_id=organization.pk).exists()
    assert not Membership.objects.filter(organization_id=organization.pk).exists()
    assert not ApiKey.objects.filter(organization_id=organization.pk).exists()
    assert_error(key_client(pinned).get("/api/user/me"), 401, "KEY_INVALID")
    assert key_client(unpinned).get("/api/user/me").status_code == 200
    assert AuditEvent.objects.filter(pk__in=recorded).count() == len(recorded)
    deleted = AuditEvent.objects.get(action="organization.deleted")
    assert deleted.actor == owner
    assert deleted.detail["organizationId"] == organization.pk
    assert deleted.detail["name"] == NAME
    assert roles(elsewhere) == {crew["outsider"].pk: "owner"}


@pytest.mark.parametrize(
    "body",
    [
        {},
        {"confirm": NAME.upper()},
        {"confirm": NAME.lower()},
        {"confirm": ""},
        {"confirm": None},
        {"confirm": "Acme"},
    ],
)
def test_deleting_needs_the_exact_name_as_confirmation(crew, caller, call, body):
    before = snapshot(crew)

    response = call(caller("owner"), "delete", "", body)

    assert_error(response, 400, "VALIDATION_ERROR", field="confirm")
    assert_untouched(crew, before)
