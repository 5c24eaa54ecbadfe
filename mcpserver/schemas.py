"""The JSON Schemas of the tools' arguments and results: the fields, types and bounds of the
API routes they mirror (whose serializers still validate every value)."""

from __future__ import annotations

from typing import Any

from jsonschema import Draft202012Validator
from jsonschema.exceptions import ValidationError

from api.converters import UlidConverter
from api.pagination import DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE

Schema = dict[str, Any]


def _object(properties: Schema, required: tuple[str, ...] = (), *, closed: bool) -> Schema:
    """An object schema. Arguments are `closed` (an unknown one is an error); results are
    open, so that a field added later breaks no client."""
    schema: Schema = {"type": "object", "properties": properties}
    if required:
        schema["required"] = list(required)
    if closed:
        schema["additionalProperties"] = False
    return schema


def _nullable(schema: Schema) -> Schema:
    return {**schema, "type": [schema["type"], "null"]}


STRING: Schema = {"type": "string"}
INTEGER: Schema = {"type": "integer"}
BOOLEAN: Schema = {"type": "boolean"}
TIMESTAMP: Schema = {"type": "string", "format": "date-time"}
# The length too: a pattern's `$` also matches before a final newline.
ULID: Schema = {
    "type": "string",
    "pattern": f"^{UlidConverter.regex}$",
    "minLength": 26,
    "maxLength": 26,
}

# --- Arguments --------------------------------------------------------------------------------

ORGANIZATION_ID: Schema = {
    **ULID,
    "description": "The organization's id (a ULID), as list_organizations gives it.",
}
PAGE: Schema = {
    "type": "integer",
    "minimum": 1,
    "maximum": 1_000_000,
    "default": 1,
    "description": "The page to return, from 1.",
}
PAGE_SIZE: Schema = {
    "type": "integer",
    "minimum": 1,
    "maximum": MAX_PAGE_SIZE,
    "default": DEFAULT_PAGE_SIZE,
    "description": "Items per page.",
}

NO_ARGUMENTS = _object({}, closed=True)
PAGE_ARGUMENTS = _object({"page": PAGE, "pageSize": PAGE_SIZE}, closed=True)
PROJECT_LIST_ARGUMENTS = _object(
    {"organizationId": ORGANIZATION_ID, "page": PAGE, "pageSize": PAGE_SIZE},
    ("organizationId",),
    closed=True,
)
PROJECT_CREATE_ARGUMENTS = _object(
    {
        "organizationId": ORGANIZATION_ID,
        "name": {"type": "string", "minLength": 1, "maxLength": 100},
        "description": {"type": "string", "maxLength": 2000, "default": ""},
    },
    ("organizationId", "name"),
    closed=True,
)
KEY_ID_ARGUMENTS = _object(
    {
        "keyId": {
            "type": "string",
            "minLength": 1,
            "maxLength": 40,
            "description": "The key's id (ak_…), as list_api_keys gives it.",
        }
    },
    ("keyId",),
    closed=True,
)

# --- Results ------------------------------------------------------------------------------------

