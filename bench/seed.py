"""Seed the benchmark database; print `<organization id> <api key>` on stdout, nothing else.

Run with DJANGO_SETTINGS_MODULE=bench.settings against an empty database:

    python -m bench.seed [SCOPE ...]

Migrates, then creates one user, one organization it owns, 20 projects and one API key with
the scopes given (`projects:read` if none; bench/compare.sh adds `user:read`), issued through
apikeys.services.api_key_issue as the API would. The key is printed once, for the script to
capture in a variable; it is not stored anywhere else.

The organization has a key policy with every rule on (KEY_POLICY, which the key satisfies;
it applies to the unpinned key acting there), so each keyed request pays for checking it.
"""

from __future__ import annotations

import os
import secrets
import sys

PROJECTS = 20
# Every rule on, as strict as the benchmark's key allows: checked on each keyed request.
KEY_POLICY = {
    "requireExpiry": True,
    "maxLifetimeDays": 90,
    "maxKeysPerMember": 5,
    "allowedCidrs": ["127.0.0.0/8", "::1/128", "10.0.0.0/8"],
    "staleAfterDays": 30,
}


def main(scopes: list[str]) -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "bench.settings")
    import django

    django.setup()

    from django.core.management import call_command

    from accounts.models import User
    from apikeys.services import api_key_issue
    from tenants.services import organization_create, project_create

    call_command("migrate", interactive=False, verbosity=0)
    if User.objects.exists():
        sys.exit("bench.seed: the database is not empty; run.sh drops and recreates it.")

    user = User.objects.create_user(
        "bench@example.com",
        secrets.token_urlsafe(24),  # nobody signs in: the benchmark uses the key only
        full_name="Bench User",
        is_verified=True,
    )
    organization = organization_create(owner=user, name="Bench Org").organization
    scopes = scopes or ["projects:read"]
    organization.key_policy = {**KEY_POLICY, "allowedScopes": scopes}
    organization.save(update_fields=["key_policy"])
    for n in range(1, PROJECTS + 1):
        project_create(
            organization=organization,
            created_by=user,
            name=f"Project {n}",
            description=f"Benchmark project number {n}.",
        )
    _key, raw = api_key_issue(
        user=user,
        name="bench",
        scopes=scopes,
        expires_in=60 * 24 * 60 * 60,
    )
    print(organization.pk, raw)


if __name__ == "__main__":
    main(sys.argv[1:])
