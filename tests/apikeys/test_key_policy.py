"""An organization's key policy: the routes that read and change it, and the rules it holds
every key acting in the organization to, at creation and on every request."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta

import pytest
from django.utils import timezone

from apikeys.models import ApiKey
from audit.models import Action, AuditEvent
from tenants.models import Organization
from tests.conftest import assert_error

DAY = 24 * 60 * 60
EMPTY_POLICY = {
    "requireExpiry": False,
    "maxLifetimeDays": None,
    "allowedScopes": None,
    "maxKeysPerMember": None,
    "allowedCidrs": None,
    "staleAfterDays": None,
}


def policy_url(organization: Organization) -> str:
    return f"/api/user/organizations/{organization.pk}/key-policy"


def projects_url(organization: Organization) -> str:
    return f"/api/user/organizations/{organization.pk}/projects"


def set_policy(organization: Organization, **rules) -> None:
    organization.key_policy = rules
    organization.save(update_fields=["key_policy"])


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> Callable[[float], datetime]:
    """Move the server's clock forward by some seconds from now."""

    def move(seconds: float) -> datetime:
        later = timezone.now() + timedelta(seconds=seconds)
        monkeypatch.setattr(timezone, "now", lambda: later)
        return later

    return move


# --- Reading and changing the policy --------------------------------------------------------


@pytest.mark.parametrize("role", ["owner", "admin", "member"])
def test_every_member_reads_the_policy(team, client_for, role):
    set_policy(team["organization"], requireExpiry=True, maxLifetimeDays=90)

    response = client_for(team[role]).get(policy_url(team["organization"]))

    assert response.status_code == 200
    assert response.json()["data"] == {
        **EMPTY_POLICY,
        "organizationId": team["organization"].pk,
        "requireExpiry": True,
        "maxLifetimeDays": 90,
    }


@pytest.mark.parametrize("role", ["owner", "admin"])
def test_owners_and_admins_change_the_policy_and_it_is_audited(team, client_for, role):
    organization = team["organization"]
    set_policy(organization, maxLifetimeDays=30)

    response = client_for(team[role]).patch(
        policy_url(organization),
        {
            "requireExpiry": True,
            "allowedScopes": ["projects:read", "projects:read", "user:read"],
            "allowedCidrs": ["203.0.113.7", "2001:db8::/32", "198.51.100.9/24"],
            "staleAfterDays": 60,
        },
        format="json",
    )

    assert response.status_code == 200, response.content
    expected = {
        **EMPTY_POLICY,
        "organizationId": organization.pk,
        "requireExpiry": True,
        "maxLifetimeDays": 30,  # not named: kept
        "allowedScopes": ["projects:read", "user:read"],
        "allowedCidrs": ["203.0.113.7/32", "2001:db8::/32", "198.51.100.0/24"],
        "staleAfterDays": 60,
    }
    assert response.json()["data"] == expected
    assert client_for(team["member"]).get(policy_url(organization)).json()["data"] == expected
    event = AuditEvent.objects.get(action=Action.KEY_POLICY_CHANGED)
    assert event.actor == team[role]
    assert event.organization_id == organization.pk
    assert event.detail["requireExpiry"] == {"from": False, "to": True}
    assert event.detail["staleAfterDays"] == {"from": None, "to": 60}
    assert "maxLifetimeDays" not in event.detail


def test_null_turns_a_rule_off_and_no_change_writes_no_event(team, client_for):
    organization = team["organization"]
    set_policy(organization, maxLifetimeDays=30, requireExpiry=True)
    owner = client_for(team["owner"])

    response = owner.patch(
        policy_url(organization), {"maxLifetimeDays": None, "requireExpiry": False}, format="json"
    )
    assert response.json()["data"] == {**EMPTY_POLICY, "organizationId": organization.pk}
    organization.refresh_from_db()
    assert organization.key_policy == {}

    assert (
        owner.patch(policy_url(organization), {"requireExpiry": False}, format="json").status_code
        == 200
    )
    assert AuditEvent.objects.filter(action=Action.KEY_POLICY_CHANGED).count() == 1


def test_a_member_cannot_change_the_policy(team, client_for):
    response = client_for(team["member"]).patch(
        policy_url(team["organization"]), {"requireExpiry": True}, format="json"
    )

    assert_error(response, 403, "INSUFFICIENT_ROLE")
    team["organization"].refresh_from_db()
    assert team["organization"].key_policy == {}


