"""The whole Quick Start (Steps 1-4, with a personal access token) through a real HTTP server,
as the seed writes it: with curl, with Python requests, and with Node's fetch."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import requests
from django.conf import settings

from access.credentials import challenge

pytestmark = pytest.mark.django_db(transaction=True)

# The seed's address is mangled by an email-obfuscation filter ("[email protected]"); this is
# the address its example response implies (handle "yourname").
EMAIL = "yourname@example.com"
PASSWORD = "a-long-secure-passphrase"
NAME = "Your Name"

# What the seed's examples say, to be replaced by the live server and by real values.
SEED_HOST = "https://api.example.com"
SEED_EMAIL = "[email protected]"
SEED_KEY = "ba_AbCdEf0123456789XyZ..."
SEED_ORG_ID = "01HZ3K5R4X9Y2V6QF8TJ7W0CDN"

KEY_NAME = "CI deploy bot"
SCOPES = ["user:read", "projects:read", "projects:write"]
THIRTY_DAYS = timedelta(seconds=2592000)

# The seed's Step 3 response, and the non-secret extras the API may add to it.
CREATED_FIELDS = {"id", "name", "key", "scopes", "expiresAt"}
CREATED_EXTRAS = {"start", "organizationId", "allowedCidrs", "createdAt"}
# A key as every later response shows it: never the key, never its digest.
LISTED_FIELDS = {
    "id",
    "name",
    "start",
    "scopes",
    "organizationId",
    "allowedCidrs",
    "expiresAt",
    "lastUsedAt",
    "lastUsedIp",
    "createdAt",
    "revokedAt",
    "status",
}
ULID = re.compile(r"^[0-9A-HJKMNP-TV-Z]{26}$")
KEY_ID = re.compile(r"^ak_[0-9A-HJKMNP-TV-Z]{26}$")
# `ba_`, 40 random base62 characters, a 6-character checksum.
KEY = re.compile(r"^ba_[0-9A-Za-z]{46}$")
TIMESTAMP = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")
ENVELOPE_OK = (True, 200, "OK")


# --- Helpers ----------------------------------------------------------------------------------


def from_seed(snippet: str, host: str) -> str:
    """A seed snippet with the live server for the host and a real address for the mangled one."""
    return snippet.replace(SEED_HOST, host).replace(SEED_EMAIL, EMAIL)


def parse_timestamp(value: str) -> datetime:
    assert TIMESTAMP.match(value), value
    return datetime.fromisoformat(value)


def ok(body: dict[str, Any]) -> tuple[bool, int, str]:
    return body["success"], body["status"], body["code"]


def without_timestamp(body: dict[str, Any]) -> dict[str, Any]:
    assert TIMESTAMP.match(body["timestamp"]), body
    return {key: value for key, value in body.items() if key != "timestamp"}


def assert_created_key(body: dict[str, Any], *, issued_between: tuple[datetime, datetime]) -> str:
    """The seed's Step 3 response, exactly; return the key."""
    assert set(body) == {"success", "status", "code", "message", "data"}, body
    assert ok(body) == ENVELOPE_OK
    assert body["message"] == "API key created"
    data = body["data"]
    assert set(data) >= CREATED_FIELDS, data
    assert set(data) - CREATED_FIELDS <= CREATED_EXTRAS, data
    assert KEY_ID.match(data["id"]), data["id"]
    assert data["name"] == KEY_NAME
    assert KEY.match(data["key"]), data["key"]
    assert data["scopes"] == SCOPES
    # expiresIn 2592000: thirty days from the moment of the request (milliseconds kept).
    expires_at = parse_timestamp(data["expiresAt"])
    before, after = issued_between
    assert before + THIRTY_DAYS - timedelta(seconds=1) <= expires_at <= after + THIRTY_DAYS
    if "start" in data:
        assert data["key"].startswith(data["start"])
        assert len(data["start"]) < len(data["key"]) // 3
    assert data.get("organizationId") is None  # not pinned: the seed passes no metadata
    assert "digest" not in json.dumps(body)
    return data["key"]


def assert_me(body: dict[str, Any]) -> None:
    """Step 4's account route answer, with the seed's values."""
    assert ok(body) == ENVELOPE_OK
    assert body["message"] == "User fetched successfully"
    user = body["data"]
    assert ULID.match(user["id"]), user
    assert user["email"] == EMAIL
    assert user["fullName"] == NAME
    assert user["handle"] == "yourname"
    assert user["role"] == "user"
    assert user["organizationCount"] == 1
    assert "key" not in user


