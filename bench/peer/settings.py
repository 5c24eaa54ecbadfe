"""Settings of the peer project: production-shaped, the least an API of this kind runs.

Read by the peer's own virtualenv (bench/.peer-venv), which has Django, DRF,
djangorestframework-api-key, django-rest-knox and psycopg but not Latchkey's dependencies,
so the environment is read with the standard library. bench/compare.sh sets DATABASE_URL and
SECRET_KEY.
"""

from __future__ import annotations

import os
from urllib.parse import unquote, urlsplit

from django.core.exceptions import ImproperlyConfigured


def _required(name: str) -> str:
    value = os.environ.get(name, "")
    if not value:
        raise ImproperlyConfigured(f"{name} is required (bench/compare.sh sets it)")
    return value


def _database(url: str) -> dict:
    """A postgres://user[:password]@host[:port]/name URL as a DATABASES entry."""
    parts = urlsplit(url)
    if parts.scheme not in {"postgres", "postgresql"} or not parts.path.strip("/"):
        raise ImproperlyConfigured("DATABASE_URL must be postgres://user@host:port/name")
    return {
        "ENGINE": "django.db.backends.postgresql",
        "NAME": unquote(parts.path.strip("/")),
        "USER": unquote(parts.username or ""),
        "PASSWORD": unquote(parts.password or ""),
        "HOST": parts.hostname or "",
        "PORT": str(parts.port or ""),
        # As Latchkey's bench server: persistent connections with the per-request health check.
        "CONN_MAX_AGE": 60,
        "CONN_HEALTH_CHECKS": True,
    }


SECRET_KEY = _required("SECRET_KEY")
DEBUG = False
ALLOWED_HOSTS = ["127.0.0.1"]

INSTALLED_APPS = [
    "django.contrib.contenttypes",
    "django.contrib.auth",  # knox's tokens belong to users
    "rest_framework",
    "rest_framework_api_key",
    "knox",
    "bench.peer.items",
]

# A JSON API authenticated by headers needs no session, CSRF, message or frame middleware.
MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "django.middleware.common.CommonMiddleware",
]

ROOT_URLCONF = "bench.peer.urls"
WSGI_APPLICATION = "bench.peer.wsgi.application"
DATABASES = {"default": _database(_required("DATABASE_URL"))}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
USE_TZ = True
TIME_ZONE = "UTC"

# Each view names its own authentication and permission; JSON in and out only.
REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.AllowAny"],
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    "DEFAULT_PARSER_CLASSES": ["rest_framework.parsers.JSONParser"],
}
