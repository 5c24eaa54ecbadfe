"""Where the authenticated request's extra time goes: queries per route and per-step timings.

In-process (Django's test client, no HTTP server), against the database bench/run.sh seeded:

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/latchkey_bench \
        .venv/bin/python -m bench.breakdown

Issues a temporary key for the seeded user and deletes it at the end. Prints, for each route,
the SQL it runs and its time per request, then the cost of each step of the authenticated path
(the key lookup, the HMAC check, the tenancy gate) beside a bare database round trip.
"""

from __future__ import annotations

import os
import re
import secrets
import sys
import time
from collections.abc import Callable

ROUNDS = 300
COLUMN_LIST = re.compile(r'(?<=^SELECT )".*?"(?= FROM )')  # a printed statement's columns
BENCH_EMAIL = "bench@example.com"


def per_call_us(fn: Callable[[], object], rounds: int = ROUNDS) -> float:
    """The best of three runs of `rounds` calls, in microseconds per call."""
    for _ in range(20):
        fn()
    best = float("inf")
    for _ in range(3):
        started = time.perf_counter()
        for _ in range(rounds):
            fn()
        best = min(best, (time.perf_counter() - started) / rounds * 1e6)
    return best


def main() -> None:
    # The server's environment in bench/run.sh; a throwaway SECRET_KEY is enough, as the key
    # used here is issued (and its digest computed) under it.
    for name, value in {
        "DJANGO_SETTINGS_MODULE": "bench.settings",
        "DEBUG": "false",
        "SECRET_KEY": secrets.token_urlsafe(50),
        "ALLOWED_HOSTS": "127.0.0.1",
        "PUBLIC_URL": "http://127.0.0.1",
        "SECURE_SSL_REDIRECT": "false",
        "SECURE_HSTS_SECONDS": "0",
        "LOG_LEVEL": "WARNING",
    }.items():
        os.environ.setdefault(name, value)
    import django

    django.setup()

    from django.db import connection
    from django.test import Client, RequestFactory
    from django.test.utils import CaptureQueriesContext
    from rest_framework.request import Request

    from access.gate import membership_for_request
    from accounts.models import User
    from apikeys import conf, crypto
    from apikeys.authentication import ApiKeyAuthentication
    from apikeys.services import api_key_issue

    user = User.objects.filter(email=BENCH_EMAIL).first()
    if user is None:
        sys.exit(
            "bench.breakdown: no seeded data here; point DATABASE_URL at the database "
            "bench/run.sh seeded (latchkey_bench)."
        )
    organization = user.memberships.get().organization
    # Within the seeded organization's key policy, as the benchmark's own key is.
    key, raw = api_key_issue(
        user=user, name="bench breakdown", scopes=["projects:read"], expires_in=24 * 60 * 60
    )
    try:
        client = Client(headers={"host": "127.0.0.1"})
        routes = {
            "no-auth": (f"/api/bench/noauth/organizations/{organization.pk}/projects", {}),
            "X-Api-Key": (
                f"/api/user/organizations/{organization.pk}/projects",
                {"x-api-key": raw},
            ),
        }
        captured = {}
        for name, (path, headers) in routes.items():
            response = client.get(path, headers=headers)
            if response.status_code != 200:
                sys.exit(f"bench.breakdown: {name} answered {response.status_code}")
            with CaptureQueriesContext(connection) as queries:
                client.get(path, headers=headers)
            captured[name] = [query["sql"] for query in queries.captured_queries]
        # Alternate short blocks and keep each route's best, so drift hits both alike.
        best = dict.fromkeys(routes, float("inf"))
        for _ in range(8):
            for name, (path, headers) in routes.items():
                block = per_call_us(lambda p=path, h=headers: client.get(p, headers=h), 30)
                best[name] = min(best[name], block)
        print(f"{'route':10} {'queries':>7} {'ms/request':>10}")
        for name in routes:
            print(f"{name:10} {len(captured[name]):7} {best[name] / 1000:10.2f}")
        for name, statements in captured.items():
            print(f"\n{name}:")
            for sql in statements:
                # The column lists say little; the tables, joins and conditions say what runs.
                print("  " + COLUMN_LIST.sub("…", sql))

        request = Request(RequestFactory().get("/", headers={"x-api-key": raw}))
        authentication = ApiKeyAuthentication()
        request.user, request.auth = authentication.authenticate(request)

        def round_trip() -> None:
            with connection.cursor() as cursor:
                cursor.execute("SELECT 1")
                cursor.fetchone()

        steps = {
            "ApiKeyAuthentication.authenticate (1 query)": lambda: authentication.authenticate(
                request
            ),
            "  of which parse + HMAC-SHA256 check": lambda: (
                crypto.parse(raw, conf.prefix()),
                crypto.matches(raw, key.digest, conf.pepper()),
            ),
            "tenancy gate, membership_for_request (1 query)": lambda: membership_for_request(
                request, organization.pk
            ),
            "for scale: SELECT 1 through the cursor": round_trip,
            "for scale: sum(range(10_000)), machine speed": lambda: sum(range(10_000)),
        }
        print("\nstep (best of 3 runs)" + " " * 30 + "us/call")
        for label, step in steps.items():
            print(f"{label:50} {per_call_us(step):8.1f}")
    finally:
        key.delete()


if __name__ == "__main__":
    main()
