"""Expiry and staleness notices: queued by the scheduler, run by the database task worker in
this process while the clock moves forward; each sent once, however many runs look for it."""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import UTC, timedelta
from typing import Any

import pytest
from django.core import mail
from django.core.management import call_command
from django.utils import timezone
from django_tasks_db.models import DBTaskResult

from apikeys import notices
from apikeys.management.commands import run_scheduler
from apikeys.models import ApiKey, KeyNotice
from apikeys.services import api_key_revoke
from apikeys.tasks import key_maintenance
from audit.models import Action, AuditEvent
from tenants.models import Organization

# The worker commits each task as it would in production.
pytestmark = pytest.mark.django_db(transaction=True)

DAY = timedelta(days=1)
HOUR = timedelta(hours=1)
RAW_KEY = re.compile(r"ba_[0-9A-Za-z]{46}")
EXPIRING = "An API key of your Latchkey account expires on "
STALE = "An API key of your Latchkey account stopped working in an organization"
KIND = KeyNotice.Kind


@pytest.fixture
def scheduled(worker) -> Callable[[], None]:
    """One tick of the schedule: `run_scheduler --once` queues the maintenance, and the
    worker runs it and the mails it queues."""

    def tick() -> None:
        call_command("run_scheduler", "--once", stdout=_Null())
        worker()

    return tick


class _Null:
    def write(self, text: str) -> None:
        pass

    def flush(self) -> None:
        pass


def settled(worker: Callable[[], None]) -> None:
    """Send what setting up queued (each key's "created" mail), and forget it."""
    worker()
    mail.outbox.clear()


def set_policy(organization: Organization, **policy: Any) -> None:
    Organization.objects.filter(pk=organization.pk).update(key_policy=policy)


def recorded() -> set[tuple[str, str, str]]:
    return set(KeyNotice.objects.values_list("key_id", "kind", "organization_id"))


def subjects() -> list[str]:
    return [message.subject for message in mail.outbox]


def assert_names_the_key_safely(message: mail.EmailMessage, key: ApiKey, raw: str) -> None:
    key.refresh_from_db()
    assert message.to == [key.user.email]
    assert f"Name:  {key.name}\n" in message.body
    assert f"Start: {key.start}…" in message.body
    assert f"Id:    {key.pk}" in message.body
    assert f"/settings/api-keys/{key.pk}" in message.body
    text = message.subject + message.body
    assert raw not in text and not RAW_KEY.search(text)
    assert key.lookup not in text
    assert key.digest.split("$")[-1] not in text


def test_expiry_notices_go_out_7_days_then_1_day_before_once_each(
    clock, worker, scheduled, api_key_factory
):
    key, raw = api_key_factory(name="Deploy bot", expires_in=10 * 86400)
    expires = key.expires_at.astimezone(UTC)
    settled(worker)

    scheduled()  # ten days ahead: nothing yet
    clock.at(3 * DAY - HOUR)
    scheduled()
    assert mail.outbox == []

    clock.at(3 * DAY + HOUR)
    scheduled()
    scheduled()  # the next tick finds it sent
    assert subjects() == [f"{EXPIRING}{expires:%-d %B %Y}"]
    week = mail.outbox[0]
    assert_names_the_key_safely(week, key, raw)
    assert f"expires on {expires:%-d %B %Y, %H:%M} UTC:" in week.body
    assert "remind you once more the day before" in week.body

    clock.at(9 * DAY + HOUR)
    scheduled()
    scheduled()
    assert len(mail.outbox) == 2
    day = mail.outbox[1]
    assert_names_the_key_safely(day, key, raw)
    assert f"expires on {expires:%-d %B %Y, %H:%M} UTC, within a day:" in day.body
    assert "remind you" not in day.body

    clock.at(10 * DAY + HOUR)
    scheduled()
    assert len(mail.outbox) == 2  # expired: nothing more
    assert recorded() == {
        (key.pk, KIND.EXPIRES_IN_7_DAYS, ""),
        (key.pk, KIND.EXPIRES_IN_1_DAY, ""),
    }
    events = AuditEvent.objects.filter(action=Action.KEY_NOTICE_SENT).order_by("created_at")
    assert [(e.target_id, e.actor_id, e.detail) for e in events] == [
        (key.pk, key.user.pk, {"kind": KIND.EXPIRES_IN_7_DAYS}),
        (key.pk, key.user.pk, {"kind": KIND.EXPIRES_IN_1_DAY}),
    ]


