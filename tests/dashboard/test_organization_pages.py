"""The dashboard's organization pages: projects (list, create, rename, delete) and members, for
the owner, an admin, a member, an outsider and an anonymous visitor."""

from __future__ import annotations

import re
from urllib.parse import quote

import pytest
from django.test import Client
from django.urls import reverse
from ulid import ULID

from tenants.models import Project, Role

pytestmark = pytest.mark.django_db

ROLES = ["owner", "admin", "member"]
NOT_A_MEMBER = "You are not a member of this organization."
NOT_FOUND = "We could not find that page"
# Every organization page, and the methods it answers.
PAGES = [
    ("projects", "GET"),
    ("projects", "POST"),
    ("project-edit", "GET"),
    ("project-edit", "POST"),
    ("project-delete", "GET"),
    ("project-delete", "POST"),
    ("members", "GET"),
    ("members", "POST"),
]


@pytest.fixture
def project(team, project_factory) -> Project:
    return project_factory(team["organization"], name="Apollo", description="Moon landing")


def page_url(name: str, organization_id: str, project_id: str | None = None) -> str:
    args = [organization_id] if name in ("projects", "members") else [organization_id, project_id]
    return reverse(f"dashboard:{name}", args=args)


def send(client: Client, method: str, url: str, data: dict | None = None):
    if method == "POST":
        return client.post(url, data or {"name": "Intruder", "description": "x"})
    return client.get(url)


def html(response) -> str:
    return response.content.decode()


def field_errors(response, field: str) -> list[str]:
    """The errors shown under a form field, in the container its input points to."""
    match = re.search(rf'<div id="id_{field}_error">(.*?)</div>', html(response), re.DOTALL)
    return re.findall(r'<p class="error">([^<]*)</p>', match.group(1)) if match else []


def project_names(response) -> list[str]:
    return re.findall(r'<td class="name"><strong>([^<]*)</strong>', html(response))


# --- Anonymous visitors --------------------------------------------------------------------


@pytest.mark.parametrize(("name", "method"), PAGES)
def test_anonymous_visitor_is_sent_to_sign_in(browser, team, project, name, method):
    url = page_url(name, team["organization"].pk, project.pk)

    response = send(browser(), method, url)

    assert response.status_code == 302
    assert response["Location"] == f"/sign-in?next={quote(url, safe='/')}"
    project.refresh_from_db()
    assert project.name == "Apollo"
    assert Project.objects.count() == 1


# --- Projects ------------------------------------------------------------------------------


@pytest.mark.parametrize("actor", ROLES)
def test_every_member_sees_the_projects_by_name(browser, team, project_factory, actor):
    organization = team["organization"]
    project_factory(organization, name="Apollo")
    project_factory(organization, name="Gemini", description="Two seats")
    project_factory(team["outsider"].memberships.get().organization, name="Soyuz")

    response = browser(team[actor]).get(page_url("projects", organization.pk))

    assert response.status_code == 200
    assert sorted(project_names(response)) == ["Apollo", "Gemini"]
    assert "Two seats" in html(response)
    assert f"{organization.name} · 2 projects" in html(response)
    assert "Soyuz" not in html(response)


def test_an_organization_without_projects_says_so(browser, team):
    response = browser(team["member"]).get(page_url("projects", team["organization"].pk))

    assert response.status_code == 200
    assert "No projects yet. Create the first one above." in html(response)


@pytest.mark.parametrize("actor", ROLES)
def test_every_member_creates_a_project(browser, team, actor):
    client = browser(team[actor])
    url = page_url("projects", team["organization"].pk)

    response = client.post(url, {"name": "Artemis", "description": "Back to the Moon"})

    assert response.status_code == 302
    assert response["Location"] == url
    created = Project.objects.get()
    assert (created.name, created.description) == ("Artemis", "Back to the Moon")
    assert created.organization == team["organization"]
    assert created.created_by == team[actor]
    shown = client.get(response["Location"])
    assert "Project “Artemis” created." in html(shown)
    assert project_names(shown) == ["Artemis"]


def test_a_project_is_created_without_a_description(browser, team):
    url = page_url("projects", team["organization"].pk)

    response = browser(team["member"]).post(url, {"name": "Bare"})

    assert response.status_code == 302
    assert Project.objects.get().description == ""


