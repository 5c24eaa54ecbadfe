"""In real Chromium, under the Content-Security-Policy: the key-create flow (presets, the
"no expiration" warning, the copy button) and the admin work, and nothing is blocked."""

from __future__ import annotations

import re

import pytest
from django.contrib.admin.utils import quote
from playwright.sync_api import expect

from dashboard.forms import presets
from tests.conftest import PASSWORD

pytestmark = pytest.mark.django_db(transaction=True)

EMAIL = "grace@example.com"


def checked_scopes(page: object) -> list[str]:
    return sorted(
        page.eval_on_selector_all(  # type: ignore[attr-defined]
            "input[name=scopes]:checked", "boxes => boxes.map(box => box.value)"
        )
    )


def test_the_policy_blocks_inline_script_and_the_browser_reports_it(
    live_server, page, csp_violations
):
    # The instrument the other tests rely on: an inline script is refused and reported.
    response = page.goto(f"{live_server.url}/sign-in")
    page.evaluate(
        """() => {
            const script = document.createElement("script");
            script.textContent = "window.ranInline = true";
            document.head.appendChild(script);
        }"""
    )

    assert "frame-ancestors 'none'" in response.headers["content-security-policy"]
    assert page.evaluate("window.ranInline") is None
    expect(page.get_by_role("heading", name="Sign in")).to_be_visible()
    assert len(csp_violations) == 1
    assert "inline script" in csp_violations[0]
    assert "script-src 'self'" in csp_violations[0]


def test_the_key_create_flow_works_under_the_policy(
    live_server, page, csp_violations, user_factory, org_factory
):
    base = live_server.url
    org_factory(owner=user_factory(email=EMAIL, password=PASSWORD))
    page.context.grant_permissions(["clipboard-read", "clipboard-write"], origin=base)
    page.goto(f"{base}/sign-in")
    page.get_by_label("Email").fill(EMAIL)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("heading", name="Projects")).to_be_visible()

    response = page.goto(f"{base}/settings/api-keys/new")
    assert "script-src 'self'" in response.headers["content-security-policy"]
    # Set on this document: it survives only if the presets work in the page, without the
    # form being sent back (their no-JavaScript fallback).
    page.evaluate("window.sameDocument = true")

    page.get_by_role("button", name="Read-only").click()
    assert checked_scopes(page) == sorted(presets()["read-only"])
    page.get_by_role("button", name="Full access").click()
    assert checked_scopes(page) == sorted(presets()["full-access"])
    page.get_by_role("button", name="Read-only").click()
    assert page.evaluate("window.sameDocument") is True

    warning = page.locator("#never-warning")
    page.get_by_role("radio", name="No expiration").check()
    expect(warning).to_be_visible()
    page.get_by_role("radio", name="30 days").check()
    expect(warning).to_be_hidden()

    page.get_by_label("Name", exact=True).fill("Under the policy")
    page.get_by_role("button", name="Create API key").click()
    expect(page.get_by_text("It will not be shown again.")).to_be_visible()
    page.get_by_role("button", name="Copy").click()
    expect(page.get_by_text("Copied to the clipboard.")).to_be_visible()
    raw = page.evaluate("navigator.clipboard.readText()")
    assert re.fullmatch(r"ba_[0-9A-Za-z]{46}", raw)

    assert csp_violations == []


def test_the_admin_works_under_the_policy(
    live_server, page, csp_violations, user_factory, org_factory, api_key_factory
):
    base = live_server.url
    user_factory(email="ops@example.com", is_staff=True, is_superuser=True)
    developer = user_factory(email="dev@example.com")
    organization = org_factory(owner=developer, name="Dev Org")
    key, raw = api_key_factory(user=developer, name="leaked key")
    page.goto(f"{base}/admin/")
    page.fill("#id_username", "ops@example.com")
    page.fill("#id_password", PASSWORD)
    page.click("input[type=submit]")
    page.wait_for_selector("#site-name")

    # A changelist, its filters and search, and the find-key form.
    response = page.goto(f"{base}/admin/apikeys/apikey/")
    assert "style-src 'self'" in response.headers["content-security-policy"]
    page.get_by_role("link", name="Active").click()
    page.fill("#find-key-input", raw)
    page.get_by_role("button", name="Find key").click()
    page.wait_for_url(f"**q={key.pk}")
    expect(page.locator("#result_list tbody tr")).to_have_count(1)
    expect(page.get_by_text("Found the key you pasted")).to_be_visible()
    assert raw not in page.content()

    # An action's confirmation page, and its "No, take me back" (admin/js/cancel.js).
    page.locator("#result_list tbody tr input.action-select").check()
    page.select_option("select[name=action]", "revoke_selected")
    page.click("button[name=index]")
    page.wait_for_selector("text=Revoke 1 API key(s)?")
    page.get_by_role("link", name="No, take me back").click()
    page.wait_for_url(f"**q={key.pk}")

    # Change pages with inlines, widgets and their scripts; the other changelists.
    for path in (
        f"/admin/tenants/organization/{quote(organization.pk)}/change/",
        f"/admin/accounts/user/{quote(developer.pk)}/change/",
        "/admin/accounts/user/",
        "/admin/audit/auditevent/",
        "/admin/tenants/project/add/",
    ):
        assert page.goto(f"{base}{path}").status == 200
        page.wait_for_load_state("load")

    assert csp_violations == []
