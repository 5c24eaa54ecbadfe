"""An organization's view of its API keys: the list of every key that can act in it, and its
owners' and admins' revocation of one there (outright for a key pinned to it, there only for an
unpinned one), against the three actors, every credential and bad input."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

import pytest
from django.core import mail
from django.utils import timezone
from ulid import ULID

from accounts.models import User
from api.envelope import format_datetime
from apikeys.models import ApiKey
from audit.models import Action, AuditEvent
from oauth.models import Application
from oauth.tokens import issue_access_token
from tenants.models import Organization, Role
from tests.conftest import assert_error

pytestmark = pytest.mark.django_db

REVOKED_HERE_SUBJECT = "An API key of your Latchkey account was revoked in an organization"
REVOKED_SUBJECT = "An API key of your Latchkey account was revoked"
ITEM_FIELDS = {
    "id",
    "name",
    "start",
    "scopes",
    "organizationId",
    "owner",
    "createdAt",
    "expiresAt",
    "lastUsedAt",
    "lastUsedIp",
    "status",
    "revokedHere",
}


def keys_url(organization_id: str) -> str:
    return f"/api/user/organizations/{organization_id}/api-keys"


def revoke_url(organization_id: str, key_id: str) -> str:
    return f"/api/user/organizations/{organization_id}/api-keys/{key_id}/revoke"


@dataclass
class Crew:
    organization: Organization
    elsewhere: Organization  # another organization the member (and the admin) belong to
    owner: User
    admin: User
    member: User
    outsider: User  # the owner of another tenant
    unpinned: ApiKey  # the member's, acting in both organizations
    unpinned_raw: str
    pinned: ApiKey  # the member's, pinned to the organization
    pinned_raw: str
    pinned_elsewhere: ApiKey  # the member's, pinned to the other organization
    outsiders: ApiKey  # the outsider's unpinned key


@pytest.fixture
def crew(team, org_factory, member_factory, api_key_factory) -> Crew:
    elsewhere = org_factory()
    member_factory(elsewhere, user=team["member"])
    member_factory(elsewhere, user=team["admin"])
    scopes = ["user:read", "projects:read"]
    unpinned, unpinned_raw = api_key_factory(user=team["member"], scopes=scopes, name="Laptop")
    pinned, pinned_raw = api_key_factory(
        user=team["member"], scopes=scopes, organization=team["organization"], name="CI"
    )
    pinned_elsewhere, _raw = api_key_factory(
        user=team["member"], scopes=scopes, organization=elsewhere, name="Elsewhere"
    )
    outsiders, _raw = api_key_factory(user=team["outsider"], scopes=["*"], name="Outsider")
    return Crew(
        organization=team["organization"],
        elsewhere=elsewhere,
        owner=team["owner"],
        admin=team["admin"],
        member=team["member"],
        outsider=team["outsider"],
        unpinned=unpinned,
        unpinned_raw=unpinned_raw,
        pinned=pinned,
        pinned_raw=pinned_raw,
        pinned_elsewhere=pinned_elsewhere,
        outsiders=outsiders,
    )


@pytest.fixture
def committed(django_capture_on_commit_callbacks):
    """Run a request and what it leaves for after its commit (its mail, its warm-cache
    withdrawals), as it would run outside a test's transaction."""

    def run(call):
        with django_capture_on_commit_callbacks(execute=True):
            return call()

    return run


def revoke(client, crew: Crew, key: ApiKey, **headers: str):
    return client.post(revoke_url(crew.organization.pk, key.pk), headers=headers)


def listed_ids(response) -> list[str]:
    assert response.status_code == 200, response.content
    return [item["id"] for item in response.json()["data"]]


def revocations(key: ApiKey) -> list[AuditEvent]:
    return list(AuditEvent.objects.filter(action=Action.KEY_REVOKED, target_id=key.pk))


def assert_untouched(crew: Crew) -> None:
    """No key was revoked, anywhere, and no one was mailed."""
    for key in (crew.unpinned, crew.pinned, crew.pinned_elsewhere, crew.outsiders):
        key.refresh_from_db()
        assert key.revoked_at is None
        assert key.revoked_in == []
        assert revocations(key) == []
    assert mail.outbox == []