@pytest.mark.parametrize(
    ("actor", "credential", "method", "status", "code"),
    [
        ("nobody", None, "get", 401, "UNAUTHORIZED"),
        ("nobody", None, "patch", 401, "UNAUTHORIZED"),
        ("outsider", "session", "get", 403, "NOT_ORGANIZATION_MEMBER"),
        ("outsider", "session", "patch", 403, "NOT_ORGANIZATION_MEMBER"),
        ("admin", "key:user:read", "get", 403, "INSUFFICIENT_SCOPE"),
        ("admin", "key:organizations:read", "patch", 403, "INSUFFICIENT_SCOPE"),
        ("admin", "pinned-elsewhere", "get", 403, "ORGANIZATION_MISMATCH"),
        ("admin", "pinned-elsewhere", "patch", 403, "ORGANIZATION_MISMATCH"),
        ("admin", "key:organizations:read", "get", 200, None),
        ("admin", "key:organizations:write", "patch", 200, None),
        ("member", "key:organizations:write", "patch", 403, "INSUFFICIENT_ROLE"),
    ],
)
def test_who_may_read_and_change_the_policy(
    team,
    org_factory,
    member_factory,
    api_key_factory,
    key_client,
    client_for,
    actor,
    credential,
    method,
    status,
    code,
):
    organization = team["organization"]
    user = team.get(actor)
    if credential is None:
        client = client_for(None)
    elif credential == "session":
        client = client_for(user)
    elif credential == "pinned-elsewhere":
        elsewhere = org_factory()
        member_factory(elsewhere, user=user)
        _key, raw = api_key_factory(user=user, scopes=["*"], organization=elsewhere)
        client = key_client(raw)
    else:
        _key, raw = api_key_factory(user=user, scopes=[credential.removeprefix("key:")])
        client = key_client(raw)

    response = getattr(client, method)(
        policy_url(organization), {"maxKeysPerMember": 3}, format="json"
    )

    if status == 200:
        assert response.status_code == 200, response.content
        assert response.json()["data"]["organizationId"] == organization.pk
    else:
        assert_error(response, status, code)
    organization.refresh_from_db()
    assert organization.key_policy == (
        {"maxKeysPerMember": 3} if method == "patch" and status == 200 else {}
    )


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({}, "non_field_errors"),
        ({"requireExpiry": "yes please"}, "requireExpiry"),
        ({"maxLifetimeDays": 0}, "maxLifetimeDays"),
        ({"maxLifetimeDays": 3651}, "maxLifetimeDays"),
        ({"maxLifetimeDays": "30"}, "maxLifetimeDays"),
        ({"maxLifetimeDays": 1.5}, "maxLifetimeDays"),
        ({"maxKeysPerMember": -1}, "maxKeysPerMember"),
        ({"staleAfterDays": True}, "staleAfterDays"),
        ({"allowedScopes": []}, "allowedScopes"),
        ({"allowedScopes": ["projects:destroy"]}, "allowedScopes"),
        ({"allowedScopes": "projects:read"}, "allowedScopes"),
        ({"allowedScopes": ["x"] * 65}, "allowedScopes"),
        ({"allowedCidrs": ["10.0.0.0/33"]}, "allowedCidrs"),
        ({"allowedCidrs": ["not an address"]}, "allowedCidrs"),
        ({"allowedCidrs": [None]}, "allowedCidrs"),
        ({"allowedCidrs": ["10.0.0.0/8"] * 51}, "allowedCidrs"),
        ({"allowedCidrs": []}, "allowedCidrs"),
        ({"maxAgeDays": 3}, "maxAgeDays"),
    ],
)
def test_bad_input_is_a_400_naming_the_field_and_changes_nothing(team, client_for, body, field):
    response = client_for(team["owner"]).patch(
        policy_url(team["organization"]), body, format="json"
    )

    assert_error(response, 400, "VALIDATION_ERROR", field=field)
    team["organization"].refresh_from_db()
    assert team["organization"].key_policy == {}


@pytest.mark.parametrize("body", ["[1, 2]", '"text"', "null", "{", '{"allowedCidrs": {"a": 1}}'])
def test_no_body_produces_a_500(team, client_for, body):
    response = client_for(team["owner"]).patch(
        policy_url(team["organization"]), body, content_type="application/json"
    )

    assert response.status_code == 400


# --- The rules on every request -------------------------------------------------------------


