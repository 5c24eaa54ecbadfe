from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _

from access.scopes import Scope, register


class AuditConfig(AppConfig):
    name = "audit"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from tenants.models import Role

        register(
            Scope(
                "audit:read",
                _("Read audit events: your own, and your organizations' as owner or admin."),
                roles=frozenset({Role.OWNER, Role.ADMIN}),
            ),
        )