# --- The list --------------------------------------------------------------------------------


@pytest.mark.parametrize("actor", ["owner", "admin"])
def test_owners_and_admins_list_every_key_that_can_act_in_the_organization(
    client_for, crew, api_key_factory, actor
):
    own, _raw = api_key_factory(user=getattr(crew, actor), scopes=["api-keys:read"])

    response = client_for(getattr(crew, actor)).get(keys_url(crew.organization.pk))

    # Newest first; not the key pinned elsewhere, nor the outsider's.
    assert listed_ids(response) == [own.pk, crew.pinned.pk, crew.unpinned.pk]
    body = response.json()
    assert body["message"] == "API keys fetched"
    assert body["pagination"]["totalItems"] == 3


def test_each_key_shows_its_owner_and_its_last_use_and_nothing_secret(client_for, crew):
    used = timezone.now() - timedelta(hours=2)
    ApiKey.objects.filter(pk=crew.unpinned.pk).update(
        last_used_at=used, last_used_ip="203.0.113.7"
    )
    crew.unpinned.refresh_from_db()

    response = client_for(crew.admin).get(keys_url(crew.organization.pk))

    items = {item["id"]: item for item in response.json()["data"]}
    item = items[crew.unpinned.pk]
    assert set(item) == ITEM_FIELDS
    assert item["name"] == "Laptop"
    assert item["start"] == crew.unpinned.start
    assert item["scopes"] == ["user:read", "projects:read"]
    assert item["organizationId"] is None
    assert item["owner"] == {
        "id": crew.member.pk,
        "email": crew.member.email,
        "fullName": crew.member.full_name,
    }
    assert item["lastUsedAt"] == format_datetime(used)
    assert item["lastUsedIp"] == "203.0.113.7"
    assert (item["status"], item["revokedHere"], item["expiresAt"]) == ("active", False, None)
    assert items[crew.pinned.pk]["organizationId"] == crew.organization.pk
    assert items[crew.pinned.pk]["lastUsedIp"] is None
    text = response.content.decode()
    for key in (crew.unpinned, crew.pinned):
        assert key.lookup not in text
        assert key.digest not in text
        assert key.digest.split("$")[-1] not in text
    assert crew.unpinned_raw not in text and crew.pinned_raw not in text


def test_a_former_members_keys_are_not_listed(client_for, crew):
    crew.member.memberships.filter(organization=crew.organization).delete()

    response = client_for(crew.owner).get(keys_url(crew.organization.pk))

    assert listed_ids(response) == []


def test_the_list_shows_keys_in_use_and_with_status_all_every_key(
    client_for, crew, api_key_factory, committed
):
    expired, _raw = api_key_factory(user=crew.member, expired=True, name="Old")
    revoked, _raw = api_key_factory(user=crew.member, revoked=True, name="Gone")
    client = client_for(crew.admin)
    assert committed(lambda: revoke(client, crew, crew.unpinned)).status_code == 200

    in_use = client.get(keys_url(crew.organization.pk))
    every = client.get(keys_url(crew.organization.pk) + "?status=all")

    # A key revoked here is still in use elsewhere: listed, and marked.
    assert listed_ids(in_use) == [crew.pinned.pk, crew.unpinned.pk]
    assert [item["revokedHere"] for item in in_use.json()["data"]] == [False, True]
    assert listed_ids(every) == [revoked.pk, expired.pk, crew.pinned.pk, crew.unpinned.pk]
    assert [item["status"] for item in every.json()["data"]] == [
        "revoked",
        "expired",
        "active",
        "active",
    ]


@pytest.mark.parametrize(
    "query",
    [
        pytest.param("status=revoked", id="status-unknown"),
        pytest.param("status=ALL", id="status-upper-case"),
        pytest.param("page=0", id="page-zero"),
        pytest.param("page=x", id="page-not-a-number"),
        pytest.param("pageSize=101", id="page-size-too-large"),
    ],
)
def test_a_bad_query_is_400(client_for, crew, query):
    response = client_for(crew.owner).get(f"{keys_url(crew.organization.pk)}?{query}")

    field = query.partition("=")[0]
    assert_error(response, 400, "VALIDATION_ERROR", field=field)