# (policy, the key's issue arguments) -> the rule that refuses it in the organization
REFUSALS = [
    pytest.param({"requireExpiry": True}, {}, "requireExpiry", id="requireExpiry"),
    pytest.param(
        {"maxLifetimeDays": 30}, {"expires_in": 31 * DAY}, "maxLifetimeDays", id="maxLifetime"
    ),
    pytest.param({"maxLifetimeDays": 30}, {}, "maxLifetimeDays", id="maxLifetime-no-expiry"),
    pytest.param(
        {"allowedScopes": ["projects:read"]},
        {"scopes": ["projects:read", "projects:write"]},
        "allowedScopes",
        id="allowedScopes",
    ),
    pytest.param(
        {"allowedScopes": ["projects:read", "user:read"]},
        {"scopes": ["read:all"]},
        "allowedScopes",
        id="allowedScopes-wildcard",
    ),
    pytest.param({"allowedCidrs": ["203.0.113.0/24"]}, {}, "allowedCidrs", id="allowedCidrs"),
    pytest.param({"staleAfterDays": 30}, {"last_used": 31 * DAY}, "staleAfterDays", id="stale"),
    pytest.param(
        {"staleAfterDays": 30}, {"created": 31 * DAY}, "staleAfterDays", id="stale-never-used"
    ),
]


def issue(api_key_factory, user, organization=None, **arguments):
    """A key of `user`, pinned or not, aged as the arguments say."""
    key, raw = api_key_factory(
        user=user,
        organization=organization,
        scopes=arguments.get("scopes", ["projects:read"]),
        expires_in=arguments.get("expires_in"),
    )
    if "last_used" in arguments:
        used = timezone.now() - timedelta(seconds=arguments["last_used"])
        ApiKey.objects.filter(pk=key.pk).update(last_used_at=used, created_at=used)
    if "created" in arguments:
        created = timezone.now() - timedelta(seconds=arguments["created"])
        ApiKey.objects.filter(pk=key.pk).update(created_at=created, last_used_at=None)
    return key, raw


@pytest.mark.parametrize("pinned", [False, True], ids=["unpinned", "pinned"])
@pytest.mark.parametrize(("policy", "arguments", "rule"), REFUSALS)
def test_a_key_that_breaks_a_rule_is_refused_in_the_organization_naming_it(
    team, api_key_factory, key_client, policy, arguments, rule, pinned
):
    organization = team["organization"]
    _key, raw = issue(
        api_key_factory, team["member"], organization if pinned else None, **arguments
    )
    set_policy(organization, **policy)

    response = key_client(raw).get(projects_url(organization))

    body = assert_error(response, 403, "KEY_POLICY_VIOLATION")
    assert body["rule"] == rule
    assert body["source"] == "organization"
    assert rule in body["message"]
    event = AuditEvent.objects.get(action=Action.KEY_POLICY_REFUSED)
    assert event.detail == {"rule": rule, "source": "organization"}
    assert event.organization_id == organization.pk


@pytest.mark.parametrize(("policy", "arguments", "rule"), REFUSALS)
def test_the_rules_of_one_organization_leave_the_key_working_elsewhere(
    team, org_factory, member_factory, api_key_factory, key_client, policy, arguments, rule
):
    elsewhere = org_factory()
    member_factory(elsewhere, user=team["member"])
    _key, raw = issue(api_key_factory, team["member"], **arguments)
    set_policy(team["organization"], **policy)
    client = key_client(raw)

    assert_error(client.get(projects_url(team["organization"])), 403, "KEY_POLICY_VIOLATION")
    assert client.get(projects_url(elsewhere)).status_code == 200


@pytest.mark.parametrize(
    ("policy", "arguments"),
    [
        ({"requireExpiry": True, "maxLifetimeDays": 30}, {"expires_in": 30 * DAY}),
        ({"allowedScopes": ["projects:*"]}, {"scopes": ["projects:read", "projects:write"]}),
        ({"allowedCidrs": ["127.0.0.0/8", "2001:db8::/32"]}, {}),
        ({"staleAfterDays": 30}, {"last_used": 29 * DAY}),
    ],
)
def test_a_key_within_the_rules_works(team, api_key_factory, key_client, policy, arguments):
    _key, raw = issue(api_key_factory, team["member"], **arguments)
    set_policy(team["organization"], **policy)

    assert key_client(raw).get(projects_url(team["organization"])).status_code == 200


def test_sessions_are_not_held_to_the_key_policy(team, client_for):
    set_policy(team["organization"], allowedCidrs=["203.0.113.0/24"], requireExpiry=True)

    assert client_for(team["member"]).get(projects_url(team["organization"])).status_code == 200


