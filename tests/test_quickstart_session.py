"""The Quick Start's Steps 1, 2 and 4 with the session cookie, through a real HTTP server."""

from __future__ import annotations

import json
import re
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urljoin

import pytest
import requests
from django.conf import settings

pytestmark = pytest.mark.django_db(transaction=True)

# The seed's address is mangled by an email-obfuscation filter ("[email protected]"); this is
# the address its example response implies (handle "yourname").
EMAIL = "yourname@example.com"
PASSWORD = "a-long-secure-passphrase"
NAME = "Your Name"

USER_FIELDS = {
    "id",
    "email",
    "fullName",
    "handle",
    "isVerified",
    "verifiedAt",
    "isActive",
    "lastLoginAt",
    "role",
    "organizationCount",
    "createdAt",
    "updatedAt",
}
ULID = re.compile(r"^[0-9A-HJKMNP-TV-Z]{26}$")
TIMESTAMP = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")
LINK = re.compile(r"https?://\S+")
BROWSER_ACCEPT = "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"
UNAUTHORIZED = {
    "success": False,
    "status": 401,
    "code": "UNAUTHORIZED",
    "message": "Unauthorized",
    "error": "Unauthorized",
}


# --- Helpers ----------------------------------------------------------------------------------


def session_cookie(response: requests.Response) -> str:
    """The raw Set-Cookie header that carries the session cookie (fails if there is none)."""
    headers = response.raw.headers.getlist("Set-Cookie")
    matches = [h for h in headers if h.startswith(f"{settings.SESSION_COOKIE_NAME}=")]
    assert len(matches) == 1, headers
    return matches[0]


def cookie_attributes(set_cookie: str) -> set[str]:
    return {part.strip().split("=", 1)[0].lower() for part in set_cookie.split(";")[1:]}


def assert_session_cookie_is_protected(set_cookie: str) -> None:
    assert "httponly" in cookie_attributes(set_cookie)
    assert re.search(r";\s*SameSite=Lax(;|$)", set_cookie, re.IGNORECASE), set_cookie


def without_timestamp(body: dict[str, Any]) -> dict[str, Any]:
    assert TIMESTAMP.match(body["timestamp"]), body
    return {key: value for key, value in body.items() if key != "timestamp"}


def sign_up(base: str, *, email: str = EMAIL, name: str = NAME) -> requests.Response:
    """Step 1 in Python, as the seed writes it."""
    return requests.post(
        f"{base}/api/auth/sign-up/email",
        json={"email": email, "password": PASSWORD, "name": name},
        timeout=10,
    )


def verification_link(mailoutbox: list, email: str) -> str:
    """The link in the one verification email sent to `email`."""
    messages = [m for m in mailoutbox if m.to == [email]]
    assert len(messages) == 1, [m.to for m in mailoutbox]
    links = LINK.findall(messages[0].body)
    assert len(links) == 1, messages[0].body
    return links[0]


def link_token(link: str) -> str:
    """The token at the end of an emailed link."""
    return link.rstrip("/").rsplit("/", 1)[1]


@pytest.fixture(autouse=True)
def _links_to_the_live_server(settings: Any, live_server: Any) -> None:
    settings.PUBLIC_URL = live_server.url


def signed_in_session(base: str, *, email: str = EMAIL) -> requests.Session:
    """Step 2 in Python, as the seed writes it."""
    session = requests.Session()  # holds cookies across requests
    res = session.post(
        f"{base}/api/auth/sign-in/email",
        json={"email": email, "password": PASSWORD},
        timeout=10,
    )
    assert res.status_code == 200, res.text
    return session


@dataclass
class CurlResult:
    status: int
    headers: list[tuple[str, str]]
    body: str

    def json(self) -> Any:
        return json.loads(self.body)

    def header_values(self, name: str) -> list[str]:
        return [value for key, value in self.headers if key.lower() == name.lower()]


