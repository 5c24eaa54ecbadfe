"""The grant rules, in one table."""

from __future__ import annotations

import pytest

from access.scopes import CATALOGUE, is_known, scope_covers, scope_grants


@pytest.mark.parametrize(
    ("granted", "required", "expected"),
    [
        # exact match
        (["projects:read"], "projects:read", True),
        (["projects:read"], "projects:write", False),
        (["projects:write"], "projects:read", False),
        ([], "projects:read", False),
        # resource wildcard
        (["projects:*"], "projects:read", True),
        (["projects:*"], "projects:write", True),
        (["projects:*"], "members:read", False),
        # everything
        (["*"], "api-keys:write", True),
        (["admin"], "members:write", True),
        (["admin"], "projects:read", True),
        # read:all
        (["read:all"], "projects:read", True),
        (["read:all"], "api-keys:read", True),
        (["read:all"], "projects:write", False),
        # write:all: every non-administrative write, and no reads
        (["write:all"], "projects:write", True),
        (["write:all"], "organizations:write", True),
        (["write:all"], "user:write", True),
        (["write:all"], "api-keys:write", False),
        (["write:all"], "members:write", False),
        (["write:all"], "projects:read", False),
        # several grants
        (["user:read", "projects:write"], "projects:write", True),
        (["user:read", "read:all"], "members:read", True),
        # no partial or prefix matching
        (["projects"], "projects:read", False),
        (["project:read"], "projects:read", False),
        (["projects:rea"], "projects:read", False),
        (["*:read"], "projects:read", False),
    ],
)
def test_scope_grants(granted, required, expected):
    assert scope_grants(granted, required) is expected


@pytest.mark.parametrize(
    ("granted", "requested", "expected"),
    [
        (["projects:read"], "projects:read", True),
        (["projects:*"], "projects:read", True),
        (["projects:read", "projects:write"], "projects:*", True),
        (["projects:read"], "projects:*", False),
        (["read:all"], "read:all", True),
        (["read:all"], "projects:read", True),
        (["read:all"], "write:all", False),
        (["projects:read"], "read:all", False),
        (["*"], "admin", True),
        (["admin"], "*", True),
        (["read:all", "write:all"], "*", False),
        (["write:all"], "api-keys:write", False),
    ],
)
def test_scope_covers_for_keys_that_create_keys(granted, requested, expected):
    assert scope_covers(granted, requested) is expected


@pytest.mark.parametrize(
    ("scope", "known"),
    [
        *[(scope, True) for scope in CATALOGUE],
        ("projects:*", True),
        ("api-keys:*", True),
        ("*", True),
        ("admin", True),
        ("read:all", True),
        ("write:all", True),
        ("widgets:read", False),
        ("widgets:*", False),
        ("projects:delete", False),
        ("", False),
        ("PROJECTS:READ", False),
    ],
)
def test_is_known(scope, known):
    assert is_known(scope) is known


def test_the_catalogue_covers_the_documented_scopes():
    assert {
        "user:read",
        "user:write",
        "organizations:read",
        "organizations:write",
        "members:read",
        "members:write",
        "projects:read",
        "projects:write",
        "api-keys:read",
        "api-keys:write",
    } <= set(CATALOGUE)
