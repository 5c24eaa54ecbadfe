"""Client ID metadata documents: a client whose client_id is the https URL of a JSON document
describing it. django-oauth-toolkit fetches, caches and refreshes the document
(oauth2_provider.cimd); this module adds Latchkey's rules for the client it describes, plain
http on a loopback address for development (OAUTH_CIMD_ALLOW_LOCALHOST_HTTP), and the audit
event of a first sight."""

from __future__ import annotations

import logging
from typing import Any
from urllib.parse import urlsplit

import urllib3
from django.conf import settings
from django.db.models.signals import post_save
from django.dispatch import receiver
from django.utils import timezone
from oauth2_provider import cimd as dot_cimd
from oauth2_provider.cimd import CIMDError, SafeMetadataFetcher
from oauth2_provider.settings import oauth2_settings

from audit.models import Action
from audit.services import audit_record
from oauth.models import Application
from oauth.redirects import MAX_REDIRECT_URIS, redirect_uri_problem

log = logging.getLogger(__name__)

# The loopback hosts a development document may be served from, and the address each is
# reached at: "localhost" is never looked up, so no hosts file or resolver can point it
# anywhere else.
LOOPBACK_HOSTS = {"localhost": "127.0.0.1", "127.0.0.1": "127.0.0.1"}
GRANT_TYPES = frozenset({"authorization_code", "refresh_token"})
RESPONSE_TYPES = frozenset({"code"})


def is_loopback_document(client_id: str) -> bool:
    """Whether `client_id` is a development document this deployment fetches: plain
    http://localhost[:port]/… or http://127.0.0.1[:port]/…, and only while
    OAUTH_CIMD_ALLOW_LOCALHOST_HTTP is on."""
    if not settings.OAUTH_CIMD_ALLOW_LOCALHOST_HTTP or client_id[:7].lower() != "http://":
        return False
    try:
        parts = urlsplit(client_id)
    except ValueError:
        return False
    return (parts.hostname or "") in LOOPBACK_HOSTS


def document_host(application: Any) -> str | None:
    """The host that publishes a document-described application's metadata (who vouches for
    the name it shows), or None for a client registered another way."""
    if application.registration_source != Application.RegistrationSource.CIMD:
        return None
    return urlsplit(application.client_id).netloc or None


def document_problem(metadata: dict[str, Any]) -> str | None:
    """Why the client a document describes cannot use this server, or None: the rules a
    dynamically registered client follows (oauth/registration.py). A public client only,
    saying so (`token_endpoint_auth_method` "none"); 1 to MAX_REDIRECT_URIS redirect URIs under
    oauth/redirects.py's rule; the authorization code grant and response type only."""
    if metadata.get("token_endpoint_auth_method") != "none":
        return 'token_endpoint_auth_method must be "none": only public clients use a document'
    uris = metadata.get("redirect_uris")
    if not isinstance(uris, list) or not 1 <= len(uris) <= MAX_REDIRECT_URIS:
        return f"redirect_uris must list 1 to {MAX_REDIRECT_URIS} URIs"
    for uri in uris:
        problem = redirect_uri_problem(uri) if isinstance(uri, str) else "not a string"
        if problem:
            return f"redirect_uris: {problem}"
    for field, allowed in (("grant_types", GRANT_TYPES), ("response_types", RESPONSE_TYPES)):
        values = metadata.get(field, [])
        if not isinstance(values, list) or not set(values) <= allowed:
            return f"{field} may only be {sorted(allowed)}"
    return None


