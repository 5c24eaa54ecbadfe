from django.apps import AppConfig


class OAuthConfig(AppConfig):
    name = "oauth"
    label = "oauth"
    verbose_name = "OAuth"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from oauth import (  # noqa: F401 - connect their receivers
            cimd,  # a CIMD client's first registration is audited
            signals,  # memberships ending, and the warm-key cache
        )
