"""An operator, in real Chromium, finds a user's key in the admin and revokes it."""

from __future__ import annotations

import pytest
import requests
from playwright.sync_api import expect

from tests.conftest import PASSWORD

pytestmark = pytest.mark.django_db(transaction=True)


def test_an_operator_finds_a_key_and_revokes_it(
    live_server, page, artifacts, user_factory, api_key_factory
):
    user_factory(email="ops@example.com", is_staff=True, is_superuser=True)
    developer = user_factory(email="dev@example.com")
    key, raw = api_key_factory(user=developer, name="leaked CI key", scopes=["user:read"])
    me = f"{live_server.url}/api/user/me"
    assert requests.get(me, headers={"X-Api-Key": raw}, timeout=10).status_code == 200

    page.goto(f"{live_server.url}/admin/")
    page.fill("#id_username", "ops@example.com")
    page.fill("#id_password", PASSWORD)
    page.click("input[type=submit]")
    page.wait_for_selector("#site-name")

    # The leak report quotes the whole key: pasting it into "Find a reported key" finds it.
    page.goto(f"{live_server.url}/admin/apikeys/apikey/")
    page.fill("#find-key-input", raw)
    page.click("#find-key-form input[type=submit]")
    page.wait_for_url(f"**q={key.pk}*")  # answered with the key's id, never the key
    rows = page.locator("#result_list tbody tr")
    expect(rows).to_have_count(1)
    assert "leaked CI key" in rows.first.inner_text()
    assert "dev@example.com" in rows.first.inner_text()

    rows.first.locator("input.action-select").check()
    page.select_option("select[name=action]", "revoke_selected")
    page.click("button[name=index]")
    page.wait_for_selector("text=Revoke 1 API key(s)?")
    assert key.digest not in page.content()
    page.click("input[value='Yes, revoke']")
    page.wait_for_selector("text=Revoked 1 API key(s).")
    page.screenshot(path=artifacts / "admin-key-revoked.png", full_page=True)

    response = requests.get(me, headers={"X-Api-Key": raw}, timeout=10)
    assert response.status_code == 401
    assert response.json()["code"] == "KEY_REVOKED"
    assert raw not in page.content()