class MetadataFetcher(SafeMetadataFetcher):
    """django-oauth-toolkit's CIMD_METADATA_FETCHER. `fetch(client_id)` returns
    (metadata, max_age) or raises CIMDError, which the client sees as an unknown client.

    https documents go through django-oauth-toolkit's fetcher unchanged: the host must
    resolve only to public addresses and is connected to at the address checked, with no
    redirects, a timeout (CIMD_FETCH_TIMEOUT_SECONDS) and a size limit
    (CIMD_MAX_DOCUMENT_SIZE). A development document (is_loopback_document) is fetched over
    plain http from 127.0.0.1 with the same timeout, size limit and checks of the response."""

    def fetch(self, client_id: str) -> tuple[dict[str, Any], int]:
        if is_loopback_document(client_id):
            metadata, max_age = self._fetch_loopback(client_id)
        else:
            metadata, max_age = super().fetch(client_id)
        problem = document_problem(metadata)
        if problem:
            raise CIMDError(problem)
        return metadata, max_age

    def _fetch_loopback(self, client_id: str) -> tuple[dict[str, Any], int]:
        parts = urlsplit(client_id)
        try:
            port = parts.port or 80
        except ValueError as exc:
            raise CIMDError("client_id URL has an invalid port") from exc
        if parts.username is not None or parts.password is not None or "#" in client_id:
            raise CIMDError("client_id URL must have no userinfo and no fragment")
        if not parts.path or {".", ".."} & set(parts.path.split("/")):
            raise CIMDError("client_id URL must have a path without dot segments")
        timeout = oauth2_settings.CIMD_FETCH_TIMEOUT_SECONDS
        pool = urllib3.HTTPConnectionPool(
            host=LOOPBACK_HOSTS[parts.hostname or ""],
            port=port,
            timeout=urllib3.Timeout(connect=timeout, read=timeout, total=timeout),
            retries=False,
            maxsize=1,
        )
        path = parts.path + (f"?{parts.query}" if parts.query else "")
        headers = {"Host": parts.netloc, "Accept": "application/json, application/*+json"}
        try:
            response = pool.urlopen(
                "GET", path, headers=headers, redirect=False, preload_content=False
            )
            try:
                return self._read_document(response)
            finally:
                response.release_conn()
        except urllib3.exceptions.HTTPError as exc:
            raise CIMDError(f"could not fetch client_id document: {exc}") from exc
        finally:
            pool.close()


def resolve_loopback_document(client_id: str) -> None:
    """Fetch a development document on first sight, or again once its cache has expired, so
    that django-oauth-toolkit then finds the application stored.

    django-oauth-toolkit resolves only https client_ids itself (oauth2_provider.cimd's
    is_cimd_client_id), and that gate is kept as it is: this runs, from the authorization
    endpoint, only for is_loopback_document ids. It has no failure backoff and no
    concurrency cap (they guard a public server from a flood of URLs; this is a development
    machine), so a corrected document is read on the next try. A failed refresh keeps the
    last good document, as django-oauth-toolkit's own refresh does."""
    application = Application.objects.filter(client_id=client_id).first()
    if application is not None and (
        application.registration_source != Application.RegistrationSource.CIMD
        or (application.cimd_expires_at and timezone.now() <= application.cimd_expires_at)
    ):
        return
    try:
        dot_cimd._fetch_validate_upsert(client_id)
    except CIMDError as exc:
        log.info("CIMD resolution failed for %r: %r", client_id, exc)
    except Exception:
        # A client-controlled document on the authorization endpoint: never a 500.
        log.exception("Unexpected error resolving CIMD client %r", client_id)


@receiver(post_save, sender=Application, dispatch_uid="oauth.cimd.registered")
def _registered(sender: Any, instance: Application, created: bool, **kwargs: Any) -> None:
    """A document seen for the first time registers its client: audited as a dynamic
    registration is, `by: cimd`, naming the host that publishes it. Connected when this
    module is imported: by oauth.views (the URL configuration) and, before any document is
    stored, by django-oauth-toolkit loading CIMD_METADATA_FETCHER."""
    if not created or instance.registration_source != Application.RegistrationSource.CIMD:
        return
    audit_record(
        action=Action.OAUTH_APPLICATION_REGISTERED,
        detail={
            "clientId": instance.client_id,
            "application": instance.name,
            "clientType": "public",
            "redirectUris": instance.redirect_uris.split(),
            "by": "cimd",
            "documentHost": document_host(instance),
        },
    )
