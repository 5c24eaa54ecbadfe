"""manage.py runs in the project's virtualenv however it is called."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
VENV = ROOT / ".venv"
PRINT_PREFIX = [
    "shell",
    "-c",
    "import os, sys; print(sys.prefix, 'LATCHKEY_MANAGE_REEXEC' in os.environ)",
]

pytestmark = pytest.mark.skipif(
    not (VENV / "bin" / "python").exists(), reason="no .venv beside manage.py (make install)"
)


def outside_the_venv() -> dict[str, str]:
    """An environment whose `python3` is the base interpreter, as in a shell with no venv."""
    env = {k: v for k, v in os.environ.items() if k not in {"VIRTUAL_ENV", "PYTHONHOME"}}
    env["PATH"] = os.pathsep.join([str(Path(sys.base_prefix) / "bin"), "/usr/bin", "/bin"])
    return env


def run(command: list[str], env: dict[str, str]) -> subprocess.CompletedProcess:
    return subprocess.run(
        command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=60, check=False
    )


def test_manage_py_is_executable():
    assert os.access(ROOT / "manage.py", os.X_OK)


@pytest.mark.parametrize(
    "command",
    [["./manage.py"], ["python3", "manage.py"]],
    ids=["./manage.py", "python3 manage.py"],
)
def test_manage_py_outside_the_venv_runs_in_the_venv(command):
    result = run([*command, *PRINT_PREFIX], outside_the_venv())

    assert result.returncode == 0, result.stderr
    prefix, guard_left = result.stdout.strip().splitlines()[-1].rsplit(" ", 1)
    assert Path(prefix).resolve() == VENV.resolve()
    # The re-executed process removes its guard, so commands it starts see a clean environment.
    assert guard_left == "False"


def test_manage_py_with_the_venv_python_keeps_working():
    result = run([str(VENV / "bin" / "python"), "manage.py", *PRINT_PREFIX], outside_the_venv())

    assert result.returncode == 0, result.stderr
    prefix, guard_left = result.stdout.strip().splitlines()[-1].rsplit(" ", 1)
    assert Path(prefix).resolve() == VENV.resolve()
    assert guard_left == "False"