def curl(command: str, cwd: Path) -> CurlResult:
    """Run a curl command line from the docs in bash, in `cwd` (where cookies.txt lives).

    Only flags that report the result are appended: quiet progress, and the response
    headers dumped to a file so the status and Set-Cookie can be read.
    """
    headers_file = cwd / "headers.txt"
    completed = subprocess.run(
        ["/bin/bash", "-c", f"{command} --silent --show-error --dump-header {headers_file}"],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert completed.returncode == 0, completed.stderr
    lines = headers_file.read_text().splitlines()
    status = int(lines[0].split()[1])
    headers = [tuple(part.strip() for part in line.split(":", 1)) for line in lines[1:] if line]
    return CurlResult(status=status, headers=headers, body=completed.stdout)


def assert_user(data: dict[str, Any], *, verified: bool, signed_in: bool) -> None:
    """The seed's user shape, exactly, with the seed's values."""
    assert set(data) == USER_FIELDS
    assert ULID.match(data["id"]), data["id"]
    assert len(data["id"]) == 26
    assert data["email"] == EMAIL
    assert data["fullName"] == "Your Name"
    assert data["handle"] == "yourname"
    assert data["isVerified"] is verified
    if verified:
        assert TIMESTAMP.match(data["verifiedAt"])
    else:
        assert data["verifiedAt"] is None
    assert data["isActive"] is True
    if signed_in:
        assert TIMESTAMP.match(data["lastLoginAt"])
    else:
        assert data["lastLoginAt"] is None
    assert data["role"] == "user"
    assert data["organizationCount"] == 1
    assert TIMESTAMP.match(data["createdAt"])
    assert TIMESTAMP.match(data["updatedAt"])


# --- Step 1: create an account -----------------------------------------------------------------


def test_sign_up_returns_the_user_and_emails_a_verification_link(live_server, mailoutbox):
    res = sign_up(live_server.url)

    assert res.status_code == 200, res.text
    body = res.json()
    assert body["success"] is True
    assert body["status"] == 200
    assert body["code"] == "OK"
    assert body["message"] == "Account created. Check your email to verify your address."
    assert_user(body["data"], verified=False, signed_in=False)

    link = verification_link(mailoutbox, EMAIL)
    assert mailoutbox[0].subject == "Verify your email address for Latchkey"
    # The link is built from PUBLIC_URL (here, the live server), never from the request's Host.
    assert link.startswith(f"{live_server.url}/verify-email/")


def test_the_emailed_token_verifies_the_user_once_through_the_api(live_server, mailoutbox):
    assert sign_up(live_server.url).status_code == 200
    token = link_token(verification_link(mailoutbox, EMAIL))

    res = requests.post(
        f"{live_server.url}/api/auth/verify-email", json={"token": token}, timeout=10
    )

    assert res.status_code == 200, res.text
    body = res.json()
    assert (body["success"], body["status"], body["code"]) == (True, 200, "OK")
    assert body["message"] == "Email verified"
    assert_user(body["data"], verified=True, signed_in=False)

    again = requests.post(
        f"{live_server.url}/api/auth/verify-email", json={"token": token}, timeout=10
    )

    assert again.status_code == 400, again.text
    assert without_timestamp(again.json()) == {
        "success": False,
        "status": 400,
        "code": "INVALID_TOKEN",
        "message": "This link is invalid, has expired, or has already been used.",
        "error": "This link is invalid, has expired, or has already been used.",
    }


@pytest.mark.parametrize("accept", ["text/html", BROWSER_ACCEPT], ids=["text-html", "browser"])
def test_a_browser_following_the_link_is_asked_before_anything_changes(
    live_server, mailoutbox, accept
):
    email = "browser@example.com"
    assert sign_up(live_server.url, email=email, name="Browser User").status_code == 200
    link = verification_link(mailoutbox, email)
    browser = requests.Session()

    res = browser.get(link, headers={"Accept": accept}, allow_redirects=False, timeout=10)

    # The token moves into the session; the page it leads to has none in its URL.
    assert res.status_code == 302, res.text
    assert res.headers["Location"] == "/verify-email"
    page = browser.get(urljoin(live_server.url, "/verify-email"), timeout=10)
    assert page.status_code == 200
    assert page.headers["Content-Type"].startswith("text/html")
    assert "<h1>Is this your account?</h1>" in page.text
    assert "This is my account: verify it" in page.text
    assert "I didn't create this account: secure it" in page.text
    # A bare GET (a mail scanner's prefetch) verified nothing.
    assert (
        requests.post(
            f"{live_server.url}/api/auth/sign-in/email",
            json={"email": email, "password": PASSWORD},
            timeout=10,
        ).json()["data"]["isVerified"]
        is False
    )

    csrf = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page.text).group(1)
    chosen = browser.post(
        urljoin(live_server.url, "/verify-email"),
        data={"csrfmiddlewaretoken": csrf, "choice": "verify"},
        headers={"Referer": urljoin(live_server.url, "/verify-email")},
        allow_redirects=False,
        timeout=10,
    )

    assert chosen.status_code == 302, chosen.text
    me = signed_in_session(live_server.url, email=email).get(
        f"{live_server.url}/api/user/me", timeout=10
    )
    assert me.status_code == 200, me.text
    assert me.json()["data"]["isVerified"] is True
    # The link is spent: a second visit lands on the "not valid" page.
    reused = requests.Session()
    reused.get(link, timeout=10)
    assert reused.get(urljoin(live_server.url, "/verify-email"), timeout=10).status_code == 400


