"""Edge cases of the expiry/staleness notices, the usage counters and the request-path hook
that records a key's use."""

from __future__ import annotations

import io
from collections.abc import Iterator
from datetime import timedelta

import pytest
from django.core import mail
from django.core.cache import cache
from django.core.management import call_command
from django.utils import timezone

from accounts.mail import EmailNotSent
from apikeys import notices, tasks, usage
from apikeys.models import ApiKey, KeyNotice, KeyUsageDay
from apikeys.organization_services import api_key_revoke_in_organization
from apikeys.tasks import key_maintenance
from tenants.models import Organization
from tests.conftest import set_rates

pytestmark = pytest.mark.django_db(transaction=True)

DAY = timedelta(days=1)
HOUR = timedelta(hours=1)
ME = "/api/user/me"
STALE = "An API key of your Latchkey account stopped working in an organization"
EXPIRING = "An API key of your Latchkey account expires on "


@pytest.fixture
def usage_clock(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """No flush falls due on the request path: the tests flush and fold by hand."""
    monkeypatch.setattr(usage, "timer", lambda: 1_000.0)
    usage.clear_local()
    usage._buffer.flushed_at = 1_000.0
    usage._warn.last = float("-inf")
    yield
    usage.clear_local()


def set_policy(organization: Organization, **policy) -> None:
    Organization.objects.filter(pk=organization.pk).update(key_policy=policy)


# --- Notices ---------------------------------------------------------------------------------


def test_no_stale_notice_for_a_key_the_organization_revoked_there(
    clock, api_key_factory, org_factory, user_factory
):
    # An owner or admin revoked an unpinned key in their organization (revoked_in): it no
    # longer acts there at all. A month later its owner must not be told it "no longer works
    # in the organization" because the organization's staleAfterDays rule stopped it, nor
    # should a KeyNotice be recorded for it there.
    owner = user_factory()
    organization = org_factory(owner=owner, name="Acme")
    set_policy(organization, staleAfterDays=30)
    key, _raw = api_key_factory(user=owner, name="Everywhere")
    api_key_revoke_in_organization(organization_id=organization.pk, key_id=key.pk, actor=owner)
    key.refresh_from_db()
    assert key.revoked_in == [organization.pk]
    mail.outbox.clear()  # its "created" and "revoked in the organization" mails

    now = clock.at(31 * DAY)
    key_maintenance.call()

    assert [m.subject for m in mail.outbox] == []
    assert not KeyNotice.objects.filter(key=key, kind=KeyNotice.Kind.STALE).exists()
    assert notices.due_notices(now) == []


def test_a_notice_whose_mail_failed_is_sent_by_a_later_run(
    clock, worker, api_key_factory, monkeypatch
):
    # The mail server is briefly unreachable when the 1-day notice's mail task runs: the task
    # fails and withdraws its notice, so that once the mail server is back a later run sends
    # it, and the key does not expire without its last warning.
    key, _raw = api_key_factory(expires_in=10 * 86400)
    worker()  # its "created" mail
    mail.outbox.clear()
    clock.at(9 * DAY + HOUR)

    sent = tasks.account_email_send

    def unreachable(**kwargs) -> None:
        raise EmailNotSent(kwargs["template"])

    monkeypatch.setattr(tasks, "account_email_send", unreachable)
    key_maintenance.enqueue()
    worker()  # the notice recorded, its mail task fails
    assert mail.outbox == []

    monkeypatch.setattr(tasks, "account_email_send", sent)  # the mail server is back
    clock.at(9 * DAY + 2 * HOUR)
    key_maintenance.enqueue()
    worker()

    assert [m.subject.startswith(EXPIRING) for m in mail.outbox] == [True]
    assert mail.outbox[0].to == [key.user.email]


def test_a_stale_notice_withdrawn_before_its_mail_does_not_block_the_next_one(
    clock, worker, api_key_factory, org_factory, user_factory, key_client
):
    # An unpinned key goes stale in an organization (staleAfterDays 30): the maintenance run
    # records the notice and queues its mail; before the worker sends it, the key is used
    # elsewhere (/api/user/me, which the organization's policy does not govern), so the mail
    # task finds the notice no longer holds and sends nothing, and withdraws it: when the key
    # really goes stale there again a month later, the owner is told.
    owner = user_factory()
    organization = org_factory(owner=owner)
    set_policy(organization, staleAfterDays=30)
    _key, raw = api_key_factory(user=owner, name="Everywhere")
    worker()
    mail.outbox.clear()

    clock.at(31 * DAY)
    assert notices.send_due_notices(timezone.now()) == 1  # recorded, its mail queued
    assert key_client(raw).get(ME).status_code == 200  # used again before the mail goes
    worker()
    assert mail.outbox == []  # no longer holds: not sent

    clock.at(62 * DAY + HOUR)  # unused for 31 days since: stale again
    key_maintenance.enqueue()
    worker()

    assert [m.subject for m in mail.outbox] == [STALE]


# --- Request path ----------------------------------------------------------------------------


def test_a_stale_key_is_not_revived_by_being_rate_limited(
    settings, api_key_factory, org_factory, user_factory, key_client, one_ratelimit_window
):
    # A key pinned to an organization whose policy stops keys unused for 30 days, unused for
    # 31: every request is refused (403 KEY_POLICY_VIOLATION staleAfterDays). Once the key's
    # rate limit is spent, the refusal is answered 429 instead: that is no use of the key
    # either, or whoever holds a stale (e.g. leaked) key could revive it by sending requests
    # until one is rate limited.
    owner = user_factory()
    organization = org_factory(owner=owner)
    key, raw = api_key_factory(user=owner, organization=organization)
    set_policy(organization, staleAfterDays=30)
    idle_since = timezone.now() - 31 * DAY
    ApiKey.objects.filter(pk=key.pk).update(last_used_at=idle_since)
    set_rates(settings, KEY="1/min")
    client = key_client(raw)

    refused = client.get(ME)
    assert refused.status_code == 403
    assert refused.json()["rule"] == "staleAfterDays"
    assert client.get(ME).status_code == 429  # the same refusal, over the rate limit

    cache.clear()  # the next minute: the rate limit spent no more
    assert client.get(ME).status_code == 403  # still stale
    key.refresh_from_db()
    assert key.last_used_at == idle_since  # a refused request is no use of the key


# --- Usage -----------------------------------------------------------------------------------


def test_a_scoped_ipv6_client_address_loses_no_counts(usage_clock, api_key_factory, key_client):
    # A client reaching the server over IPv6 link-local arrives with a zone id in REMOTE_ADDR
    # ("fe80::1%eth0"). PostgreSQL's inet refuses a zone id, which would fail the whole
    # batch's transaction and lose every key's counts in it (here another key's too): the
    # address kept is one the field can store (without its zone), and no count is lost.
    scoped, scoped_raw = api_key_factory(last_used_at=timezone.now())
    other, other_raw = api_key_factory(last_used_at=timezone.now())
    assert key_client(scoped_raw).get(ME, REMOTE_ADDR="fe80::1%eth0").status_code == 200
    assert key_client(other_raw).get(ME, REMOTE_ADDR="192.0.2.1").status_code == 200

    usage.flush()
    usage.fold()

    counted = dict(KeyUsageDay.objects.values_list("key_id", "requests"))
    assert counted == {scoped.pk: 1, other.pk: 1}
    scoped.refresh_from_db()
    other.refresh_from_db()
    assert other.last_used_ip == "192.0.2.1"
    assert scoped.last_used_ip in (None, "fe80::1")


def test_no_stale_notice_about_an_organization_the_owner_has_left(
    clock, api_key_factory, org_factory, member_factory, user_factory, key_client
):
    # A member's key pinned to the organization outlives their membership (membership_remove
    # keeps it). Once they are out, the organization's policy no longer governs the key: the
    # tenancy gate does not hold it to the policy (pinned_organization_plan gives up on
    # NotOrganizationMember) and it keeps working outside tenant routes. Mailing the former
    # member that it "no longer works at all" because of that organization's staleAfterDays
    # rule would be false, and would tell a non-member the organization's current policy.
    from tenants.models import Membership
    from tenants.services import membership_remove

    organization = org_factory(name="Former employer")
    former = member_factory(organization, user=user_factory())
    key, raw = api_key_factory(user=former, organization=organization, name="Old job")
    membership_remove(membership=Membership.objects.get(user=former, organization=organization))
    set_policy(organization, staleAfterDays=30)  # set after they left
    mail.outbox.clear()

    clock.at(31 * DAY)
    key_maintenance.call()
    stale_mails = [m for m in mail.outbox if m.subject == STALE]

    assert key_client(raw).get(ME).status_code == 200  # the key still works: not stopped
    assert stale_mails == []
    assert not KeyNotice.objects.filter(key=key, kind=KeyNotice.Kind.STALE).exists()


def test_the_scheduler_survives_a_lost_database_connection(worker, monkeypatch):
    # run_scheduler is a long-lived loop. When its database connection is dropped between two
    # runs (a PostgreSQL restart or failover, an idle timeout, a proxy recycling connections),
    # the next round opens another, as db_worker does: otherwise the scheduler would exit, and
    # no usage would be folded nor notice sent until someone restarted it.
    import psycopg
    from django.db import connection

    from apikeys.management.commands import run_scheduler

    if connection.vendor != "postgresql":
        pytest.skip("drops the server-side connection: PostgreSQL only")
    sleeps: list[float] = []

    def sleep(seconds: float) -> None:
        sleeps.append(seconds)
        if len(sleeps) == 2:
            raise KeyboardInterrupt
        worker()  # the queued run is taken, so the next tick queues another
        params = connection.get_connection_params()
        params.pop("cursor_factory", None)
        params.pop("context", None)
        with psycopg.connect(**params, autocommit=True) as other:
            other.execute(
                "SELECT pg_terminate_backend(%s)", [connection.connection.info.backend_pid]
            )

    monkeypatch.setattr(run_scheduler, "sleep", sleep)
    try:
        call_command("run_scheduler", stdout=io.StringIO())
    finally:
        connection.close()

    assert len(sleeps) == 2  # it kept going after the connection was lost
