from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _

from access.scopes import Scope, register


class TenantsConfig(AppConfig):
    name = "tenants"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from tenants.models import Role

        every_role = frozenset(Role.values)
        admins = frozenset({Role.OWNER, Role.ADMIN})
        register(
            Scope("organizations:read", _("Read organization details."), roles=every_role),
            Scope(
                "organizations:write",
                _("Create organizations and change their settings."),
                roles=admins,
            ),
            Scope(
                "members:read", _("List organization members and their roles."), roles=every_role
            ),
            Scope(
                "members:write",
                _("Change members' roles and remove members."),
                roles=admins,
                administrative=True,
            ),
            Scope("projects:read", _("List and retrieve projects."), roles=every_role),
            Scope("projects:write", _("Create, update and delete projects."), roles=every_role),
            Scope(
                "subscription:read",
                _("Read the organization's plan and its rate limits."),
                roles=every_role,
            ),
        )
