"""The dashboard's Organization → Keys and Organization → Key policy pages: the keys that act in
an organization, which its owners and admins see and revoke there, and its key policy, which
every member reads and owners and admins change, for the owner, an admin, a member, an outsider
and an anonymous visitor."""

from __future__ import annotations

import re
from urllib.parse import quote

import pytest
from django.core import mail
from django.urls import reverse
from django.utils import timezone
from ulid import ULID

from apikeys.models import ApiKey
from audit.models import Action, AuditEvent
from tests.dashboard.helpers import field_errors, page_html

pytestmark = pytest.mark.django_db

ADMINS = ["owner", "admin"]
ROLE_REFUSED = "Your role does not allow this."
NOT_A_MEMBER = "You are not a member of this organization."
NOT_FOUND = "We could not find that page"


@pytest.fixture
def keys(team, org_factory, member_factory, api_key_factory) -> dict[str, ApiKey]:
    """The member's keys: unpinned, pinned here, pinned to another organization they are in;
    and the outsider's."""
    elsewhere = org_factory()
    member_factory(elsewhere, user=team["member"])
    member = team["member"]
    return {
        "unpinned": api_key_factory(user=member, scopes=["projects:read"], name="Laptop")[0],
        "pinned": api_key_factory(
            user=member, scopes=["projects:write"], organization=team["organization"], name="CI"
        )[0],
        "elsewhere": api_key_factory(user=member, organization=elsewhere, name="Elsewhere")[0],
        "outsiders": api_key_factory(user=team["outsider"], name="Outsider")[0],
    }


@pytest.fixture
def committed(django_capture_on_commit_callbacks):
    def run(call):
        with django_capture_on_commit_callbacks(execute=True):
            return call()

    return run


def keys_url(organization_id: str) -> str:
    return reverse("dashboard:organization-api-keys", args=[organization_id])


def revoke_url(organization_id: str, key_id: str) -> str:
    return reverse("dashboard:organization-api-key-revoke", args=[organization_id, key_id])


def policy_url(organization_id: str) -> str:
    return reverse("dashboard:organization-key-policy", args=[organization_id])


def key_names(response) -> list[str]:
    return re.findall(r'<td class="name"><strong>([^<]*)</strong>', page_html(response))


def assert_no_key_revoked(keys: dict[str, ApiKey]) -> None:
    for key in keys.values():
        key.refresh_from_db()
        assert (key.revoked_at, key.revoked_in) == (None, [])
    assert mail.outbox == []


POLICY = {
    "require_expiry": "on",
    "max_lifetime_days": "90",
    "max_keys_per_member": "",
    "stale_after_days": "30",
    "allowed_scopes": ["projects:read", "members:read"],
    "allowed_cidrs": "203.0.113.0/24\r\n  198.51.100.7 \r\n\r\n",
}


# --- Who sees what ---------------------------------------------------------------------------


PAGES = [
    pytest.param("keys", "GET", id="keys-get"),
    pytest.param("revoke", "GET", id="revoke-get"),
    pytest.param("revoke", "POST", id="revoke-post"),
    pytest.param("policy", "GET", id="policy-get"),
    pytest.param("policy", "POST", id="policy-post"),
]


def url_of(page: str, organization_id: str, keys: dict[str, ApiKey]) -> str:
    if page == "keys":
        return keys_url(organization_id)
    if page == "revoke":
        return revoke_url(organization_id, keys["unpinned"].pk)
    return policy_url(organization_id)


def send(client, method: str, url: str):
    return client.post(url, POLICY) if method == "POST" else client.get(url)


@pytest.mark.parametrize(("page", "method"), PAGES)
def test_an_anonymous_visitor_is_sent_to_sign_in(browser, team, keys, page, method):
    url = url_of(page, team["organization"].pk, keys)

    response = send(browser(), method, url)

    assert response.status_code == 302
    assert response["Location"] == f"/sign-in?next={quote(url, safe='/')}"
    assert_no_key_revoked(keys)


