"""The scope registry and the grant rules: Latchkey's own catalogue, what an app may declare
and what start-up refuses, and the wildcards, each in one table."""

from __future__ import annotations

import pytest
from django.core.exceptions import AppRegistryNotReady, ImproperlyConfigured

from access.roles import role_allows
from access.scopes import (
    Scope,
    ScopeRegistry,
    catalogue,
    is_known,
    registry,
    scope_covers,
    scope_grants,
)
from tenants.models import Role


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
        *[(scope, True) for scope in registry],
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
    } <= set(registry)


# --- Latchkey's own catalogue, as its apps register it ----------------------------------------

EVERY_ROLE = frozenset(Role.values)
ADMINS = frozenset({Role.OWNER, Role.ADMIN})
NO_ROLE: frozenset[str] = frozenset()


def test_latchkeys_own_scopes_are_registered_in_the_published_order():
    assert [
        (scope.name, str(scope.description), scope.roles, scope.administrative)
        for scope in registry.values()
    ] == [
        ("user:read", "Read your profile and list your organizations.", NO_ROLE, False),
        ("user:write", "Update your profile.", NO_ROLE, False),
        ("organizations:read", "Read organization details.", EVERY_ROLE, False),
        (
            "organizations:write",
            "Create organizations and change their settings.",
            ADMINS,
            False,
        ),
        ("members:read", "List organization members and their roles.", EVERY_ROLE, False),
        ("members:write", "Change members' roles and remove members.", ADMINS, True),
        ("projects:read", "List and retrieve projects.", EVERY_ROLE, False),
        ("projects:write", "Create, update and delete projects.", EVERY_ROLE, False),
        ("api-keys:read", "List your API keys.", EVERY_ROLE, False),
        ("api-keys:write", "Create, rename and revoke API keys.", NO_ROLE, True),
        (
            "subscription:read",
            "Read the organization's plan and its rate limits.",
            EVERY_ROLE,
            False,
        ),
        (
            "audit:read",
            "Read audit events: your own, and your organizations' as owner or admin.",
            ADMINS,
            False,
        ),
    ]


def test_the_catalogue_lists_the_scopes_then_each_resource_then_the_wildcards():
    entries = [(entry["scope"], entry["resource"]) for entry in catalogue()]

    assert entries[len(registry) :] == [
        ("api-keys:*", "api-keys"),
        ("audit:*", "audit"),
        ("members:*", "members"),
        ("organizations:*", "organizations"),
        ("projects:*", "projects"),
        ("subscription:*", "subscription"),
        ("user:*", "user"),
        ("*", "*"),
        ("admin", "*"),
        ("read:all", "*"),
        ("write:all", "*"),
    ]
    assert catalogue()[-1]["description"] == (
        "Create and update access to every non-administrative resource."
    )
    assert catalogue()[len(registry)]["description"] == "Every api-keys scope."


@pytest.mark.parametrize("role", Role.values)
def test_the_roles_a_scope_declares_are_the_roles_that_may_use_it(role):
    for scope in registry.values():
        assert role_allows(role, scope.name) is (role in scope.roles), (role, scope.name)
    assert not role_allows(role, "widgets:read")


# --- Declaring: an app's own scopes ---------------------------------------------------------


def declare(*scopes: Scope, before: str | None = None) -> tuple[tuple[Scope, ...], str | None]:
    """One call to register(), for the tables below."""
    return scopes, before


def vault() -> ScopeRegistry:
    """A registry of two apps' scopes, one write of them administrative."""
    vaults = ScopeRegistry()
    vaults.register(
        Scope("notes:read", "Read notes.", roles=EVERY_ROLE),
        Scope("notes:write", "Write notes.", roles=EVERY_ROLE),
    )
    vaults.register(
        Scope("vault:read", "Read secrets.", roles=ADMINS),
        Scope("vault:write", "Store secrets.", roles=ADMINS, administrative=True),
        Scope("vault:rotate", "Rotate secrets.", roles=ADMINS),
    )
    return vaults


@pytest.mark.parametrize(
    ("granted", "required", "expected"),
    [
        (["write:all"], "notes:write", True),
        (["write:all"], "vault:write", False),  # the app marked it administrative
        (["write:all"], "vault:rotate", False),  # write:all covers `…:write` only
        (["read:all"], "vault:read", True),
        (["vault:*"], "vault:write", True),
        (["vault:*"], "vault:rotate", True),
        (["vault:*"], "notes:read", False),
        (["admin"], "vault:rotate", True),
    ],
)
def test_an_apps_scopes_follow_the_wildcard_rules(granted, required, expected):
    assert vault().grants(granted, required) is expected