PAGINATION = _object(
    {
        "page": INTEGER,
        "pageSize": INTEGER,
        "totalItems": INTEGER,
        "totalPages": INTEGER,
        "hasNext": BOOLEAN,
        "hasPrevious": BOOLEAN,
    },
    ("page", "pageSize", "totalItems", "totalPages", "hasNext", "hasPrevious"),
    closed=False,
)
USER = _object(
    {
        "id": STRING,
        "email": STRING,
        "fullName": STRING,
        "handle": STRING,
        "isVerified": BOOLEAN,
        "verifiedAt": _nullable(TIMESTAMP),
        "isActive": BOOLEAN,
        "lastLoginAt": _nullable(TIMESTAMP),
        "role": STRING,
        "organizationCount": INTEGER,
        "createdAt": TIMESTAMP,
        "updatedAt": TIMESTAMP,
    },
    ("id", "email", "fullName", "handle", "organizationCount", "createdAt"),
    closed=False,
)
OAUTH_TOKEN = _object(
    {
        "clientId": _nullable(STRING),
        "application": STRING,
        "scopes": {"type": "array", "items": STRING},
        "organizationId": _nullable(STRING),
        "expiresAt": TIMESTAMP,
    },
    ("clientId", "application", "scopes", "organizationId", "expiresAt"),
    closed=False,
)
AUTH_STATUS = _object(
    {
        "authenticated": BOOLEAN,
        "authMethod": {"type": "string", "enum": ["session", "api_key", "oauth"]},
        "user": {**USER, "description": "Only with the user:read scope."},
        "oauthToken": OAUTH_TOKEN,
        "apiKey": {"type": "null"},
    },
    ("authenticated", "authMethod", "oauthToken"),
    closed=False,
)
ORGANIZATION = _object(
    {
        "id": STRING,
        "name": STRING,
        "slug": STRING,
        "role": {"type": "string", "enum": ["owner", "admin", "member"]},
        "createdAt": TIMESTAMP,
        "updatedAt": TIMESTAMP,
    },
    ("id", "name", "slug", "role"),
    closed=False,
)
PROJECT = _object(
    {
        "id": STRING,
        "organizationId": STRING,
        "name": STRING,
        "description": STRING,
        "createdBy": _nullable(STRING),
        "createdAt": TIMESTAMP,
        "updatedAt": TIMESTAMP,
    },
    ("id", "organizationId", "name", "description"),
    closed=False,
)
API_KEY = _object(
    {
        "id": STRING,
        "name": STRING,
        "start": STRING,
        "scopes": {"type": "array", "items": STRING},
        "organizationId": _nullable(STRING),
        "expiresAt": _nullable(TIMESTAMP),
        "lastUsedAt": _nullable(TIMESTAMP),
        "createdAt": TIMESTAMP,
        "revokedAt": _nullable(TIMESTAMP),
        "status": {"type": "string", "enum": ["active", "expired", "revoked"]},
    },
    ("id", "name", "start", "scopes", "organizationId", "status"),
    closed=False,
)


def page_of(name: str, item: Schema) -> Schema:
    """A list tool's result: one page of `name` and where it sits among the others."""
    return _object(
        {name: {"type": "array", "items": item}, "pagination": PAGINATION},
        (name, "pagination"),
        closed=False,
    )


def one(name: str, item: Schema) -> Schema:
    return _object({name: item}, (name,), closed=False)


# --- Checking arguments -------------------------------------------------------------------------


def argument_problems(schema: Schema, arguments: dict[str, Any]) -> dict[str, list[str]]:
    """What is wrong with `arguments` under `schema`, by argument ({} when they fit). Worded
    from the schema alone: a message names the argument and the rule, never the value sent."""
    problems: dict[str, list[str]] = {}
    errors = Draft202012Validator(schema).iter_errors(arguments)
    for error in sorted(errors, key=lambda e: list(map(str, e.absolute_path))):
        for name, message in _describe(error):
            problems.setdefault(name, []).append(message)
    return problems


def _describe(error: ValidationError) -> list[tuple[str, str]]:
    name = ".".join(str(part) for part in error.absolute_path) or "arguments"
    rule, value = error.validator, error.validator_value
    if rule == "required":
        return [
            (missing, "This argument is required.")
            for missing in value
            if missing not in error.instance
        ]
    if rule == "additionalProperties":
        known = error.schema.get("properties", {})
        return [
            # A name is echoed: never one that cannot be written as UTF-8 (a lone surrogate).
            (str(extra)[:40].encode("utf-8", "backslashreplace").decode(), "No such argument.")
            for extra in error.instance
            if extra not in known
        ]
    messages = {
        "type": f"Must be of type {value}.",
        "pattern": "Not a valid id.",
        "minLength": "May not be blank." if value == 1 else f"At least {value} characters.",
        "maxLength": f"At most {value} characters.",
        "minimum": f"At least {value}.",
        "maximum": f"At most {value}.",
    }
    return [(name, messages.get(str(rule), "Invalid value."))]