@pytest.mark.parametrize(("page", "method"), PAGES)
def test_an_outsider_is_refused_on_every_page(browser, team, keys, page, method):
    response = send(browser(team["outsider"]), method, url_of(page, team["organization"].pk, keys))

    assert response.status_code == 403
    assert NOT_A_MEMBER in page_html(response)
    assert "Laptop" not in page_html(response)
    assert_no_key_revoked(keys)
    team["organization"].refresh_from_db()
    assert team["organization"].key_policy == {}


@pytest.mark.parametrize(("page", "method"), PAGES)
def test_an_unknown_organization_looks_like_a_foreign_one(browser, team, keys, page, method):
    response = send(browser(team["owner"]), method, url_of(page, str(ULID()), keys))

    assert response.status_code == 403
    assert NOT_A_MEMBER in page_html(response)


@pytest.mark.parametrize(
    ("page", "method"),
    [
        pytest.param("keys", "GET", id="keys-get"),
        pytest.param("revoke", "GET", id="revoke-get"),
        pytest.param("revoke", "POST", id="revoke-post"),
        pytest.param("policy", "POST", id="policy-post"),
    ],
)
def test_a_member_is_refused_what_only_owners_and_admins_do(browser, team, keys, page, method):
    response = send(browser(team["member"]), method, url_of(page, team["organization"].pk, keys))

    assert response.status_code == 403
    assert ROLE_REFUSED in page_html(response)
    assert "Laptop" not in page_html(response)
    assert_no_key_revoked(keys)
    team["organization"].refresh_from_db()
    assert team["organization"].key_policy == {}


@pytest.mark.parametrize(
    ("actor", "shown"),
    [("owner", True), ("admin", True), ("member", False)],
)
def test_the_organization_navigation_offers_the_pages(browser, team, keys, actor, shown):
    organization_id = team["organization"].pk

    response = browser(team[actor]).get(reverse("dashboard:members", args=[organization_id]))

    text = page_html(response)
    assert (f'<a href="{keys_url(organization_id)}">Keys</a>' in text) is shown
    assert f'<a href="{policy_url(organization_id)}">Key policy</a>' in text


# --- Organization → Keys ---------------------------------------------------------------------


@pytest.mark.parametrize("actor", ADMINS)
def test_owners_and_admins_see_every_key_that_acts_here(browser, team, keys, actor):
    response = browser(team[actor]).get(keys_url(team["organization"].pk))

    assert response.status_code == 200
    assert key_names(response) == ["CI", "Laptop"]  # newest first
    text = page_html(response)
    assert team["member"].email in text
    assert "This organization only" in text and "Every organization of the owner" in text
    for name in ("unpinned", "pinned"):
        assert revoke_url(team["organization"].pk, keys[name].pk) in text
    for key in keys.values():
        assert key.lookup not in text
        assert key.digest.split("$")[-1] not in text


def test_the_list_shows_where_a_key_was_last_used_from(browser, team, keys):
    ApiKey.objects.filter(pk=keys["unpinned"].pk).update(
        last_used_at=timezone.now(), last_used_ip="203.0.113.7"
    )

    response = browser(team["owner"]).get(keys_url(team["organization"].pk))

    assert "from 203.0.113.7" in page_html(response)


def test_revoked_and_expired_keys_are_shown_when_asked(browser, team, keys, api_key_factory):
    api_key_factory(user=team["member"], revoked=True, name="Gone")
    api_key_factory(user=team["member"], expired=True, name="Old")
    client = browser(team["admin"])

    in_use = client.get(keys_url(team["organization"].pk))
    every = client.get(keys_url(team["organization"].pk) + "?status=all")

    assert key_names(in_use) == ["CI", "Laptop"]
    assert key_names(every) == ["Old", "Gone", "CI", "Laptop"]


