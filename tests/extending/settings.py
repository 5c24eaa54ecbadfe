"""The project's settings: Latchkey's own, read from the environment, plus the project's apps."""

import sys
from pathlib import Path

from config.settings import *  # noqa: F403

INSTALLED_APPS = [*INSTALLED_APPS, "notes"]  # noqa: F405
ROOT_URLCONF = "tests.extending.urls"

# This directory stands for the project's root, where its apps sit beside Latchkey's: the
# notes app is imported as `notes`, as it would be there.
sys.path.insert(0, str(Path(__file__).resolve().parent))
