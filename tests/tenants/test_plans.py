"""Plans: per-key and per-organization budgets, and GET …/subscription."""

from __future__ import annotations

import pytest

from ratelimits.counters import Rate
from tenants.models import Membership, Organization

pytestmark = pytest.mark.django_db


@pytest.fixture
def plans(settings):
    def set_plans(**plans: tuple[str, str]) -> None:
        settings.RATELIMITS = {
            **settings.RATELIMITS,
            "PLANS": {
                name: {"key": Rate.parse(key), "organization": Rate.parse(organization)}
                for name, (key, organization) in plans.items()
            },
        }

    return set_plans


def projects_url(organization: Organization) -> str:
    return f"/api/user/organizations/{organization.pk}/projects"


def subscription_url(organization: Organization) -> str:
    return f"/api/user/organizations/{organization.pk}/subscription"


def test_subscription_shows_the_plan_and_its_limits(client_for, team, plans):
    plans(free=("600/min", "1200/min"), pro=("3000/min", "10000/min"))
    Organization.objects.filter(pk=team["organization"].pk).update(plan="pro")

    response = client_for(team["member"]).get(subscription_url(team["organization"]))

    assert response.status_code == 200
    assert response.json()["data"] == {
        "plan": "pro",
        "limits": {
            "perKey": {"limit": 3000, "windowSeconds": 60},
            "organization": {"limit": 10000, "windowSeconds": 60},
        },
    }


def test_subscription_refusals(api_client, client_for, key_client, api_key_factory, team):
    organization = team["organization"]
    _key, without_scope = api_key_factory(user=team["member"], scopes=["projects:read"])
    elsewhere = team["outsider"].memberships.get().organization
    _key, pinned_elsewhere = api_key_factory(
        user=team["outsider"], scopes=["subscription:read"], organization=elsewhere
    )

    anonymous = api_client.get(subscription_url(organization))
    outsider = client_for(team["outsider"]).get(subscription_url(organization))
    missing_scope = key_client(without_scope).get(subscription_url(organization))
    pinned = key_client(pinned_elsewhere).get(subscription_url(organization))

    assert anonymous.status_code == 401
    assert (outsider.status_code, outsider.json()["code"]) == (403, "NOT_ORGANIZATION_MEMBER")
    assert missing_scope.status_code == 403
    assert missing_scope.json()["required_scopes"] == ["subscription:read"]
    assert (pinned.status_code, pinned.json()["code"]) == (403, "ORGANIZATION_MISMATCH")


def test_a_key_gets_its_plans_per_key_budget(key_client, api_key_factory, team, plans):
    plans(free=("2/min", "100/min"))
    _key, raw = api_key_factory(user=team["member"], scopes=["projects:read"])
    client = key_client(raw)

    statuses = [client.get(projects_url(team["organization"])).status_code for _ in range(3)]

    assert statuses == [200, 200, 429]


def test_the_organization_budget_holds_across_its_keys(key_client, api_key_factory, team, plans):
    plans(free=("100/min", "3/min"))
    first = key_client(api_key_factory(user=team["member"], scopes=["projects:read"])[1])
    second = key_client(api_key_factory(user=team["admin"], scopes=["projects:read"])[1])
    url = projects_url(team["organization"])

    statuses = [first.get(url).status_code, first.get(url).status_code]
    statuses += [second.get(url).status_code, second.get(url).status_code]

    assert statuses == [200, 200, 200, 429]
    refused = second.get(url)
    assert refused["RateLimit-Policy"] == '"organization";q=3;w=60'


def test_a_better_plan_has_a_bigger_budget(key_client, api_key_factory, team, plans):
    plans(free=("1/min", "100/min"), pro=("5/min", "100/min"))
    Organization.objects.filter(pk=team["organization"].pk).update(plan="pro")
    client = key_client(api_key_factory(user=team["member"], scopes=["projects:read"])[1])

    statuses = [client.get(projects_url(team["organization"])).status_code for _ in range(3)]

    assert statuses == [200, 200, 200]


def test_no_one_can_spend_another_tenants_budget(key_client, api_key_factory, team, plans):
    plans(free=("100/min", "2/min"))
    intruder = key_client(api_key_factory(user=team["outsider"], scopes=["*"])[1])
    member = key_client(api_key_factory(user=team["member"], scopes=["projects:read"])[1])
    url = projects_url(team["organization"])

    refused = [intruder.get(url).status_code for _ in range(5)]

    assert refused == [403] * 5
    assert [member.get(url).status_code for _ in range(2)] == [200, 200]