def assert_no_projects(body: dict[str, Any]) -> None:
    assert ok(body) == ENVELOPE_OK
    assert body["data"] == []
    assert body["pagination"]["totalItems"] == 0


def assert_listed_key(entry: dict[str, Any], *, key_id: str, key: str) -> None:
    """A key as list and get show it: its public fields only."""
    assert set(entry) == LISTED_FIELDS, entry
    assert entry["id"] == key_id
    assert entry["name"] == KEY_NAME
    assert entry["scopes"] == SCOPES
    assert entry["organizationId"] is None
    assert TIMESTAMP.match(entry["expiresAt"])
    assert TIMESTAMP.match(entry["createdAt"])
    # `start` lets a person recognise the key; it is far too short to be used as one.
    assert key.startswith(entry["start"])
    assert entry["start"].startswith("ba_")
    assert len(entry["start"]) <= 12
    assert len(entry["start"]) < len(key) // 3


def assert_secret_absent(text: str, key: str) -> None:
    assert key not in text
    assert key[3:] not in text  # not even without its prefix
    assert "digest" not in text
    assert "v1$" not in text and "v2$" not in text  # the stored digest's scheme tag


def sign_up_and_sign_in(base: str) -> requests.Session:
    """Steps 1 and 2 in Python, as the seed writes them."""
    res = requests.post(
        f"{base}/api/auth/sign-up/email",
        json={
            "email": EMAIL,
            "password": PASSWORD,
            "name": NAME,
        },
        timeout=10,
    )
    assert res.status_code == 200, res.text
    session = requests.Session()  # holds cookies across requests
    res = session.post(
        f"{base}/api/auth/sign-in/email",
        json={
            "email": EMAIL,
            "password": PASSWORD,
        },
        timeout=10,
    )
    assert res.status_code == 200, res.text
    assert session.cookies.get(settings.SESSION_COOKIE_NAME)
    return session


def issue_key(base: str, session: requests.Session) -> tuple[str, str]:
    """Step 3 in Python, as the seed writes it; return the key's id and the key."""
    before = datetime.now(UTC)
    res = session.post(
        f"{base}/api/auth/api-key/create",
        json={
            "name": "CI deploy bot",
            "expiresIn": 2592000,
            "scopes": ["user:read", "projects:read", "projects:write"],
        },
        timeout=10,
    )
    after = datetime.now(UTC)
    assert res.status_code == 200, res.text
    api_key = res.json()["data"]["key"]  # shown once
    assert assert_created_key(res.json(), issued_between=(before, after)) == api_key
    return res.json()["data"]["id"], api_key


def listed_keys(base: str, session: requests.Session) -> requests.Response:
    res = session.get(f"{base}/api/auth/api-key/list", timeout=10)
    assert res.status_code == 200, res.text
    assert ok(res.json()) == ENVELOPE_OK
    assert res.json()["message"] == "API keys fetched"
    return res


@dataclass
class CurlResult:
    status: int
    headers: list[tuple[str, str]]
    body: str

    def json(self) -> Any:
        return json.loads(self.body)