@pytest.mark.parametrize(
    ("address", "allowed"),
    [
        ("203.0.113.9", True),
        ("203.0.114.1", False),
        ("::ffff:203.0.113.9", True),
        ("2001:db8::1", True),
        ("2001:db9::1", False),
    ],
)
def test_allowed_cidrs_judge_the_client_address(
    team, api_key_factory, key_client, address, allowed
):
    _key, raw = api_key_factory(user=team["member"], scopes=["projects:read"])
    set_policy(team["organization"], allowedCidrs=["203.0.113.0/24", "2001:db8::/32"])

    response = key_client(raw).get(projects_url(team["organization"]), REMOTE_ADDR=address)

    if allowed:
        assert response.status_code == 200
    else:
        assert assert_error(response, 403, "KEY_POLICY_VIOLATION")["rule"] == "allowedCidrs"


def test_writes_are_held_to_the_policy_too(team, api_key_factory, key_client):
    _key, raw = api_key_factory(user=team["member"], scopes=["projects:write"])
    set_policy(team["organization"], requireExpiry=True)

    response = key_client(raw).post(projects_url(team["organization"]), {"name": "x"})

    assert assert_error(response, 403, "KEY_POLICY_VIOLATION")["rule"] == "requireExpiry"
    assert not team["organization"].projects.exists()


def test_a_stale_key_stays_stale_however_often_it_is_tried(
    team, api_key_factory, key_client, client_for
):
    used = timezone.now() - timedelta(days=40)
    key, raw = api_key_factory(user=team["member"], scopes=["*"], last_used_at=used)
    set_policy(team["organization"], staleAfterDays=30)
    client = key_client(raw)

    for _attempt in range(2):
        body = assert_error(client.get(projects_url(team["organization"])), 403)
        assert body["rule"] == "staleAfterDays"
    key.refresh_from_db()
    assert key.last_used_at == used
    # An owner or admin lifting the rule brings the key back.
    client_for(team["owner"]).patch(
        policy_url(team["organization"]), {"staleAfterDays": None}, format="json"
    )
    assert client.get(projects_url(team["organization"])).status_code == 200


@pytest.mark.django_db(transaction=True)
def test_a_policy_is_felt_on_the_next_request_of_a_warm_key(
    settings, team, api_key_factory, key_client, client_for
):
    settings.APIKEYS = {**settings.APIKEYS, "CACHE_TIMEOUT": 300}
    _key, raw = api_key_factory(user=team["member"], scopes=["projects:read"])
    client = key_client(raw)
    assert client.get(projects_url(team["organization"])).status_code == 200

    client_for(team["owner"]).patch(
        policy_url(team["organization"]), {"requireExpiry": True}, format="json"
    )

    assert_error(client.get(projects_url(team["organization"])), 403, "KEY_POLICY_VIOLATION")


@pytest.mark.django_db(transaction=True)
def test_checking_a_policy_adds_no_query_to_a_warm_key(
    settings, team, api_key_factory, key_client, django_assert_num_queries
):
    settings.APIKEYS = {**settings.APIKEYS, "CACHE_TIMEOUT": 300}
    set_policy(
        team["organization"],
        maxLifetimeDays=30,
        allowedScopes=["projects:read"],
        allowedCidrs=["127.0.0.0/8"],
        staleAfterDays=30,
    )
    _key, raw = api_key_factory(user=team["member"], scopes=["projects:read"], expires_in=DAY)
    client = key_client(raw)
    assert client.get(projects_url(team["organization"])).status_code == 200

    # count and page: the two queries of the view itself
    with django_assert_num_queries(2):
        assert client.get(projects_url(team["organization"])).status_code == 200


# --- The rules at creation ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("policy", "body", "rule"),
    [
        ({"requireExpiry": True}, {}, "requireExpiry"),
        ({"maxLifetimeDays": 7}, {"expiresIn": 8 * DAY}, "maxLifetimeDays"),
        ({"maxLifetimeDays": 7}, {}, "maxLifetimeDays"),
        ({"allowedScopes": ["projects:read"]}, {"scopes": ["projects:write"]}, "allowedScopes"),
        ({"allowedScopes": ["projects:read"]}, {"scopes": ["*"]}, "allowedScopes"),
        ({"maxKeysPerMember": 2}, {}, "maxKeysPerMember"),
    ],
)
def test_a_key_pinned_to_the_organization_is_created_within_its_rules(
    team, api_key_factory, client_for, policy, body, rule
):
    organization = team["organization"]
    for _held in range(2):  # one pinned, one unpinned: both act in the organization
        api_key_factory(user=team["member"], organization=organization if _held else None)
    api_key_factory(user=team["member"], revoked=True)  # not counted
    set_policy(organization, **policy)
    before = ApiKey.objects.count()

    response = client_for(team["member"]).post(
        "/api/auth/api-key/create",
        {
            "name": "ci",
            "scopes": ["projects:read"],
            "metadata": {"organizationId": organization.pk},
            **body,
        },
        format="json",
    )

    assert assert_error(response, 403, "KEY_POLICY_VIOLATION")["rule"] == rule
    assert ApiKey.objects.count() == before


