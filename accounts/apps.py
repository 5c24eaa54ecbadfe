from django.apps import AppConfig
from django.contrib.admin import apps as admin_apps


class AccountsConfig(AppConfig):
    name = "accounts"
    default_auto_field = "django.db.models.BigAutoField"


class AdminConfig(admin_apps.AdminConfig):
    """Django's admin, on a site whose sign-in is the product's own (accounts/admin_site.py)."""

    default = False
    default_site = "accounts.admin_site.AdminSite"
