"""The API reference at /api/docs, in real Chromium: Swagger UI from our own static files,
within the Content-Security-Policy, and "Try it out" answering with an API key."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from apikeys.services import api_key_issue

pytestmark = pytest.mark.django_db(transaction=True)


def test_try_it_out_with_an_api_key(live_server, page, csp_violations, user_factory):
    user = user_factory(email="docs@example.com")
    _key, raw = api_key_issue(user=user, name="docs", scopes=["user:read"])
    outside: list[str] = []
    page.on(
        "request",
        lambda request: (
            outside.append(request.url) if not request.url.startswith(live_server.url) else None
        ),
    )

    page.goto(f"{live_server.url}/api/docs")
    expect(page.locator(".swagger-ui .title")).to_contain_text("Latchkey API")

    page.get_by_role("button", name="Authorize").first.click()
    dialog = page.locator(".modal-ux")
    api_key_form = dialog.locator(".auth-container").filter(has_text="ApiKeyAuth")
    api_key_form.locator("input").fill(raw)
    api_key_form.get_by_role("button", name="Apply credentials").click()
    expect(api_key_form.get_by_role("button", name="Remove authorization")).to_be_visible()
    api_key_form.locator("button.btn-done").click()

    operation = page.locator("#operations-Accounts-getMe")
    operation.locator(".opblock-summary").click()
    operation.get_by_role("button", name="Try it out").click()
    operation.get_by_role("button", name="Execute").click()

    response = operation.locator(".live-responses-table .response")
    expect(response.locator(".response-col_status").first).to_have_text("200")
    expect(response.locator(".microlight").first).to_contain_text("docs@example.com")
    assert csp_violations == []
    assert outside == []