# --- Step 2 and Step 4 with Python requests ---------------------------------------------------


def test_quick_start_with_a_requests_session(live_server, mailoutbox):
    base = live_server.url
    assert sign_up(base).status_code == 200
    verified = requests.post(
        f"{base}/api/auth/verify-email",
        json={"token": link_token(verification_link(mailoutbox, EMAIL))},
        timeout=10,
    )
    assert verified.status_code == 200, verified.text

    # Step 2, verbatim but for the host.
    session = requests.Session()  # holds cookies across requests
    res = session.post(
        f"{base}/api/auth/sign-in/email",
        json={
            "email": EMAIL,
            "password": PASSWORD,
        },
    )

    assert res.status_code == 200, res.text
    body = res.json()
    assert (body["success"], body["status"], body["code"]) == (True, 200, "OK")
    assert_user(body["data"], verified=True, signed_in=True)
    assert_session_cookie_is_protected(session_cookie(res))
    assert session.cookies.get(settings.SESSION_COOKIE_NAME)

    # Step 4: an account route, with the cookie only.
    me = session.get(f"{base}/api/user/me", timeout=10)
    assert me.status_code == 200, me.text
    body = me.json()
    assert (body["success"], body["status"], body["code"]) == (True, 200, "OK")
    assert body["message"] == "User fetched successfully"
    assert_user(body["data"], verified=True, signed_in=True)

    organizations = session.get(f"{base}/api/user/organizations", timeout=10)
    assert organizations.status_code == 200, organizations.text
    body = organizations.json()
    assert len(body["data"]) == 1
    organization = body["data"][0]
    assert organization["role"] == "owner"
    assert organization["name"] == "Your Name's organization"
    assert ULID.match(organization["id"])
    assert body["pagination"]["totalItems"] == 1

    # Step 4: a tenant route, with the organization id from the list.
    organization_id = organization["id"]
    projects_url = f"{base}/api/user/organizations/{organization_id}/projects"
    projects = session.get(projects_url, timeout=10)
    assert projects.status_code == 200, projects.text
    body = projects.json()
    assert (body["success"], body["status"], body["code"]) == (True, 200, "OK")
    assert body["data"] == []
    assert body["pagination"] == {
        "page": 1,
        "pageSize": 20,
        "totalItems": 0,
        "totalPages": 0,
        "hasNext": False,
        "hasPrevious": False,
    }

    created = session.post(
        projects_url, json={"name": "Website", "description": "Marketing site"}, timeout=10
    )
    assert created.status_code == 201, created.text
    project = created.json()["data"]
    assert ULID.match(project["id"])
    assert project["name"] == "Website"
    assert project["description"] == "Marketing site"
    assert project["organizationId"] == organization_id
    assert project["createdBy"] == me.json()["data"]["id"]

    listed = session.get(projects_url, timeout=10)
    assert listed.status_code == 200, listed.text
    assert [p["id"] for p in listed.json()["data"]] == [project["id"]]
    assert listed.json()["pagination"]["totalItems"] == 1