# (the key's lifetime, when the schedule first looks, after its creation; the notices due)
EXPIRY_TABLE = [
    pytest.param(10 * DAY, 2 * DAY, [], id="ten-days-out"),
    pytest.param(10 * DAY, 3 * DAY + HOUR, [KIND.EXPIRES_IN_7_DAYS], id="within-7-days"),
    pytest.param(10 * DAY, 9 * DAY + HOUR, [KIND.EXPIRES_IN_1_DAY], id="7-day-missed-1-day-only"),
    pytest.param(3 * DAY, HOUR, [], id="made-to-live-3-days-no-7-day-notice"),
    pytest.param(3 * DAY, 2 * DAY + HOUR, [KIND.EXPIRES_IN_1_DAY], id="made-to-live-3-days"),
    pytest.param(12 * HOUR, 6 * HOUR, [], id="made-to-live-12-hours"),
    pytest.param(10 * DAY, 10 * DAY + HOUR, [], id="expired"),
]


@pytest.mark.parametrize(("lifetime", "elapsed", "due"), EXPIRY_TABLE)
def test_which_expiry_notice_is_due(clock, api_key_factory, lifetime, elapsed, due):
    key, _raw = api_key_factory(expires_in=int(lifetime.total_seconds()))

    found = notices.due_notices(clock.at(elapsed))

    assert found == [notices.Notice(key_id=key.pk, kind=kind) for kind in due]


def test_revoked_and_expired_keys_get_nothing(
    clock, worker, scheduled, api_key_factory, org_factory, user_factory
):
    owner = user_factory()
    organization = org_factory(owner=owner)
    set_policy(organization, staleAfterDays=30)
    api_key_factory(user=owner, expires_in=10 * 86400, revoked=True)
    expired, _ = api_key_factory(user=owner, expires_in=10 * 86400)
    # Made to live two days: both past by the first look.
    ApiKey.objects.filter(pk=expired.pk).update(expires_at=clock.start + 2 * DAY)
    settled(worker)

    for offset in (4 * DAY + HOUR, 9 * DAY + HOUR, 40 * DAY):
        clock.at(offset)
        scheduled()

    assert mail.outbox == []
    assert recorded() == set()


def test_stale_notices_go_out_once_per_organization_the_key_acts_in(
    clock, worker, scheduled, api_key_factory, org_factory, member_factory, user_factory
):
    owner = user_factory()
    monthly, quarterly, relaxed = (
        org_factory(owner=owner, name=name) for name in ("Monthly", "Quarterly", "Relaxed")
    )
    set_policy(monthly, staleAfterDays=30)
    set_policy(quarterly, staleAfterDays=90, requireExpiry=False)
    unpinned, raw = api_key_factory(user=owner, name="Everywhere")
    pinned, _ = api_key_factory(user=owner, name="Quarterly only", organization=quarterly)
    elsewhere, _ = api_key_factory(user=owner, name="Relaxed only", organization=relaxed)
    outsider_key, _ = api_key_factory(name="Not a member")  # its owner belongs to none of them
    member_factory(monthly)  # another member, with no key
    settled(worker)

    clock.at(30 * DAY - HOUR)
    scheduled()
    assert mail.outbox == []

    clock.at(30 * DAY + HOUR)
    scheduled()
    scheduled()
    assert recorded() == {(unpinned.pk, KIND.STALE, monthly.pk)}
    assert subjects() == [STALE]
    message = mail.outbox[0]
    assert_names_the_key_safely(message, unpinned, raw)
    assert f"the organization\n“Monthly” ({monthly.pk}):" in message.body
    assert "unused for 30 days" in message.body
    assert "has not been used since it was created on" in message.body
    assert "elsewhere it works as before" in message.body

    clock.at(90 * DAY + HOUR)
    scheduled()
    assert recorded() == {
        (unpinned.pk, KIND.STALE, monthly.pk),
        (unpinned.pk, KIND.STALE, quarterly.pk),
        (pinned.pk, KIND.STALE, quarterly.pk),
    }
    assert len(mail.outbox) == 3
    pinned_mail = next(m for m in mail.outbox if f"Id:    {pinned.pk}" in m.body)
    assert "unused for 90 days" in pinned_mail.body
    assert "as it is pinned\nthere, it no longer works at all" in pinned_mail.body
    assert not {elsewhere.pk, outsider_key.pk} & {key_id for key_id, _, _ in recorded()}
    events = AuditEvent.objects.filter(action=Action.KEY_NOTICE_SENT)
    assert sorted((e.target_id, e.organization_id) for e in events) == sorted(
        [(unpinned.pk, monthly.pk), (unpinned.pk, quarterly.pk), (pinned.pk, quarterly.pk)]
    )