def test_a_pinned_key_counts_against_its_organization_everywhere(
    key_client, api_key_factory, team, plans
):
    plans(free=("100/min", "2/min"))
    _key, raw = api_key_factory(
        user=team["member"], scopes=["user:read"], organization=team["organization"]
    )
    client = key_client(raw)

    statuses = [client.get("/api/user/me").status_code for _ in range(3)]

    assert statuses == [200, 200, 429]


REMOVED_MEMBERS_ROUTES = [
    pytest.param("/api/user/me", 200, "OK", id="account-route"),
    pytest.param("/api/auth/status", 200, "OK", id="status"),
    pytest.param(projects_url, 403, "NOT_ORGANIZATION_MEMBER", id="tenant-route"),
]


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("warm", [False, True], ids=["database", "warm-key-cache"])
@pytest.mark.parametrize(("route", "status", "code"), REMOVED_MEMBERS_ROUTES)
def test_a_removed_members_pinned_key_never_spends_the_organizations_budget(
    key_client, api_key_factory, team, plans, settings, route, status, code, warm
):
    # The pin says where a key may act, not that its owner still belongs there: once the
    # owner has left, the key spends its own budget (RATELIMIT_KEY), never the plan's.
    settings.APIKEYS = {**settings.APIKEYS, "CACHE_TIMEOUT": 300 if warm else 0}
    settings.RATELIMITS = {**settings.RATELIMITS, "KEY": Rate.parse("50/min")}
    plans(free=("100/min", "3/min"))
    organization = team["organization"]
    _key, raw = api_key_factory(
        user=team["member"], scopes=["user:read", "projects:read"], organization=organization
    )
    former = key_client(raw)
    if warm:
        assert former.get("/api/user/me").status_code == 200  # spends 1 of the 3, as a member
    Membership.objects.get(user=team["member"], organization=organization).delete()
    url = route(organization) if callable(route) else route

    responses = [former.get(url) for _ in range(4)]
    member = key_client(api_key_factory(user=team["admin"], scopes=["projects:read"])[1])
    afterwards = [member.get(projects_url(organization)).status_code for _ in range(2)]

    assert [(r.status_code, r.json()["code"]) for r in responses] == [(status, code)] * 4
    assert responses[-1]["RateLimit-Policy"] == '"key";q=50;w=60'
    assert afterwards == [200, 200]


@pytest.mark.django_db(transaction=True)
def test_a_plan_change_reaches_warm_keys_at_once(
    key_client, api_key_factory, team, plans, settings
):
    settings.APIKEYS = {**settings.APIKEYS, "CACHE_TIMEOUT": 300}
    plans(free=("1/min", "100/min"), pro=("50/min", "100/min"))
    client = key_client(api_key_factory(user=team["member"], scopes=["projects:read"])[1])
    url = projects_url(team["organization"])
    assert [client.get(url).status_code for _ in range(2)] == [200, 429]

    organization = Organization.objects.get(pk=team["organization"].pk)
    organization.plan = "pro"
    organization.save()

    assert client.get(url).status_code == 200


def test_operators_choose_the_plan_from_the_configured_ones(client, user_factory, team, plans):
    plans(free=("1/min", "1/min"), team=("5/min", "5/min"))
    client.force_login(user_factory(is_staff=True, is_superuser=True))

    page = client.get(f"/admin/tenants/organization/{team['organization'].pk}/change/")

    assert page.status_code == 200
    assert b'<option value="team"' in page.content
    assert b'<option value="free" selected' in page.content


@pytest.mark.parametrize(
    ("cache_timeout", "queries"), [(0, 3), (300, 1)], ids=["database", "warm-key-cache"]
)
def test_query_budget_of_a_pinned_key_on_an_account_route(
    key_client,
    api_key_factory,
    team,
    settings,
    cache_timeout,
    queries,
    django_assert_max_num_queries,
):
    settings.APIKEYS = {**settings.APIKEYS, "CACHE_TIMEOUT": cache_timeout}
    _key, raw = api_key_factory(
        user=team["member"], scopes=["user:read"], organization=team["organization"]
    )
    client = key_client(raw)
    assert client.get("/api/user/me").status_code == 200  # lastUsedAt recorded; warm if on

    # From the database: 1. the key joined to its owner; 2. the gate, before the budget is
    # chosen: the owner's membership in the pinned organization, joined to it for its plan;
    # 3. organizationCount. Warm: organizationCount only, the entry's roles and plans admit it.
    with django_assert_max_num_queries(queries):
        response = client.get("/api/user/me")

    assert response.status_code == 200
    assert response.json()["data"]["id"] == team["member"].pk
