"""Seed the peer database; print `<item id> <api key> <knox token>` on stdout, nothing else.

Run in the peer's virtualenv against an empty database (bench/compare.sh does):

    DJANGO_SETTINGS_MODULE=bench.peer.settings python -m bench.peer.seed

Migrates, then creates 20 items, one user, one drf-api-key key and one knox token for that
user, each through its library's own manager. The secrets are printed once, for the script to
capture in variables; only their digests are stored.
"""

from __future__ import annotations

import os
import sys

ITEMS = 20


def main() -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "bench.peer.settings")
    import django

    django.setup()

    from django.contrib.auth import get_user_model
    from django.core.management import call_command
    from knox.models import AuthToken
    from rest_framework_api_key.models import APIKey

    from bench.peer.items.models import Item

    call_command("migrate", interactive=False, verbosity=0)
    if Item.objects.exists():
        sys.exit("bench.peer.seed: the database is not empty; compare.sh drops and recreates it.")

    items = Item.objects.bulk_create(
        Item(name=f"Item {n}", description=f"Benchmark item number {n}.")
        for n in range(1, ITEMS + 1)
    )
    # Nobody signs in: the user exists to own the knox token. Its password is unusable.
    user = get_user_model().objects.create_user("bench", "bench@example.com")
    _api_key, key = APIKey.objects.create_key(name="bench")
    _token, token = AuthToken.objects.create(user=user)  # knox's default expiry, 10 hours
    print(items[0].pk, key, token)


if __name__ == "__main__":
    main()
