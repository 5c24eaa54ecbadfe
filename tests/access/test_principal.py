"""access.principal: the caller as one value, and the pin rule written once."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from access.principal import Principal
from api.errors import OrganizationMismatch
from tenants.models import Membership

pytestmark = pytest.mark.django_db


@pytest.fixture
def world(user_factory, org_factory, api_key_factory):
    user = user_factory()
    home, away = org_factory(owner=user), org_factory(owner=user)
    pinned, _raw = api_key_factory(user=user, scopes=["projects:read"], organization=home)
    unpinned, _raw = api_key_factory(user=user, scopes=["*"])
    return {"user": user, "home": home, "away": away, "pinned": pinned, "unpinned": unpinned}


@pytest.mark.parametrize(
    ("credential", "via", "scopes", "reaches_home", "reaches_away"),
    [
        (None, "session", None, True, True),
        ("unpinned", "api_key", ["*"], True, True),
        ("pinned", "api_key", ["projects:read"], True, False),
    ],
)
def test_what_a_principal_is_and_reaches(
    world, credential, via, scopes, reaches_home, reaches_away
):
    principal = Principal(user=world["user"], key=world.get(credential))

    assert principal.via == via
    assert principal.scopes == scopes
    assert principal.reaches(world["home"].pk) is reaches_home
    assert principal.reaches(world["away"].pk) is reaches_away
    visible = principal.within_reach(Membership.objects.filter(user=world["user"]))
    assert {m.organization_id for m in visible} == {
        org.pk for org in (world["home"], world["away"]) if principal.reaches(org.pk)
    }


@pytest.mark.parametrize(
    ("credential", "requested", "pin"),
    [
        (None, None, None),
        (None, "away", "away"),
        ("pinned", None, "home"),
        ("pinned", "home", "home"),
        ("pinned", "away", OrganizationMismatch),
    ],
)
def test_a_child_keys_pin_follows_its_creator(world, credential, requested, pin):
    principal = Principal(user=world["user"], key=world.get(credential))
    asked = world[requested].pk if requested else None

    if pin is OrganizationMismatch:
        with pytest.raises(OrganizationMismatch):
            principal.child_pin(asked)
    else:
        assert principal.child_pin(asked) == (world[pin].pk if pin else None)


def test_a_stored_principal_is_used_only_for_the_requests_own_key(world):
    stored = Principal(user=world["user"], key=world["pinned"])
    request = SimpleNamespace(user=world["user"], auth=world["pinned"], principal=stored)
    assert Principal.of(request) is stored

    request.auth = world["unpinned"]
    assert Principal.of(request) == Principal(user=world["user"], key=world["unpinned"])

    request.auth = None
    assert Principal.of(request).via == "session"
