"""The error catalogue: every code has a message and one HTTP status, and each domain error
is raised with the status the catalogue (and so the OpenAPI schema) gives its code."""

from __future__ import annotations

import pytest

from api import errors


def all_subclasses(cls: type) -> list[type]:
    found = []
    for sub in cls.__subclasses__():
        found += [sub, *all_subclasses(sub)]
    return found


def test_every_code_has_a_message_and_a_status():
    assert set(errors.MESSAGES) == set(errors.STATUSES)


# KeyRejected is abstract: its subclasses name the code.
DOMAIN_ERRORS = [cls for cls in all_subclasses(errors.ApiError) if cls is not errors.KeyRejected]


@pytest.mark.parametrize("error", DOMAIN_ERRORS, ids=lambda cls: cls.__name__)
def test_each_domain_error_answers_with_its_codes_status(error):
    assert errors.STATUSES[error.code] == error.status_code
