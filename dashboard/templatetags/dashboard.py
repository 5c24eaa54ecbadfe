"""Template helpers for the dashboard: the organization switcher and the sidebar."""

from __future__ import annotations

from typing import Any

from django import template

from dashboard.pages import current_membership, memberships_of

register = template.Library()


@register.simple_tag(takes_context=True)
def dashboard_nav(context: template.Context) -> dict[str, Any]:
    """The signed-in user's organizations for the switcher, and the current one."""
    request = context["request"]
    memberships = memberships_of(request.user)
    current = current_membership(request, memberships, context.get("membership"))
    return {"memberships": memberships, "current": current}


@register.filter
def startswith(value: str | None, prefix: str) -> bool:
    return bool(value) and value.startswith(prefix)