def test_sign_out_ends_the_requests_session(live_server):
    base = live_server.url
    assert sign_up(base).status_code == 200
    session = signed_in_session(base)
    old_cookie = session.cookies.get(settings.SESSION_COOKIE_NAME)
    assert session.get(f"{base}/api/user/me", timeout=10).status_code == 200

    res = session.post(f"{base}/api/auth/sign-out", timeout=10)

    assert res.status_code == 200, res.text
    body = res.json()
    assert body == {
        "success": True,
        "status": 200,
        "code": "OK",
        "message": "Signed out",
        "data": None,
    }
    # The browser is told to drop the cookie...
    assert session_cookie(res).startswith(f'{settings.SESSION_COOKIE_NAME}="";')
    # ...and a client that keeps sending it anyway is refused.
    replay = requests.get(
        f"{base}/api/user/me", cookies={settings.SESSION_COOKIE_NAME: old_cookie}, timeout=10
    )
    assert replay.status_code == 401, replay.text
    assert without_timestamp(replay.json()) == UNAUTHORIZED


def test_signing_in_again_rotates_the_session_cookie(live_server):
    base = live_server.url
    assert sign_up(base).status_code == 200
    session = requests.Session()
    credentials = {"email": EMAIL, "password": PASSWORD}
    sign_in_url = f"{base}/api/auth/sign-in/email"

    first = session.post(sign_in_url, json=credentials, timeout=10)
    assert first.status_code == 200, first.text
    first_cookie = session.cookies.get(settings.SESSION_COOKIE_NAME)
    # The same session signs in again, sending its current cookie along.
    second = session.post(sign_in_url, json=credentials, timeout=10)
    assert second.status_code == 200, second.text
    second_cookie = session.cookies.get(settings.SESSION_COOKIE_NAME)

    assert first_cookie
    assert second_cookie
    assert second_cookie != first_cookie
    assert session_cookie(second).startswith(f"{settings.SESSION_COOKIE_NAME}={second_cookie};")

    def me_with(cookie: str) -> requests.Response:
        return requests.get(
            f"{base}/api/user/me", cookies={settings.SESSION_COOKIE_NAME: cookie}, timeout=10
        )

    stale = me_with(first_cookie)
    assert stale.status_code == 401, stale.text
    assert without_timestamp(stale.json()) == UNAUTHORIZED
    current = me_with(second_cookie)
    assert current.status_code == 200, current.text
    assert current.json()["data"]["email"] == EMAIL


def test_wrong_password_and_unknown_email_get_the_same_answer(live_server):
    base = live_server.url
    assert sign_up(base).status_code == 200
    sign_in_url = f"{base}/api/auth/sign-in/email"

    wrong_password = requests.post(
        sign_in_url, json={"email": EMAIL, "password": "not-the-passphrase"}, timeout=10
    )
    unknown_email = requests.post(
        sign_in_url, json={"email": "nobody@example.com", "password": PASSWORD}, timeout=10
    )

    assert wrong_password.status_code == 401, wrong_password.text
    assert unknown_email.status_code == 401, unknown_email.text
    expected = {
        "success": False,
        "status": 401,
        "code": "INVALID_CREDENTIALS",
        "message": "Invalid email or password.",
        "error": "Invalid email or password.",
    }
    assert without_timestamp(wrong_password.json()) == expected
    assert without_timestamp(unknown_email.json()) == expected
    for res in (wrong_password, unknown_email):
        assert settings.SESSION_COOKIE_NAME not in res.cookies