def curl(command: str, cwd: Path) -> CurlResult:
    """Run a curl command line from the docs in bash, in `cwd` (where cookies.txt lives).

    Only flags that report the result are appended: quiet progress, and the response
    headers dumped to a file so the status can be read.
    """
    headers_file = cwd / "headers.txt"
    flags = f"--silent --show-error --dump-header {headers_file}"
    completed = subprocess.run(
        ["/bin/bash", "-c", f"{command.rstrip()} {flags}"],
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


def node(script: str, tmp_path: Path, name: str, env: dict[str, str] | None = None) -> Any:
    """Run an ES module with Node 20+ (built-in fetch) and return the JSON it prints."""
    executable = shutil.which("node")
    # Node is part of the documented toolchain and installed on CI: its absence is a failure.
    assert executable is not None, "node (20+) is required to run the Quick Start's Node snippets"
    path = tmp_path / name
    path.write_text(script)
    completed = subprocess.run(
        [executable, str(path)],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
        env={"PATH": "/usr/bin:/bin", **(env or {})},
    )
    assert completed.returncode == 0, completed.stderr
    return json.loads(completed.stdout)


# --- Steps 1 to 4 with curl -------------------------------------------------------------------

STEP_1_CURL = """curl -X POST https://api.example.com/api/auth/sign-up/email \\
-H "Content-Type: application/json" \\
-d '{
"email": "[email protected]",
"password": "a-long-secure-passphrase",
"name": "Your Name"
}'"""

STEP_2_CURL = """# -c saves cookies, -b sends them back on later calls
curl -X POST https://api.example.com/api/auth/sign-in/email \\
-H "Content-Type: application/json" \\
-c cookies.txt \\
-d '{
"email": "[email protected]",
"password": "a-long-secure-passphrase"
}'"""

STEP_3_CURL = """curl -X POST https://api.example.com/api/auth/api-key/create \\
-H "Content-Type: application/json" \\
-b cookies.txt \\
-d '{
"name": "CI deploy bot",
"expiresIn": 2592000,
"scopes": ["user:read", "projects:read", "projects:write"]
}'"""

STEP_4_CURL_ACCOUNT = """# Account route — no organization id required
curl https://api.example.com/api/user/me \\
-H "X-Api-Key: ba_AbCdEf0123456789XyZ..."
"""

STEP_4_CURL_TENANT = """# Tenant route — substitute the organization id you fetched earlier
ORG_ID="01HZ3K5R4X9Y2V6QF8TJ7W0CDN"
curl "https://api.example.com/api/user/organizations/${ORG_ID}/projects" \\
-H "X-Api-Key: ba_AbCdEf0123456789XyZ..."
"""

# The product documents' second form: the key in `Authorization: Bearer`, and the auth status
# endpoint.
BEARER_CURL_ME = """curl https://api.example.com/api/user/me \\
-H "Authorization: Bearer YOUR_API_KEY"
"""
BEARER_CURL_STATUS = """curl https://api.example.com/api/auth/status \\
-H "Authorization: Bearer YOUR_API_KEY"
"""


def test_quick_start_with_curl_and_an_api_key(live_server, tmp_path):
    host = live_server.url

    res = curl(from_seed(STEP_1_CURL, host), tmp_path)
    assert res.status == 200, res.body
    assert ok(res.json()) == ENVELOPE_OK
    assert res.json()["data"]["email"] == EMAIL

    res = curl(from_seed(STEP_2_CURL, host), tmp_path)
    assert res.status == 200, res.body
    assert ok(res.json()) == ENVELOPE_OK
    assert res.json()["message"] == "Signed in"
    assert f"\t{settings.SESSION_COOKIE_NAME}\t" in (tmp_path / "cookies.txt").read_text()

    before = datetime.now(UTC)
    res = curl(from_seed(STEP_3_CURL, host), tmp_path)
    after = datetime.now(UTC)
    assert res.status == 200, res.body
    api_key = assert_created_key(res.json(), issued_between=(before, after))
    # The only response that ever holds the key is kept out of every cache.
    assert ("Cache-Control", "no-store") in res.headers

    res = curl(from_seed(STEP_4_CURL_ACCOUNT, host).replace(SEED_KEY, api_key), tmp_path)
    assert res.status == 200, res.body
    assert_me(res.json())

    # "Get yours from GET /api/user/organizations", with the key (user:read covers it).
    res = curl(f'curl {host}/api/user/organizations -H "X-Api-Key: {api_key}"', tmp_path)
    assert res.status == 200, res.body
    organizations = res.json()["data"]
    assert [o["role"] for o in organizations] == ["owner"]
    organization_id = organizations[0]["id"]
    assert ULID.match(organization_id)

    tenant = from_seed(STEP_4_CURL_TENANT, host).replace(SEED_KEY, api_key)
    tenant = tenant.replace(SEED_ORG_ID, organization_id)
    res = curl(tenant, tmp_path)
    assert res.status == 200, res.body
    assert_no_projects(res.json())
    assert res.json()["message"] == "Projects fetched"

    # projects:write lets the key create a project, which the same listing then shows.
    res = curl(
        f"""curl -X POST "{host}/api/user/organizations/{organization_id}/projects" \\
-H "Content-Type: application/json" \\
-H "X-Api-Key: {api_key}" \\
-d '{{"name": "Deployed by CI"}}'""",
        tmp_path,
    )
    assert res.status == 201, res.body
    project = res.json()["data"]
    assert project["name"] == "Deployed by CI"
    assert project["organizationId"] == organization_id
    res = curl(tenant, tmp_path)
    assert res.status == 200, res.body
    assert [p["id"] for p in res.json()["data"]] == [project["id"]]

    # The documented Bearer form: `Authorization: Bearer <key>`.
    res = curl(from_seed(BEARER_CURL_ME, host).replace("YOUR_API_KEY", api_key), tmp_path)
    assert res.status == 200, res.body
    assert_me(res.json())

    res = curl(from_seed(BEARER_CURL_STATUS, host).replace("YOUR_API_KEY", api_key), tmp_path)
    assert res.status == 200, res.body
    body = res.json()
    assert ok(body) == ENVELOPE_OK
    assert body["message"] == "Authenticated"
    assert body["authenticated"] is True
    assert body["data"]["authenticated"] is True
    assert body["data"]["authMethod"] == "api_key"
    assert body["data"]["user"]["email"] == EMAIL
    assert body["data"]["apiKey"]["name"] == KEY_NAME
    assert body["data"]["apiKey"]["scopes"] == SCOPES
    assert body["data"]["apiKey"]["organizationId"] is None
    assert_secret_absent(res.body, api_key)

    # The cookie jar, for contrast, still authenticates as a session.
    res = curl(f"curl {host}/api/auth/status -b cookies.txt", tmp_path)
    assert res.status == 200, res.body
    assert res.json()["data"]["authMethod"] == "session"
    assert res.json()["data"]["apiKey"] is None


# --- Steps 1 to 4 with Python requests --------------------------------------------------------


def test_quick_start_with_python_requests_and_an_api_key(live_server):
    base = live_server.url

    # Step 1, verbatim but for the host (and the address the seed's page mangled).
    res = requests.post(
        f"{base}/api/auth/sign-up/email",
        json={
            "email": EMAIL,
            "password": "a-long-secure-passphrase",
            "name": "Your Name",
        },
        timeout=10,
    )
    data = res.json()
    assert res.status_code == 200, res.text
    assert ok(data) == ENVELOPE_OK

    # Step 2.
    session = requests.Session()  # holds cookies across requests
    res = session.post(
        f"{base}/api/auth/sign-in/email",
        json={
            "email": EMAIL,
            "password": "a-long-secure-passphrase",
        },
        timeout=10,
    )
    assert res.status_code == 200, res.text
    assert session.cookies.get(settings.SESSION_COOKIE_NAME)

    # Step 3.
    before = datetime.now(UTC)
    res = session.post(
        f"{base}/api/auth/api-key/create",
        json={
            "name": "CI deploy bot",
            "expiresIn": 2592000,
            "scopes": ["user:read", "projects:read", "projects:write"],
        },
        timeout=10,
    )
    after = datetime.now(UTC)
    assert res.status_code == 200, res.text
    api_key = res.json()["data"]["key"]  # shown once
    assert assert_created_key(res.json(), issued_between=(before, after)) == api_key
    assert res.headers["Cache-Control"] == "no-store"

    # Step 4: plain requests, no session, the key in X-Api-Key.
    headers = {"X-Api-Key": api_key}
    organizations = requests.get(f"{base}/api/user/organizations", headers=headers, timeout=10)
    assert organizations.status_code == 200, organizations.text
    assert [o["role"] for o in organizations.json()["data"]] == ["owner"]
    organization_id = organizations.json()["data"][0]["id"]

    me = requests.get(f"{base}/api/user/me", headers=headers, timeout=10)
    projects = requests.get(
        f"{base}/api/user/organizations/{organization_id}/projects",
        headers=headers,
        timeout=10,
    )

    assert me.status_code == 200, me.text
    assert_me(me.json())
    assert projects.status_code == 200, projects.text
    assert_no_projects(projects.json())

    # Bearer works the same way.
    bearer = {"Authorization": f"Bearer {api_key}"}
    me = requests.get(f"{base}/api/user/me", headers=bearer, timeout=10)
    assert me.status_code == 200, me.text
    assert_me(me.json())
    status = requests.get(f"{base}/api/auth/status", headers=bearer, timeout=10)
    assert status.status_code == 200, status.text
    assert status.json()["data"]["authMethod"] == "api_key"


# --- The key after creation -------------------------------------------------------------------


def test_the_key_is_returned_at_creation_only(live_server):
    base = live_server.url
    session = sign_up_and_sign_in(base)
    key_id, api_key = issue_key(base, session)

    listed = listed_keys(base, session)
    assert_secret_absent(listed.text, api_key)
    body = listed.json()
    assert len(body["data"]) == 1
    entry = body["data"][0]
    assert_listed_key(entry, key_id=key_id, key=api_key)
    assert entry["status"] == "active"
    assert entry["lastUsedAt"] is None
    assert entry["revokedAt"] is None
    assert body["pagination"]["totalItems"] == 1

    fetched = session.get(f"{base}/api/auth/api-key/get", params={"id": key_id}, timeout=10)
    assert fetched.status_code == 200, fetched.text
    assert_secret_absent(fetched.text, api_key)
    assert ok(fetched.json()) == ENVELOPE_OK
    assert fetched.json()["message"] == "API key fetched"
    assert fetched.json()["data"] == entry

    # The key itself holds no api-keys:read scope, so it cannot list keys either.
    headers = {"X-Api-Key": api_key}
    refused = requests.get(f"{base}/api/auth/api-key/list", headers=headers, timeout=10)
    assert refused.status_code == 403, refused.text
    assert refused.json()["code"] == "INSUFFICIENT_SCOPE"
    assert refused.json()["required_scopes"] == ["api-keys:read"]
    assert_secret_absent(refused.text, api_key)


def test_a_key_authenticated_call_sets_last_used_at(live_server):
    base = live_server.url
    session = sign_up_and_sign_in(base)
    key_id, api_key = issue_key(base, session)
    assert listed_keys(base, session).json()["data"][0]["lastUsedAt"] is None

    before = datetime.now(UTC)
    me = requests.get(f"{base}/api/user/me", headers={"X-Api-Key": api_key}, timeout=10)
    after = datetime.now(UTC)
    assert me.status_code == 200, me.text

    entry = listed_keys(base, session).json()["data"][0]
    assert entry["id"] == key_id
    last_used_at = parse_timestamp(entry["lastUsedAt"])
    assert before - timedelta(seconds=1) <= last_used_at <= after
    assert entry["status"] == "active"


def test_a_revoked_key_is_refused_with_key_revoked(live_server):
    base = live_server.url
    session = sign_up_and_sign_in(base)
    key_id, api_key = issue_key(base, session)
    headers = {"X-Api-Key": api_key}
    assert requests.get(f"{base}/api/user/me", headers=headers, timeout=10).status_code == 200

    revoked = session.post(f"{base}/api/auth/api-key/revoke", json={"keyId": key_id}, timeout=10)

    assert revoked.status_code == 200, revoked.text
    assert ok(revoked.json()) == ENVELOPE_OK
    assert revoked.json()["message"] == "API key revoked"
    entry = revoked.json()["data"]
    assert_listed_key(entry, key_id=key_id, key=api_key)
    assert entry["status"] == "revoked"
    assert TIMESTAMP.match(entry["revokedAt"])
    assert_secret_absent(revoked.text, api_key)

    me = requests.get(f"{base}/api/user/me", headers=headers, timeout=10)
    assert me.status_code == 401, me.text
    assert me.headers["WWW-Authenticate"] == challenge()  # naming the RFC 9728 metadata
    assert without_timestamp(me.json()) == {
        "success": False,
        "status": 401,
        "code": "KEY_REVOKED",
        "message": "Unauthorized",
        "error": "Unauthorized",
        "reason": "The API key has been revoked.",
    }
    # Bearer too, and on the tenant route: the key is dead everywhere.
    bearer = {"Authorization": f"Bearer {api_key}"}
    status = requests.get(f"{base}/api/auth/status", headers=bearer, timeout=10)
    assert status.status_code == 401, status.text
    assert status.json()["code"] == "KEY_REVOKED"
    assert status.json()["error"] == "Unauthorized"

    # The list keeps it, revoked, still without its secret.
    listed = listed_keys(base, session)
    assert_secret_absent(listed.text, api_key)
    assert [(k["id"], k["status"]) for k in listed.json()["data"]] == [(key_id, "revoked")]


# --- Steps 1 to 4 with Node's fetch -----------------------------------------------------------

# Steps 1, 2 and 3 as the seed writes them, one block per step. Node has no cookie jar: the
# seed suggests a cookie-aware client; sending the Set-Cookie value back by hand is the same.
NODE_STEPS_1_TO_3 = """
const out = {};
{
const res = await fetch('https://api.example.com/api/auth/sign-up/email', {
method: 'POST',
headers: { 'Content-Type': 'application/json' },
credentials: 'include',
body: JSON.stringify({
email: '[email protected]',
password: 'a-long-secure-passphrase',
name: 'Your Name',
}),
});
const data = await res.json();
out.signUp = { status: res.status, body: data };
}
let cookie;
{
// Browser: credentials: 'include' persists the cookie automatically.
// Node: use a cookie-aware client such as `tough-cookie` to keep the cookie across requests.
const res = await fetch('https://api.example.com/api/auth/sign-in/email', {
method: 'POST',
headers: { 'Content-Type': 'application/json' },
credentials: 'include',
body: JSON.stringify({
email: '[email protected]',
password: 'a-long-secure-passphrase',
}),
});
const setCookie = res.headers.getSetCookie();
cookie = setCookie
  .map((c) => c.split(';')[0])
  .find((c) => c.startsWith(`${process.env.SESSION_COOKIE_NAME}=`));
out.signIn = { status: res.status, body: await res.json(), setCookie };
}
{
const res = await fetch('https://api.example.com/api/auth/api-key/create', {
method: 'POST',
headers: { 'Content-Type': 'application/json', Cookie: cookie },
credentials: 'include',
body: JSON.stringify({
name: 'CI deploy bot',
expiresIn: 2592000, // 30 days in seconds, omit for no expiry
scopes: ['user:read', 'projects:read', 'projects:write'],
}),
});
out.create = { status: res.status, body: await res.clone().json() };
const { data } = await res.json();
const apiKey = data.key; // shown once — store it now
out.apiKey = apiKey;
}
{
const res = await fetch('https://api.example.com/api/user/organizations', {
headers: { 'X-Api-Key': out.apiKey },
});
out.organizations = { status: res.status, body: await res.json() };
}
console.log(JSON.stringify(out));
"""

# Step 4 as the seed writes it, the organization id from the environment like the key.
NODE_STEP_4 = """
const apiKey = process.env.API_KEY;
const organizationId = process.env.ORGANIZATION_ID;
const headers = { 'X-Api-Key': apiKey };
// Account route
const me = await fetch('https://api.example.com/api/user/me', { headers });
// Tenant route
const projects = await fetch(
`https://api.example.com/api/user/organizations/${organizationId}/projects`,
{ headers },
);
console.log(JSON.stringify({
me: { status: me.status, body: await me.json() },
projects: { status: projects.status, body: await projects.json() },
}));
"""


def test_quick_start_with_node_fetch_and_an_api_key(live_server, tmp_path):
    host = live_server.url

    before = datetime.now(UTC)
    out = node(
        from_seed(NODE_STEPS_1_TO_3, host),
        tmp_path,
        "steps_1_to_3.mjs",
        env={"SESSION_COOKIE_NAME": settings.SESSION_COOKIE_NAME},
    )
    after = datetime.now(UTC)

    assert out["signUp"]["status"] == 200, out["signUp"]
    assert ok(out["signUp"]["body"]) == ENVELOPE_OK
    assert out["signUp"]["body"]["data"]["email"] == EMAIL
    assert out["signIn"]["status"] == 200, out["signIn"]
    assert out["signIn"]["body"]["message"] == "Signed in"
    assert any(
        c.startswith(f"{settings.SESSION_COOKIE_NAME}=") for c in out["signIn"]["setCookie"]
    ), out["signIn"]["setCookie"]
    assert out["create"]["status"] == 200, out["create"]
    api_key = assert_created_key(out["create"]["body"], issued_between=(before, after))
    assert out["apiKey"] == api_key
    assert out["organizations"]["status"] == 200, out["organizations"]
    organizations = out["organizations"]["body"]["data"]
    assert [o["role"] for o in organizations] == ["owner"]
    organization_id = organizations[0]["id"]

    out = node(
        from_seed(NODE_STEP_4, host),
        tmp_path,
        "step_4.mjs",
        env={"API_KEY": api_key, "ORGANIZATION_ID": organization_id},
    )

    assert out["me"]["status"] == 200, out["me"]
    assert_me(out["me"]["body"])
    assert out["projects"]["status"] == 200, out["projects"]
    assert_no_projects(out["projects"]["body"])
    assert out["projects"]["body"]["message"] == "Projects fetched"

    # The same script with a key that was never issued is refused, not let through.
    forged = api_key[:-10] + ("A" if api_key[-10] != "A" else "B") + api_key[-9:]
    out = node(
        from_seed(NODE_STEP_4, host),
        tmp_path,
        "step_4.mjs",
        env={"API_KEY": forged, "ORGANIZATION_ID": organization_id},
    )
    for answer in (out["me"], out["projects"]):
        assert answer["status"] == 401, answer
        assert answer["body"]["code"] == "KEY_INVALID"
        assert answer["body"]["error"] == "Unauthorized"
