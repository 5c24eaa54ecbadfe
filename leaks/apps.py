from django.apps import AppConfig


class LeaksConfig(AppConfig):
    """Leaked keys: public reports and the secret-scanning partner endpoint. No models."""

    name = "leaks"
    verbose_name = "Leaked keys"
