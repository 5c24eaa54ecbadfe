#!/usr/bin/env python3
"""Django's command-line utility for administrative tasks, run in the project's virtualenv."""

from __future__ import annotations

import os
import sys
from pathlib import Path

# Set for the one re-executed process only (it removes it), so a virtualenv whose Python does
# not report itself as that virtualenv cannot make manage.py exec itself forever.
_REEXEC_GUARD = "LATCHKEY_MANAGE_REEXEC"


def _run_in_project_venv() -> None:
    """Re-execute under `.venv/bin/python` beside this file, unless already running in it.

    `./manage.py` and `python3 manage.py` then work without activating the virtualenv; an
    interpreter inside it (`.venv/bin/python manage.py`, `make run`) carries on unchanged.
    """
    if os.environ.pop(_REEXEC_GUARD, None):
        return
    venv = Path(__file__).resolve().parent / ".venv"
    python = venv / "bin" / "python"
    if not python.exists() or Path(sys.prefix).resolve() == venv.resolve():
        return
    os.environ[_REEXEC_GUARD] = "1"
    # Our own interpreter with the same arguments: nothing here comes from outside.
    os.execv(python, [str(python), *sys.argv])  # noqa: S606


def main() -> None:
    _run_in_project_venv()
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    from django.core.management import execute_from_command_line

    execute_from_command_line(sys.argv)


if __name__ == "__main__":
    main()
