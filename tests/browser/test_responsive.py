"""Every dashboard page, in real Chromium at a phone's, a tablet's and a desktop's width: the
page never scrolls sideways, and no button, button-link or menu is cut off.

A wide table may scroll inside its own box on a small screen, but on a desktop its actions are
in view without scrolling. The data is long on purpose (names, emails, scopes), as real
accounts have it: short test data hides the overflow a person sees.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import pytest
from django.conf import settings
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from accounts.models import User
from apikeys.models import ApiKey
from tenants.models import Organization, Project, Role

pytestmark = pytest.mark.django_db(transaction=True)

WIDTHS = [390, 768, 1280]
HEIGHT = 800
DESKTOP = 1280

# Runs in the page: the reasons it does not fit, an empty list when it does. A control counts
# when it is rendered (a closed menu's contents are not); one inside a box that scrolls
# sideways (a table's) is reachable by scrolling it, except on a desktop, where it must be in
# view as the page opens.
PROBLEMS = """([desktop, selector]) => {
  const problems = [];
  const width = window.innerWidth;
  const page = document.documentElement.scrollWidth;
  if (page > width) problems.push(`the page is ${page}px wide`);
  const describe = (el) => {
    const text = (el.innerText || el.value || el.getAttribute("aria-label") || "").trim();
    return `<${el.tagName.toLowerCase()} class="${el.className}"> "${text.slice(0, 40)}"`;
  };
  for (const el of document.querySelectorAll(selector)) {
    const box = el.getBoundingClientRect();
    if (!box.width || !box.height || getComputedStyle(el).visibility !== "visible") continue;
    if (el.scrollWidth > el.clientWidth + 1) {
      problems.push(`${describe(el)} is cut: ${el.scrollWidth}px of text in ${el.clientWidth}px`);
    }
    let scrolled = false;
    for (let clip = el.parentElement; clip && clip !== document.body; clip = clip.parentElement) {
      const overflow = getComputedStyle(clip).overflowX;
      if (overflow === "visible") continue;
      if (!desktop && (overflow === "auto" || overflow === "scroll")) {
        scrolled = true;
        continue;
      }
      const left = clip.getBoundingClientRect().left + clip.clientLeft;
      const right = left + clip.clientWidth;
      if (box.left < left - 0.5 || box.right > right + 0.5) {
        problems.push(`${describe(el)} is cut by ${describe(clip)}`);
      }
    }
    if (!scrolled && (box.left < -0.5 || box.right > width + 0.5)) {
      problems.push(`${describe(el)} spans ${box.left}..${box.right}px of a ${width}px window`);
    }
  }
  return problems;
}"""
CONTROLS = "button, a.button, summary, input[type=submit]"
OPEN_MENUS = CONTROLS + ", .menu-panel, .menu-panel a"


@dataclass(frozen=True)
class Site:
    """What the pages show: an owner's organization with members, a project and keys, and a
    person in no organization."""

    owner: User
    loner: User
    organization: Organization
    admin: User
    member: User
    project: Project
    key: ApiKey
    invitation_token: str


@dataclass(frozen=True)
class Page:
    """A page to visit: who is signed in ("owner", "loner" or nobody) and its address."""

    who: str | None
    url: Callable[[Site], str]


def org_url(name: str, *more: Callable[[Site], object]) -> Callable[[Site], str]:
    return lambda s: reverse(f"dashboard:{name}", args=[s.organization.pk, *(f(s) for f in more)])


PAGES = {
    "landing": Page(None, lambda s: reverse("dashboard:landing")),
    "sign-in": Page(None, lambda s: reverse("dashboard:sign-in")),
    "sign-up": Page(None, lambda s: reverse("dashboard:sign-up")),
    "reset-password": Page(None, lambda s: reverse("dashboard:password-reset")),
    "resend-verification": Page(None, lambda s: reverse("dashboard:resend-verification")),
    "landing-signed-in": Page("owner", lambda s: reverse("dashboard:landing")),
    "projects": Page("owner", org_url("projects")),
    "project-edit": Page("owner", org_url("project-edit", lambda s: s.project.pk)),
    "project-delete": Page("owner", org_url("project-delete", lambda s: s.project.pk)),
    "members": Page("owner", org_url("members")),
    "member-remove": Page("owner", org_url("member-remove", lambda s: s.member.pk)),
    "member-transfer": Page("owner", org_url("member-transfer", lambda s: s.admin.pk)),
    "leave": Page("owner", org_url("leave")),
    "organization-settings": Page("owner", org_url("organization-settings")),
    "organization-create": Page("owner", lambda s: reverse("dashboard:organization-create")),
    "organization-applications": Page("owner", org_url("organization-applications")),
    "organization-api-keys": Page("owner", org_url("organization-api-keys")),
    "organization-api-key-revoke": Page(
        "owner", org_url("organization-api-key-revoke", lambda s: s.key.pk)
    ),
    "organization-key-policy": Page("owner", org_url("organization-key-policy")),
    "api-keys": Page("owner", lambda s: reverse("dashboard:api-keys")),
    "api-keys-revoked-shown": Page(
        "owner", lambda s: reverse("dashboard:api-keys") + "?revoked=show"
    ),
    "api-key-create": Page("owner", lambda s: reverse("dashboard:api-key-create")),
    "api-key": Page("owner", lambda s: reverse("dashboard:api-key", args=[s.key.pk])),
    "api-key-revoke": Page(
        "owner", lambda s: reverse("dashboard:api-key-revoke", args=[s.key.pk])
    ),
    "password-change": Page("owner", lambda s: reverse("dashboard:password-change")),
    "authorized-applications": Page(
        "owner", lambda s: reverse("dashboard:authorized-applications")
    ),
    "oauth-applications": Page("owner", lambda s: reverse("dashboard:oauth-applications")),
    "oauth-application-create": Page(
        "owner", lambda s: reverse("dashboard:oauth-application-create")
    ),
    "sign-out": Page("owner", lambda s: reverse("dashboard:sign-out")),
    "no-organization": Page("loner", lambda s: reverse("dashboard:home")),
    # The emailed link, which goes on to /invitation: signed out, and as another address.
    "invitation": Page(
        None, lambda s: reverse("dashboard:invitation-link", args=[s.invitation_token])
    ),
    "invitation-other-address": Page(
        "loner", lambda s: reverse("dashboard:invitation-link", args=[s.invitation_token])
    ),
}


@pytest.fixture
def site(
    user_factory, org_factory, member_factory, project_factory, api_key_factory, invitation_factory
) -> Site:
    owner = user_factory(
        email="grace.brewster.hopper@northwind-traders.example.com",
        full_name="Grace Brewster Murray Hopper",
    )
    organization = org_factory(owner=owner, name="Northwind Traders International")
    member_factory(org_factory(name="Contoso Research and Development"), user=owner)
    admin = member_factory(
        organization,
        role=Role.ADMIN,
        user=user_factory(
            email="katherine.johnson@northwind-traders.example.com", full_name="Katherine Johnson"
        ),
    )
    member = member_factory(
        organization,
        user=user_factory(
            email="margaret.hamilton@northwind-traders.example.com", full_name="Margaret Hamilton"
        ),
    )
    project = project_factory(
        organization,
        name="Payments reconciliation service",
        description="Nightly jobs that match the card processor's settlement files against "
        "the ledger, and flag every difference for the finance team to review.",
    )
    key, _raw = api_key_factory(
        user=owner,
        name="CI deploys for the payments reconciliation service",
        scopes=["user:read", "projects:read", "projects:write", "members:read", "audit:read"],
        organization=organization,
        expires_in=90 * 24 * 60 * 60,
        last_used_at=timezone.now() - timedelta(hours=3),
    )
    api_key_factory(user=owner, name="Quarterly reporting", scopes=["read:all"], expired=True)
    api_key_factory(user=owner, name="Old laptop", scopes=["*"], revoked=True)
    _invitation, invitation_token = invitation_factory(
        organization,
        "dorothy.vaughan.programming.lead@northwind-traders.example.com",
        role=Role.ADMIN,
        by=owner,
    )
    organization.key_policy = {
        "requireExpiry": True,
        "maxLifetimeDays": 90,
        "allowedScopes": ["user:read", "projects:read", "projects:write", "members:read"],
        "allowedCidrs": ["203.0.113.0/24", "2001:db8:85a3:1234:5678:8a2e:370:0/112"],
        "staleAfterDays": 60,
    }
    organization.save(update_fields=["key_policy"])
    return Site(
        owner=owner,
        loner=user_factory(email="newcomer.without.organization@example.com"),
        organization=organization,
        admin=admin,
        member=member,
        project=project,
        key=key,
        invitation_token=invitation_token,
    )


@pytest.fixture(params=WIDTHS, ids=[f"{width}px" for width in WIDTHS])
def window(request, chromium) -> Iterator[tuple[int, Any]]:
    """A fresh browser context of one width (each test has its own database, so its own
    session cookie), 800 px high."""
    width = request.param
    context = chromium.new_context(viewport={"width": width, "height": HEIGHT})
    yield width, context
    context.close()


def sign_in(context: Any, user: User, base: str) -> None:
    """Give the browser context a session of `user`, as signing in would."""
    client = Client()
    client.force_login(user)
    cookie = client.cookies[settings.SESSION_COOKIE_NAME]
    context.add_cookies([{"name": cookie.key, "value": cookie.value, "url": base}])


@pytest.mark.parametrize("name", list(PAGES))
def test_the_page_fits_the_window(live_server, site, window, artifacts, name):
    width, context = window
    visit = PAGES[name]
    if visit.who is not None:
        sign_in(context, getattr(site, visit.who), live_server.url)
    page = context.new_page()
    page.set_default_timeout(15_000)

    response = page.goto(f"{live_server.url}{visit.url(site)}")

    assert response.status == 200, f"{name}: {response.status} at {page.url}"
    desktop = width >= DESKTOP
    problems = page.evaluate(PROBLEMS, [desktop, CONTROLS])
    # The top bar's menus open inside the window too.
    page.evaluate("document.querySelectorAll('details.menu').forEach(d => { d.open = true; })")
    problems += [
        f"menus open: {problem}" for problem in page.evaluate(PROBLEMS, [desktop, OPEN_MENUS])
    ]
    if problems:
        page.screenshot(path=artifacts / f"responsive-{name}-{width}.png", full_page=True)
    assert problems == [], "\n".join(problems)


def test_the_landing_features_fill_their_rows_and_are_centred(live_server, window):
    width, context = window
    page = context.new_page()
    page.goto(f"{live_server.url}{reverse('dashboard:landing')}")

    cards = page.eval_on_selector_all(
        ".features > .card",
        "cards => cards.map(card => { const box = card.getBoundingClientRect();"
        " return [Math.round(box.left), Math.round(box.top), Math.round(box.right)]; })",
    )
    inner = page.evaluate("document.documentElement.clientWidth")

    columns = sorted({left for left, _top, _right in cards})
    rows = sorted({top for _left, top, _right in cards})
    assert len(cards) == 4
    assert len(columns) * len(rows) == 4, cards  # no card alone on a row
    assert len(columns) == (1 if width < 600 else 2)
    left, right = min(columns), inner - max(box[2] for box in cards)
    assert abs(left - right) <= 1, f"{left}px on the left, {right}px on the right"


@pytest.mark.parametrize("width", [DESKTOP, 1920])
def test_the_admin_key_list_shows_the_status_on_a_desktop(
    live_server, chromium, operator, api_key_factory, width
):
    api_key_factory(name="Payments reconciliation nightly job", scopes=["read:all"])
    context = chromium.new_context(viewport={"width": width, "height": HEIGHT})
    sign_in(context, operator, live_server.url)
    page = context.new_page()
    page.goto(f"{live_server.url}{reverse('admin:apikeys_apikey_changelist')}")

    status = page.locator("#result_list th.column-key_status").bounding_box()
    results = page.locator("#changelist .results").bounding_box()
    context.close()

    assert status is not None
    assert results["x"] <= status["x"]
    assert status["x"] + status["width"] <= results["x"] + results["width"]
