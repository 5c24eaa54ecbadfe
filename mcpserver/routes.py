"""A tool decides as the API route it mirrors: with the route's own permission classes, the
scope the route declares for its method, its tenancy gate and its refusals."""

from __future__ import annotations

from collections.abc import Sequence
from types import SimpleNamespace
from typing import Any

from rest_framework.request import Request
from rest_framework.views import APIView


def mirror(view: type[APIView], method: str) -> type[APIView]:
    """The API view `view` as a tool reaches it, for its `method`.

    Two things differ from an API request, and only those: every MCP request is a POST, so the
    scope is the one the route declares for `method` (a KeyError at start if it declares
    none); and McpView has counted the request's rate limits already, so the permission check
    is DRF's own, without ApiView's counting."""
    scope: str = view.required_scopes[method]  # type: ignore[attr-defined]

    class Mirrored(view):  # type: ignore[misc, valid-type]
        mirrored_method = method
        mirrored_scope = scope

        def get_required_scope(self, request: Request) -> str:
            return scope

        def check_permissions(self, request: Request) -> None:
            APIView.check_permissions(self, request)

    Mirrored.__name__ = Mirrored.__qualname__ = f"Mcp{view.__name__}"
    return Mirrored


def authorize(request: Request, route: type[APIView], **kwargs: Any) -> APIView:
    """The route's view for this request, with `kwargs` as its URL's (organization_id), once
    its permissions admit the caller; the route's refusal (InsufficientScope,
    OrganizationMismatch, NotOrganizationMember, InsufficientRole, PermissionDenied) otherwise.
    A tenant route's view then holds the gate's membership (`get_membership()`)."""
    view = route()
    view.request = request
    view.args = ()
    view.kwargs = kwargs
    view.check_permissions(request)
    return view


def route_rate_limits(route: type[APIView]) -> Sequence[tuple[str, str]]:
    """The route's own tighter rate-limit policies for the method it mirrors (a view may
    declare them per method, reading its request's)."""
    limits = getattr(route, "rate_limits", ())
    if isinstance(limits, property):
        probe = route()
        probe.request = SimpleNamespace(method=route.mirrored_method)  # type: ignore[attr-defined]
        return tuple(limits.fget(probe))  # type: ignore[misc]
    return tuple(limits)
