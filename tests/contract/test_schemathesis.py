"""Property-based tests against the published schema: schemathesis generates requests for every
operation from `GET /api/schema` and sends them to a live server, three times over (no
credential, a signed-in session, a full-access key). Every answer must conform to the schema
(status, headers, body), none may be a 5xx, and every error must be the error envelope.

Bounded and repeatable: SCHEMATHESIS_EXAMPLES examples per operation and pass (default 15),
derandomized, so CI sees the same requests every run. Half of the generated requests name
the seeded organization and project, so the tenant routes are exercised past the gate.
"""

from __future__ import annotations

import os
from typing import Any

import pytest
import requests
import schemathesis
from django.conf import settings as django_settings
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from schemathesis.specs.openapi.checks import positive_data_acceptance

from apikeys.services import api_key_issue

EXAMPLES = int(os.environ.get("SCHEMATHESIS_EXAMPLES", "15"))
# Operations whose valid-looking input is accepted only with a secret the generator cannot
# know (an emailed token, the current password), a password strong enough, or the exact name
# of the organization to delete: schemathesis's "schema-valid data is accepted" check does
# not apply to them; every other check does.
SECRET_BOUND = {"resetPassword", "verifyEmail", "changePassword", "signUp", "deleteOrganization"}
PASSWORD = "correct horse battery staple"

pytestmark = pytest.mark.django_db(transaction=True)


def envelope_errors(ctx: Any, response: Any, case: Any) -> None:
    """Every error is the JSON error envelope, with the status it was answered with."""
    if response.status_code < 400:
        return
    body = response.json()
    assert body["success"] is False, body
    assert body["status"] == response.status_code, body
    assert isinstance(body["code"], str) and body["code"].isupper(), body
    assert isinstance(body["message"], str) and body["message"], body


@pytest.fixture
def world(live_server, settings, user_factory, org_factory, project_factory):
    # Thousands of requests from one address and one key: limits are tested elsewhere.
    settings.RATELIMITS = {**settings.RATELIMITS, "ENABLED": False}
    user = user_factory(email="contract@example.com", password=PASSWORD)
    organization = org_factory(owner=user)
    project = project_factory(organization)
    _key, raw = api_key_issue(user=user, name="contract", scopes=["*"])
    return {"user": user, "organization": organization, "project": project, "key": raw}


def sign_in(base: str) -> str:
    """A new session for the seeded user: the session cookie's value."""
    response = requests.post(
        f"{base}/api/auth/sign-in/email",
        json={"email": "contract@example.com", "password": PASSWORD},
        headers={"Origin": base},
        timeout=10,
    )
    assert response.status_code == 200, response.text
    return response.cookies[django_settings.SESSION_COOKIE_NAME]


def load_schema(base: str, credential: str, world: dict, state: dict) -> Any:
    """The served schema, with the pass's credential installed as schemathesis's auth, so it
    can take it away (or spoil it) to check that each operation then refuses."""
    schema = schemathesis.openapi.from_dict(requests.get(f"{base}/api/schema", timeout=30).json())
    cookie = django_settings.SESSION_COOKIE_NAME

    class Credential:
        def get(self, case: Any, context: Any) -> str:
            return world["key"] if credential == "key" else state["session"]

        def set(self, case: Any, data: str, context: Any) -> None:
            if credential == "key":
                case.headers = {**(case.headers or {}), "X-Api-Key": data}
            else:
                case.cookies = {**(case.cookies or {}), cookie: data}

    if credential != "none":
        schema.auth(refresh_interval=None)(Credential)
    return schema


