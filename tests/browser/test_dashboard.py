"""A person, in real Chromium, signs up, signs in, creates a key in Settings → API keys, uses
it over HTTP, and revokes it."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
import requests
from django.contrib.humanize.templatetags.humanize import naturaltime
from django.utils import timezone
from playwright.sync_api import expect

pytestmark = pytest.mark.django_db(transaction=True)

EMAIL = "grace@example.com"
PASSWORD = "a-long-secure-passphrase"
# What naturaltime prints for a time 0 to 59 seconds ago: "now", "a second ago", then
# "2 seconds ago" and on, with a no-break space between the number and the unit.
SECONDS_AGO = re.compile(r"^\s*(now|a second ago|\d+\xa0seconds ago)\s*$")


def test_the_last_used_pattern_matches_naturaltime_for_a_minute():
    now = timezone.now()
    printed = [str(naturaltime(now - timedelta(seconds=n))) for n in range(60)]

    assert [text for text in printed if not SECONDS_AGO.fullmatch(text)] == []
    assert not SECONDS_AGO.fullmatch(str(naturaltime(now - timedelta(seconds=60))))


def test_a_person_creates_uses_and_revokes_a_key_in_the_dashboard(live_server, page, artifacts):
    base = live_server.url
    page.context.grant_permissions(["clipboard-read", "clipboard-write"], origin=base)

    # Sign up: a password that breaks the rules is explained next to the field.
    page.goto(f"{base}/")
    page.get_by_role("link", name="Create an account").click()
    page.get_by_label("Full name").fill("Grace Hopper")
    page.get_by_label("Email").fill(EMAIL)
    page.get_by_label("Password").fill("short")
    page.get_by_role("button", name="Create account").click()
    expect(page.locator(".field.has-error .error")).to_contain_text("too short")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Create account").click()
    expect(page.get_by_role("heading", name="Projects")).to_be_visible()

    # Sign out, then sign in again.
    page.locator("details.account summary").click()
    page.get_by_role("button", name="Sign out").click()
    expect(page.get_by_text("You are signed out.")).to_be_visible()
    page.goto(f"{base}/sign-in")
    page.get_by_label("Email").fill(EMAIL)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("heading", name="Projects")).to_be_visible()

    # Settings → API keys → Create: user:read, 30 days.
    page.get_by_role("navigation", name="Dashboard").get_by_role("link", name="API keys").click()
    page.get_by_role("link", name="Create API key").click()
    page.get_by_label("Name", exact=True).fill("Laptop script")
    page.get_by_role("checkbox", name="user:read").check()
    page.get_by_role("radio", name="30 days").check()
    page.screenshot(path=artifacts / "dashboard-create-key-form.png", full_page=True)
    page.get_by_role("button", name="Create API key").click()

    expect(page.get_by_text("It will not be shown again.")).to_be_visible()
    page.get_by_role("button", name="Copy").click()
    expect(page.get_by_text("Copied to the clipboard.")).to_be_visible()
    raw = page.evaluate("navigator.clipboard.readText()")
    assert re.fullmatch(r"ba_[0-9A-Za-z]{46}", raw)
    assert raw in page.locator("pre").first.inner_text()  # the curl snippet has it filled in

    me = f"{base}/api/user/me"
    response = requests.get(me, headers={"X-Api-Key": raw}, timeout=10)
    assert response.status_code == 200
    assert response.json()["data"]["email"] == EMAIL

    # Reloading (which resends the form) and going back never show the key again.
    page.reload()
    expect(page.get_by_role("heading", name="API keys")).to_be_visible()
    assert raw not in page.content()
    expect(page.get_by_text("no new key was created")).to_be_visible()
    page.go_back()
    assert raw not in page.content()

    page.goto(f"{base}/settings/api-keys")
    row = page.locator("tr", has_text="Laptop script")
    expect(row).to_have_count(1)
    expect(row.locator(".chip")).to_have_text(["user:read"])
    expect(row.locator(".badge")).to_have_text("Active")
    expect(row.locator("td").nth(5)).to_have_text(SECONDS_AGO)
    page.screenshot(path=artifacts / "dashboard-api-keys.png", full_page=True)
    assert raw not in page.content()

    # Revoke, behind a confirmation.
    row.get_by_role("link", name="Revoke").click()
    expect(page.get_by_role("heading", name="Revoke “Laptop script”?")).to_be_visible()
    page.get_by_role("button", name="Revoke key").click()
    expect(page.get_by_text("is revoked")).to_be_visible()
    expect(page.locator("tr", has_text="Laptop script").locator(".badge")).to_have_text("Revoked")

    response = requests.get(me, headers={"X-Api-Key": raw}, timeout=10)
    assert response.status_code == 401
    assert response.json()["code"] == "KEY_REVOKED"


def test_the_dashboard_fits_a_phone(live_server, chromium, artifacts, user_factory):
    user_factory(email=EMAIL, password=PASSWORD)
    context = chromium.new_context(viewport={"width": 375, "height": 812})
    page = context.new_page()
    page.goto(f"{live_server.url}/sign-in")
    page.get_by_label("Email").fill(EMAIL)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    page.goto(f"{live_server.url}/settings/api-keys/new")

    # Nothing is wider than the screen: wide tables scroll inside their own box.
    assert page.evaluate("document.documentElement.scrollWidth") <= 375
    # Focus is visible: a focused field gets the focus ring.
    page.get_by_label("Name", exact=True).focus()
    assert page.evaluate("getComputedStyle(document.activeElement).boxShadow") != "none"
    page.screenshot(path=artifacts / "dashboard-create-key-form-phone.png", full_page=True)
    context.close()