def test_a_key_used_within_the_policy_is_not_stale(
    clock, worker, scheduled, api_key_factory, org_factory, user_factory
):
    owner = user_factory()
    set_policy(org_factory(owner=owner), staleAfterDays=30)
    api_key_factory(user=owner, last_used_at=clock.start + 20 * DAY)
    settled(worker)

    clock.at(45 * DAY)
    scheduled()

    assert mail.outbox == []
    assert recorded() == set()


def test_runs_that_looked_at_the_same_time_send_each_notice_once(clock, worker, api_key_factory):
    keys = [api_key_factory(expires_in=10 * 86400)[0] for _ in range(3)]
    settled(worker)
    now = clock.at(3 * DAY + HOUR)

    # Two workers each find the same notices due before either records any.
    first, second = notices.due_notices(now), notices.due_notices(now)
    assert first == second and len(first) == 3
    assert notices.notices_send(first) == 3
    assert notices.notices_send(second) == 0
    worker()

    assert sorted(message.to[0] for message in mail.outbox) == sorted(k.user.email for k in keys)
    assert KeyNotice.objects.count() == 3


def test_maintenance_queued_twice_sends_each_notice_once(clock, worker, api_key_factory):
    api_key_factory(expires_in=10 * 86400)
    settled(worker)
    clock.at(3 * DAY + HOUR)

    key_maintenance.enqueue()
    key_maintenance.enqueue()  # as two schedulers would
    worker()

    assert len(mail.outbox) == 1
    assert DBTaskResult.objects.filter(task_path=key_maintenance.module_path).count() == 2


def test_a_key_revoked_before_its_mail_goes_gets_no_mail(clock, worker, api_key_factory):
    key, _raw = api_key_factory(expires_in=10 * 86400)
    clock.at(3 * DAY + HOUR)
    key_maintenance.enqueue()
    settled(worker)  # its "created" mail and 7-day notice
    clock.at(9 * DAY + HOUR)
    assert notices.send_due_notices(timezone.now()) == 1  # recorded, its mail queued

    api_key_revoke(key=key, revoked_by=key.user)
    worker()

    assert mail.outbox == []
    assert (key.pk, KIND.EXPIRES_IN_1_DAY, "") in recorded()
    assert not AuditEvent.objects.filter(
        action=Action.KEY_NOTICE_SENT, detail__kind=KIND.EXPIRES_IN_1_DAY
    ).exists()


def test_an_unverified_owner_reads_no_name_chosen_by_anyone(
    clock, worker, scheduled, api_key_factory, org_factory, user_factory
):
    owner = user_factory(verified=False)
    organization = org_factory(owner=owner, name="Click here to win")
    set_policy(organization, staleAfterDays=30)
    key, _raw = api_key_factory(user=owner, name="Urgent: verify at evil.example")
    settled(worker)

    clock.at(31 * DAY)
    scheduled()

    (message,) = mail.outbox
    assert "evil.example" not in message.body and "Name:" not in message.body
    assert "Click here" not in message.body
    assert f"the organization\n{organization.pk}:" in message.body
    assert f"Id:    {key.pk}" in message.body


