"""The admin's flat changelists run a fixed number of queries, whatever the number of rows."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from types import SimpleNamespace

import pytest
from django.urls import reverse

from audit.models import Action, AuditEvent

pytestmark = pytest.mark.django_db


@dataclass(frozen=True)
class Changelist:
    url_name: str
    add_row: Callable[[SimpleNamespace, int], None]  # (factories, n): one more row on the list
    queries: int


def add_user(make: SimpleNamespace, n: int) -> None:
    user = make.user()
    make.org(owner=user)
    make.api_key(user=user)


def add_organization(make: SimpleNamespace, n: int) -> None:
    organization = make.org()
    make.member(organization)
    make.api_key(user=organization.memberships.first().user, organization=organization)


def add_api_key(make: SimpleNamespace, n: int) -> None:
    organization = make.org()
    make.api_key(user=organization.memberships.get().user, organization=organization)


def add_audit_event(make: SimpleNamespace, n: int) -> None:
    organization = make.org()
    actor = organization.memberships.get().user
    key, _raw = make.api_key(user=actor, organization=organization)
    AuditEvent.objects.create(
        action=Action.KEY_CREATED,
        actor=actor,
        api_key=key,
        organization=organization,
        target_type="apikey",
        target_id=key.pk,
        ip=f"192.0.2.{n + 1}",
        request_id=f"req-budget-{n:04d}",
    )


def add_invitation(make: SimpleNamespace, n: int) -> None:
    organization = make.org()
    make.invitation(organization, f"guest{n}@example.com", by=organization.memberships.get().user)


CHANGELISTS = [
    # session, operator, the count of all users and of those shown, the page (organization
    # and key counts as subqueries)
    pytest.param(Changelist("admin:accounts_user_changelist", add_user, 5), id="users"),
    # session, operator, the count of all organizations and of those shown, the page (member
    # and key counts as subqueries), the plan filter's plans
    pytest.param(
        Changelist("admin:tenants_organization_changelist", add_organization, 6),
        id="organizations",
    ),
    # session, operator, the organization filter's choices, the count of all keys and of those
    # shown, the page (owner and organization joined)
    pytest.param(Changelist("admin:apikeys_apikey_changelist", add_api_key, 6), id="api-keys"),
    # session, operator, the count of all invitations and of those shown, the page
    # (organization and inviter joined)
    pytest.param(
        Changelist("admin:tenants_invitation_changelist", add_invitation, 5), id="invitations"
    ),
    # session, operator, the organization filter's choices, the count of all events and of
    # those shown, the page (actor, key and organization joined), and the date hierarchy's
    # first and last dates and its days
    pytest.param(
        Changelist("admin:audit_auditevent_changelist", add_audit_event, 8), id="audit-events"
    ),
]


@pytest.mark.parametrize("changelist", CHANGELISTS)
def test_the_changelist_runs_the_same_queries_for_5_and_40_rows(
    admin_client,
    user_factory,
    org_factory,
    member_factory,
    api_key_factory,
    invitation_factory,
    django_assert_num_queries,
    changelist,
):
    make = SimpleNamespace(
        user=user_factory,
        org=org_factory,
        member=member_factory,
        api_key=api_key_factory,
        invitation=invitation_factory,
    )
    url = reverse(changelist.url_name)
    added = 0

    def add_rows(count: int) -> None:
        nonlocal added
        for _ in range(count):
            changelist.add_row(make, added)
            added += 1

    def rows_listed() -> int:
        # The same queries for 5 rows and for 40: none per row.
        with django_assert_num_queries(changelist.queries):
            response = admin_client.get(url)
        assert response.status_code == 200
        return response.context["cl"].result_count

    add_rows(5)
    with_5 = rows_listed()
    add_rows(35)
    with_40 = rows_listed()

    # The second page really lists 35 rows more (70 on the audit list: each key's own creation
    # event, and ours), so that the two equal counts say something.
    assert with_40 - with_5 >= 35
