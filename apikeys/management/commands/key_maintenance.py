"""manage.py key_maintenance: the periodic key maintenance, run now in this process."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand

from apikeys.tasks import key_maintenance


class Command(BaseCommand):
    help = (
        "Fold the keys' usage counts into the database and record and queue the expiry and "
        "staleness notices due, now, in this process: for cron where no scheduler runs. The "
        "notices' mails go through the task backend (TASKS_BACKEND=immediate sends them here)."
    )

    def handle(self, *args: Any, **options: Any) -> None:
        done = key_maintenance.call()
        folded, queued = done["folded"], done["notices"]
        self.stdout.write(
            f"Folded in {folded} key request{'' if folded == 1 else 's'}; "
            f"queued {queued} notice{'' if queued == 1 else 's'}."
        )