@pytest.mark.parametrize("keys", [2, 12])
def test_the_list_costs_the_same_queries_whatever_the_number_of_keys(
    client_for, crew, api_key_factory, django_assert_max_num_queries, keys
):
    for _ in range(keys):
        api_key_factory(user=crew.member, organization=crew.organization)
    client = client_for(crew.admin)

    # 1. the session, 2. its user, 3. the membership with its organization (the gate),
    # 4. the count, 5. the page of keys with their owners.
    with django_assert_max_num_queries(5):
        response = client.get(keys_url(crew.organization.pk))

    assert len(listed_ids(response)) == keys + 2


# --- Who may: three actors, every credential -------------------------------------------------


def oauth_token(user: User, scopes: list[str], organization: Organization | None = None) -> str:
    application = Application.objects.create(
        name="Reports",
        client_type=Application.CLIENT_PUBLIC,
        authorization_grant_type=Application.GRANT_AUTHORIZATION_CODE,
        redirect_uris="https://client.example/callback",
        user=user,
    )
    return issue_access_token(
        user=user, application=application, scopes=scopes, organization=organization
    )


ROUTES = [
    pytest.param("GET", "api-keys:read", id="list"),
    pytest.param("POST", "api-keys:write", id="revoke"),
]


def call(api_client, crew: Crew, method: str, organization_id: str | None = None, **headers):
    organization_id = organization_id or crew.organization.pk
    if method == "GET":
        return api_client.get(keys_url(organization_id), headers=headers)
    return api_client.post(revoke_url(organization_id, crew.unpinned.pk), headers=headers)


@dataclass(frozen=True)
class Refusal:
    status: int
    code: str
    message: str | None = None


NO_CREDENTIAL = Refusal(401, "UNAUTHORIZED", "Unauthorized")
NOT_MEMBER = Refusal(
    403,
    "NOT_ORGANIZATION_MEMBER",
    "This credential does not belong to the requested organization.",
)
ROLE = Refusal(
    403, "INSUFFICIENT_ROLE", "Your role in this organization does not allow this action."
)
MISMATCH = Refusal(403, "ORGANIZATION_MISMATCH", "This API key is pinned to another organization.")


def credentials(crew: Crew, api_key_factory, kind: str, scope: str) -> dict[str, str]:
    """The headers of a credential of the kind named (none for a session or no credential)."""
    if kind in ("member-key", "admin-key", "outsider-key"):
        user = {"member": crew.member, "admin": crew.admin, "outsider": crew.outsider}[
            kind.partition("-")[0]
        ]
        _key, raw = api_key_factory(user=user, scopes=[scope])
    elif kind == "admin-key-without-the-scope":
        _key, raw = api_key_factory(user=crew.admin, scopes=["members:write", "projects:read"])
    elif kind == "admin-key-pinned-elsewhere":
        _key, raw = api_key_factory(user=crew.admin, scopes=[scope], organization=crew.elsewhere)
    elif kind == "admin-key-revoked":
        _key, raw = api_key_factory(user=crew.admin, scopes=[scope], revoked=True)
    elif kind == "admin-key-expired":
        _key, raw = api_key_factory(user=crew.admin, scopes=[scope], expired=True)
    elif kind == "malformed-key":
        raw = "ba_not-a-key"
    else:
        return {}
    return {"X-Api-Key": raw}


# (credential, who signs in by session, refusal): the same on both routes.
REFUSALS = [
    pytest.param("none", None, NO_CREDENTIAL, id="no-credential"),
    pytest.param("session", "member", ROLE, id="member-session"),
    pytest.param("member-key", None, ROLE, id="member-key-with-the-scope"),
    pytest.param("session", "outsider", NOT_MEMBER, id="another-tenants-owner-session"),
    pytest.param("outsider-key", None, NOT_MEMBER, id="another-tenants-owner-key"),
    pytest.param("admin-key-without-the-scope", None, Refusal(403, "INSUFFICIENT_SCOPE")),
    pytest.param("admin-key-pinned-elsewhere", None, MISMATCH),
    pytest.param("admin-key-revoked", None, Refusal(401, "KEY_REVOKED", "Unauthorized")),
    pytest.param("admin-key-expired", None, Refusal(401, "KEY_EXPIRED", "Unauthorized")),
    pytest.param("malformed-key", None, Refusal(401, "KEY_INVALID", "Unauthorized")),
]


