"""Creating organizations: a per-user budget (RATELIMIT_ORGANIZATION_CREATE), and slugs whose
cost does not grow with how many organizations share a name."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from lib.ids import SLUG_CANDIDATES, available_slug
from ratelimits.counters import Rate
from tenants.models import SLUG_MAX_LENGTH, Membership, Organization

pytestmark = pytest.mark.django_db

ROOT = Path(__file__).resolve().parents[2]
ORGANIZATIONS = "/api/user/organizations"
RANDOM_SUFFIX = re.compile(r"acme-[0-9a-f]{8}")


@pytest.fixture
def budget(settings):
    """Two organizations per user per hour."""
    settings.RATELIMITS = {
        **settings.RATELIMITS,
        "ORGANIZATION_CREATE": Rate.parse("2/hour", setting="RATELIMIT_ORGANIZATION_CREATE"),
    }


def created_by(user) -> list[str]:
    return sorted(
        Membership.objects.filter(user=user, organization__name__startswith="Team").values_list(
            "organization__name", flat=True
        )
    )


def test_organization_creation_is_limited_per_user(budget, client_for, user_factory):
    user = user_factory()
    client = client_for(user)

    responses = [client.post(ORGANIZATIONS, {"name": f"Team {n}"}) for n in range(3)]

    assert [r.status_code for r in responses] == [201, 201, 429]
    refused = responses[2]
    body = refused.json()
    assert body["code"] == "RATE_LIMITED"
    assert body["retryAfter"] >= 1
    assert int(refused["Retry-After"]) >= 1
    assert refused["RateLimit-Policy"] == '"organization_create";q=2;w=3600'
    assert created_by(user) == ["Team 0", "Team 1"]


def test_a_session_and_a_key_of_one_person_share_the_budget(
    budget, client_for, key_client, api_key_factory, user_factory
):
    user = user_factory()
    _key, raw = api_key_factory(user=user, scopes=["organizations:write"])

    by_session = client_for(user).post(ORGANIZATIONS, {"name": "Team session"})
    by_key = key_client(raw).post(ORGANIZATIONS, {"name": "Team key"})
    refused = key_client(raw).post(ORGANIZATIONS, {"name": "Team third"})

    assert (by_session.status_code, by_key.status_code) == (201, 201)
    assert refused.status_code == 429
    assert refused.json()["code"] == "RATE_LIMITED"
    assert created_by(user) == ["Team key", "Team session"]


def test_another_person_has_a_budget_of_their_own(budget, client_for, user_factory):
    first, second = user_factory(), user_factory()
    for n in range(2):
        assert client_for(first).post(ORGANIZATIONS, {"name": f"Team {n}"}).status_code == 201

    response = client_for(second).post(ORGANIZATIONS, {"name": "Team mine"})

    assert response.status_code == 201
    assert response.json()["data"]["name"] == "Team mine"


def test_listing_organizations_spends_none_of_the_budget(budget, client_for, user_factory):
    user = user_factory()
    client = client_for(user)
    for _ in range(5):
        assert client.get(ORGANIZATIONS).status_code == 200

    statuses = [client.post(ORGANIZATIONS, {"name": f"Team {n}"}).status_code for n in range(2)]

    assert statuses == [201, 201]


# --- Slugs ---------------------------------------------------------------------------------


def take(*slugs: str) -> None:
    Organization.objects.bulk_create(Organization(name=slug, slug=slug) for slug in slugs)


@pytest.mark.parametrize(
    ("taken", "expected"),
    [
        ([], "acme"),
        (["acme"], "acme-2"),
        (["acme", "acme-2", "acme-3"], "acme-4"),
        (["acme", "acme-3"], "acme-2"),
        (["acme-corp", "acme-2x", "acmeacme"], "acme"),  # other slugs sharing the prefix
    ],
)
def test_the_first_free_numbered_slug_is_chosen(taken, expected, django_assert_num_queries):
    take(*taken)

    with django_assert_num_queries(1):
        slug = available_slug(Organization, "slug", "ACME", max_length=SLUG_MAX_LENGTH)

    assert slug == expected


@pytest.mark.parametrize("count", [SLUG_CANDIDATES, 500])
def test_past_the_numbered_candidates_a_slug_costs_one_bounded_query(
    count, django_assert_max_num_queries
):
    # However many organizations share the name, one query that reads at most
    # SLUG_CANDIDATES rows (acme, acme-2 … acme-10), then a random suffix: no probing on
    # through acme-11, acme-12 …
    take("acme", *(f"acme-{n}" for n in range(2, count + 1)))

    with django_assert_max_num_queries(1) as captured:
        slug = available_slug(Organization, "slug", "Acme", max_length=SLUG_MAX_LENGTH)

    assert RANDOM_SUFFIX.fullmatch(slug)
    assert not Organization.objects.filter(slug=slug).exists()
    (query,) = captured.captured_queries
    assert " LIKE " not in query["sql"].upper()  # a prefix scan would read all `count` rows


def test_an_organization_named_like_hundreds_of_others_is_created(client_for, user_factory):
    take("acme", *(f"acme-{n}" for n in range(2, 300)))

    response = client_for(user_factory()).post(ORGANIZATIONS, {"name": "Acme"})

    assert response.status_code == 201
    assert RANDOM_SUFFIX.fullmatch(response.json()["data"]["slug"])