@pytest.mark.parametrize(
    ("data", "field", "error"),
    [
        ({"name": "", "description": "x"}, "name", "This field is required."),
        ({"name": "   ", "description": "x"}, "name", "This field is required."),
        (
            {"name": "n" * 101},
            "name",
            "Ensure this value has at most 100 characters (it has 101).",
        ),
        (
            {"name": "Fine", "description": "d" * 2001},
            "description",
            "Ensure this value has at most 2000 characters (it has 2001).",
        ),
        ({"name": "Nul\x00byte"}, "name", "Null characters are not allowed."),
    ],
    ids=["blank", "whitespace", "name-too-long", "description-too-long", "nul"],
)
def test_an_invalid_project_is_refused_with_the_reason(browser, team, data, field, error):
    response = browser(team["member"]).post(page_url("projects", team["organization"].pk), data)

    assert response.status_code == 400
    assert field_errors(response, field) == [error]
    assert Project.objects.count() == 0


def test_the_success_message_escapes_the_name(browser, team):
    client = browser(team["member"])
    url = page_url("projects", team["organization"].pk)

    response = client.post(url, {"name": "<b>bold</b>"}, follow=True)

    assert response.status_code == 200
    assert "Project “&lt;b&gt;bold&lt;/b&gt;” created." in html(response)
    assert "<b>bold</b>" not in html(response)


def test_project_names_are_escaped(browser, team, project_factory):
    project_factory(team["organization"], name="<script>alert(1)</script>")

    response = browser(team["member"]).get(page_url("projects", team["organization"].pk))

    assert response.status_code == 200
    assert "<script>alert(1)</script>" not in html(response)
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html(response)


@pytest.mark.parametrize("actor", ROLES)
def test_the_rename_form_shows_the_current_values(browser, team, project, actor):
    url = page_url("project-edit", team["organization"].pk, project.pk)

    response = browser(team[actor]).get(url)

    assert response.status_code == 200
    assert 'name="name" value="Apollo"' in html(response)
    assert re.search(
        r'<textarea name="description"[^>]*>\s*Moon landing</textarea>', html(response)
    )
    assert project.pk in html(response)


@pytest.mark.parametrize("actor", ROLES)
def test_every_member_renames_a_project(browser, team, project, actor):
    client = browser(team[actor])
    url = page_url("project-edit", team["organization"].pk, project.pk)

    response = client.post(url, {"name": "Apollo 11", "description": "Eagle"})

    assert response.status_code == 302
    assert response["Location"] == page_url("projects", team["organization"].pk)
    project.refresh_from_db()
    assert (project.name, project.description) == ("Apollo 11", "Eagle")
    shown = client.get(response["Location"])
    assert "Project “Apollo 11” saved." in html(shown)
    assert project_names(shown) == ["Apollo 11"]


@pytest.mark.parametrize(
    ("data", "error"),
    [
        ({"name": "", "description": "Eagle"}, "This field is required."),
        ({"name": "n" * 101}, "Ensure this value has at most 100 characters (it has 101)."),
    ],
    ids=["blank", "too-long"],
)
def test_an_invalid_rename_is_refused(browser, team, project, data, error):
    url = page_url("project-edit", team["organization"].pk, project.pk)

    response = browser(team["admin"]).post(url, data)

    assert response.status_code == 400
    assert field_errors(response, "name") == [error]
    project.refresh_from_db()
    assert (project.name, project.description) == ("Apollo", "Moon landing")


@pytest.mark.parametrize("actor", ROLES)
def test_the_delete_page_asks_first(browser, team, project, actor):
    url = page_url("project-delete", team["organization"].pk, project.pk)

    response = browser(team[actor]).get(url)

    assert response.status_code == 200
    assert "Delete “Apollo”?" in html(response)
    assert f"removed from {team['organization'].name} for everyone" in html(response)
    assert Project.objects.filter(pk=project.pk).exists()


@pytest.mark.parametrize("actor", ROLES)
def test_every_member_deletes_a_project(browser, team, project, project_factory, actor):
    project_factory(team["organization"], name="Gemini")
    client = browser(team[actor])
    url = page_url("project-delete", team["organization"].pk, project.pk)

    response = client.post(url)

    assert response.status_code == 302
    assert response["Location"] == page_url("projects", team["organization"].pk)
    assert not Project.objects.filter(pk=project.pk).exists()
    shown = client.get(response["Location"])
    assert "Project “Apollo” deleted." in html(shown)
    assert project_names(shown) == ["Gemini"]


