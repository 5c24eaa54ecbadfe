"""ApiView: the base of every view under /api/."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from rest_framework.exceptions import APIException, AuthenticationFailed
from rest_framework.request import Request
from rest_framework.views import APIView

from config.throttling import enforce, request_policies


class ApiView(APIView):
    """DRF's APIView, with rate limits counted right after authentication and before any
    permission check, so refused and failing requests count too (DRF checks its throttles
    last, after permissions). A request whose credential fails counts as anonymous, by IP.

    `rate_limits` adds the view's own tighter policies, as data: [("SIGNUP", "ip")].
    """

    rate_limits: Sequence[tuple[str, str]] = ()

    def initial(self, request: Request, *args: Any, **kwargs: Any) -> None:
        # DRF's APIView.initial, with the rate limits between authentication and permissions.
        self.format_kwarg = self.get_format_suffix(**kwargs)
        neg = self.perform_content_negotiation(request)
        request.accepted_renderer, request.accepted_media_type = neg
        version, scheme = self.determine_version(request, *args, **kwargs)
        request.version, request.versioning_scheme = version, scheme
        try:
            self.perform_authentication(request)
        except AuthenticationFailed:
            enforce(request, request_policies(request))
            raise
        organization = None
        if request.auth is not None and getattr(self, "tenant_scoped", False):
            # A key on a tenant route counts against the organization's plan, but only once
            # the tenancy gate has admitted it: no one can spend another tenant's budget.
            try:
                organization = self.organization_plan()
            except APIException:
                enforce(request, request_policies(request, self.rate_limits))
                raise
        enforce(request, request_policies(request, self.rate_limits, organization))
        self.check_permissions(request)
        self.check_throttles(request)
