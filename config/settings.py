"""Latchkey settings: the environment is read here, once, with django-environ."""

from __future__ import annotations

import importlib.metadata
import json
import re
from pathlib import Path

import environ
from django.core.exceptions import ImproperlyConfigured

BASE_DIR = Path(__file__).resolve().parent.parent

env = environ.Env()
if (BASE_DIR / ".env").is_file():
    env.read_env(BASE_DIR / ".env")


def _int(name: str, default: int, *, minimum: int = 0) -> int:
    """Read an integer variable, failing at start with the variable's name. Empty is unset."""
    raw = env.str(name, default="").strip()
    try:
        value = int(raw) if raw else default
    except ValueError as exc:
        raise ImproperlyConfigured(f"{name} must be an integer.") from exc
    if value < minimum:
        raise ImproperlyConfigured(f"{name} must be at least {minimum}.")
    return value


def _bool(name: str, default: bool) -> bool:
    raw = env.str(name, default="").strip().lower()
    if raw == "":
        return default
    if raw in {"1", "true", "yes", "on"}:
        return True
    if raw in {"0", "false", "no", "off"}:
        return False
    raise ImproperlyConfigured(f"{name} must be true or false, not {raw!r}.")


# --- Core ---------------------------------------------------------------------------------

# Development is the default so `make run` needs no environment; production sets DEBUG=false,
# and then a real SECRET_KEY is mandatory.
DEBUG = _bool("DEBUG", True)

_DEVELOPMENT_SECRET_KEY = "django-insecure-latchkey-development-only-do-not-deploy"  # noqa: S105
SECRET_KEY = env.str("SECRET_KEY", default="") or _DEVELOPMENT_SECRET_KEY
if not DEBUG and (
    SECRET_KEY == _DEVELOPMENT_SECRET_KEY or len(SECRET_KEY) < 50 or len(set(SECRET_KEY)) < 5
):
    raise ImproperlyConfigured(
        "SECRET_KEY must be a random value of 50+ characters (5+ distinct) when DEBUG is false. "
        'Generate one with: python -c "import secrets; print(secrets.token_urlsafe(50))"'
    )

ALLOWED_HOSTS = [host for host in env.list("ALLOWED_HOSTS", default=[]) if host]

# Origins (scheme://host[:port]) allowed to make cross-origin writes: the API's cross-origin
# protection and Django's CSRF check for HTML forms both read this list.
TRUSTED_ORIGINS = [origin for origin in env.list("TRUSTED_ORIGINS", default=[]) if origin]
for _origin in TRUSTED_ORIGINS:
    if "://" not in _origin:
        raise ImproperlyConfigured(
            f"TRUSTED_ORIGINS entries need a scheme, e.g. https://{_origin} (got {_origin!r})."
        )
CSRF_TRUSTED_ORIGINS = TRUSTED_ORIGINS

INSTALLED_APPS = [
    "accounts.apps.AdminConfig",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django.contrib.humanize",
    "rest_framework",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "csp",
    "django_tasks",
    "django_tasks_db",
    "oauth2_provider",
    "accounts",
    "tenants",
    "apikeys",
    "leaks",
    "audit",
    "oauth",
    "mcpserver",
    "dashboard",
]