def test_the_revoke_page_asks_first_and_says_what_revoking_does(browser, team, keys):
    client = browser(team["owner"])
    organization = team["organization"]

    unpinned = client.get(revoke_url(organization.pk, keys["unpinned"].pk))
    pinned = client.get(revoke_url(organization.pk, keys["pinned"].pk))

    assert unpinned.status_code == pinned.status_code == 200
    assert "Revoke “Laptop”?" in page_html(unpinned)
    assert "It keeps working in its owner's other organizations." in page_html(unpinned)
    assert "Revoke “CI”?" in page_html(pinned)
    assert f"The key is pinned to {organization.name}" in page_html(pinned)
    assert_no_key_revoked(keys)


@pytest.mark.parametrize("actor", ADMINS)
def test_owners_and_admins_revoke_an_unpinned_key_here(browser, team, keys, committed, actor):
    client = browser(team[actor])
    organization = team["organization"]

    response = committed(lambda: client.post(revoke_url(organization.pk, keys["unpinned"].pk)))

    assert response.status_code == 302
    assert response["Location"] == keys_url(organization.pk)
    keys["unpinned"].refresh_from_db()
    assert keys["unpinned"].revoked_in == [organization.pk]
    assert keys["unpinned"].revoked_at is None
    [message] = mail.outbox
    assert message.to == [team["member"].email]
    event = AuditEvent.objects.get(action=Action.KEY_REVOKED, target_id=keys["unpinned"].pk)
    assert event.actor == team[actor]
    assert event.detail == {"by": "organization", "organizationId": organization.pk}
    shown = client.get(response["Location"])
    text = page_html(shown)
    assert f"“Laptop” of {team['member'].full_name} is revoked in {organization.name}." in text
    assert "Revoked here" in text
    assert revoke_url(organization.pk, keys["unpinned"].pk) not in text


def test_revoking_a_pinned_key_revokes_it_outright(browser, team, keys, committed):
    client = browser(team["owner"])
    organization = team["organization"]

    response = committed(lambda: client.post(revoke_url(organization.pk, keys["pinned"].pk)))

    assert response.status_code == 302
    keys["pinned"].refresh_from_db()
    assert keys["pinned"].revoked_at is not None
    assert keys["pinned"].revoked_by == team["owner"]
    assert len(mail.outbox) == 1
    shown = client.get(response["Location"])
    assert "“CI” of Test User is revoked. It stops working immediately." in page_html(shown)
    assert key_names(shown) == ["Laptop"]


def test_revoking_twice_mails_once(browser, team, keys, committed):
    client = browser(team["admin"])
    url = revoke_url(team["organization"].pk, keys["unpinned"].pk)

    committed(lambda: client.post(url))
    again = committed(lambda: client.post(url))
    page = client.get(url)

    assert again.status_code == 302
    assert len(mail.outbox) == 1
    assert "“Laptop” is already revoked" in page_html(page)


@pytest.mark.parametrize(
    "key_id",
    [
        pytest.param(lambda keys: keys["elsewhere"].pk, id="pinned-elsewhere"),
        pytest.param(lambda keys: keys["outsiders"].pk, id="a-non-members-key"),
        pytest.param(lambda keys: f"ak_{ULID()}", id="unknown"),
        pytest.param(lambda keys: "not-a-key", id="malformed"),
        pytest.param(lambda keys: keys["unpinned"].pk + "0", id="too-long"),
    ],
)
@pytest.mark.parametrize("method", ["GET", "POST"])
def test_a_key_that_does_not_act_here_is_not_found(browser, team, keys, key_id, method):
    url = revoke_url(team["organization"].pk, key_id(keys))

    response = send(browser(team["owner"]), method, url)

    assert response.status_code == 404
    assert NOT_FOUND in page_html(response)
    assert_no_key_revoked(keys)


def test_revoking_needs_the_forms_csrf_token(browser, team, keys):
    client = browser(team["owner"], enforce_csrf_checks=True)

    response = client.post(revoke_url(team["organization"].pk, keys["unpinned"].pk))

    assert response.status_code == 403
    assert_no_key_revoked(keys)


# --- Organization → Key policy ---------------------------------------------------------------


