from django.apps import AppConfig
from django.contrib.admin import apps as admin_apps
from django.utils.translation import gettext_lazy as _

from access.scopes import Scope, register


class AccountsConfig(AppConfig):
    name = "accounts"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        # The caller's own profile: no organization route asks for these, so no role holds them.
        register(
            Scope("user:read", _("Read your profile and list your organizations.")),
            Scope("user:write", _("Update your profile.")),
        )


class AdminConfig(admin_apps.AdminConfig):
    """Django's admin, on a site whose sign-in is the product's own (accounts/admin_site.py)."""

    default = False
    default_site = "accounts.admin_site.AdminSite"
