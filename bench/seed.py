"""Seed the benchmark database; print `<organization id> <api key>` on stdout, nothing else.

Run with DJANGO_SETTINGS_MODULE=bench.settings against an empty database:

    python -m bench.seed [SCOPE ...]

Migrates, then creates one user, one organization it owns, 20 projects and one API key with
the scopes given (`projects:read` if none; bench/compare.sh adds `user:read`), issued through
apikeys.services.api_key_issue as the API would. The key is printed once, for the script to
capture in a variable; it is not stored anywhere else.
"""

from __future__ import annotations

import os
import secrets
import sys

PROJECTS = 20


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
    for n in range(1, PROJECTS + 1):
        project_create(
            organization=organization,
            created_by=user,
            name=f"Project {n}",
            description=f"Benchmark project number {n}.",
        )
    _key, raw = api_key_issue(user=user, name="bench", scopes=scopes or ["projects:read"])
    print(organization.pk, raw)


if __name__ == "__main__":
    main(sys.argv[1:])
