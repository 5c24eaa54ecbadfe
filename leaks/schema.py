"""The OpenAPI description of the leak endpoints: api.schema's, with one exception."""

from __future__ import annotations

from typing import Any

from api.schema import AutoSchema


class LeaksSchema(AutoSchema):
    """api.schema's AutoSchema, under the tag "Leaked keys". A view marked
    `schema_unwrapped = True` (the secret-scanning endpoint, which answers in GitHub's format)
    documents its success as it is, not inside the envelope; its errors stay the envelope."""

    def get_tags(self) -> list[str]:
        return ["Leaked keys"]

    def _wrap(self, response: dict[str, Any], *, paginated: bool) -> None:
        if getattr(self.view, "schema_unwrapped", False):
            return
        super()._wrap(response, paginated=paginated)
