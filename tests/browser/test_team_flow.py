"""A team, in real Chromium: an owner invites a colleague from the Members page, the colleague
follows the emailed link, signs up and lands in the organization, makes a key pinned to it and
uses it; the owner changes their role and removes them, and the key stops working there.

With SCREENSHOTS_DIR set, the pages of the flow are saved there at a phone's and a desktop's
width (docs/screenshots holds the committed set).
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
from playwright.sync_api import expect

from tests.conftest import PASSWORD

pytestmark = pytest.mark.django_db(transaction=True)

OWNER_EMAIL = "ada@example.com"
COLLEAGUE_EMAIL = "colleague@example.com"
COLLEAGUE_NAME = "Charles Babbage"
COLLEAGUE_PASSWORD = "a-long-secure-passphrase"
ORGANIZATION = "Analytical Engines"
SCREENSHOT_WIDTHS = [390, 1280]
LINK = re.compile(r"https?://\S+")


@pytest.fixture(autouse=True)
def _links_to_the_live_server(settings: Any, live_server: Any) -> None:
    # Emailed links are built from PUBLIC_URL: point it at the live server, so the link in the
    # mail is the one a person would follow.
    settings.PUBLIC_URL = live_server.url


@pytest.fixture
def second_page(chromium: Any) -> Iterator[Any]:
    """A page in a fresh browser context: another person, with cookies of their own."""
    context = chromium.new_context()
    page = context.new_page()
    page.set_default_timeout(15_000)
    yield page
    context.close()


def screenshot(page: Any, name: str) -> None:
    """Save `name`-<width>.png, full page, at each width into SCREENSHOTS_DIR, if it is set."""
    directory = os.environ.get("SCREENSHOTS_DIR")
    if not directory:
        return
    Path(directory).mkdir(parents=True, exist_ok=True)
    viewport = page.viewport_size
    for width in SCREENSHOT_WIDTHS:
        page.set_viewport_size({"width": width, "height": 800})
        page.screenshot(path=Path(directory) / f"{name}-{width}.png", full_page=True)
    page.set_viewport_size(viewport)


def invitation_link(mailoutbox: list, email: str) -> str:
    """The link in the one invitation email sent to `email`."""
    sent = [m for m in mailoutbox if m.to == [email]]
    assert len(sent) == 1, [(m.to, m.subject) for m in mailoutbox]
    links = LINK.findall(sent[0].body)
    assert len(links) == 1, sent[0].body
    return links[0]


def list_projects(base: str, organization_id: str, raw: str) -> requests.Response:
    return requests.get(
        f"{base}/api/user/organizations/{organization_id}/projects",
        headers={"X-Api-Key": raw},
        timeout=10,
    )


def set_role(page: Any, email: str, label: str) -> None:
    """On the Members page: choose `label` in the member's role select, then Change."""
    row = page.locator("tr", has_text=email)
    row.get_by_label(f"Role of {email}").select_option(label=label)
    row.get_by_role("button", name="Change").click()
    expect(page.get_by_text(f"{COLLEAGUE_NAME} is now {label.lower()}.")).to_be_visible()
    expect(page.locator("tr", has_text=email).get_by_label(f"Role of {email}")).to_have_value(
        label.lower()
    )