@pytest.mark.parametrize(("credential", "signed_in", "refusal"), REFUSALS)
@pytest.mark.parametrize(("method", "scope"), ROUTES)
def test_callers_other_than_owners_and_admins_are_refused_and_nothing_changes(
    api_client, crew, api_key_factory, committed, method, scope, credential, signed_in, refusal
):
    if signed_in is not None:
        api_client.force_login(getattr(crew, signed_in))
    headers = credentials(crew, api_key_factory, credential, scope)

    response = committed(lambda: call(api_client, crew, method, **headers))

    body = assert_error(response, refusal.status, refusal.code, message=refusal.message)
    if refusal.code == "INSUFFICIENT_SCOPE":
        assert body["required_scopes"] == [scope]
    assert "data" not in body
    assert_untouched(crew)


@pytest.mark.parametrize(("method", "scope"), ROUTES)
def test_an_organization_that_does_not_exist_answers_as_one_the_caller_is_not_in(
    client_for, crew, method, scope
):
    response = call(client_for(crew.owner), crew, method, organization_id=str(ULID()))

    assert_error(response, 403, NOT_MEMBER.code, message=NOT_MEMBER.message)


@pytest.mark.parametrize("actor", ["owner", "admin"])
@pytest.mark.parametrize(("method", "scope"), ROUTES)
def test_owners_and_admins_keys_with_the_scope_succeed(
    api_client, crew, api_key_factory, committed, actor, method, scope
):
    _key, raw = api_key_factory(
        user=getattr(crew, actor), scopes=[scope], organization=crew.organization
    )

    response = committed(lambda: call(api_client, crew, method, **{"X-Api-Key": raw}))

    assert response.status_code == 200, response.content
    if method == "POST":
        assert response.json()["data"]["revokedHere"] is True


def test_an_oauth_token_lists_but_never_revokes(api_client, crew):
    listing = oauth_token(crew.admin, ["api-keys:read"])
    revoking = oauth_token(crew.admin, ["api-keys:write"])

    listed = api_client.get(
        keys_url(crew.organization.pk), headers={"Authorization": f"Bearer {listing}"}
    )
    refused = call(api_client, crew, "POST", Authorization=f"Bearer {revoking}")

    assert crew.unpinned.pk in listed_ids(listed)
    assert_error(
        refused,
        403,
        "FORBIDDEN",
        message="API keys are issued, renamed and revoked with a session or an API key.",
    )
    assert_untouched(crew)


# --- Revoking an unpinned key: here only -----------------------------------------------------


def test_revoking_an_unpinned_key_refuses_it_here_only(client_for, key_client, crew, committed):
    response = committed(lambda: revoke(client_for(crew.admin), crew, crew.unpinned))

    assert response.status_code == 200
    body = response.json()
    assert body["message"] == "API key revoked"
    assert body["data"]["id"] == crew.unpinned.pk
    assert (body["data"]["status"], body["data"]["revokedHere"]) == ("active", True)
    crew.unpinned.refresh_from_db()
    assert crew.unpinned.revoked_in == [crew.organization.pk]
    assert crew.unpinned.revoked_at is None
    client = key_client(crew.unpinned_raw)
    here = client.get(f"/api/user/organizations/{crew.organization.pk}/projects")
    assert_error(
        here,
        403,
        "KEY_REVOKED_IN_ORGANIZATION",
        message="An owner or admin of this organization has revoked this API key here.",
    )
    assert client.get(f"/api/user/organizations/{crew.elsewhere.pk}/projects").status_code == 200
    assert client.get("/api/user/me").status_code == 200