def test_a_key_that_satisfies_the_rules_is_created_and_an_unpinned_one_is_not_checked(
    team, client_for
):
    organization = team["organization"]
    set_policy(organization, requireExpiry=True, maxLifetimeDays=7, maxKeysPerMember=1)
    client = client_for(team["member"])
    pinned = {
        "name": "ci",
        "scopes": ["projects:read"],
        "metadata": {"organizationId": organization.pk},
    }

    assert (
        client.post(
            "/api/auth/api-key/create", {**pinned, "expiresIn": 7 * DAY}, format="json"
        ).status_code
        == 200
    )
    assert (
        client.post(
            "/api/auth/api-key/create", {**pinned, "expiresIn": DAY}, format="json"
        ).status_code
        == 403
    )
    # Unpinned: created (no organization to judge it by), then refused in this one.
    response = client.post(
        "/api/auth/api-key/create", {"name": "x", "scopes": ["projects:read"]}, format="json"
    )
    assert response.status_code == 200


def test_an_edit_of_a_pinned_key_keeps_to_the_allowed_scopes(team, api_key_factory, client_for):
    key, _raw = api_key_factory(
        user=team["member"], organization=team["organization"], scopes=["projects:read"]
    )
    set_policy(team["organization"], allowedScopes=["projects:read", "user:read"])
    client = client_for(team["member"])

    refused = client.patch(
        f"/api/auth/api-key/{key.pk}", {"scopes": ["projects:write"]}, format="json"
    )
    allowed = client.patch(f"/api/auth/api-key/{key.pk}", {"scopes": ["user:read"]}, format="json")

    assert assert_error(refused, 403, "KEY_POLICY_VIOLATION")["rule"] == "allowedScopes"
    assert allowed.status_code == 200
    key.refresh_from_db()
    assert key.scopes == ["user:read"]


# --- A key's own networks -------------------------------------------------------------------


def test_a_key_with_its_own_networks_is_refused_from_any_other_address_everywhere(
    team, client_for, key_client
):
    response = client_for(team["member"]).post(
        "/api/auth/api-key/create",
        {"name": "ci", "scopes": ["*"], "allowedCidrs": ["198.51.100.0/24", "198.51.100.3"]},
        format="json",
    )
    assert response.status_code == 200
    assert response.json()["data"]["allowedCidrs"] == ["198.51.100.0/24", "198.51.100.3/32"]
    client = key_client(response.json()["data"]["key"])

    assert client.get("/api/user/me", REMOTE_ADDR="198.51.100.20").status_code == 200
    body = assert_error(client.get("/api/user/me", REMOTE_ADDR="192.0.2.1"), 403)
    assert (body["code"], body["rule"], body["source"]) == (
        "KEY_POLICY_VIOLATION",
        "allowedCidrs",
        "key",
    )


@pytest.mark.parametrize(
    ("child", "status"),
    [
        (None, 200),  # inherits the creator's
        (["198.51.100.128/25"], 200),
        (["198.51.100.0/23"], 403),
        (["2001:db8::/32"], 403),
    ],
)
def test_a_key_cannot_make_a_key_usable_from_more_networks_than_its_own(
    team, api_key_factory, key_client, child, status
):
    _key, raw = api_key_factory(
        user=team["member"], scopes=["api-keys:write"], allowed_cidrs=["198.51.100.0/24"]
    )
    body = {"name": "child", "scopes": ["api-keys:write"]}
    if child is not None:
        body["allowedCidrs"] = child

    response = key_client(raw).post(
        "/api/auth/api-key/create", body, format="json", REMOTE_ADDR="198.51.100.1"
    )

    if status == 200:
        assert response.status_code == 200
        assert response.json()["data"]["allowedCidrs"] == (child or ["198.51.100.0/24"])
    else:
        assert_error(response, 403, "KEY_BROADER_THAN_CREATOR")


@pytest.mark.parametrize("cidrs", [[], ["10.0.0.0/33"], "10.0.0.0/8", [7], ["10.0.0.0/8"] * 51])
def test_bad_networks_are_a_400(team, client_for, cidrs):
    response = client_for(team["member"]).post(
        "/api/auth/api-key/create",
        {"name": "ci", "scopes": ["user:read"], "allowedCidrs": cidrs},
        format="json",
    )

    assert_error(response, 400, "VALIDATION_ERROR", field="allowedCidrs")