# --- Outsiders, unknown ids, other organizations' projects --------------------------------


@pytest.mark.parametrize(("name", "method"), PAGES)
def test_an_outsider_is_refused_on_every_page(browser, team, project, name, method):
    url = page_url(name, team["organization"].pk, project.pk)

    response = send(browser(team["outsider"]), method, url)

    assert response.status_code == 403
    assert "You do not have access to this" in html(response)
    assert NOT_A_MEMBER in html(response)
    assert "Apollo" not in html(response)
    assert not re.search(rf"\b{team['organization'].name}\b", html(response))
    project.refresh_from_db()
    assert (project.name, project.description) == ("Apollo", "Moon landing")
    assert Project.objects.count() == 1


@pytest.mark.parametrize(("name", "method"), PAGES)
def test_an_unknown_organization_looks_like_a_foreign_one(browser, team, project, name, method):
    url = page_url(name, str(ULID()), project.pk)

    response = send(browser(team["owner"]), method, url)

    assert response.status_code == 403
    assert NOT_A_MEMBER in html(response)
    project.refresh_from_db()
    assert project.name == "Apollo"
    assert Project.objects.count() == 1


@pytest.mark.parametrize(
    "path",
    [
        "/organizations/not-a-ulid/projects",
        "/organizations/123/members",
        "/organizations/{org}x/projects",
        "/organizations/{org}/projects/not-a-ulid/edit",
        "/organizations/{org}/projects/{project}0/delete",
        "/organizations/{org}/projects/{project}/rename",
    ],
)
@pytest.mark.parametrize("method", ["GET", "POST"])
def test_a_malformed_id_is_not_found(browser, team, project, path, method):
    url = path.format(org=team["organization"].pk, project=project.pk)

    response = send(browser(team["owner"]), method, url)

    assert response.status_code == 404
    assert NOT_FOUND in html(response)
    assert Project.objects.filter(pk=project.pk, name="Apollo").exists()


def test_an_organization_id_in_lower_case_is_the_same_organization(browser, team, project):
    url = page_url("projects", team["organization"].pk.lower())

    response = browser(team["member"]).get(url)

    assert response.status_code == 200
    assert project_names(response) == ["Apollo"]


@pytest.mark.parametrize(
    ("name", "method"),
    [
        ("project-edit", "GET"),
        ("project-edit", "POST"),
        ("project-delete", "GET"),
        ("project-delete", "POST"),
    ],
)
def test_another_organizations_project_is_not_found_under_yours(
    browser, team, project_factory, name, method
):
    # The outsider's project, asked for under the owner's own organization.
    foreign = project_factory(team["outsider"].memberships.get().organization, name="Soyuz")
    url = page_url(name, team["organization"].pk, foreign.pk)

    response = send(browser(team["owner"]), method, url, {"name": "Hijacked"})

    assert response.status_code == 404
    assert NOT_FOUND in html(response)
    assert "Soyuz" not in html(response)
    foreign.refresh_from_db()
    assert foreign.name == "Soyuz"


# --- Members -------------------------------------------------------------------------------


@pytest.mark.parametrize("actor", ROLES)
def test_the_members_page_lists_everyone_with_their_role(browser, team, actor):
    organization = team["organization"]

    response = browser(team[actor]).get(page_url("members", organization.pk))

    assert response.status_code == 200
    body = html(response)
    rows = re.findall(r"<tr>\s*<td><strong>.*?</tr>", body, flags=re.DOTALL)
    by_email = {re.search(r"<td>([^<]+@[^<]+)</td>", row).group(1): row for row in rows}
    assert set(by_email) == {team[r].email for r in ROLES}
    for role in ROLES:
        label = Role(role).label
        row = by_email[team[role].email]
        # as a badge, or as the chosen option of the role select of a row the viewer manages
        assert (
            f'<span class="badge role">{label}</span>' in row
            or f'<option value="{role}" selected>{label}</option>' in row
        )
    assert "(you)" in by_email[team[actor].email]
    assert body.count("(you)") == 1
    assert f"{organization.name} · 3 members" in body
    assert team["outsider"].email not in body


def test_the_members_page_shows_the_name_or_the_handle(
    browser, team, user_factory, member_factory
):
    organization = team["organization"]
    member_factory(organization, user=user_factory(full_name="Ada Lovelace"))
    nameless = member_factory(organization, user=user_factory(full_name=""))

    response = browser(team["owner"]).get(page_url("members", organization.pk))

    assert response.status_code == 200
    assert "<strong>Ada Lovelace</strong>" in html(response)
    assert f"<strong>{nameless.handle}</strong>" in html(response)