MIDDLEWARE = [
    "lib.requestid.RequestIdMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "api.middleware.ContentSecurityPolicyMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "api.middleware.ApiRequestGuardMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "accounts.middleware.SessionTimeoutMiddleware",
    "accounts.devices.KnownDeviceMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "config.urls"
WSGI_APPLICATION = "config.wsgi.application"
ASGI_APPLICATION = "config.asgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

# --- Data -----------------------------------------------------------------------------------

DATABASES = {
    "default": env.db_url("DATABASE_URL", default=f"sqlite:///{BASE_DIR / 'db.sqlite3'}"),
}
DATABASES["default"]["CONN_MAX_AGE"] = _int("CONN_MAX_AGE", 0)
DATABASES["default"]["CONN_HEALTH_CHECKS"] = DATABASES["default"]["CONN_MAX_AGE"] > 0
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# The local-memory cache serves a single process; CACHE_URL=redis://... shares the cache
# between workers (Django's built-in RedisCache).
CACHES = {"default": env.cache_url("CACHE_URL", default="locmemcache://latchkey")}
if CACHES["default"]["BACKEND"] == "django.core.cache.backends.redis.RedisCache":
    CACHES["default"]["BACKEND"] = "lib.cache.RedisCache"
CACHE_CONFIGURED = bool(env.str("CACHE_URL", default=""))

# --- Accounts and sessions ------------------------------------------------------------------

AUTH_USER_MODEL = "accounts.User"

PASSWORD_HASHERS = [
    "django.contrib.auth.hashers.Argon2PasswordHasher",
    "django.contrib.auth.hashers.PBKDF2PasswordHasher",
    "django.contrib.auth.hashers.PBKDF2SHA1PasswordHasher",
    "django.contrib.auth.hashers.ScryptPasswordHasher",
]

AUTH_PASSWORD_VALIDATORS = [
    {
        "NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator",
        "OPTIONS": {"user_attributes": ("email", "full_name")},
    },
    {
        "NAME": "django.contrib.auth.password_validation.MinimumLengthValidator",
        "OPTIONS": {"min_length": _int("PASSWORD_MIN_LENGTH", 10, minimum=8)},
    },
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

ACCOUNTS = {
    # Refuse sign-in (403 EMAIL_NOT_VERIFIED) until the address is verified.
    "REQUIRE_EMAIL_VERIFICATION": _bool("REQUIRE_EMAIL_VERIFICATION", False),
    # Lifetime of an email verification link, in seconds.
    "VERIFY_EMAIL_MAX_AGE": _int("VERIFY_EMAIL_MAX_AGE", 24 * 60 * 60, minimum=60),
    # Lifetime of an invitation to an organization, in seconds (7 days).
    "INVITATION_MAX_AGE": _int("INVITATION_MAX_AGE", 7 * 24 * 60 * 60, minimum=60),
}
# Lifetime of a password reset link, in seconds (Django's token generator reads it). The link
# is also spent once used: its token signs the password hash it replaces.
PASSWORD_RESET_TIMEOUT = _int("PASSWORD_RESET_MAX_AGE", 60 * 60, minimum=60)

# OAuth 2.1 (django-oauth-toolkit): the authorization code grant with S256 PKCE for people, on
# Latchkey's own scopes; every RFC 9700 gate on. docs/oauth.md.
OAUTH2_PROVIDER_APPLICATION_MODEL = "oauth.Application"
OAUTH2_PROVIDER_ACCESS_TOKEN_MODEL = "oauth.AccessToken"  # noqa: S105 - a model name
OAUTH2_PROVIDER_REFRESH_TOKEN_MODEL = "oauth.RefreshToken"  # noqa: S105 - a model name
OAUTH2_PROVIDER_GRANT_MODEL = "oauth.Grant"
OAUTH2_PROVIDER_ID_TOKEN_MODEL = "oauth.IDToken"  # noqa: S105 - a model name
OAUTH2_PROVIDER = {
    "SCOPES_BACKEND_CLASS": "oauth.scopes.CatalogueScopes",
    "OAUTH2_VALIDATOR_CLASS": "oauth.validators.LatchkeyValidator",
    "ACCESS_TOKEN_GENERATOR": "oauth.tokens.access_token",
    "REFRESH_TOKEN_GENERATOR": "oauth.tokens.refresh_token",
    # Filled from the scope catalogue by the backend; DOT insists on the setting being there.
    "SCOPES": {"user:read": "Read your profile."},
    "PKCE_REQUIRED": True,
    "COMPLIANT_BCP_RFC9700_IMPLICIT_GRANT": True,
    "COMPLIANT_BCP_RFC9700_PASSWORD_GRANT": True,
    "COMPLIANT_BCP_RFC9700_PKCE_METHOD": True,
    "COMPLIANT_BCP_RFC9700_ACCESS_TOKEN_TRANSPORT": True,
    "COMPLIANT_BCP_RFC9700_AUTHZ_RESPONSE_ISS": True,
    "COMPLIANT_BCP_RFC9700_TOKEN_STORAGE": True,
    "COMPLIANT_BCP_RFC9700_REFRESH_TOKEN": True,
    "COMPLIANT_BCP_RFC9700_REDIRECT_URI_SCHEME": True,
    "COMPLIANT_BCP_RFC9700_REDIRECT_URI_MATCHING": True,
    "COMPLIANT_BCP_RFC9700_PKCE_REQUIRED": True,
    # At most an hour: a longer OAUTH_ACCESS_TOKEN_TTL is refused at start.
    "ACCESS_TOKEN_EXPIRE_SECONDS": _int("OAUTH_ACCESS_TOKEN_TTL", 3600, minimum=60),
    "AUTHORIZATION_CODE_EXPIRE_SECONDS": 60,
    "REFRESH_TOKEN_EXPIRE_SECONDS": _int("OAUTH_REFRESH_TOKEN_TTL", 30 * 24 * 3600, minimum=3600),
    "ROTATE_REFRESH_TOKEN": True,
    "REFRESH_TOKEN_REUSE_PROTECTION": True,
    # Native apps redirect to a loopback address on a port of the moment (RFC 8252).
    "ALLOW_LOCALHOST_LOOPBACK": True,
    # Every authorization asks: the consent page is where the organization is chosen.
    "REQUEST_APPROVAL_PROMPT": "force",
    "OAUTH2_RESPONSE_TYPES_SUPPORTED": ["code"],
    "OAUTH2_GRANT_TYPES_SUPPORTED": ["authorization_code", "refresh_token"],
    # Dynamic client registration (RFC 7591), open to anyone, public clients only
    # (oauth/registration.py), limited per address by RATELIMIT_OAUTH_REGISTRATION.
    "DCR_ENABLED": True,
    "DCR_REGISTRATION_PERMISSION_CLASSES": ("oauth2_provider.dcr.AllowAllDCRPermission",),
    "OAUTH2_TOKEN_ENDPOINT_AUTH_METHODS_SUPPORTED": [
        "none",
        "client_secret_post",
        "client_secret_basic",
    ],
}

if OAUTH2_PROVIDER["ACCESS_TOKEN_EXPIRE_SECONDS"] > 3600:
    raise ImproperlyConfigured("OAUTH_ACCESS_TOKEN_TTL must be at most 3600 seconds.")

# A browser that signed in to an account gets a signed "known device" cookie naming it; it
# exempts that browser from the account-wide failed sign-in ceiling. Lifetime in seconds.
DEVICE_COOKIE_AGE = _int("DEVICE_COOKIE_AGE", 180 * 24 * 60 * 60, minimum=60)

LOGIN_URL = "dashboard:sign-in"
LOGIN_REDIRECT_URL = "dashboard:home"

# Sessions in the database, each row with its user's id (accounts/sessions.py), so a person's
# sessions can be counted and ended at once.
SESSION_ENGINE = "accounts.sessions"
SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SAMESITE = "Lax"
SESSION_COOKIE_SECURE = not DEBUG
# A session ends SESSION_COOKIE_AGE seconds after sign-in however busy it is, and after
# SESSION_IDLE_TIMEOUT seconds without a request (accounts.middleware).
SESSION_COOKIE_AGE = _int("SESSION_COOKIE_AGE", 14 * 24 * 60 * 60, minimum=60)
SESSION_IDLE_TIMEOUT = _int("SESSION_IDLE_TIMEOUT", 2 * 60 * 60, minimum=60)
CSRF_COOKIE_SECURE = not DEBUG
CSRF_COOKIE_HTTPONLY = True
# Secure cookies take the __Host- prefix: the browser then refuses any such cookie that is not
# Secure, has a Domain or a Path other than /, so a sibling subdomain or a plain-HTTP page
# cannot plant or overwrite the session or CSRF cookie. (Django sets Path=/ and no Domain.)
SESSION_COOKIE_NAME = "__Host-sessionid" if SESSION_COOKIE_SECURE else "sessionid"
CSRF_COOKIE_NAME = "__Host-csrftoken" if CSRF_COOKIE_SECURE else "csrftoken"

# --- API keys -------------------------------------------------------------------------------


def _peppers() -> tuple[str, ...]:
    """APIKEY_PEPPERS (comma-separated, newest first), or the single APIKEY_PEPPER."""
    listed = [value.strip() for value in env.str("APIKEY_PEPPERS", default="").split(",")]
    single = env.str("APIKEY_PEPPER", default="")
    if not any(listed):
        return (single,) if single else ()
    if single:
        raise ImproperlyConfigured("Set APIKEY_PEPPERS or APIKEY_PEPPER, not both.")
    if not all(listed):
        raise ImproperlyConfigured("APIKEY_PEPPERS has an empty entry.")
    if len(set(listed)) != len(listed):
        raise ImproperlyConfigured("APIKEY_PEPPERS lists the same pepper twice.")
    return tuple(listed)


APIKEYS = {
    # Leading characters of every key; secret scanners match on it.
    "PREFIX": env.str("APIKEY_PREFIX", default="ba_"),
    # Bounds for `expiresIn`, in seconds.
    "MIN_EXPIRES_IN": _int("APIKEY_MIN_EXPIRES_IN", 60, minimum=1),
    "MAX_EXPIRES_IN": _int("APIKEY_MAX_EXPIRES_IN", 365 * 24 * 60 * 60, minimum=1),
    # Secrets for the keys' HMAC digests, newest first: new digests are made under the first,
    # and a key still under another moves to the first when next used (docs/security.md,
    # "Rotating the pepper"). The entry SECRET_KEY stands for the pepper derived from
    # SECRET_KEY, the only one when none is set. Removing a pepper (or changing SECRET_KEY,
    # while its pepper is listed) invalidates every key still under it.
    "PEPPERS": _peppers(),
    # lastUsedAt is written at most once per this many seconds per key.
    "LAST_USED_RESOLUTION": 60,
    # Seconds a verified key stays in the warm-key cache; 0 turns it off. On by default only
    # with a shared (Redis) cache, since every worker must see a revocation at once.
    "CACHE_TIMEOUT": _int(
        "APIKEY_CACHE_TIMEOUT",
        60 if env.str("CACHE_URL", default="").startswith(("redis://", "rediss://")) else 0,
    ),
}
if not re.fullmatch(r"[a-z][a-z0-9]{0,9}_", APIKEYS["PREFIX"]):
    raise ImproperlyConfigured(
        "APIKEY_PREFIX must be 2-11 characters: a lowercase letter, letters or digits, then '_'."
    )
if APIKEYS["CACHE_TIMEOUT"] and CACHES["default"]["BACKEND"].endswith("LocMemCache"):
    raise ImproperlyConfigured(
        "APIKEY_CACHE_TIMEOUT needs a cache shared by every worker (CACHE_URL=redis://…): "
        "with a per-process cache a revoked key would keep working in the other workers."
    )
if APIKEYS["MIN_EXPIRES_IN"] > APIKEYS["MAX_EXPIRES_IN"]:
    raise ImproperlyConfigured("APIKEY_MIN_EXPIRES_IN must not exceed APIKEY_MAX_EXPIRES_IN.")

# --- Rate limits ----------------------------------------------------------------------------

from ratelimits.counters import Rate  # noqa: E402 - a leaf module: parses and checks the rates


def _rate(name: str, default: str) -> Rate:
    return Rate.parse(env.str(name, default="") or default, setting=name)


RATELIMITS = {
    "ENABLED": _bool("RATELIMIT_ENABLED", True),
    # Every /api/ request: per client IP when anonymous, per user for a session, per key.
    "ANON": _rate("RATELIMIT_ANON", "120/min"),
    "USER": _rate("RATELIMIT_USER", "600/min"),
    "KEY": _rate("RATELIMIT_KEY", "1200/min"),
    # Tighter policies on sensitive endpoints, on top.
    "SIGNIN": _rate("RATELIMIT_SIGNIN", "30/min"),  # per IP, every attempt
    "SIGNUP": _rate("RATELIMIT_SIGNUP", "10/hour"),  # per IP
    "VERIFY_EMAIL": _rate("RATELIMIT_VERIFY_EMAIL", "10/hour"),  # per IP
    "PASSWORD_RESET": _rate("RATELIMIT_PASSWORD_RESET", "10/hour"),  # per IP
    "KEY_CREATE": _rate("RATELIMIT_KEY_CREATE", "60/hour"),  # per user
    # Leaked-key reports (POST /api/keys/report), per IP; each names up to 100 keys.
    "KEY_REPORT": _rate("RATELIMIT_KEY_REPORT", "10/hour"),
    "ORGANIZATION_CREATE": _rate("RATELIMIT_ORGANIZATION_CREATE", "20/hour"),  # per user
    # Invitations sent or re-sent: per inviter, and per organization whoever sends them.
    "INVITATIONS": _rate("RATELIMIT_INVITATIONS", "20/hour"),
    "INVITATIONS_ORGANIZATION": _rate("RATELIMIT_INVITATIONS_ORGANIZATION", "100/day"),
    # Invitation mails to one address, from every organization: apart from EMAIL_RECIPIENT,
    # so that invitations cannot crowd out a person's reset and verification mails.
    "INVITATION_RECIPIENT": _rate("RATELIMIT_INVITATION_RECIPIENT", "5/day"),
    # OAuth's token and revocation endpoints, per IP: a confidential client's secret is checked
    # with the password hasher, which must not be free to run.
    "OAUTH_TOKEN": _rate("RATELIMIT_OAUTH_TOKEN", "60/min"),
    "OAUTH_REGISTRATION": _rate("RATELIMIT_OAUTH_REGISTRATION", "10/hour"),  # per IP
    "OAUTH_APPLICATION_CREATE": _rate("RATELIMIT_OAUTH_APPLICATION_CREATE", "20/hour"),  # per user
    # Verification and reset mail to one address (its canonical form), whoever asks for it.
    "EMAIL_RECIPIENT": _rate("RATELIMIT_EMAIL_RECIPIENT", "5/hour"),
    # Failed sign-ins only: per (account, client network), per client network, and per
    # account from every network together (a known device is exempt from that last one).
    "SIGNIN_FAILURES_ACCOUNT_IP": _rate("RATELIMIT_SIGNIN_FAILURES_ACCOUNT_IP", "5/5min"),
    "SIGNIN_FAILURES_IP": _rate("RATELIMIT_SIGNIN_FAILURES_IP", "10/min"),
    "SIGNIN_FAILURES_ACCOUNT": _rate("RATELIMIT_SIGNIN_FAILURES_ACCOUNT", "100/hour"),
}
# Plans: each organization has one; it sets the budget of each of its keys and of the
# organization as a whole. RATELIMIT_PLANS (JSON) replaces these, e.g.
# {"free": {"key": "600/min", "organization": "1200/min"}, ...}
_DEFAULT_PLANS = {
    "free": {"key": "600/min", "organization": "1200/min"},
    "pro": {"key": "3000/min", "organization": "10000/min"},
    "enterprise": {"key": "12000/min", "organization": "60000/min"},
}
try:
    _PLANS = json.loads(env.str("RATELIMIT_PLANS", default="") or "null") or _DEFAULT_PLANS
    RATELIMITS["PLANS"] = {
        str(plan): {
            "key": Rate.parse(budgets["key"], setting=f"RATELIMIT_PLANS {plan}.key"),
            "organization": Rate.parse(
                budgets["organization"], setting=f"RATELIMIT_PLANS {plan}.organization"
            ),
        }
        for plan, budgets in _PLANS.items()
    }
except (AttributeError, KeyError, TypeError, ValueError) as exc:
    raise ImproperlyConfigured(
        'RATELIMIT_PLANS must be JSON mapping plan names to {"key": rate, "organization": rate}.'
    ) from exc
if "free" not in RATELIMITS["PLANS"]:
    raise ImproperlyConfigured("RATELIMIT_PLANS needs a 'free' plan: new organizations get it.")
# Proxies in front that append to X-Forwarded-For; 0 trusts no X-Forwarded-For at all.
TRUSTED_PROXY_COUNT = _int("TRUSTED_PROXY_COUNT", 0)

# --- Leaked keys ----------------------------------------------------------------------------

# POST /api/keys/secret-scanning, for GitHub's secret scanning partner program: where the
# scanner's public keys are listed, as an https URL
# (https://api.github.com/meta/public_keys/secret_scanning) or an absolute file path; empty
# turns the endpoint off (every message is refused), so that no deployment that never
# enrolled fetches anything. The list is kept this many seconds (leaks/signatures.py).
LEAKS = {
    "SCANNING_PUBLIC_KEYS": env.str("SECRET_SCANNING_PUBLIC_KEYS", default="").strip(),
    "SCANNING_PUBLIC_KEYS_MAX_AGE": _int("SECRET_SCANNING_PUBLIC_KEYS_MAX_AGE", 3600, minimum=60),
}
if LEAKS["SCANNING_PUBLIC_KEYS"] and not re.fullmatch(
    r"https://[^/?#\s]+(/\S*)?|/\S*", LEAKS["SCANNING_PUBLIC_KEYS"]
):
    raise ImproperlyConfigured(
        "SECRET_SCANNING_PUBLIC_KEYS must be an https:// URL or an absolute file path, e.g. "
        "https://api.github.com/meta/public_keys/secret_scanning."
    )

# --- Email and background tasks -------------------------------------------------------------

# filemail:// takes an absolute directory, written as a file:// URL is: filemail:///var/mail/x.
# django-environ reads three slashes as the relative path var/mail/x (under whatever directory
# the process starts in) and wants four for an absolute one; both forms mean /var/mail/x here.
# A host (filemail://var/mail/x), no path, or a ./.. segment is refused rather than guessed.
_email = env.email_url("EMAIL_URL", default="consolemail://")
if _email["EMAIL_BACKEND"] == "django.core.mail.backends.filebased.EmailBackend":
    _email_dir = "/" + _email["EMAIL_FILE_PATH"].lstrip("/")
    if _email["EMAIL_HOST"] or _email_dir == "/" or {".", ".."} & set(_email_dir.split("/")):
        raise ImproperlyConfigured(
            "EMAIL_URL=filemail:// takes an absolute directory, e.g. "
            "filemail:///var/mail/latchkey."
        )
    _email["EMAIL_FILE_PATH"] = _email_dir
vars().update(_email)
DEFAULT_FROM_EMAIL = env.str("DEFAULT_FROM_EMAIL", default="Latchkey <no-reply@localhost>")

# The address people reach this deployment at: links in emails are built from it, never from
# a request's Host header (which a client chooses).
PUBLIC_URL = env.str("PUBLIC_URL", default="").strip().rstrip("/")
if not PUBLIC_URL:
    if not DEBUG:
        raise ImproperlyConfigured(
            "PUBLIC_URL must be set when DEBUG is false: the https:// address people reach this "
            "deployment at (links in emails are built from it), e.g. https://auth.example.com."
        )
    PUBLIC_URL = "http://localhost:8000"
elif not re.fullmatch(r"https?://[^/?#\s]+(/[^?#\s]*)?", PUBLIC_URL):
    raise ImproperlyConfigured(
        f"PUBLIC_URL must be an absolute http(s) URL such as https://auth.example.com, "
        f"not {PUBLIC_URL!r}."
    )
# The OAuth issuer, in the metadata document and in every authorization response (RFC 9207):
# never derived from a request's Host header.
OAUTH2_PROVIDER["OIDC_ISS_ENDPOINT"] = PUBLIC_URL
# The JSON API as an OAuth protected resource (RFC 9728): its metadata names this server.
OAUTH2_PROVIDER["OAUTH2_PROTECTED_RESOURCE_IDENTIFIER"] = f"{PUBLIC_URL}/api"
OAUTH2_PROVIDER["OAUTH2_PROTECTED_RESOURCE_AUTHORIZATION_SERVERS"] = [PUBLIC_URL]
OAUTH2_PROVIDER["OAUTH2_PROTECTED_RESOURCE_NAME"] = "Latchkey API"
OAUTH2_PROVIDER["OAUTH2_PROTECTED_RESOURCE_DOCUMENTATION"] = f"{PUBLIC_URL}/api/docs"
# The resources an access token may be issued for (RFC 8707 `resource`): the JSON API, which is
# a token's audience when the client names none, and the MCP endpoint.
OAUTH_API_RESOURCE = f"{PUBLIC_URL}/api"
OAUTH_MCP_RESOURCE = f"{PUBLIC_URL}/mcp"
OAUTH_RESOURCES = (OAUTH_API_RESOURCE, OAUTH_MCP_RESOURCE)
# Access tokens are RS256 JWTs (RFC 9068) whose keys are published at /.well-known/jwks.json;
# a resource server may cache that set this long, and a rotated-in key waits as long before
# it signs (oauth/signing.py).
OAUTH_JWKS_MAX_AGE = _int("OAUTH_JWKS_MAX_AGE", 900, minimum=0)
# Clients identified by a client ID metadata document: an https URL whose JSON describes the
# client, fetched with a short timeout, a size limit and SSRF protection (oauth/cimd.py).
# OAUTH_CIMD_ALLOW_LOCALHOST_HTTP also admits http://localhost documents, for development.
OAUTH2_PROVIDER["CIMD_ENABLED"] = _bool("OAUTH_CIMD_ENABLED", True)
OAUTH2_PROVIDER["CIMD_METADATA_FETCHER"] = "oauth.cimd.MetadataFetcher"
OAUTH_CIMD_ALLOW_LOCALHOST_HTTP = _bool("OAUTH_CIMD_ALLOW_LOCALHOST_HTTP", False)

# Every email is sent by a background task. The database backend keeps the queue in the
# database; `manage.py db_worker` runs it (`make run` starts one). TASKS_BACKEND=immediate runs
# each task in the request that enqueues it (tests; a deployment without a worker).
_TASK_BACKENDS = {
    "database": "django_tasks_db.DatabaseBackend",
    "immediate": "django_tasks.backends.immediate.ImmediateBackend",
}
_task_backend = env.str("TASKS_BACKEND", default="database").strip().lower() or "database"
if _task_backend not in _TASK_BACKENDS:
    raise ImproperlyConfigured(
        f"TASKS_BACKEND must be one of {', '.join(_TASK_BACKENDS)}, not {_task_backend!r}."
    )
TASKS = {"default": {"BACKEND": _TASK_BACKENDS[_task_backend], "QUEUES": ["default"]}}

# Key maintenance (apikeys.tasks.key_maintenance: usage counts folded into the database, expiry
# and staleness notices) is queued every this many seconds by `manage.py run_scheduler`.
APIKEYS["MAINTENANCE_INTERVAL"] = _int("KEY_MAINTENANCE_INTERVAL", 300, minimum=10)
# Each process passes its keys' usage counts on at most every this many seconds.
APIKEYS["USAGE_FLUSH_INTERVAL"] = 5

# --- HTTP and security ----------------------------------------------------------------------

# Set when a TLS-terminating proxy sits in front: it must set X-Forwarded-Proto.
if _bool("BEHIND_TLS_PROXY", False):
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
# Plain HTTP is redirected to HTTPS for pages, but never for the API: a redirect would come
# after the key had crossed the network, so ApiRequestGuardMiddleware refuses plain-HTTP API
# requests with 403 HTTPS_REQUIRED instead (/api/health excepted, for load balancers).
SECURE_SSL_REDIRECT = _bool("SECURE_SSL_REDIRECT", not DEBUG)
SECURE_REDIRECT_EXEMPT = [r"^api(?:/|$)", r"^mcp$"]
SECURE_HSTS_SECONDS = _int("SECURE_HSTS_SECONDS", 0 if DEBUG else 31536000)
SECURE_HSTS_INCLUDE_SUBDOMAINS = SECURE_HSTS_SECONDS > 0
SECURE_HSTS_PRELOAD = _bool("SECURE_HSTS_PRELOAD", SECURE_HSTS_SECONDS >= 31536000)
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"
# Every response says where its page may load from: only this origin, with no inline script or
# style (no 'unsafe-inline'), so markup injected into a page cannot run or restyle it; no
# framing at all (as X-Frame-Options); forms post only here.
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": ["'self'"],
        "script-src": ["'self'"],
        "style-src": ["'self'"],
        "object-src": ["'none'"],
        "base-uri": ["'none'"],
        "form-action": ["'self'"],
        "frame-ancestors": ["'none'"],
    },
}

