"""The tenant-scoped resource: /api/user/organizations/{organizationId}/projects[/{projectId}]"""

from __future__ import annotations

import pytest

from tenants.models import Project

pytestmark = pytest.mark.django_db


def projects_url(organization) -> str:
    return f"/api/user/organizations/{organization.pk}/projects"


def project_url(project) -> str:
    return f"{projects_url(project.organization)}/{project.pk}"


@pytest.mark.parametrize("actor", ["owner", "admin", "member"])
def test_every_member_lists_projects(client_for, team, project_factory, actor):
    older = project_factory(team["organization"], name="Older")
    newer = project_factory(team["organization"], name="Newer")
    project_factory(team["outsider"].memberships.get().organization, name="Elsewhere")

    response = client_for(team[actor]).get(projects_url(team["organization"]))

    assert response.status_code == 200
    assert [p["id"] for p in response.json()["data"]] == [newer.pk, older.pk]
    assert response.json()["pagination"]["totalItems"] == 2


@pytest.mark.parametrize("actor", ["owner", "admin", "member"])
def test_every_member_creates_projects(client_for, team, actor):
    response = client_for(team[actor]).post(
        projects_url(team["organization"]), {"name": "Site", "description": "Marketing site"}
    )

    assert response.status_code == 201
    data = response.json()["data"]
    assert data["name"] == "Site"
    assert data["description"] == "Marketing site"
    assert data["organizationId"] == team["organization"].pk
    assert data["createdBy"] == team[actor].pk
    assert Project.objects.filter(pk=data["id"], organization=team["organization"]).exists()


@pytest.mark.parametrize("actor", ["owner", "admin", "member"])
def test_every_member_reads_updates_and_deletes_a_project(
    client_for, team, project_factory, actor
):
    project = project_factory(team["organization"], name="Old")
    client = client_for(team[actor])

    read = client.get(project_url(project))
    updated = client.patch(project_url(project), {"name": "New"})
    deleted = client.delete(project_url(project))

    assert read.status_code == 200
    assert read.json()["data"]["name"] == "Old"
    assert updated.status_code == 200
    assert updated.json()["data"]["name"] == "New"
    assert updated.json()["data"]["description"] == ""
    assert deleted.status_code == 200
    assert deleted.json()["data"] == {"id": project.pk}
    assert not Project.objects.filter(pk=project.pk).exists()


@pytest.mark.parametrize("method", ["get", "post"])
def test_outsiders_cannot_list_or_create(client_for, team, method):
    response = getattr(client_for(team["outsider"]), method)(
        projects_url(team["organization"]), {"name": "Sneaky"}
    )

    assert response.status_code == 403
    assert response.json()["code"] == "NOT_ORGANIZATION_MEMBER"
    assert not Project.objects.filter(name="Sneaky").exists()


@pytest.mark.parametrize("method", ["get", "patch", "delete"])
def test_outsiders_cannot_touch_a_project(client_for, team, project_factory, method):
    project = project_factory(team["organization"], name="Safe")

    response = getattr(client_for(team["outsider"]), method)(project_url(project), {"name": "X"})

    assert response.status_code == 403
    assert response.json()["code"] == "NOT_ORGANIZATION_MEMBER"
    project.refresh_from_db()
    assert project.name == "Safe"


@pytest.mark.parametrize("method", ["get", "patch", "delete"])
def test_a_project_through_another_organizations_path_is_404(
    client_for, team, project_factory, method
):
    # The outsider is a member of their own organization, and names our project under it.
    their_org = team["outsider"].memberships.get().organization
    project = project_factory(team["organization"], name="Safe")
    url = f"{projects_url(their_org)}/{project.pk}"

    response = getattr(client_for(team["outsider"]), method)(url, {"name": "X"})

    assert response.status_code == 404
    assert response.json()["code"] == "NOT_FOUND"
    project.refresh_from_db()
    assert project.name == "Safe"


@pytest.mark.parametrize("method", ["get", "post"])
def test_projects_without_credentials_are_401(api_client, team, method):
    response = getattr(api_client, method)(projects_url(team["organization"]), {"name": "x"})

    assert response.status_code == 401
    assert response.json()["error"] == "Unauthorized"


def test_a_project_without_credentials_is_401(api_client, team, project_factory):
    project = project_factory(team["organization"])

    assert api_client.get(project_url(project)).status_code == 401
    assert api_client.delete(project_url(project)).status_code == 401
    assert Project.objects.filter(pk=project.pk).exists()


@pytest.mark.parametrize(
    "payload",
    [
        {},
        {"name": ""},
        {"name": "x" * 101},
        {"name": None},
        {"name": "ok", "description": "x" * 2001},
        {"name": ["a"]},
    ],
)
def test_create_with_bad_input_is_400(client_for, team, payload):
    response = client_for(team["member"]).post(projects_url(team["organization"]), payload)

    assert response.status_code == 400
    assert response.json()["code"] == "VALIDATION_ERROR"
    assert response.json()["details"]
    assert Project.objects.count() == 0


@pytest.mark.parametrize("payload", [{"name": ""}, {"name": None}, {"description": 5 * ["x"]}])
def test_update_with_bad_input_is_400(client_for, team, project_factory, payload):
    project = project_factory(team["organization"], name="Keep")

    response = client_for(team["member"]).patch(project_url(project), payload)

    assert response.status_code == 400
    project.refresh_from_db()
    assert project.name == "Keep"


def test_an_unknown_project_is_404(client_for, team):
    url = f"{projects_url(team['organization'])}/01HZ3K5R4X9Y2V6QF8TJ7W0CDN"

    response = client_for(team["member"]).get(url)

    assert response.status_code == 404
    assert response.json()["message"] == "Project not found."


def test_ids_in_paths_are_case_insensitive(client_for, team, project_factory):
    project = project_factory(team["organization"])
    organization_id = team["organization"].pk.lower()
    url = f"/api/user/organizations/{organization_id}/projects/{project.pk.lower()}"

    response = client_for(team["member"]).get(url)

    assert response.status_code == 200
    assert response.json()["data"]["id"] == project.pk


def test_unsupported_method_is_405(client_for, team):
    response = client_for(team["member"]).put(projects_url(team["organization"]), {"name": "x"})

    assert response.status_code == 405
    assert response.json()["code"] == "METHOD_NOT_ALLOWED"


def test_project_list_query_budget(
    client_for, team, project_factory, django_assert_max_num_queries
):
    for _ in range(30):
        project_factory(team["organization"])
    client = client_for(team["member"])

    # session, user, membership joined to organization, count, page
    with django_assert_max_num_queries(5):
        response = client.get(projects_url(team["organization"]))
    assert response.status_code == 200
    assert len(response.json()["data"]) == 20


@pytest.mark.parametrize("with_creator", [True, False])
def test_the_lists_direct_representation_is_the_serializers(team, project_factory, with_creator):
    from tenants.serializers import ProjectSerializer, project_representation

    creator = team["owner"] if with_creator else None
    project = project_factory(team["organization"], created_by=creator)

    assert project_representation(project) == dict(ProjectSerializer(project).data)