@pytest.mark.parametrize("credential", ["none", "session", "key"])
def test_every_operation_conforms_to_the_schema(live_server, world, credential):
    base = live_server.url
    state = {"session": sign_in(base) if credential == "session" else None}
    schema = load_schema(base, credential, world, state)
    schema_dict = schema.raw_schema
    known = {"organizationId": world["organization"].pk, "projectId": world["project"].pk}

    def seeded(case: Any) -> Any:
        for name, value in known.items():
            if case.path_parameters and name in case.path_parameters:
                case.path_parameters[name] = value
        return case

    failures: list[str] = []
    seen: list[tuple[str, int]] = []
    operations = 0
    for result in schema.get_all_operations():
        operation = result.ok()
        operations += 1
        strategy = operation.as_strategy()
        secret_bound = operation.definition.raw.get("operationId") in SECRET_BOUND
        excluded = [positive_data_acceptance] if secret_bound else []

        # B023: each run() is called before the loop moves on, so it sees its own operation.
        @given(case=st.one_of(strategy, strategy.map(seeded)))
        @settings(
            max_examples=EXAMPLES,
            derandomize=True,
            deadline=None,
            database=None,
            suppress_health_check=list(HealthCheck),
        )
        def run(case: Any) -> None:
            response = case.call_and_validate(
                base_url=base,
                headers={"Origin": base},
                additional_checks=[envelope_errors],
                excluded_checks=excluded,  # noqa: B023
            )
            ended = ("/sign-out", "/change-password", "/verify-email", "/reset-password")
            if (
                credential == "session"
                and case.path.endswith(ended)
                and response.status_code < 300
            ):
                state["session"] = sign_in(base)  # that session has ended
            seen.append((operation.label, response.status_code))  # noqa: B023

        try:
            run()
        except Exception as error:  # every operation is tried; all failures are reported
            failures.append(f"{operation.label}: {str(error)[:2000]}")

    assert operations == sum(len(item) for item in schema_dict["paths"].values())
    assert not failures, "\n\n".join(failures)
    report(f"{credential}: {operations} operations", seen)


@pytest.mark.parametrize("credential", ["session", "key"])
def test_linked_operations_hold_together(live_server, world, credential):
    """Stateful: schemathesis follows the schema's links (create an organization, then a
    project in it, get it, update it, delete it; create a key, get it, rename it, revoke it),
    checking every answer on the way."""
    base = live_server.url
    state = {"session": sign_in(base) if credential == "session" else None}
    schema = load_schema(base, credential, world, state)

    # Invitations are left out of the scenarios: their links lead to mail-bound steps (an
    # invitation is accepted with the emailed token), and every invitation operation is
    # checked one by one above and in tests/tenants/test_invitations.py.
    schema = schema.exclude(path_regex="invitations")

    class Scenarios(schema.as_state_machine()):  # type: ignore[misc]
        def setup(self) -> None:
            # Each scenario starts with a live credential: an earlier one may have revoked
            # its key or signed its session out, which would leave nothing but 401s.
            if credential == "key":
                world["key"] = api_key_issue(user=world["user"], name="contract", scopes=["*"])[1]
            else:
                state["session"] = sign_in(base)

        def get_call_kwargs(self, case: Any) -> dict[str, Any]:
            return {"base_url": base, "headers": {"Origin": base}}

        def validate_response(self, response: Any, case: Any, **kwargs: Any) -> None:
            steps.append((case.operation.label, response.status_code))
            secret_bound = case.operation.definition.raw.get("operationId") in SECRET_BOUND
            case.validate_response(
                response,
                additional_checks=[envelope_errors],
                excluded_checks=[positive_data_acceptance] if secret_bound else [],
                transport_kwargs=kwargs or None,
                recorder=getattr(self, "recorder", None),
            )

    steps: list[tuple[str, int]] = []
    Scenarios.run(
        settings=settings(
            max_examples=4 * EXAMPLES,
            stateful_step_count=8,
            derandomize=True,
            deadline=None,
            database=None,
            suppress_health_check=list(HealthCheck),
        )
    )
    report(f"stateful, {credential}", steps)
    # The links were followed: an organization created on the way was then acted on (no
    # id could be guessed). How far past that a run of this size goes depends on each
    # answer's ids, which differ from run to run.
    succeeded = {label for label, status in steps if status < 300}
    assert "POST /api/user/organizations" in succeeded, sorted(succeeded)
    assert any("{organizationId}" in label for label in succeeded), sorted(succeeded)
    assert "POST /api/auth/api-key/create" in succeeded, sorted(succeeded)


def report(title: str, calls: list[tuple[str, int]]) -> None:
    """One line per pass on stdout (pytest -s or -rA shows it): requests sent and answers."""
    statuses: dict[int, int] = {}
    for _label, status in calls:
        statuses[status] = statuses.get(status, 0) + 1
    print(
        f"schemathesis {title}: {len(calls)} requests, statuses {dict(sorted(statuses.items()))}"
    )
