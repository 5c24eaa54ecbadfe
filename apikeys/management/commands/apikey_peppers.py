"""manage.py apikey_peppers: how many working keys remain under each configured pepper."""

from __future__ import annotations

import json
from typing import Any

from django.core.management.base import BaseCommand, CommandParser

from apikeys.peppers import Tally, census


class Command(BaseCommand):
    help = (
        "Count the working API keys (and rolled keys' previous secrets) under each pepper in "
        "APIKEY_PEPPERS. A pepper after the first may be removed once nothing remains under "
        "it and no v1 digest remains."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--json", action="store_true", help="Print the counts as JSON.")

    def handle(self, *args: Any, **options: Any) -> None:
        counted = census()
        if options["json"]:
            self.stdout.write(json.dumps(counted.as_dict(), indent=2))
            return
        # Peppers are named by position and id only: the pepper itself is a secret.
        rows = [
            (f"pepper {position} ({pepper_id}){' current' if position == 1 else ''}", tally)
            for position, (pepper_id, tally) in enumerate(counted.peppers, start=1)
        ]
        rows.append(("v1 digests (pepper found on next use)", counted.v1))
        rows.append(("under no configured pepper (refused)", counted.unknown))
        width = max(len(label) for label, _tally in rows)
        for label, tally in rows:
            self.stdout.write(f"{label:<{width}}  {_counts(tally)}")


def _counts(tally: Tally) -> str:
    keys = f"{tally.keys} key{'' if tally.keys == 1 else 's'}"
    previous = f"{tally.previous} previous secret{'' if tally.previous == 1 else 's'}"
    return f"{keys:>10}, {previous}"
