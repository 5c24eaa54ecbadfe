"""The benchmark's baselines (bench/urls.py): the same page as the real project list, found
after the same URL patterns, read-only, and the limited one counted per client IP."""

from __future__ import annotations

from typing import Any

import pytest
from django.urls import get_resolver

from tenants.models import Project

pytestmark = [pytest.mark.django_db, pytest.mark.urls("bench.urls")]

BASELINES = {
    "noauth": "/api/bench/noauth/organizations/{org}/projects",
    "limited": "/api/bench/limited/organizations/{org}/projects",
}
RATELIMIT_HEADERS = ("X-RateLimit-Limit", "X-RateLimit-Remaining", "RateLimit", "RateLimit-Policy")


@pytest.fixture
def seeded(org_factory, project_factory, api_key_factory) -> dict[str, Any]:
    organization = org_factory()
    for n in range(3):
        project_factory(organization, name=f"Project {n}")
    owner = organization.memberships.get().user
    _key, raw = api_key_factory(user=owner, scopes=["projects:read"])
    return {"org": organization.pk, "raw": raw}


def test_each_baseline_answers_the_real_lists_page_without_a_credential(
    seeded, api_client, key_client
):
    real = key_client(seeded["raw"]).get(f"/api/user/organizations/{seeded['org']}/projects")
    assert real.status_code == 200
    assert sorted(p["name"] for p in real.json()["data"]) == [
        "Project 0",
        "Project 1",
        "Project 2",
    ]
    for path in BASELINES.values():
        response = api_client.get(path.format(org=seeded["org"]))
        assert response.status_code == 200, path
        assert response.content == real.content, path


def test_only_the_limited_baseline_is_counted_per_ip(seeded, api_client):
    noauth = api_client.get(BASELINES["noauth"].format(org=seeded["org"]))
    limited = api_client.get(BASELINES["limited"].format(org=seeded["org"]))
    assert (noauth.status_code, limited.status_code) == (200, 200)
    assert all(name not in noauth for name in RATELIMIT_HEADERS)
    assert all(name in limited for name in RATELIMIT_HEADERS)
    assert limited["RateLimit-Policy"].startswith('"ip";')


@pytest.mark.parametrize("name", BASELINES)
@pytest.mark.parametrize("method", ["post", "patch", "put", "delete"])
def test_a_baseline_creates_and_changes_nothing(seeded, api_client, name, method):
    response = getattr(api_client, method)(
        BASELINES[name].format(org=seeded["org"]), {"name": "New"}, format="json"
    )
    assert response.status_code == 405
    assert response.json()["code"] == "METHOD_NOT_ALLOWED"
    names = sorted(Project.objects.values_list("name", flat=True))
    assert names == ["Project 0", "Project 1", "Project 2"]


def test_the_baselines_are_found_after_the_same_patterns_as_the_real_route():
    """Resolving each baseline tries and fails the patterns the real list's resolution tries
    first, so the difference between the routes is not in finding them."""
    api = next(p for p in get_resolver().url_patterns if str(p.pattern) == "api/")
    names = [
        inner.name
        for outer in api.url_patterns
        for inner in getattr(outer, "url_patterns", [outer])
    ]

    def tried_before(name: str) -> list[str]:
        return [other for other in names[: names.index(name)] if not other.startswith("bench-")]

    assert "projects" in names
    for baseline in ("bench-noauth-projects", "bench-limited-projects"):
        assert tried_before(baseline) == tried_before("projects")
