"""This project runs with its own settings; Latchkey's fixtures come from tests/conftest.py."""

from __future__ import annotations

import pytest
from django.conf import settings

if settings.SETTINGS_MODULE != "tests.extending.settings":
    raise pytest.UsageError(
        "tests/extending runs with its own settings: "
        "pytest --ds=tests.extending.settings tests/extending"
    )