# A JSON body larger than this is refused with 413 before it is read.
DATA_UPLOAD_MAX_MEMORY_SIZE = _int("DATA_UPLOAD_MAX_MEMORY_SIZE", 1024 * 1024, minimum=1024)

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
# WhiteNoise serves the dashboard's stylesheet, under gunicorn too. Files are found where they
# live, so no collectstatic step is needed; set STATIC_ROOT to collect them there instead.
STATIC_ROOT = env.str("STATIC_ROOT", default="") or None
WHITENOISE_USE_FINDERS = True

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "apikeys.authentication.ApiKeyAuthentication",
        "oauth.authentication.OAuthTokenAuthentication",
        "accounts.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["access.permissions.ScopePermission"],
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    "DEFAULT_PARSER_CLASSES": ["api.parsers.JSONParser"],
    "EXCEPTION_HANDLER": "api.errors.exception_handler",
    "DEFAULT_METADATA_CLASS": None,
    "DEFAULT_SCHEMA_CLASS": "api.schema.AutoSchema",
    "TEST_REQUEST_DEFAULT_FORMAT": "json",
    # Escape non-ASCII in responses: an echoed lone surrogate cannot break rendering.
    "UNICODE_JSON": False,
}

# The OpenAPI schema (GET /api/schema, docs/openapi.yaml) and its reference page (/api/docs),
# served from our own static files.
SPECTACULAR_SETTINGS = {
    "TITLE": "Latchkey API",
    "DESCRIPTION": (
        "Accounts, organizations and scoped API keys. Every response is the JSON envelope "
        "`{success, status, code, message, data}`; errors carry a stable machine `code`. "
        "Authenticate with `X-Api-Key: <key>`, `Authorization: Bearer <key>`, or the session "
        "cookie set by sign-in."
    ),
    "VERSION": importlib.metadata.version("latchkey"),
    "OAS_VERSION": "3.1.0",
    "SCHEMA_PATH_PREFIX": "/api/",
    "SERVE_INCLUDE_SCHEMA": False,
    "SERVE_PERMISSIONS": ["rest_framework.permissions.AllowAny"],
    "SERVE_AUTHENTICATION": [],
    "COMPONENT_SPLIT_REQUEST": True,
    "POSTPROCESSING_HOOKS": ["api.schema.camel_path_parameters", "api.schema.add_links"],
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "SWAGGER_UI_SETTINGS": {"persistAuthorization": False, "tryItOutEnabled": False},
}

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "filters": {"request_id": {"()": "lib.requestid.RequestIdFilter"}},
    "formatters": {
        "plain": {"format": "%(asctime)s %(levelname)s [%(request_id)s] %(name)s %(message)s"}
    },
    "handlers": {
        "console": {
            "class": "logging.StreamHandler",
            "formatter": "plain",
            "filters": ["request_id"],
        }
    },
    "root": {"handlers": ["console"], "level": env.str("LOG_LEVEL", default="INFO")},
    "loggers": {
        "django.request": {"level": "ERROR"},
        "django.server": {"level": "INFO"},
    },
}