# --- Remembered organization and switcher ----------------------------------------------------


def test_the_dashboard_opens_the_organization_last_visited(
    browser, user_factory, org_factory, member_factory
):
    user = user_factory()
    first = org_factory(owner=user, name="First")
    second = org_factory(name="Second")
    member_factory(second, user=user)
    client = browser(user)

    assert client.get("/dashboard")["Location"] == page_url("projects", first.pk)

    assert client.get(page_url("members", second.pk)).status_code == 200
    response = client.get("/dashboard")
    assert response.status_code == 302
    assert response["Location"] == page_url("projects", second.pk)

    assert client.get(page_url("projects", first.pk)).status_code == 200
    assert client.get("/dashboard")["Location"] == page_url("projects", first.pk)


def test_the_dashboard_forgets_an_organization_the_user_left(
    browser, user_factory, org_factory, member_factory
):
    user = user_factory()
    first = org_factory(owner=user)
    second = org_factory()
    member_factory(second, user=user)
    client = browser(user)
    assert client.get(page_url("projects", second.pk)).status_code == 200
    second.memberships.filter(user=user).delete()

    response = client.get("/dashboard")

    assert response.status_code == 302
    assert response["Location"] == page_url("projects", first.pk)
    assert client.get(response["Location"]).status_code == 200


def test_the_dashboard_without_an_organization_says_so(browser, user_factory):
    response = browser(user_factory()).get("/dashboard")

    assert response.status_code == 200
    assert "You are not in any organization" in html(response)


def test_a_refused_organization_is_not_remembered(browser, team):
    client = browser(team["outsider"])
    assert client.get(page_url("projects", team["organization"].pk)).status_code == 403

    response = client.get("/dashboard")

    outsider_org = team["outsider"].memberships.get().organization
    assert response["Location"] == page_url("projects", outsider_org.pk)


def test_the_switcher_lists_only_the_users_organizations(
    browser, user_factory, org_factory, member_factory
):
    user = user_factory()
    mine = org_factory(owner=user, name="Acme Rockets")
    joined = org_factory(name="Bolt Labs")
    member_factory(joined, user=user, role=Role.ADMIN)
    other = org_factory(name="Cobalt Secret")

    response = browser(user).get(page_url("projects", joined.pk))

    assert response.status_code == 200
    panel = re.search(
        r'<div class="menu-panel">\s*<div class="menu-label">.*?</div>\s*(.*?)</div>',
        html(response),
        flags=re.DOTALL,
    ).group(1)
    links = re.findall(r'<a href="([^"]+)"( aria-current="true")?>([^<]+) <span', panel)
    assert links == [
        (page_url("projects", mine.pk), "", "Acme Rockets"),
        (page_url("projects", joined.pk), ' aria-current="true"', "Bolt Labs"),
    ]
    assert "· Owner" in panel
    assert "· Admin" in panel
    assert "Cobalt Secret" not in html(response)
    assert other.pk not in html(response)


# --- Pagination ------------------------------------------------------------------------------


def test_the_projects_list_is_paginated(browser, team, project_factory):
    organization = team["organization"]
    names = {project_factory(organization, name=f"P{n:02}").name for n in range(30)}
    client = browser(team["member"])
    url = page_url("projects", organization.pk)

    first = client.get(url)
    second = client.get(url, {"page": 2})

    assert first.status_code == second.status_code == 200
    assert len(project_names(first)) == 25
    assert len(project_names(second)) == 5
    assert set(project_names(first)) | set(project_names(second)) == names
    assert "Page 1 of 2" in html(first)
    assert '<a href="?page=2">Next →</a>' in html(first)
    assert "Page 2 of 2" in html(second)
    assert '<a href="?page=1">← Previous</a>' in html(second)


@pytest.mark.parametrize("page", ["junk", "0", "-1", "999", "1.5", "2e3", "", "\u0661", "9" * 40])
@pytest.mark.parametrize("name", ["projects", "members"])
def test_a_junk_page_number_still_shows_a_page(browser, team, project_factory, name, page):
    for n in range(30):
        project_factory(team["organization"], name=f"P{n:02}")

    response = browser(team["member"]).get(page_url(name, team["organization"].pk), {"page": page})

    assert response.status_code == 200
    if name == "projects":
        assert len(project_names(response)) in (25, 5)
    else:
        assert team["member"].email in html(response)


