"""manage.py rotate_oauth_signing_key: add the key that replaces the one signing access tokens,
and delete the keys no live token can carry any more."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandParser
from django.utils import timezone

from oauth import signing


class Command(BaseCommand):
    help = (
        "Rotate the key that signs OAuth access tokens. The new key is published at once and "
        "signs after OAUTH_JWKS_MAX_AGE seconds (--now: at once); the old one stays published "
        "until every token it signed has expired. Keys past that are deleted."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--now",
            action="store_true",
            help="sign with the new key at once (resource servers that cached the JWK Set "
            "fetch it again when they meet its kid)",
        )
        parser.add_argument(
            "--prune-only", action="store_true", help="only delete the keys no token can carry"
        )

    def handle(self, *args: Any, **options: Any) -> None:
        pruned = signing.prune()
        if pruned:
            self.stdout.write(f"Deleted {pruned} key(s) that no live token can carry.")
        if options["prune_only"]:
            return
        key = signing.rotate(now=options["now"])
        when = "now" if key.signs_from <= timezone.now() else key.signs_from.isoformat()
        self.stdout.write(f"Added signing key {key.kid}; it signs from {when}.")
