from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _

from access.scopes import Scope, register


class NotesConfig(AppConfig):
    name = "notes"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from tenants.models import Role

        every_role = frozenset(Role.values)
        register(
            Scope("notes:read", _("List and read the organization's notes."), roles=every_role),
            Scope("notes:write", _("Create, edit and delete notes."), roles=every_role),
        )
