"""docs/extending.md shows this project's code: every block it titles with a file is in that
file word for word, and every module of the notes app is shown whole."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PAGE = ROOT / "docs" / "extending.md"
BLOCK = re.compile(r'^```python title="([^"]+)"\n(.*?)^```$', re.DOTALL | re.MULTILINE)
APP = ["apps.py", "models.py", "serializers.py", "services.py", "views.py", "urls.py"]


def blocks() -> list[tuple[str, str]]:
    """(file, code) of every titled block of the page."""
    return BLOCK.findall(PAGE.read_text())


@pytest.mark.parametrize(("path", "code"), blocks(), ids=[path for path, _code in blocks()])
def test_every_block_of_the_page_is_in_the_file_it_names(path, code):
    assert code in (ROOT / path).read_text()


@pytest.mark.parametrize("module", APP)
def test_every_module_of_the_app_is_shown_whole(module):
    path = f"tests/extending/notes/{module}"

    assert (ROOT / path).read_text() in [code for title, code in blocks() if title == path]
