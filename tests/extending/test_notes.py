"""The notes app of docs/extending.md: /api/user/organizations/{organizationId}/notes[/{noteId}]
meets every credential, and a key's wildcards reach it as they reach Latchkey's own resources."""

from __future__ import annotations

import pytest
from notes.models import Note

from tests.conftest import assert_error

pytestmark = pytest.mark.django_db


def notes_url(organization) -> str:
    return f"/api/user/organizations/{organization.pk}/notes"


def note_url(note) -> str:
    return f"{notes_url(note.organization)}/{note.pk}"


@pytest.fixture
def note(team) -> Note:
    return Note.objects.create(organization=team["organization"], title="Minutes")


@pytest.fixture
def caller(team, org_factory, client_for, key_client, api_key_factory):
    """A client with one credential of the tables below: the organization's member's session
    or key, or someone else's session, or none."""
    member = team["member"]

    def key(scopes, **options):
        _key, raw = api_key_factory(user=member, scopes=scopes, **options)
        return key_client(raw)

    credentials = {
        "member's session": lambda: client_for(member),
        "key with notes:read": lambda: key(["notes:read"]),
        "key with notes:write": lambda: key(["notes:write"]),
        "key with projects:*": lambda: key(["projects:*"]),
        "key pinned to another organization": lambda: key(
            ["notes:*"], organization=org_factory(owner=member)
        ),
        "expired key with notes:*": lambda: key(["notes:*"], expired=True),
        "revoked key with notes:*": lambda: key(["notes:*"], revoked=True),
        "another organization's member": lambda: client_for(team["outsider"]),
        "no credential": lambda: client_for(None),
    }
    return lambda credential: credentials[credential]()


@pytest.mark.parametrize(
    ("credential", "status", "code"),
    [
        ("member's session", 200, "OK"),
        ("key with notes:read", 200, "OK"),
        ("key with projects:*", 403, "INSUFFICIENT_SCOPE"),
        ("key pinned to another organization", 403, "ORGANIZATION_MISMATCH"),
        ("expired key with notes:*", 401, "KEY_EXPIRED"),
        ("revoked key with notes:*", 401, "KEY_REVOKED"),
        ("another organization's member", 403, "NOT_ORGANIZATION_MEMBER"),
        ("no credential", 401, "UNAUTHORIZED"),
    ],
)
def test_who_may_read_the_notes(caller, team, note, credential, status, code):
    client = caller(credential)

    listed = client.get(notes_url(team["organization"]))
    fetched = client.get(note_url(note))

    if status == 200:
        assert (listed.status_code, listed.json()["code"]) == (200, code)
        assert [n["id"] for n in listed.json()["data"]] == [note.pk]
        assert fetched.status_code == 200
        assert fetched.json()["data"]["title"] == "Minutes"
    else:
        assert_error(listed, status, code)
        assert_error(fetched, status, code)


@pytest.mark.parametrize(
    ("credential", "status", "code"),
    [
        ("member's session", 201, "OK"),
        ("key with notes:write", 201, "OK"),
        ("key with notes:read", 403, "INSUFFICIENT_SCOPE"),
        ("key pinned to another organization", 403, "ORGANIZATION_MISMATCH"),
        ("another organization's member", 403, "NOT_ORGANIZATION_MEMBER"),
        ("no credential", 401, "UNAUTHORIZED"),
    ],
)
def test_who_may_write_a_note(caller, team, credential, status, code):
    response = caller(credential).post(notes_url(team["organization"]), {"title": "Plan"})

    if status == 201:
        assert (response.status_code, response.json()["code"]) == (201, code)
        assert response.json()["data"]["organizationId"] == team["organization"].pk
        assert response.json()["data"]["authorId"] == team["member"].pk
        assert Note.objects.filter(organization=team["organization"], title="Plan").exists()
    else:
        assert_error(response, status, code)
        assert not Note.objects.exists()


def test_a_key_without_the_scope_is_told_which_one_it_lacks(caller, team, note):
    response = caller("key with notes:read").patch(note_url(note), {"title": "Changed"})

    assert_error(response, 403, "INSUFFICIENT_SCOPE", extra={"required_scopes": ["notes:write"]})
    note.refresh_from_db()
    assert note.title == "Minutes"


@pytest.mark.parametrize("actor", ["owner", "admin", "member"])
def test_every_member_edits_and_deletes_a_note(client_for, team, note, actor):
    client = client_for(team[actor])

    updated = client.patch(note_url(note), {"body": "Ship on Friday."})
    deleted = client.delete(note_url(note))

    assert updated.status_code == 200
    assert updated.json()["data"]["title"] == "Minutes"
    assert updated.json()["data"]["body"] == "Ship on Friday."
    assert deleted.status_code == 200
    assert deleted.json()["data"] == {"id": note.pk}
    assert not Note.objects.filter(pk=note.pk).exists()


@pytest.mark.parametrize("method", ["get", "patch", "delete"])
def test_a_note_through_another_organizations_path_is_404(client_for, team, note, method):
    # The outsider is a member of their own organization, and names our note under it.
    their_organization = team["outsider"].memberships.get().organization
    url = f"{notes_url(their_organization)}/{note.pk}"

    response = getattr(client_for(team["outsider"]), method)(url, {"title": "X"})

    assert_error(response, 404, "NOT_FOUND")
    note.refresh_from_db()
    assert note.title == "Minutes"


@pytest.mark.parametrize(
    "payload",
    [{}, {"title": ""}, {"title": "x" * 101}, {"title": None}, {"title": "ok", "body": 5 * ["x"]}],
)
def test_a_bad_note_is_400(client_for, team, payload):
    response = client_for(team["member"]).post(notes_url(team["organization"]), payload)

    assert_error(response, 400, "VALIDATION_ERROR")
    assert not Note.objects.exists()


@pytest.mark.parametrize(
    ("scopes", "read", "write"),
    [
        (["notes:*"], 200, 201),
        (["read:all"], 200, 403),
        (["write:all"], 403, 201),
        (["*"], 200, 201),
        (["admin"], 200, 201),
        (["projects:*", "members:read"], 403, 403),
    ],
)
def test_a_keys_wildcards_reach_the_notes(key_client, api_key_factory, team, scopes, read, write):
    _key, raw = api_key_factory(user=team["member"], scopes=scopes)
    client = key_client(raw)

    listed = client.get(notes_url(team["organization"]))
    created = client.post(notes_url(team["organization"]), {"title": "Plan"})

    assert (listed.status_code, created.status_code) == (read, write)
    for response in (listed, created):
        if response.status_code == 403:
            assert_error(response, 403, "INSUFFICIENT_SCOPE")


def test_the_note_list_query_budget(client_for, team, django_assert_max_num_queries):
    for n in range(30):
        Note.objects.create(organization=team["organization"], title=f"Note {n}")
    client = client_for(team["member"])

    # session, user, membership joined to organization, count, page
    with django_assert_max_num_queries(5):
        response = client.get(notes_url(team["organization"]))
    assert response.status_code == 200
    assert len(response.json()["data"]) == 20
