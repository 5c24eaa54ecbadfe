"""Keys of accounts deactivated before deactivation revoked them are revoked now, so that
reactivating such an account never brings its keys back."""

from django.db import migrations
from django.utils import timezone


def revoke_keys_of_inactive_users(apps, schema_editor):
    ApiKey = apps.get_model("apikeys", "ApiKey")
    ApiKey.objects.filter(revoked_at__isnull=True, user__is_active=False).update(
        revoked_at=timezone.now()
    )


class Migration(migrations.Migration):
    dependencies = [
        ("apikeys", "0001_initial"),
        ("accounts", "0001_initial"),
    ]

    operations = [
        migrations.RunPython(revoke_keys_of_inactive_users, migrations.RunPython.noop),
    ]