@pytest.mark.parametrize(
    ("granted", "requested", "expected"),
    [
        (["vault:read", "vault:write", "vault:rotate"], "vault:*", True),
        (["vault:read", "vault:write"], "vault:*", False),
        (["notes:*"], "write:all", True),  # vault:write is not part of write:all
        (["notes:*", "vault:read"], "read:all", True),
        (["notes:*"], "read:all", False),
    ],
)
def test_an_apps_scopes_follow_the_covering_rules(granted, requested, expected):
    assert vault().covers(granted, requested) is expected


def test_an_apps_resource_gets_its_wildcard_in_the_catalogue():
    vaults = vault()

    assert vaults.resources() == ["notes", "vault"]
    assert [entry["scope"] for entry in vaults.catalogue()][:7] == [
        "notes:read",
        "notes:write",
        "vault:read",
        "vault:write",
        "vault:rotate",
        "notes:*",
        "vault:*",
    ]
    assert vaults.is_known("vault:*")
    assert not vaults.is_known("vault:delete")
    assert vaults.roles_allowed("vault:rotate") == ADMINS
    assert vaults.roles_allowed("vault:delete") == frozenset()


def test_scopes_registered_before_a_resource_sit_just_before_it():
    scopes = ScopeRegistry()
    scopes.register(Scope("a:read", "A."), Scope("c:read", "C."), Scope("c:write", "C."))
    scopes.register(Scope("b:read", "B."), Scope("b:write", "B."), before="c")
    scopes.register(Scope("d:read", "D."))

    assert list(scopes) == ["a:read", "b:read", "b:write", "c:read", "c:write", "d:read"]


@pytest.mark.parametrize(
    ("declarations", "error"),
    [
        ([declare(Scope("Notes:read", "x"))], "not resource:action"),
        ([declare(Scope("notes:READ", "x"))], "not resource:action"),
        ([declare(Scope("notes", "x"))], "not resource:action"),
        ([declare(Scope("notes:", "x"))], "not resource:action"),
        ([declare(Scope(":read", "x"))], "not resource:action"),
        ([declare(Scope("notes:read:own", "x"))], "not resource:action"),
        ([declare(Scope("notes:*", "x"))], "not resource:action"),
        ([declare(Scope("notes_v2:read", "x"))], "not resource:action"),
        ([declare(Scope("notes:read ", "x"))], "not resource:action"),
        ([declare(Scope("", "x"))], "not resource:action"),
        ([declare(Scope("read:all", "x"))], "the name of a wildcard"),
        ([declare(Scope("write:all", "x"))], "the name of a wildcard"),
        ([declare(Scope("admin", "x"))], "the name of a wildcard"),
        ([declare(Scope("*", "x"))], "the name of a wildcard"),
        ([declare(Scope("notes:read", "x"), Scope("notes:read", "y"))], "registered twice"),
        ([declare(Scope("notes:read", "x")), declare(Scope("notes:read", "y"))], "twice"),
        ([declare(Scope("notes:read", "x", administrative=True))], "only a write scope"),
        ([declare(Scope("notes:read", "x"), before="widgets")], "not registered yet"),
    ],
)
def test_a_bad_declaration_stops_start_up(declarations, error):
    scopes = ScopeRegistry()
    *accepted, refused = declarations
    for declared, before in accepted:
        scopes.register(*declared, before=before)

    declared, before = refused
    with pytest.raises(ImproperlyConfigured, match=error):
        scopes.register(*declared, before=before)


def test_a_refused_declaration_leaves_the_catalogue_as_it_was():
    scopes = ScopeRegistry()
    scopes.register(Scope("notes:read", "Read notes."))

    with pytest.raises(ImproperlyConfigured):
        scopes.register(Scope("notes:write", "Write notes."), Scope("Bad", "x"))

    assert list(scopes) == ["notes:read"]


def test_a_scope_registered_once_the_catalogue_was_read_is_refused():
    scopes = ScopeRegistry()
    scopes.register(Scope("notes:read", "Read notes."))
    scopes.catalogue()

    with pytest.raises(ImproperlyConfigured, match=r"AppConfig\.ready\(\)"):
        scopes.register(Scope("notes:write", "Write notes."))
    assert list(scopes) == ["notes:read"]


def test_the_catalogue_is_not_read_before_every_app_is_ready():
    scopes = ScopeRegistry(apps_ready=lambda: False)
    scopes.register(Scope("notes:read", "Read notes."))

    with pytest.raises(AppRegistryNotReady):
        scopes.catalogue()
    with pytest.raises(AppRegistryNotReady):
        scopes.is_known("notes:read")
    # Deciding a request needs no read: the grant rules work on what is registered.
    assert scopes.grants(["notes:*"], "notes:read")
