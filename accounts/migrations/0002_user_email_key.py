"""Identify users by the canonical key of their email (accounts/identity.py), not LOWER(email)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from django.db import migrations, models

from accounts.identity import canonical_email

BATCH_SIZE = 1000


def email_keys(rows: Iterable[tuple[str, str]]) -> dict[str, str]:
    """Map each (user id, email) row to the email's canonical key.

    Raises RuntimeError, naming the users, if two rows have the same key: LOWER(email) could
    tell apart addresses that the key calls one (Straße and STRASSE), and the unique key
    cannot be added until one of each such pair is changed or merged by an operator.
    """
    keys: dict[str, str] = {}
    owners: dict[str, list[str]] = {}
    for pk, email in rows:
        key = canonical_email(email)
        keys[pk] = key
        owners.setdefault(key, []).append(pk)
    clashes = sorted(sorted(pks) for pks in owners.values() if len(pks) > 1)
    if clashes:
        groups = "; ".join(", ".join(pks) for pks in clashes)
        raise RuntimeError(
            "Cannot make email addresses unique by their canonical key: these users' "
            f"addresses are one address spelt differently (user ids, per address: {groups}). "
            "Change the address of all but one user in each group, or merge those accounts, "
            "then run migrate again."
        )
    return keys


def fill_email_keys(apps: Any, schema_editor: Any) -> None:
    """Give every existing user the key of their email."""
    User = apps.get_model("accounts", "User")
    users = User.objects.using(schema_editor.connection.alias)
    keys = email_keys(users.values_list("pk", "email").iterator())
    users.bulk_update(
        (User(pk=pk, email_key=key) for pk, key in keys.items()),
        ["email_key"],
        batch_size=BATCH_SIZE,
    )


class Migration(migrations.Migration):
    dependencies = [
        ("accounts", "0001_initial"),
    ]

    operations = [
        migrations.AddField(
            model_name="user",
            name="email_key",
            field=models.TextField(
                editable=False, null=True, verbose_name="canonical email address"
            ),
        ),
        # Backwards, the column is dropped by the reversed AddField: nothing to undo here.
        migrations.RunPython(fill_email_keys, migrations.RunPython.noop),
        migrations.AlterField(
            model_name="user",
            name="email_key",
            field=models.TextField(editable=False, verbose_name="canonical email address"),
        ),
        migrations.AddConstraint(
            model_name="user",
            constraint=models.UniqueConstraint(
                fields=["email_key"], name="accounts_user_email_key_unique"
            ),
        ),
        migrations.RemoveConstraint(
            model_name="user",
            name="accounts_user_email_ci_unique",
        ),
    ]