def test_finding_the_notices_due_costs_the_same_for_one_key_or_many(
    clock, api_key_factory, org_factory, user_factory, django_assert_num_queries
):
    owner = user_factory()
    for days in (30, 90):
        set_policy(org_factory(owner=owner), staleAfterDays=days)
    api_key_factory(user=owner, expires_in=100 * 86400)
    now = clock.at(95 * DAY)
    # 1-2. the keys due an expiry notice, per kind; 3. the organizations with a staleAfterDays
    # rule; 4-11. per number of days among them, the stale keys pinned to one, then unpinned,
    # each in two parts: keys revoked in no organization, and the others.
    with django_assert_num_queries(11):
        assert len(notices.due_notices(now)) == 3

    clock.at(timedelta(0))
    for _ in range(10):
        api_key_factory(user=owner, expires_in=100 * 86400)
    now = clock.at(95 * DAY)
    with django_assert_num_queries(11):
        assert len(notices.due_notices(now)) == 3 * 11


class Sleeps(list):
    """run_scheduler's sleep: records each wait, and stops the loop (as Ctrl-C would) at the
    `stop_at`-th."""

    def __init__(self, stop_at: int) -> None:
        super().__init__()
        self.stop_at = stop_at

    def __call__(self, seconds: float) -> None:
        self.append(seconds)
        if len(self) == self.stop_at:
            raise KeyboardInterrupt


def test_the_scheduler_queues_the_maintenance_once_while_one_waits(worker, capsys, monkeypatch):
    sleeps = Sleeps(stop_at=2)
    monkeypatch.setattr(run_scheduler, "sleep", sleeps)

    call_command("run_scheduler")

    output = capsys.readouterr().out
    assert "every 300 seconds" in output
    assert output.count("Queued key maintenance") == 1
    assert output.count("already waiting") == 1
    assert sleeps == [300, 300]
    assert DBTaskResult.objects.filter(task_path=key_maintenance.module_path).count() == 1

    worker()
    call_command("run_scheduler", "--once")
    assert DBTaskResult.objects.filter(task_path=key_maintenance.module_path).count() == 2


def test_the_interval_is_a_setting(settings, worker, capsys, monkeypatch):
    settings.APIKEYS = {**settings.APIKEYS, "MAINTENANCE_INTERVAL": 60}
    sleeps = Sleeps(stop_at=1)
    monkeypatch.setattr(run_scheduler, "sleep", sleeps)

    call_command("run_scheduler")

    assert "every 60 seconds" in capsys.readouterr().out
    assert sleeps == [60]


def test_the_maintenance_command_runs_the_work_in_process(clock, api_key_factory, capsys):
    # The test settings send mail in-process, as TASKS_BACKEND=immediate does.
    api_key_factory(expires_in=10 * 86400)
    mail.outbox.clear()  # its "created" mail
    clock.at(3 * DAY + HOUR)

    call_command("key_maintenance")
    call_command("key_maintenance")

    assert len(mail.outbox) == 1
    assert capsys.readouterr().out.splitlines() == [
        "Folded in 0 key requests; queued 1 notice.",
        "Folded in 0 key requests; queued 0 notices.",
    ]


def test_the_notices_go_out_while_the_cache_is_down(settings, clock, api_key_factory, capsys):
    api_key_factory(expires_in=10 * 86400)
    mail.outbox.clear()
    settings.CACHES = {
        "default": {"BACKEND": "lib.cache.RedisCache", "LOCATION": "redis://127.0.0.1:1/0"}
    }
    clock.at(3 * DAY + HOUR)

    call_command("key_maintenance")  # no usage to fold: the notices are sent all the same

    assert len(mail.outbox) == 1
    assert "queued 1 notice." in capsys.readouterr().out