# --- Odd input -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "data",
    [
        {"name": ["One", "Two"], "description": ["a", "b"]},
        {"name": "x" * 100_000},
        {"name": "Проект 🚀", "description": "説明\u200b"},
        {"name": "\u202eevil"},
        {"description": "only"},
        {"name[]": "Bracketed"},
        {"name": "a", "description": "d" * 100_000},
    ],
    ids=["lists", "huge-name", "non-ascii", "bidi", "no-name", "brackets", "huge-desc"],
)
def test_odd_project_input_never_breaks_the_page(browser, team, data):
    response = browser(team["member"]).post(page_url("projects", team["organization"].pk), data)

    assert response.status_code in (302, 400)
    if response.status_code == 302:
        assert Project.objects.count() == 1
    else:
        assert Project.objects.count() == 0
        assert '<p class="error"' in html(response)


def test_a_json_body_creates_nothing(browser, team):
    url = page_url("projects", team["organization"].pk)

    response = browser(team["member"]).post(
        url, '{"name": "Sneaky"}', content_type="application/json"
    )

    assert response.status_code < 500
    assert Project.objects.count() == 0


def test_non_ascii_names_are_kept(browser, team):
    url = page_url("projects", team["organization"].pk)
    client = browser(team["member"])

    assert client.post(url, {"name": "Проект 🚀"}).status_code == 302

    assert Project.objects.get().name == "Проект 🚀"
    assert "Проект 🚀" in html(client.get(url))


# --- CSRF --------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["projects", "project-edit", "project-delete"])
def test_a_form_without_the_csrf_token_is_refused(browser, team, project, name):
    client = browser(team["owner"], enforce_csrf_checks=True)
    url = page_url(name, team["organization"].pk, project.pk)

    response = client.post(url, {"name": "Forged"})

    assert response.status_code == 403
    assert "This form has expired" in html(response)
    project.refresh_from_db()
    assert project.name == "Apollo"
    assert Project.objects.count() == 1


def test_a_form_with_the_csrf_token_goes_through(browser, team, project):
    client = browser(team["owner"], enforce_csrf_checks=True)
    url = page_url("project-edit", team["organization"].pk, project.pk)
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', html(client.get(url)))

    response = client.post(url, {"name": "Signed", "csrfmiddlewaretoken": token.group(1)})

    assert response.status_code == 302
    project.refresh_from_db()
    assert project.name == "Signed"


# --- Query budgets -----------------------------------------------------------------------------


def test_the_projects_page_has_a_fixed_query_budget(
    browser, team, project_factory, django_assert_max_num_queries
):
    for n in range(30):
        project_factory(team["organization"], name=f"P{n:02}")
    client = browser(team["member"])
    url = page_url("projects", team["organization"].pk)

    # 1 session, 2 user, 3 membership joined to its organization, 4 paginator count,
    # 5 the page of projects, 6 the switcher's memberships joined to their organizations,
    # and on the first visit only, the organization remembered in the session:
    # 7 savepoint, 8 update, 9 release.
    with django_assert_max_num_queries(9):
        first = client.get(url)
    with django_assert_max_num_queries(6):
        again = client.get(url)

    assert first.status_code == again.status_code == 200
    assert len(project_names(again)) == 25


def test_the_members_page_has_a_fixed_query_budget(
    browser, team, member_factory, invitation_factory, django_assert_max_num_queries
):
    for _ in range(30):
        member_factory(team["organization"])
    for n in range(5):
        invitation_factory(team["organization"], f"guest{n}@example.com", by=team["admin"])
    client = browser(team["member"])
    url = page_url("members", team["organization"].pk)

    # 1 session, 2 user, 3 membership joined to its organization, 4 paginator count,
    # 5 the page of memberships joined to their users, 6 the count of owners, 7 the
    # invitations joined to their inviters, 8 the switcher's memberships, and on the first
    # visit only, the session saved: 9 savepoint, 10 update, 11 release.
    with django_assert_max_num_queries(11):
        first = client.get(url)
    with django_assert_max_num_queries(8):
        again = client.get(url)

    assert first.status_code == again.status_code == 200
    # 25 members on the page, and the 5 invitations.
    assert html(again).count('<span class="badge role">') == 30
    assert html(again).count("@example.com") >= 25 + 5