def test_revoking_an_unpinned_key_is_audited_and_mailed_to_its_owner(client_for, crew, committed):
    committed(lambda: revoke(client_for(crew.admin), crew, crew.unpinned))

    [event] = revocations(crew.unpinned)
    assert event.actor == crew.admin
    assert event.organization_id == crew.organization.pk
    assert event.detail == {"by": "organization", "organizationId": crew.organization.pk}
    [message] = mail.outbox
    assert message.to == [crew.member.email]
    assert message.subject == REVOKED_HERE_SUBJECT
    assert f"“{crew.organization.name}” ({crew.organization.pk})" in message.body
    assert f"by {crew.admin.email}, one of its owners or admins" in message.body
    assert f"Id:    {crew.unpinned.pk}" in message.body
    assert "It keeps working\nin your other organizations." in message.body
    assert crew.unpinned_raw not in message.body


def test_an_unverified_owner_is_not_mailed_text_others_chose(client_for, crew, committed):
    User.objects.filter(pk=crew.member.pk).update(is_verified=False, verified_at=None)

    committed(lambda: revoke(client_for(crew.admin), crew, crew.unpinned))

    [message] = mail.outbox
    assert crew.organization.pk in message.body
    assert crew.organization.name not in message.body
    assert crew.admin.email not in message.body
    assert "Laptop" not in message.body


def test_a_warm_unpinned_key_is_refused_here_from_its_next_request(
    settings, key_client, client_for, crew, committed
):
    settings.APIKEYS = {**settings.APIKEYS, "CACHE_TIMEOUT": 300}
    client = key_client(crew.unpinned_raw)
    projects = f"/api/user/organizations/{crew.organization.pk}/projects"
    assert client.get(projects).status_code == 200  # now in the warm-key cache

    committed(lambda: revoke(client_for(crew.owner), crew, crew.unpinned))

    assert_error(client.get(projects), 403, "KEY_REVOKED_IN_ORGANIZATION")


# --- Revoking a pinned key: outright ---------------------------------------------------------


def test_revoking_a_key_pinned_here_revokes_it_everywhere(client_for, key_client, crew, committed):
    response = committed(lambda: revoke(client_for(crew.owner), crew, crew.pinned))

    assert response.status_code == 200
    data = response.json()["data"]
    assert (data["id"], data["status"], data["revokedHere"]) == (crew.pinned.pk, "revoked", False)
    crew.pinned.refresh_from_db()
    assert crew.pinned.revoked_at is not None
    assert crew.pinned.revoked_by == crew.owner
    assert crew.pinned.revoked_in == []
    refused = key_client(crew.pinned_raw).get("/api/user/me")
    assert_error(refused, 401, "KEY_REVOKED", message="Unauthorized")
    [event] = revocations(crew.pinned)
    assert event.actor == crew.owner
    assert event.detail == {"by": "organization", "organizationId": crew.organization.pk}
    [message] = mail.outbox
    assert message.subject == REVOKED_SUBJECT
    assert (
        f"was revoked by {crew.owner.email}, an owner or admin of the organization "
        f"“{crew.organization.name}” ({crew.organization.pk}):"
    ) in message.body
    assert "It no longer works." in message.body


def test_a_pinned_key_is_revoked_whatever_the_scopes_of_the_admins_key(
    api_client, crew, api_key_factory, committed
):
    # The admin's key covers none of the member's scopes: the role, not the scopes, decides.
    _key, raw = api_key_factory(user=crew.admin, scopes=["api-keys:write"])

    response = committed(lambda: revoke(api_client, crew, crew.pinned, **{"X-Api-Key": raw}))

    assert response.status_code == 200
    assert response.json()["data"]["status"] == "revoked"
    [event] = revocations(crew.pinned)
    assert event.api_key_id == _key.pk


# --- Idempotence and what is not found -------------------------------------------------------


@pytest.mark.parametrize("which", ["unpinned", "pinned"])
def test_revoking_again_changes_nothing_and_mails_no_one(client_for, crew, committed, which):
    key = getattr(crew, which)
    client = client_for(crew.admin)
    first = committed(lambda: revoke(client, crew, key))
    key.refresh_from_db()
    state = (key.revoked_at, key.revoked_in)

    again = committed(lambda: revoke(client, crew, key))

    assert again.status_code == 200
    assert again.json()["data"] == first.json()["data"]
    key.refresh_from_db()
    assert (key.revoked_at, key.revoked_in) == state
    assert len(revocations(key)) == 1
    assert len(mail.outbox) == 1


