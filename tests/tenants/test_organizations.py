"""GET, POST /api/user/organizations; GET, PATCH /api/user/organizations/{id}; members."""

from __future__ import annotations

import pytest

from tenants.models import Membership, Organization

pytestmark = pytest.mark.django_db

LIST = "/api/user/organizations"


def detail(organization: Organization) -> str:
    return f"/api/user/organizations/{organization.pk}"


def test_list_shows_the_callers_organizations_with_their_role(
    client_for, user_factory, org_factory, member_factory
):
    user = user_factory()
    own = org_factory(owner=user, name="Mine")
    joined = org_factory(name="Theirs")
    member_factory(joined, user=user, role="member")
    org_factory(name="Not mine")

    response = client_for(user).get(LIST)

    assert response.status_code == 200
    body = response.json()
    assert [(o["id"], o["name"], o["role"]) for o in body["data"]] == [
        (own.pk, "Mine", "owner"),
        (joined.pk, "Theirs", "member"),
    ]
    assert body["pagination"] == {
        "page": 1,
        "pageSize": 20,
        "totalItems": 2,
        "totalPages": 1,
        "hasNext": False,
        "hasPrevious": False,
    }


def test_list_is_paginated(client_for, user_factory, org_factory):
    user = user_factory()
    for _ in range(5):
        org_factory(owner=user)

    response = client_for(user).get(LIST, {"page": 2, "pageSize": 2})

    assert response.status_code == 200
    assert len(response.json()["data"]) == 2
    assert response.json()["pagination"]["totalPages"] == 3
    assert response.json()["pagination"]["hasNext"] is True
    assert response.json()["pagination"]["hasPrevious"] is True


def test_a_page_past_the_end_is_empty(client_for, user_factory, org_factory):
    user = user_factory()
    org_factory(owner=user)

    response = client_for(user).get(LIST, {"page": 9})

    assert response.status_code == 200
    assert response.json()["data"] == []


@pytest.mark.parametrize(
    "query", [{"page": 0}, {"page": "x"}, {"pageSize": 0}, {"pageSize": 101}, {"page": "-1"}]
)
def test_bad_page_parameters_are_400(client_for, user_factory, query):
    response = client_for(user_factory()).get(LIST, query)

    assert response.status_code == 400
    assert response.json()["code"] == "VALIDATION_ERROR"


def test_create_makes_the_caller_owner(client_for, user_factory):
    user = user_factory()

    response = client_for(user).post(LIST, {"name": "Acme Inc"})

    assert response.status_code == 201
    data = response.json()["data"]
    assert data["name"] == "Acme Inc"
    assert data["slug"] == "acme-inc"
    assert data["role"] == "owner"
    assert Membership.objects.get(organization_id=data["id"]).user == user


@pytest.mark.parametrize("payload", [{}, {"name": ""}, {"name": "x" * 101}, {"name": None}])
def test_create_with_bad_input_is_400(client_for, user_factory, payload):
    response = client_for(user_factory()).post(LIST, payload)

    assert response.status_code == 400
    assert "name" in response.json()["details"]
    assert Organization.objects.count() == 0


@pytest.mark.parametrize("method", ["get", "post"])
def test_list_and_create_without_credentials_are_401(api_client, method):
    response = getattr(api_client, method)(LIST, {"name": "x"})

    assert response.status_code == 401
    assert response.json()["error"] == "Unauthorized"


@pytest.mark.parametrize("actor", ["owner", "admin", "member"])
def test_members_can_read_the_organization(client_for, team, actor):
    response = client_for(team[actor]).get(detail(team["organization"]))

    assert response.status_code == 200
    assert response.json()["data"]["id"] == team["organization"].pk
    assert response.json()["data"]["role"] == actor


@pytest.mark.parametrize(("actor", "status"), [("owner", 200), ("admin", 200), ("member", 403)])
def test_only_owners_and_admins_change_the_organization(client_for, team, actor, status):
    response = client_for(team[actor]).patch(detail(team["organization"]), {"name": "Renamed"})

    assert response.status_code == status
    team["organization"].refresh_from_db()
    if status == 200:
        assert response.json()["data"]["name"] == "Renamed"
        assert team["organization"].name == "Renamed"
    else:
        assert response.json()["code"] == "INSUFFICIENT_ROLE"
        assert team["organization"].name != "Renamed"


@pytest.mark.parametrize("method", ["get", "patch"])
def test_outsiders_get_403_not_a_member(client_for, team, method):
    response = getattr(client_for(team["outsider"]), method)(
        detail(team["organization"]), {"name": "Hijacked"}
    )

    assert response.status_code == 403
    assert response.json()["code"] == "NOT_ORGANIZATION_MEMBER"
    assert response.json()["message"] == (
        "This credential does not belong to the requested organization."
    )


def test_an_unknown_organization_looks_like_a_foreign_one(client_for, user_factory):
    response = client_for(user_factory()).get("/api/user/organizations/01HZ3K5R4X9Y2V6QF8TJ7W0CDN")

    assert response.status_code == 403
    assert response.json()["code"] == "NOT_ORGANIZATION_MEMBER"


def test_organization_routes_without_credentials_are_401(api_client, team):
    response = api_client.get(detail(team["organization"]))

    assert response.status_code == 401


def test_patch_with_bad_input_is_400(client_for, team):
    response = client_for(team["owner"]).patch(detail(team["organization"]), {"name": ""})

    assert response.status_code == 400
    assert response.json()["details"]["name"]


def test_patch_is_a_partial_update_so_an_empty_body_changes_nothing(client_for, team):
    organization = team["organization"]

    response = client_for(team["owner"]).patch(detail(organization), {})

    assert response.status_code == 200
    assert response.json()["data"]["name"] == organization.name
    organization.refresh_from_db()
    assert organization.updated_at == team["organization"].updated_at


@pytest.mark.parametrize("actor", ["owner", "admin", "member"])
def test_members_list_shows_roles(client_for, team, actor):
    response = client_for(team[actor]).get(f"{detail(team['organization'])}/members")

    assert response.status_code == 200
    roles = {m["email"]: m["role"] for m in response.json()["data"]}
    assert roles == {
        team["owner"].email: "owner",
        team["admin"].email: "admin",
        team["member"].email: "member",
    }
    assert response.json()["pagination"]["totalItems"] == 3


def test_members_list_refuses_outsiders_and_anonymous(client_for, api_client, team):
    url = f"{detail(team['organization'])}/members"

    outsider = client_for(team["outsider"]).get(url)
    anonymous = api_client.get(url)

    assert outsider.status_code == 403
    assert outsider.json()["code"] == "NOT_ORGANIZATION_MEMBER"
    assert anonymous.status_code == 401


def test_members_list_bad_page_is_400(client_for, team):
    response = client_for(team["owner"]).get(
        f"{detail(team['organization'])}/members", {"pageSize": "lots"}
    )

    assert response.status_code == 400