# --- Steps 1, 2 and 4 with curl ------------------------------------------------------------------


def test_quick_start_with_curl_and_a_cookie_jar(live_server, mailoutbox, tmp_path):
    host = live_server.url
    jar = tmp_path / "cookies.txt"

    # Step 1, verbatim but for the host (and the address the seed's page mangled).
    sign_up_command = f"""curl -X POST {host}/api/auth/sign-up/email \\
-H "Content-Type: application/json" \\
-d '{{
"email": "{EMAIL}",
"password": "a-long-secure-passphrase",
"name": "Your Name"
}}'"""
    res = curl(sign_up_command, tmp_path)
    assert res.status == 200, res.body
    assert res.json()["code"] == "OK"
    assert_user(res.json()["data"], verified=False, signed_in=False)
    assert len(mailoutbox) == 1

    # Step 2, verbatim but for the host.
    sign_in_command = f"""# -c saves cookies, -b sends them back on later calls
curl -X POST {host}/api/auth/sign-in/email \\
-H "Content-Type: application/json" \\
-c cookies.txt \\
-d '{{
"email": "{EMAIL}",
"password": "a-long-secure-passphrase"
}}'"""
    res = curl(sign_in_command, tmp_path)
    assert res.status == 200, res.body
    body = res.json()
    assert (body["success"], body["status"], body["code"]) == (True, 200, "OK")
    assert_user(body["data"], verified=False, signed_in=True)
    set_cookies = [
        c for c in res.header_values("Set-Cookie") if c.startswith(settings.SESSION_COOKIE_NAME)
    ]
    assert len(set_cookies) == 1, res.headers
    assert_session_cookie_is_protected(set_cookies[0])
    # curl marks HttpOnly cookies in its jar with this prefix.
    jar_lines = [line for line in jar.read_text().splitlines() if line.startswith("#HttpOnly_")]
    assert any(f"\t{settings.SESSION_COOKIE_NAME}\t" in line for line in jar_lines), jar_lines

    # Step 4, account route, sending the cookie jar back instead of the X-Api-Key header.
    me_command = f"""curl {host}/api/user/me \\
-b cookies.txt"""
    res = curl(me_command, tmp_path)
    assert res.status == 200, res.body
    assert res.json()["message"] == "User fetched successfully"
    assert_user(res.json()["data"], verified=False, signed_in=True)

    res = curl(f"curl {host}/api/user/organizations -b cookies.txt", tmp_path)
    assert res.status == 200, res.body
    organizations = res.json()["data"]
    assert [o["role"] for o in organizations] == ["owner"]
    organization_id = organizations[0]["id"]

    # Step 4, tenant route.
    projects_command = f"""ORG_ID="{organization_id}"
curl "{host}/api/user/organizations/${{ORG_ID}}/projects" \\
-b cookies.txt"""
    res = curl(projects_command, tmp_path)
    assert res.status == 200, res.body
    assert res.json()["data"] == []
    assert res.json()["pagination"]["totalItems"] == 0

    create_command = f"""curl -X POST "{host}/api/user/organizations/{organization_id}/projects" \\
-H "Content-Type: application/json" \\
-b cookies.txt \\
-d '{{"name": "CLI project"}}'"""
    res = curl(create_command, tmp_path)
    assert res.status == 201, res.body
    project_id = res.json()["data"]["id"]
    res = curl(projects_command, tmp_path)
    assert res.status == 200, res.body
    assert [p["id"] for p in res.json()["data"]] == [project_id]

    # Sign out with -b only: the jar keeps the old cookie, which must now be refused.
    res = curl(f"curl -X POST {host}/api/auth/sign-out -b cookies.txt", tmp_path)
    assert res.status == 200, res.body
    assert res.json()["message"] == "Signed out"
    res = curl(me_command, tmp_path)
    assert res.status == 401, res.body
    assert without_timestamp(res.json()) == UNAUTHORIZED