def test_a_key_revoked_outright_is_not_revoked_here_too(
    client_for, crew, api_key_factory, committed
):
    key, _raw = api_key_factory(user=crew.member, revoked=True)

    response = committed(lambda: revoke(client_for(crew.admin), crew, key))

    assert response.status_code == 200
    assert (response.json()["data"]["status"], response.json()["data"]["revokedHere"]) == (
        "revoked",
        False,
    )
    key.refresh_from_db()
    assert key.revoked_in == []
    assert mail.outbox == []


@pytest.mark.parametrize("actor", ["owner", "admin"])
def test_owners_and_admins_may_revoke_their_own_key_here(
    key_client, crew, api_key_factory, committed, actor
):
    key, raw = api_key_factory(user=getattr(crew, actor), scopes=["api-keys:write"])
    client = key_client(raw)

    response = committed(lambda: revoke(client, crew, key))

    assert response.status_code == 200
    assert response.json()["data"]["revokedHere"] is True
    assert_error(client.get(keys_url(crew.organization.pk)), 403, "KEY_REVOKED_IN_ORGANIZATION")


NOT_FOUND = [
    pytest.param(lambda crew: crew.pinned_elsewhere.pk, id="a-members-key-pinned-elsewhere"),
    pytest.param(lambda crew: crew.outsiders.pk, id="a-non-members-key"),
    pytest.param(lambda crew: f"ak_{ULID()}", id="unknown"),
    pytest.param(lambda crew: "nope", id="not-a-key-id"),
    pytest.param(lambda crew: str(ULID()), id="a-bare-ulid"),
    pytest.param(lambda crew: crew.unpinned.pk[:-1], id="truncated"),
    pytest.param(lambda crew: crew.unpinned.pk + "0", id="too-long"),
    pytest.param(lambda crew: "ak_" + "!" * 26, id="punctuation"),
    pytest.param(lambda crew: crew.unpinned.lookup, id="a-lookup-id"),
]


@pytest.mark.parametrize("key_id", NOT_FOUND)
def test_a_key_that_does_not_act_here_is_404_like_a_missing_one(
    client_for, crew, committed, key_id
):
    response = committed(
        lambda: client_for(crew.owner).post(revoke_url(crew.organization.pk, key_id(crew)))
    )

    assert_error(response, 404, "NOT_FOUND", message="API key not found.")
    assert_untouched(crew)


def test_a_former_members_key_is_404(client_for, crew, committed):
    crew.member.memberships.filter(organization=crew.organization).delete()

    response = committed(lambda: revoke(client_for(crew.owner), crew, crew.pinned))

    assert_error(response, 404, "NOT_FOUND")
    assert_untouched(crew)


def test_a_key_id_in_lower_case_names_the_same_key(client_for, crew, committed):
    path = revoke_url(crew.organization.pk, "ak_" + crew.unpinned.pk[3:].lower())

    response = committed(lambda: client_for(crew.owner).post(path))

    assert response.status_code == 200
    assert response.json()["data"]["id"] == crew.unpinned.pk


@pytest.mark.parametrize("method", ["get", "put", "patch", "delete"])
def test_revoke_takes_only_post(client_for, crew, method):
    response = getattr(client_for(crew.owner), method)(
        revoke_url(crew.organization.pk, crew.unpinned.pk)
    )

    assert_error(response, 405, "METHOD_NOT_ALLOWED")
    assert_untouched(crew)


def test_a_members_role_of_the_moment_decides(client_for, crew, committed):
    crew.admin.memberships.filter(organization=crew.organization).update(role=Role.MEMBER)

    response = committed(lambda: revoke(client_for(crew.admin), crew, crew.unpinned))

    assert_error(response, 403, "INSUFFICIENT_ROLE")
    assert_untouched(crew)
