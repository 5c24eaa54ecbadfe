"""manage.py list_scopes: print the scope catalogue."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand

from access.scopes import catalogue


class Command(BaseCommand):
    help = "List every scope an API key may hold, with its description."

    def handle(self, *args: Any, **options: Any) -> None:
        entries = catalogue()
        width = max(len(entry["scope"]) for entry in entries)
        for entry in entries:
            self.stdout.write(f"{entry['scope']:<{width}}  {entry['description']}")
