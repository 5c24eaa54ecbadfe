"""manage.py run_scheduler: queue the periodic key maintenance for the task worker, every
KEY_MAINTENANCE_INTERVAL seconds, or once (--once, for cron)."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandParser
from django.db import close_old_connections
from django_tasks_db.backend import DatabaseBackend
from django_tasks_db.models import DBTaskResult

from apikeys.tasks import key_maintenance

sleep: Callable[[float], None] = time.sleep  # a seam for tests


class Command(BaseCommand):
    help = (
        "Queue the key maintenance task (usage counts folded into the database, expiry and "
        "staleness notices) for `manage.py db_worker`, every KEY_MAINTENANCE_INTERVAL "
        "seconds. With --once, queue it once and exit (to run from cron). Running several "
        "schedulers is safe: each notice is sent once and each count folded in once."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--once", action="store_true", help="Queue it once, then exit.")

    def handle(self, *args: Any, **options: Any) -> None:
        interval = settings.APIKEYS["MAINTENANCE_INTERVAL"]
        if not options["once"]:
            self.stdout.write(f"Queueing key maintenance every {interval} seconds.")
        while True:
            # A connection the database dropped during the sleep (a restart, an idle
            # timeout) is replaced, as each of the worker's tasks does.
            close_old_connections()
            self.queue()
            if options["once"]:
                return
            try:
                sleep(interval)
            except KeyboardInterrupt:
                return

    def queue(self) -> None:
        if waiting():
            self.stdout.write("Key maintenance is already waiting in the queue.")
            return
        result = key_maintenance.enqueue()
        self.stdout.write(f"Queued key maintenance ({result.id}).")


def waiting() -> bool:
    """Whether a key maintenance task is queued and not yet started (with the database
    backend): while the worker is stopped, the queue then holds one, not one per interval."""
    if not isinstance(key_maintenance.get_backend(), DatabaseBackend):
        return False
    return DBTaskResult.objects.ready().filter(task_path=key_maintenance.module_path).exists()
