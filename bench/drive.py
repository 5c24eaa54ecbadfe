"""Serve requests to one benchmark route in this process, through Django's WSGI handler, with
no HTTP server and no client: what `bench/instructions.sh` counts under callgrind.

    python -m bench.drive ROUTE COUNT

ROUTE is one of ROUTES below; the organization and the key come from the environment
(BENCH_ORG_ID, BENCH_API_KEY), as bench/instructions.sh seeded them. Every answer must be 200,
or the run stops. Run in the benchmark's environment (bench/lib.sh latchkey_environment).
"""

from __future__ import annotations

import io
import os
import sys


def routes(organization_id: str) -> dict[str, tuple[str, bool]]:
    """{route: (path, whether the key is sent)}, as bench/compare.sh names them."""
    return {
        "lk_noauth": (f"/api/bench/noauth/organizations/{organization_id}/projects", False),
        "lk_limited": (f"/api/bench/limited/organizations/{organization_id}/projects", False),
        "lk_list": (f"/api/user/organizations/{organization_id}/projects", True),
        "lk_me": ("/api/user/me", True),
    }


def environ(path: str, key: str | None) -> dict[str, object]:
    """A WSGI environ for GET `path` from 127.0.0.1, as gunicorn would build it."""
    env: dict[str, object] = {
        "REQUEST_METHOD": "GET",
        "PATH_INFO": path,
        "QUERY_STRING": "",
        "SERVER_NAME": "127.0.0.1",
        "SERVER_PORT": "8765",
        "SERVER_PROTOCOL": "HTTP/1.1",
        "HTTP_HOST": "127.0.0.1",
        "REMOTE_ADDR": "127.0.0.1",
        "wsgi.input": io.BytesIO(b""),
        "wsgi.errors": sys.stderr,
        "wsgi.url_scheme": "http",
        "wsgi.version": (1, 0),
        "wsgi.multithread": False,
        "wsgi.multiprocess": True,
        "wsgi.run_once": False,
    }
    if key is not None:
        env["HTTP_X_API_KEY"] = key
    return env


def main(route: str, count: int) -> None:
    import django

    django.setup()
    from django.core.handlers.wsgi import WSGIHandler

    table = routes(os.environ["BENCH_ORG_ID"])
    if route not in table:
        sys.exit(f"unknown route {route!r}: one of {', '.join(table)}")
    path, keyed = table[route]
    key = os.environ["BENCH_API_KEY"] if keyed else None
    application = WSGIHandler()
    statuses: list[str] = []

    def start_response(status: str, headers: object, exc_info: object = None) -> None:
        statuses.append(status)

    for _ in range(count):
        statuses.clear()
        body = application(environ(path, key), start_response)
        b"".join(body)
        body.close()
        if not statuses[0].startswith("200"):
            sys.exit(f"{route} answered {statuses[0]}")


if __name__ == "__main__":
    if len(sys.argv) != 3 or not sys.argv[2].isdigit():
        sys.exit(__doc__)
    main(sys.argv[1], int(sys.argv[2]))
