"""POST /api/user/organizations/{organizationId}/aggregate: the scope depends on the entity."""

from __future__ import annotations

import pytest

pytestmark = pytest.mark.django_db


def url(organization) -> str:
    return f"/api/user/organizations/{organization.pk}/aggregate"


def test_counts_each_entity(client_for, team, project_factory, api_key_factory):
    organization = team["organization"]
    project_factory(organization)
    project_factory(organization)
    api_key_factory(user=team["member"], organization=organization)
    client = client_for(team["member"])

    counts = {
        entity: client.post(url(organization), {"entity": entity}).json()["data"]
        for entity in ("projects", "members", "api_keys")
    }

    assert counts == {
        "projects": {"entity": "projects", "count": 2},
        "members": {"entity": "members", "count": 3},
        "api_keys": {"entity": "api_keys", "count": 1},
    }


@pytest.mark.parametrize(
    ("held", "entity", "missing"),
    [
        ("members:read", "projects", "projects:read"),
        ("projects:read", "members", "members:read"),
        ("projects:read", "api_keys", "api-keys:read"),
    ],
)
def test_the_required_scope_follows_the_entity(
    key_client, api_key_factory, team, held, entity, missing
):
    _key, raw = api_key_factory(user=team["member"], scopes=[held])

    response = key_client(raw).post(url(team["organization"]), {"entity": entity})

    assert response.status_code == 403
    assert response.json()["error"] == f"Insufficient API key scopes. Missing: {missing}"
    assert response.json()["required_scopes"] == [missing]


def test_a_key_with_the_entitys_scope_gets_the_count(key_client, api_key_factory, team):
    _key, raw = api_key_factory(user=team["member"], scopes=["members:read"])

    response = key_client(raw).post(url(team["organization"]), {"entity": "members"})

    assert response.status_code == 200
    assert response.json()["data"]["count"] == 3


@pytest.mark.parametrize("payload", [{}, {"entity": "widgets"}, {"entity": None}, {"entity": 1}])
def test_an_unknown_entity_is_400(client_for, team, payload):
    response = client_for(team["member"]).post(url(team["organization"]), payload)

    assert response.status_code == 400
    assert "entity" in response.json()["details"]


def test_outsiders_and_anonymous_callers_are_refused(client_for, api_client, team):
    outsider = client_for(team["outsider"]).post(url(team["organization"]), {"entity": "members"})
    anonymous = api_client.post(url(team["organization"]), {"entity": "members"})

    assert outsider.status_code == 403
    assert outsider.json()["code"] == "NOT_ORGANIZATION_MEMBER"
    assert anonymous.status_code == 401


def test_a_pinned_key_on_another_organization_is_refused(
    key_client, api_key_factory, team, org_factory
):
    elsewhere = org_factory(owner=team["member"])
    _key, raw = api_key_factory(user=team["member"], scopes=["*"], organization=elsewhere)

    response = key_client(raw).post(url(team["organization"]), {"entity": "members"})

    assert response.status_code == 403
    assert response.json()["code"] == "ORGANIZATION_MISMATCH"


def test_an_echoed_lone_surrogate_is_still_a_400(client_for, team):
    response = client_for(team["member"]).post(
        url(team["organization"]),
        data='{"entity": "\\ud800"}',
        content_type="application/json",
    )

    assert response.status_code == 400
    assert "entity" in response.json()["details"]
