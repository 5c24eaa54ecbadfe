"""Two refreshes of one refresh token at the same moment: one wins, the other is refused as a
client sees it (400 invalid_grant), never a 500."""

from __future__ import annotations

import threading
from typing import Any

import pytest
from django.db import connection
from django.test import Client

from oauth.models import Application
from tests.oauth.test_authorization_server import EVERY, authorization_code, exchange, pkce

pytestmark = [
    pytest.mark.django_db(transaction=True),
    # The suite's SQLite database lives in memory, shared by one connection's cache: it
    # cannot hold two transactions at once. CI's PostgreSQL leg runs this.
    pytest.mark.skipif(
        connection.vendor != "postgresql", reason="needs a database with concurrent writers"
    ),
]


def test_concurrent_refreshes_of_one_token_never_fail_with_a_500(
    browser: Client, app: Application
) -> None:
    verifier, challenge = pkce()
    code = authorization_code(browser, app, challenge, organization=EVERY)
    refresh_token = exchange(app, code, verifier).json()["refresh_token"]
    barrier = threading.Barrier(4)
    answers: list[Any] = []

    def refresh() -> None:
        try:
            barrier.wait()
            answers.append(
                Client().post(
                    "/oauth/token",
                    {
                        "grant_type": "refresh_token",
                        "refresh_token": refresh_token,
                        "client_id": app.client_id,
                    },
                )
            )
        finally:
            connection.close()

    threads = [threading.Thread(target=refresh) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert len(answers) == 4  # every request was answered
    statuses = sorted(answer.status_code for answer in answers)
    assert 500 not in statuses, [answer.content for answer in answers]
    assert statuses.count(200) <= 1
    for answer in answers:
        if answer.status_code != 200:
            assert answer.status_code == 400 and answer.json()["error"] == "invalid_grant"
