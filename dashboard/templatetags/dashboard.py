"""Template helpers for the dashboard: the organization switcher and small formatting."""

from __future__ import annotations

from typing import Any

from django import template

from dashboard.pages import CURRENT_ORGANIZATION
from tenants.models import Membership

register = template.Library()


@register.simple_tag(takes_context=True)
def dashboard_nav(context: template.Context) -> dict[str, Any]:
    """The signed-in user's organizations for the switcher, and the current one: the page's
    own, else the one last looked at, else the first."""
    request = context["request"]
    memberships = list(
        Membership.objects.filter(user_id=request.user.pk)
        .select_related("organization")
        .order_by("organization__name")
    )
    shown = context.get("membership")
    current_id = shown.organization_id if shown else request.session.get(CURRENT_ORGANIZATION)
    current = next((m for m in memberships if m.organization_id == current_id), None)
    if current is None and memberships:
        current = memberships[0]
    return {"memberships": memberships, "current": current}


@register.filter
def resource_label(scope: str) -> str:
    """`projects:read` → `projects`: the resource a scope chip is coloured by."""
    return scope.split(":", 1)[0] if ":" in scope else "all"


@register.filter
def startswith(value: str | None, prefix: str) -> bool:
    return bool(value) and value.startswith(prefix)
