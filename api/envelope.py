"""The response envelope shared by every JSON answer under /api/."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from rest_framework.response import Response


def format_datetime(value: datetime | None) -> str | None:
    """RFC 3339 in UTC with milliseconds, as the product documents show it."""
    if value is None:
        return None
    return value.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def error_body(status: int, code: str, message: Any, **extra: Any) -> dict[str, Any]:
    """The error envelope. `error` repeats the message for clients that read only `error`."""
    message = str(message)
    return {
        "success": False,
        "status": status,
        "code": code,
        "message": message,
        "error": message,
        **extra,
        "timestamp": format_datetime(datetime.now(UTC)),
    }


def envelope(
    data: Any = None, *, message: str, status: int = 200, code: str = "OK", **extra: Any
) -> Response:
    """A success response: {"success": true, "status", "code", "message", "data", ...extra}."""
    body = {"success": True, "status": status, "code": code, "message": message, "data": data}
    body.update(extra)
    return Response(body, status=status)
