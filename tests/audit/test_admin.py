"""The audit events admin: a read-only list with filters, search and links."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.contrib.admin.utils import quote
from django.urls import reverse
from django.utils import timezone

from audit.models import Action, AuditEvent

pytestmark = pytest.mark.django_db

CHANGELIST = reverse("admin:audit_auditevent_changelist")


def event_url(view: str, event: AuditEvent) -> str:
    return reverse(f"admin:audit_auditevent_{view}", args=[event.pk])


@pytest.fixture
def events(user_factory, org_factory, api_key_factory):
    """Three events by three actors: a key created, a key revoked a year ago, a sign-in."""
    creator = user_factory(email="creator@example.com")
    organization = org_factory(owner=creator, name="Audited Org")
    key, _raw = api_key_factory(user=creator, organization=organization, name="Audited key")
    created = AuditEvent.objects.create(
        action=Action.KEY_CREATED,
        actor=creator,
        api_key=key,
        organization=organization,
        target_type="apikey",
        target_id=key.pk,
        ip="203.0.113.7",
        request_id="req-created-0001",
        detail={"scopes": ["user:read"]},
    )
    revoked = AuditEvent.objects.create(
        created_at=timezone.now() - timedelta(days=400),
        action=Action.KEY_REVOKED,
        actor=user_factory(email="revoker@example.com"),
        target_type="apikey",
        target_id="ak_01OLDKEY",
        ip="198.51.100.23",
        request_id="req-revoked-0002",
        detail={"by": "operator"},
    )
    signed_in = AuditEvent.objects.create(
        action=Action.SIGNED_IN,
        actor=user_factory(email="signer@example.com"),
        ip="2001:db8::1",
        request_id="req-signin-0003",
    )
    return {"created": created, "revoked": revoked, "signed_in": signed_in, "key": key}


def listed(html: str) -> set[str]:
    request_ids = {
        "created": "req-created-0001",
        "revoked": "req-revoked-0002",
        "signed_in": "req-signin-0003",
    }
    return {name for name, request_id in request_ids.items() if request_id in html}


def test_the_list_links_to_the_actor_the_key_and_the_organization(admin_client, events):
    event, key = events["created"], events["key"]

    response = admin_client.get(CHANGELIST)

    assert response.status_code == 200
    html = response.content.decode()
    assert listed(html) == {"created", "revoked", "signed_in"}
    actor_url = reverse("admin:accounts_user_change", args=[quote(event.actor_id)])
    key_url = reverse("admin:apikeys_apikey_change", args=[quote(key.pk)])
    organization_url = reverse(
        "admin:tenants_organization_change", args=[quote(event.organization_id)]
    )
    assert f'<a href="{actor_url}">creator@example.com</a>' in html
    assert f'<a href="{key_url}">Audited key ({key.start}…)</a>' in html
    assert f'<a href="{organization_url}">Audited Org</a>' in html
    assert "203.0.113.7" in html
    # The key's id holds "_", which admin URLs escape: the link must lead to the key.
    assert "_5F" in key_url
    assert admin_client.get(key_url).status_code == 200
    assert admin_client.get(actor_url).status_code == 200


@pytest.mark.parametrize(
    ("params", "expected"),
    [
        ({"action__exact": Action.KEY_REVOKED}, {"revoked"}),
        ({"action__exact": Action.SIGNED_IN}, {"signed_in"}),
        ({"organization__id__exact": "__org__"}, {"created"}),
        ({"created_at__gte": "__week_ago__"}, {"created", "signed_in"}),
        ({"created_at__year": "__old_year__"}, {"revoked"}),
    ],
)
def test_the_filters_and_the_date_hierarchy(admin_client, events, params, expected):
    now = timezone.now()
    substitutes = {
        "__org__": events["created"].organization_id,
        # as the filter's own "Past 7 days" link writes it
        "__week_ago__": str(
            timezone.localtime(now).replace(hour=0, minute=0, second=0, microsecond=0)
            - timedelta(days=7)
        ),
        "__old_year__": str(timezone.localtime(events["revoked"].created_at).year),
    }
    params = {name: substitutes.get(value, value) for name, value in params.items()}

    response = admin_client.get(CHANGELIST, params)

    assert response.status_code == 200
    html = response.content.decode()
    assert listed(html) == expected
    for title in ("By action", "By organization", "By created at"):
        assert title in html


@pytest.mark.parametrize(
    ("term", "expected"),
    [
        ("revoker@example.com", {"revoked"}),
        ("__key_id__", {"created"}),
        ("198.51.100.23", {"revoked"}),
        ("2001:db8::1", {"signed_in"}),
        ("req-signin-0003", {"signed_in"}),
    ],
)
def test_search_by_actor_email_key_id_ip_and_request_id(admin_client, events, term, expected):
    term = term.replace("__key_id__", events["key"].pk)

    response = admin_client.get(CHANGELIST, {"q": term})

    assert response.status_code == 200
    assert listed(response.content.decode()) == expected


def test_an_event_can_be_viewed_but_not_changed(admin_client, events):
    event = events["revoked"]

    page = admin_client.get(event_url("change", event))
    post = admin_client.post(
        event_url("change", event),
        {"action": Action.SIGNED_UP, "detail": "{}", "ip": "192.0.2.1", "_save": "Save"},
    )

    assert page.status_code == 200
    html = page.content.decode()
    assert "View audit event" in html
    assert "req-revoked-0002" in html
    assert "198.51.100.23" in html
    assert 'name="_save"' not in html
    assert post.status_code == 403
    after = AuditEvent.objects.get(pk=event.pk)
    assert (after.action, after.ip, after.detail) == (
        Action.KEY_REVOKED,
        "198.51.100.23",
        {"by": "operator"},
    )


def test_an_event_cannot_be_deleted_or_added(admin_client, events):
    event = events["created"]
    before = AuditEvent.objects.count()

    delete_page = admin_client.get(event_url("delete", event))
    delete = admin_client.post(event_url("delete", event), {"post": "yes"})
    bulk = admin_client.post(
        CHANGELIST,
        {"action": "delete_selected", "_selected_action": [event.pk], "index": 0, "post": "yes"},
    )
    add = admin_client.post(
        reverse("admin:audit_auditevent_add"), {"action": Action.SIGNED_UP, "_save": "Save"}
    )

    assert delete_page.status_code == 403
    assert delete.status_code == 403
    assert add.status_code == 403
    assert bulk.status_code == 200  # no action exists: the list again, unchanged
    assert listed(bulk.content.decode()) == {"created", "revoked", "signed_in"}
    assert AuditEvent.objects.filter(pk=event.pk).exists()
    assert AuditEvent.objects.count() == before
    html = admin_client.get(CHANGELIST).content.decode()
    assert "delete_selected" not in html
    assert reverse("admin:audit_auditevent_add") not in html
