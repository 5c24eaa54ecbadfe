"""manage.py revoke_api_key: revoke keys by id, as an operator."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from apikeys.models import ApiKey
from apikeys.services import api_key_revoke


class Command(BaseCommand):
    help = "Revoke API keys by id (ak_…). Revocation takes effect on the next request."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("key_ids", nargs="+", metavar="KEY_ID")

    def handle(self, *args: Any, **options: Any) -> None:
        keys = {key.id: key for key in ApiKey.objects.filter(pk__in=options["key_ids"])}
        missing = [key_id for key_id in options["key_ids"] if key_id not in keys]
        if missing:
            raise CommandError(f"No such key: {', '.join(missing)}")
        for key in keys.values():
            api_key_revoke(key=key, revoked_by=None, by="command")
            self.stdout.write(f"Revoked {key.id} ({key.name})")
