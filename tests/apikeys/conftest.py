"""Fixtures of the key maintenance tests: a movable clock and the task worker in-process."""

from __future__ import annotations

import logging
import signal
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta

import pytest
from django.core.management import call_command
from django.utils import timezone


class Clock:
    """django.utils.timezone.now, held at `start` + however far the test has moved it."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.start = timezone.now()
        self.offset = timedelta(0)
        monkeypatch.setattr(timezone, "now", lambda: self.start + self.offset)

    def at(self, offset: timedelta) -> datetime:
        self.offset = offset
        return self.start + offset


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> Clock:
    return Clock(monkeypatch)


@pytest.fixture
def worker(settings) -> Iterator[Callable[[], None]]:
    """The database task backend, and its worker run in this process: `--batch` runs every
    task queued (and those they queue) and returns. The signal handlers and log levels the
    worker sets are put back afterwards."""
    settings.TASKS = {
        "default": {"BACKEND": "django_tasks_db.DatabaseBackend", "QUEUES": ["default"]}
    }
    signals = [signal.SIGINT, signal.SIGTERM, signal.SIGQUIT]
    handlers = {number: signal.getsignal(number) for number in signals}
    levels = {name: logging.getLogger(name).level for name in ("django_tasks", "django_tasks_db")}

    def run() -> None:
        call_command("db_worker", "--batch", "--no-startup-delay", "--no-reload", verbosity=0)

    yield run
    for number, handler in handlers.items():
        signal.signal(number, handler)
    for name, level in levels.items():
        logging.getLogger(name).setLevel(level)
