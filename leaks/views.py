"""Reporting leaked keys: anyone (`/api/keys/report`) and GitHub's secret scanning
(`/api/keys/secret-scanning`)."""

from __future__ import annotations

import logging

from django.utils.translation import gettext_lazy as _
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import status
from rest_framework.permissions import AllowAny
from rest_framework.request import Request
from rest_framework.response import Response

from api.base import ApiView
from api.envelope import envelope
from api.errors import MESSAGES, ApiError
from leaks import services, signatures
from leaks.schema import LeaksSchema
from leaks.serializers import (
    FALSE_POSITIVE,
    TRUE_POSITIVE,
    KeyReportReceivedSerializer,
    KeyReportSerializer,
    ScanningMatchSerializer,
    ScanningResultSerializer,
    scanning_matches,
)
from leaks.services import Sighting
from lib.clientip import client_ip, ip_identity

logger = logging.getLogger(__name__)

# Why a secret-scanning message was refused, by signatures.SignatureInvalid's reason.
SIGNATURE_REASONS = {
    "not_configured": _("This deployment takes no secret-scanning messages."),
    "missing_signature": _(
        "The Github-Public-Key-Identifier and Github-Public-Key-Signature headers are required."
    ),
    "malformed_signature": _("The signature is not a base64 DER signature."),
    "unknown_key": _("No listed secret-scanning public key has this identifier."),
    "bad_signature": _("The signature does not verify the body with the named key."),
}


class SignatureRefused(ApiError):
    """A secret-scanning message not proven to come from the scanner: 401, `reason` says why."""

    status_code = status.HTTP_401_UNAUTHORIZED
    code = "UNAUTHORIZED"

    def __init__(self, reason: str) -> None:
        super().__init__(
            MESSAGES["UNAUTHORIZED"], extra={"reason": str(SIGNATURE_REASONS[reason])}
        )


def reporter_network(request: Request) -> str:
    """The client network a report came from (an IPv6 client's /64), for the audit trail."""
    return ip_identity(client_ip(request._request))


class KeyReportView(ApiView):
    """POST /api/keys/report {keys, source?}"""

    # Anyone may report: a credential sent along is not read, and none is needed.
    authentication_classes: list = []
    permission_classes = [AllowAny]
    rate_limits = [("KEY_REPORT", "ip")]
    schema = LeaksSchema()

    @extend_schema(
        operation_id="reportLeakedKeys",
        request=KeyReportSerializer,
        responses={202: KeyReportReceivedSerializer},
    )
    def post(self, request: Request) -> Response:
        """Report API keys found where others can read them (a public repository, a paste, a
        log). Each one that is a live key is revoked, with the keys it created, and its owner
        is emailed its name, `start` and id with the `source` given; never the key.

        The answer is the same whatever the strings were: 202 with how many were received.
        It says nothing about which were keys, and takes about as long either way (each
        string shaped like a key costs a lookup and a digest comparison, found or not)."""
        serializer = KeyReportSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        keys = serializer.validated_data["keys"]
        source = serializer.validated_data.get("source", "")
        services.leaked_keys_report(
            sightings=[Sighting(token=key, source=source) for key in keys],
            reporter=services.REPORT,
            network=reporter_network(request),
        )
        return envelope(
            {"received": len(keys)},
            message="Report received. Thank you.",
            status=status.HTTP_202_ACCEPTED,
        )


class SecretScanningView(ApiView):
    """POST /api/keys/secret-scanning [{token, type, url, source}]"""

    # The signature is the credential, checked in the handler: no other is read.
    authentication_classes: list = []
    permission_classes = [AllowAny]
    schema = LeaksSchema()
    schema_unwrapped = True

    @extend_schema(
        operation_id="secretScanningAlert",
        request=ScanningMatchSerializer(many=True),
        parameters=[
            OpenApiParameter(
                signatures.KEY_ID_HEADER,
                str,
                OpenApiParameter.HEADER,
                required=True,
                description="The identifier of the scanner's public key that signed the body.",
            ),
            OpenApiParameter(
                signatures.SIGNATURE_HEADER,
                str,
                OpenApiParameter.HEADER,
                required=True,
                description="ECDSA P-256 SHA-256 signature of the raw body: DER, in base64.",
            ),
        ],
        responses={
            200: ScanningResultSerializer(many=True),
            401: OpenApiResponse(
                description=(
                    "The signature headers are missing or malformed, name no listed key, or "
                    "do not verify the body: `reason` says which. Nothing in the body is read."
                )
            ),
        },
    )
    def post(self, request: Request) -> Response:
        """GitHub's secret-scanning partner program: matches of the key pattern found in
        public places, signed by GitHub (`Github-Public-Key-Identifier`,
        `Github-Public-Key-Signature`, verified against the keys listed at
        `SECRET_SCANNING_PUBLIC_KEYS`). Each match that is a live key is revoked and its owner
        emailed, as a report does. The answer, not in the envelope, is GitHub's feedback
        format: for each match in order, `{token_raw, token_type, label}`, `label` being
        `true_positive` for a real key (revoked now or before) and `false_positive` else."""
        # The raw bytes, as signed: read before the parser consumes the stream.
        body = request.body
        try:
            signatures.verify(
                body=body,
                key_id=request.headers.get(signatures.KEY_ID_HEADER),
                signature=request.headers.get(signatures.SIGNATURE_HEADER),
            )
        except signatures.SignatureInvalid as refusal:
            logger.info("Secret-scanning message refused: %s", refusal.reason)
            raise SignatureRefused(refusal.reason) from None
        matches = scanning_matches(request.data)
        real = services.leaked_keys_report(
            sightings=[
                Sighting(
                    token=match["token"],
                    source=match.get("url", ""),
                    location=match.get("source", ""),
                )
                for match in matches
            ],
            reporter=services.GITHUB,
            network=reporter_network(request),
        )
        return Response(
            [
                {
                    "token_raw": match["token"],
                    "token_type": match.get("type", ""),
                    "label": TRUE_POSITIVE if is_key else FALSE_POSITIVE,
                }
                for match, is_key in zip(matches, real, strict=True)
            ]
        )