@pytest.mark.parametrize("actor", ADMINS)
def test_owners_and_admins_save_the_key_policy(browser, team, actor):
    client = browser(team[actor])
    url = policy_url(team["organization"].pk)

    response = client.post(url, POLICY)

    assert response.status_code == 302
    assert response["Location"] == url
    team["organization"].refresh_from_db()
    assert team["organization"].key_policy == {
        "requireExpiry": True,
        "maxLifetimeDays": 90,
        "staleAfterDays": 30,
        "allowedScopes": ["projects:read", "members:read"],
        "allowedCidrs": ["203.0.113.0/24", "198.51.100.7/32"],
    }
    event = AuditEvent.objects.get(action=Action.KEY_POLICY_CHANGED)
    assert event.actor == team[actor]
    shown = client.get(url)
    text = page_html(shown)
    assert "Key policy saved." in text
    assert re.search(r'<input type="checkbox" name="require_expiry"[^>]*checked', text)
    assert re.search(r'<input type="number" name="max_lifetime_days" value="90"', text)
    assert "203.0.113.0/24\n198.51.100.7/32</textarea>" in text
    assert re.search(r'value="members:read"[^>]*checked', text)
    assert not re.search(r'value="members:write"[^>]*checked', text)


def test_blank_fields_turn_the_rules_off(browser, team):
    team["organization"].key_policy = {"requireExpiry": True, "maxKeysPerMember": 3}
    team["organization"].save()

    response = browser(team["owner"]).post(policy_url(team["organization"].pk), {})

    assert response.status_code == 302
    team["organization"].refresh_from_db()
    assert team["organization"].key_policy == {}


@pytest.mark.parametrize(
    ("data", "field", "error"),
    [
        pytest.param(
            {"allowed_cidrs": "203.0.113.0/24\nnot-a-network"},
            "allowed_cidrs",
            "'not-a-network' is not an IP network such as 203.0.113.0/24.",
            id="bad-cidr",
        ),
        pytest.param(
            {"allowed_cidrs": "x" * 65},
            "allowed_cidrs",
            "Ensure this field has no more than 64 characters.",
            id="overlong-cidr",
        ),
        pytest.param(
            {"max_lifetime_days": "0"},
            "max_lifetime_days",
            "Ensure this value is greater than or equal to 1.",
            id="lifetime-zero",
        ),
        pytest.param(
            {"stale_after_days": "3651"},
            "stale_after_days",
            "Ensure this value is less than or equal to 3650.",
            id="stale-too-long",
        ),
        pytest.param(
            {"max_keys_per_member": "many"},
            "max_keys_per_member",
            "Enter a whole number.",
            id="keys-not-a-number",
        ),
        pytest.param(
            {"allowed_scopes": ["nope:read"]},
            "allowed_scopes",
            "Select a valid choice. nope:read is not one of the available choices.",
            id="unknown-scope",
        ),
    ],
)
def test_a_bad_policy_is_refused_with_the_reason(browser, team, data, field, error):
    response = browser(team["admin"]).post(policy_url(team["organization"].pk), data)

    assert response.status_code == 400
    assert field_errors(response, field) == [error]
    team["organization"].refresh_from_db()
    assert team["organization"].key_policy == {}
    assert not AuditEvent.objects.filter(action=Action.KEY_POLICY_CHANGED).exists()


def test_a_member_reads_the_key_policy_without_a_form(browser, team):
    team["organization"].key_policy = {"maxLifetimeDays": 30, "allowedCidrs": ["10.0.0.0/8"]}
    team["organization"].save()

    response = browser(team["member"]).get(policy_url(team["organization"].pk))

    assert response.status_code == 200
    text = page_html(response)
    assert '<form method="post" class="card" id="key-policy-form"' not in text
    assert "<dt>Longest lifetime</dt><dd>30 days</dd>" in text
    assert '<span class="chip">10.0.0.0/8</span>' in text
    assert "<dt>Allowed scopes</dt><dd>Any scope</dd>" in text
    assert "Owners and admins change the key policy." in text
