"""manage.py create_api_key, revoke_api_key, list_scopes"""

from __future__ import annotations

from io import StringIO

import pytest
from django.core.management import CommandError, call_command

from apikeys.models import ApiKey

pytestmark = pytest.mark.django_db


def run(*args: str) -> tuple[str, str]:
    out, err = StringIO(), StringIO()
    call_command(*args, stdout=out, stderr=err)
    return out.getvalue(), err.getvalue()


def test_create_api_key_prints_a_working_key_once(user_factory, org_factory, key_client):
    user = user_factory(email="ops@example.com")
    organization = org_factory(owner=user)

    out, err = run(
        "create_api_key",
        "--email=OPS@example.com",
        "--name=deploy",
        "--scopes=user:read,projects:*",
        f"--org={organization.pk}",
        "--expires-in=3600",
    )

    raw = out.strip()
    key = ApiKey.objects.get()
    assert raw.startswith("ba_")
    assert raw not in err
    assert key.id in err
    assert (key.name, key.scopes, key.organization_id) == (
        "deploy",
        ["user:read", "projects:*"],
        organization.pk,
    )
    assert key.expires_at is not None
    assert key_client(raw).get("/api/user/me").status_code == 200


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--email=nobody@example.com", "--name=k", "--scopes=user:read"], "No active user"),
        (["--email=ops@example.com", "--name=k", "--scopes=widgets:read"], "Unknown scope"),
        (["--email=ops@example.com", "--name=k", "--scopes=user:read", "--expires-in=1"], "60"),
        (
            ["--email=ops@example.com", "--name=k", "--scopes=user:read", "--org=01HZ3K5R4X"],
            "organization",
        ),
    ],
)
def test_create_api_key_refuses_bad_input(user_factory, args, message):
    user_factory(email="ops@example.com")

    with pytest.raises(CommandError, match=message):
        run("create_api_key", *args)
    assert ApiKey.objects.count() == 0


def test_revoke_api_key_revokes_by_id(api_key_factory, key_client):
    key, raw = api_key_factory()

    out, _err = run("revoke_api_key", key.pk)

    assert key.pk in out
    key.refresh_from_db()
    assert key.revoked_at is not None
    assert key_client(raw).get("/api/user/me").status_code == 401


def test_revoke_api_key_names_unknown_ids(api_key_factory):
    key, _ = api_key_factory()

    with pytest.raises(CommandError, match="ak_missing"):
        run("revoke_api_key", key.pk, "ak_missing")
    key.refresh_from_db()
    assert key.revoked_at is None


def test_list_scopes_prints_the_catalogue():
    out, _err = run("list_scopes")

    assert "projects:read" in out
    assert "List and retrieve projects." in out
    assert "write:all" in out