def test_an_owner_invites_a_colleague_who_joins_uses_a_key_and_is_removed(
    live_server, page, second_page, mailoutbox, user_factory, org_factory, project_factory
):
    base = live_server.url
    owner = user_factory(email=OWNER_EMAIL, full_name="Ada Lovelace")
    organization = org_factory(owner=owner, name=ORGANIZATION)
    project_factory(organization, name="Difference engine")
    members_url = f"{base}/organizations/{organization.pk}/members"

    # The owner signs in and invites the colleague as a member from the Members page.
    page.goto(f"{base}/sign-in")
    page.get_by_label("Email").fill(OWNER_EMAIL)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("heading", name="Projects")).to_be_visible()
    page.goto(members_url)
    invite = page.locator("section", has=page.get_by_role("heading", name="Invite someone"))
    invite.get_by_label("Email").fill(COLLEAGUE_EMAIL)
    invite.get_by_label("Role").select_option(label="Member")
    invite.get_by_role("button", name="Send invitation").click()
    expect(page.get_by_text(f"Invitation sent to {COLLEAGUE_EMAIL}.")).to_be_visible()
    pending = page.locator("tr", has_text=COLLEAGUE_EMAIL)
    expect(pending).to_have_count(1)
    expect(pending.locator(".badge")).to_have_text("Member")
    page.reload()  # the page as it stays, without the one-time message
    screenshot(page, "members")
    page.goto(f"{base}/organizations/{organization.pk}/settings")
    expect(page.get_by_role("heading", name="Organization settings")).to_be_visible()
    screenshot(page, "organization-settings")

    # The colleague, signed out in a browser of their own, follows the emailed link.
    link = invitation_link(mailoutbox, COLLEAGUE_EMAIL)
    assert link.startswith(f"{base}/invitations/"), link
    colleague = second_page
    colleague.goto(link)
    assert colleague.url == f"{base}/invitation"
    expect(colleague.get_by_role("heading", name=f"Join {ORGANIZATION}")).to_be_visible()
    expect(colleague.get_by_text(f"The invitation is for {COLLEAGUE_EMAIL}.")).to_be_visible()
    screenshot(colleague, "invitation")

    # They create an account with the invited address and land in the organization.
    colleague.get_by_role("link", name="Create an account").click()
    expect(colleague.get_by_label("Email")).to_have_value(COLLEAGUE_EMAIL)
    colleague.get_by_label("Full name").fill(COLLEAGUE_NAME)
    colleague.get_by_label("Password").fill(COLLEAGUE_PASSWORD)
    colleague.get_by_role("button", name="Create account").click()
    colleague.wait_for_url(f"{base}/organizations/{organization.pk}/projects")
    expect(colleague.get_by_text(f"You joined {ORGANIZATION}.")).to_be_visible()
    expect(colleague.locator(".page-head")).to_contain_text(ORGANIZATION)
    expect(colleague.get_by_role("cell", name="Difference engine")).to_be_visible()

    # They create a key pinned to the organization that can read projects, and use it.
    colleague.goto(f"{base}/settings/api-keys/new")
    colleague.get_by_label("Name", exact=True).fill("Colleague's script")
    colleague.get_by_role("checkbox", name="projects:read").check()
    colleague.get_by_role("radio", name="30 days").check()
    colleague.get_by_label("Pin the key to").select_option(label=ORGANIZATION)
    colleague.get_by_role("button", name="Create API key").click()
    expect(colleague.get_by_text("It will not be shown again.")).to_be_visible()
    raw = colleague.locator("#api-key").input_value()
    assert re.fullmatch(r"ba_[0-9A-Za-z]{46}", raw), raw
    facts = colleague.locator("dl.facts")
    expect(facts).to_contain_text("projects:read")
    expect(facts).to_contain_text(ORGANIZATION)

    response = list_projects(base, organization.pk, raw)
    assert response.status_code == 200, response.text
    assert [p["name"] for p in response.json()["data"]] == ["Difference engine"]

    # The owner makes the colleague an admin, then a member again.
    page.goto(members_url)
    expect(page.get_by_role("heading", name="Pending invitations")).to_have_count(0)
    expect(page.locator("tr", has_text=COLLEAGUE_EMAIL)).to_contain_text(COLLEAGUE_NAME)
    set_role(page, COLLEAGUE_EMAIL, "Admin")
    set_role(page, COLLEAGUE_EMAIL, "Member")
    assert list_projects(base, organization.pk, raw).status_code == 200

    # The owner removes the colleague, behind a confirmation: the key is refused at once.
    page.locator("tr", has_text=COLLEAGUE_EMAIL).get_by_role("link", name="Remove").click()
    expect(
        page.get_by_role("heading", name=f"Remove {COLLEAGUE_NAME} from {ORGANIZATION}?")
    ).to_be_visible()
    page.get_by_role("button", name="Remove member").click()
    expect(page.get_by_text(f"{COLLEAGUE_NAME} was removed from {ORGANIZATION}.")).to_be_visible()
    expect(page.locator("tr", has_text=COLLEAGUE_EMAIL)).to_have_count(0)

    response = list_projects(base, organization.pk, raw)
    assert response.status_code == 403, response.text
    body = response.json()
    assert body["success"] is False
    assert body["code"] == "NOT_ORGANIZATION_MEMBER", body
