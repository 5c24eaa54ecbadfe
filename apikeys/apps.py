from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _

from access.scopes import Scope, register


class ApiKeysConfig(AppConfig):
    name = "apikeys"
    verbose_name = "API keys"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from apikeys import warm_cache  # noqa: F401 - connects the cache's signal receivers
        from tenants.models import Role

        # Listed before the organization's plan, where the catalogue has always shown them.
        register(
            Scope("api-keys:read", _("List your API keys."), roles=frozenset(Role.values)),
            Scope("api-keys:write", _("Create, rename and revoke API keys."), administrative=True),
            before="subscription",
        )
