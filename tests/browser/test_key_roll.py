"""A person, in real Chromium, rolls a key on its page with a 24-hour overlap: both secrets
work over HTTP until the overlap ends, then the old one is refused with KEY_EXPIRED and the new
one goes on working. The new secret is shown once; the old one is never shown again.

The live server runs in this process, so the server's clock is moved by replacing
`django.utils.timezone.now`, which is what API key authentication reads."""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import requests
from django.utils import timezone
from playwright.sync_api import expect

from tests.browser.conftest import EMAIL, ORGANIZATION
from tests.conftest import PASSWORD, TIMESTAMP

pytestmark = pytest.mark.django_db(transaction=True)

KEY_NAME = "Deploy bot"
HEADER = "Latchkey-Key-Expires"
OVERLAP = timedelta(hours=24)
SECRET = re.compile(r"ba_[0-9A-Za-z]{46}")


@pytest.fixture
def server_clock(monkeypatch: pytest.MonkeyPatch) -> Callable[[datetime], None]:
    """server_clock(moment): from then on, `timezone.now()` answers `moment`, in the live
    server's thread as in the test's."""

    def set_to(moment: datetime) -> None:
        monkeypatch.setattr(timezone, "now", lambda: moment)

    return set_to


def header_time(moment: datetime) -> str:
    """`moment` as Latchkey-Key-Expires writes it: UTC, to the second, cut."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def me(base: str, raw: str) -> requests.Response:
    return requests.get(f"{base}/api/user/me", headers={"X-Api-Key": raw}, timeout=10)


def signed_in_as_the_owner(response: requests.Response) -> None:
    assert response.status_code == 200, response.text
    assert response.json()["data"]["email"] == EMAIL


def api_error(response: requests.Response, status: int, code: str) -> dict[str, Any]:
    """The API's error envelope, as a client reads it, with `status` and the machine `code`."""
    assert response.status_code == status, response.text
    assert response.headers["Content-Type"] == "application/json"
    body = response.json()
    assert (body["success"], body["status"], body["code"]) == (False, status, code), body
    assert body["error"] == body["message"]
    assert TIMESTAMP.fullmatch(body["timestamp"]), body["timestamp"]
    return body


def test_a_rolled_key_answers_to_both_secrets_until_the_overlap_ends(
    live_server, page, user_factory, org_factory, server_clock
):
    base = live_server.url
    org_factory(owner=user_factory(email=EMAIL, password=PASSWORD), name=ORGANIZATION)

    page.goto(f"{base}/sign-in")
    page.get_by_label("Email").fill(EMAIL)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("heading", name="Projects")).to_be_visible()

    # Settings → API keys → Create: user:read, never expiring.
    page.get_by_role("navigation", name="Dashboard").get_by_role("link", name="API keys").click()
    page.get_by_role("link", name="Create API key").click()
    page.get_by_label("Name", exact=True).fill(KEY_NAME)
    page.get_by_role("checkbox", name="user:read").check()
    page.get_by_role("radio", name="No expiration").check()
    page.get_by_role("button", name="Create API key").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Your new API key")
    old = page.get_by_label("API key", exact=True).input_value()
    assert SECRET.fullmatch(old)
    page.get_by_role("link", name="Done, I have copied it").click()

    first = me(base, old)
    signed_in_as_the_owner(first)
    assert HEADER not in first.headers

    # The key's page → Roll, the current secret working 24 more hours.
    page.get_by_role("link", name=KEY_NAME, exact=True).click()
    expect(page.get_by_role("heading", level=1)).to_have_text(KEY_NAME)
    key_page = page.url
    assert re.fullmatch(re.escape(f"{base}/settings/api-keys/") + r"ak_[0-9A-Za-z]{26}", key_page)
    expect(page.locator("#previous-key")).to_have_count(0)
    page.get_by_role("radio", name="In 24 hours").check()
    before = timezone.now()
    page.get_by_role("button", name="Roll key").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Your rolled API key")
    after = timezone.now()

    new = page.get_by_label("API key", exact=True).input_value()
    assert SECRET.fullmatch(new) and new != old
    expect(page.get_by_text("It will not be shown again.")).to_be_visible()
    assert new in page.locator("pre").first.inner_text()  # the curl snippet has it filled in
    assert old not in page.content()
    stated = page.locator("#previous-key time").get_attribute("datetime")
    ends = datetime.fromisoformat(stated)
    assert before + OVERLAP <= ends <= after + OVERLAP
    expect(page.locator("#previous-key")).to_contain_text("The key it replaces keeps working")

    # Reloading resends the form: the key is not rolled again and neither secret is shown.
    page.reload()
    expect(page).to_have_url(key_page)
    expect(page.get_by_text("the key was not rolled again")).to_be_visible()
    assert new not in page.content()
    assert old not in page.content()
    expect(page.locator("#previous-key time")).to_have_attribute("datetime", stated)

    # During the overlap both secrets work; the old one says when it stops.
    old_during, new_during = me(base, old), me(base, new)
    signed_in_as_the_owner(old_during)
    signed_in_as_the_owner(new_during)
    assert old_during.headers[HEADER] == header_time(ends)
    assert HEADER not in new_during.headers

    server_clock(ends - timedelta(minutes=1))
    signed_in_as_the_owner(me(base, old))

    # A minute past the overlap: the old secret is refused as expired, the new one works.
    server_clock(ends + timedelta(minutes=1))
    old_after, new_after = me(base, old), me(base, new)
    body = api_error(old_after, 401, "KEY_EXPIRED")
    assert (body["message"], body["reason"]) == ("Unauthorized", "The API key has expired.")
    assert HEADER not in old_after.headers
    signed_in_as_the_owner(new_after)
    assert HEADER not in new_after.headers

    # The key's page no longer speaks of a previous key, and still shows neither secret.
    page.goto(key_page)
    expect(page.get_by_role("heading", level=1)).to_have_text(KEY_NAME)
    expect(page.locator("#previous-key")).to_have_count(0)
    expect(page.get_by_role("button", name="Roll key")).to_be_visible()
    assert new not in page.content()
    assert old not in page.content()
