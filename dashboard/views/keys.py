"""Settings → API keys: list, create (the key is shown once), a key's page (edit its name and
scopes, roll it: the new key shown once), revoke."""

from __future__ import annotations

import logging
import re
import secrets

from django.contrib import messages
from django.core.cache import cache
from django.core.paginator import Paginator
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.cache import never_cache
from django.views.decorators.debug import sensitive_variables

from access.scopes import scope_grants
from accounts.sessions import session_auth_hash
from api.errors import ApiError, CredentialChanged, RateLimited
from apikeys import services, usage
from apikeys.models import ApiKey
from dashboard.forms import (
    ApiKeyCreateForm,
    ApiKeyEditForm,
    ApiKeyRollForm,
    presets,
    scope_groups,
)
from dashboard.pages import memberships_of, signed_in, too_many
from ratelimits.policies import consume

logger = logging.getLogger(__name__)

PAGE_SIZE = 25
# Single-use tokens of the create forms this session has been shown. A resubmitted form (a
# reload of the result page, the back button, a double click) finds its token spent and
# creates nothing, so a key is never shown twice and never issued by accident.
FORM_TOKENS = "dashboard:key-form-tokens"
MAX_FORM_TOKENS = 10
SPENT_TOKEN_TTL = 24 * 60 * 60  # longer than a form is likely to stay open
# The list hides revoked keys unless asked: ?revoked=show.
REVOKED_PARAM = "revoked"
REVOKED_SHOWN = "show"
KEY_ID = re.compile(r"ak_[0-9A-Za-z]{26}")
# The answer while the cache is down: nothing can tell this post from a second one sent at the
# same moment, so no key is issued rather than perhaps two.
CACHE_DOWN = (
    "Keys cannot be created right now: a service we rely on is unavailable. Nothing was "
    "created. Please try again in a minute."
)
CACHE_DOWN_ROLL = (
    "Keys cannot be rolled right now: a service we rely on is unavailable. Nothing was "
    "changed. Please try again in a minute."
)
CACHE_DOWN_RETRY_AFTER = 60


class FormTokenUnavailable(Exception):
    """The cache that makes a form token single-use did not answer."""


def _issue_form_token(request: HttpRequest) -> str:
    token = secrets.token_urlsafe(16)
    tokens = request.session.get(FORM_TOKENS, [])[-(MAX_FORM_TOKENS - 1) :]
    request.session[FORM_TOKENS] = [*tokens, token]
    return token


def _spend_form_token(request: HttpRequest, token: str) -> bool:
    tokens = request.session.get(FORM_TOKENS, [])
    if token not in tokens:
        return False
    tokens.remove(token)
    request.session[FORM_TOKENS] = tokens
    # The session is read and written whole, so two simultaneous posts of one form would both
    # find the token; the cache's atomic add lets only the first through.
    try:
        return cache.add(f"dashboard:key-form:{token}", 1, timeout=SPENT_TOKEN_TTL)
    except Exception as exc:  # any backend's connection error: Redis down, say
        # Unspent after all: the same form can be sent again once the cache answers.
        request.session[FORM_TOKENS] = [*tokens, token]
        raise FormTokenUnavailable from exc


@signed_in
def api_keys(request: HttpRequest) -> HttpResponse:
    """The person's keys, newest first: those in use (active or expired), and with
    `?revoked=show` the revoked ones too."""
    show_revoked = request.GET.get(REVOKED_PARAM) == REVOKED_SHOWN
    owned = ApiKey.objects.owned_by(request.user)
    keys = owned if show_revoked else owned.filter(revoked_at__isnull=True)
    page_obj = Paginator(keys.select_related("organization"), PAGE_SIZE).get_page(
        request.GET.get("page")
    )
    context = {"page_obj": page_obj, "show_revoked": show_revoked}
    if not show_revoked and not page_obj.object_list:
        # An empty list says whether it is empty only because revoked keys are hidden; the
        # query runs for an empty page alone, so a full list keeps its fixed budget.
        context["revoked_hidden"] = owned.filter(revoked_at__isnull=False).exists()
    return render(request, "dashboard/api_keys.html", context)


def _form_context(form: ApiKeyCreateForm | ApiKeyEditForm) -> dict[str, object]:
    return {
        "form": form,
        "groups": scope_groups(),
        "read_only": " ".join(presets()["read-only"]),
        "full_access": " ".join(presets()["full-access"]),
    }


def _render_form(
    request: HttpRequest, form: ApiKeyCreateForm, *, status: int = 200
) -> HttpResponse:
    return render(
        request,
        "dashboard/api_key_create.html",
        _form_context(form),
        status=status,
    )


@signed_in
def api_key_create(request: HttpRequest) -> HttpResponse:
    memberships = memberships_of(request.user)
    if request.method != "POST":
        form = ApiKeyCreateForm(
            memberships=memberships, initial={"nonce": _issue_form_token(request)}
        )
        return _render_form(request, form)

    preset = presets().get(request.POST.get("preset", ""))
    if preset is not None:
        # "Read-only" and "Full access" without JavaScript: the same form, boxes ticked.
        initial = {name: request.POST.get(name) for name in ("name", "expiry", "organization")}
        initial.update(
            expiry_date=request.POST.get("expiry_date"),
            nonce=request.POST.get("nonce"),
            scopes=preset,
        )
        return _render_form(request, ApiKeyCreateForm(memberships=memberships, initial=initial))

    form = ApiKeyCreateForm(request.POST, memberships=memberships)
    try:
        consume(request, "KEY_CREATE", per="user")
    except RateLimited as exc:
        return too_many(request, "dashboard/api_key_create.html", _form_context(form), exc)
    if not form.is_valid():
        return _render_form(request, form, status=400)
    try:
        spent = _spend_form_token(request, form.cleaned_data["nonce"])
    except FormTokenUnavailable:
        # Refuse rather than fall back: without the cache's atomic add a double click could
        # issue two keys. The form comes back as sent, its token unspent, to send again.
        logger.warning("Cache unavailable: API key form refused", exc_info=True)
        form.add_error(None, CACHE_DOWN)
        response = _render_form(request, form, status=503)
        response["Retry-After"] = str(CACHE_DOWN_RETRY_AFTER)
        return response
    if not spent:
        messages.info(
            request,
            "That form was already sent, so no new key was created. A key is shown only "
            "once: if you did not copy it, revoke it and create another.",
        )
        return redirect("dashboard:api-keys")
    try:
        key, raw = services.api_key_issue(
            user=request.user,
            name=form.validated_data["name"],
            scopes=form.validated_data["scopes"],
            expires_in=form.validated_data.get("expiresIn"),
            organization_id=form.serializer.organization_id(),
            allowed_cidrs=form.validated_data.get("allowedCidrs"),
            session_auth_hash=session_auth_hash(request),
        )
    except CredentialChanged:
        raise  # signed out by the page: the session stopped working while this ran
    except ApiError as exc:
        form.add_error(None, str(exc.detail))
        form.data = form.data.copy()
        form.data["nonce"] = _issue_form_token(request)
        return _render_form(request, form, status=400)
    return _key_created(request, key, raw)


@never_cache
@sensitive_variables("raw")
def _key_created(
    request: HttpRequest, key: ApiKey, raw: str, *, rolled: bool = False
) -> HttpResponse:
    """The one response that ever holds the key: it answers the form's POST directly, so the
    key is never stored, not even in the session, and no cache may keep the page."""
    route = "me" if scope_grants(key.scopes, "user:read") else "auth-status"
    return render(
        request,
        "dashboard/api_key_created.html",
        {
            "key": key,
            "raw": raw,
            "example_url": request.build_absolute_uri(reverse(route)),
            "rolled": rolled,
            "previous_ends_at": key.previous_secret_ends_at() if rolled else None,
        },
    )


def _owned_key(request: HttpRequest, key_id: str) -> ApiKey:
    key = (
        ApiKey.objects.owned_by(request.user)
        .select_related("organization")
        .filter(pk=key_id)
        .first()
        if KEY_ID.fullmatch(key_id)
        else None
    )
    if key is None:  # another person's key looks exactly like a missing one
        raise Http404
    return key


def _key_page(
    request: HttpRequest,
    key: ApiKey,
    *,
    edit_form: ApiKeyEditForm | None = None,
    roll_form: ApiKeyRollForm | None = None,
    status: int = 200,
) -> HttpResponse:
    context = _key_context(request, key, edit_form=edit_form, roll_form=roll_form)
    return render(request, "dashboard/api_key.html", context, status=status)


def _key_context(
    request: HttpRequest,
    key: ApiKey,
    *,
    edit_form: ApiKeyEditForm | None = None,
    roll_form: ApiKeyRollForm | None = None,
) -> dict[str, object]:
    """The key's page: what it is and, while it works, its edit and roll forms."""
    context: dict[str, object] = {
        "key": key,
        "previous_ends_at": key.previous_secret_ends_at(),
        "active": key.status() == "active",
        "usage_days": usage.recent_days(key),
    }
    if context["active"]:
        edit_form = edit_form or ApiKeyEditForm(initial={"name": key.name, "scopes": key.scopes})
        roll_form = roll_form or ApiKeyRollForm(initial={"nonce": _issue_form_token(request)})
        context.update(_form_context(edit_form), roll_form=roll_form)
    return context


@signed_in
def api_key_detail(request: HttpRequest, key_id: str) -> HttpResponse:
    return _key_page(request, _owned_key(request, key_id))


@signed_in
def api_key_edit(request: HttpRequest, key_id: str) -> HttpResponse:
    """The key page's edit form: a new name, new scopes, or both, as the API's PATCH."""
    key = _owned_key(request, key_id)
    if request.method != "POST":
        return redirect("dashboard:api-key", key_id=key.pk)
    preset = presets().get(request.POST.get("preset", ""))
    if preset is not None:
        # "Read-only" and "Full access" without JavaScript: the same form, boxes ticked.
        form = ApiKeyEditForm(initial={"name": request.POST.get("name"), "scopes": preset})
        return _key_page(request, key, edit_form=form)
    form = ApiKeyEditForm(request.POST)
    if not form.is_valid():
        return _key_page(request, key, edit_form=form, status=400)
    try:
        key = services.api_key_edit(
            key=key,
            name=form.validated_data["name"],
            scopes=form.validated_data["scopes"],
            session_auth_hash=session_auth_hash(request),
        )
    except CredentialChanged:
        raise  # signed out by the page: the session stopped working while this ran
    except ApiError as exc:  # revoked or expired meanwhile
        messages.error(request, str(exc.detail))
        return redirect("dashboard:api-key", key_id=key.pk)
    messages.success(request, f"“{key.name}” is saved. It works as shown from its next request.")
    return redirect("dashboard:api-key", key_id=key.pk)


@signed_in
def api_key_roll(request: HttpRequest, key_id: str) -> HttpResponse:
    """The key page's roll form: a new key, shown once, as the API's roll; the current key
    keeps working for the overlap chosen. Single-use like the create form, so reloading the
    result page never rolls the key again (which would end the key just shown)."""
    key = _owned_key(request, key_id)
    if request.method != "POST":
        return redirect("dashboard:api-key", key_id=key.pk)
    form = ApiKeyRollForm(request.POST)
    try:
        consume(request, "KEY_CREATE", per="user")
    except RateLimited as exc:
        return too_many(request, "dashboard/api_key.html", _key_context(request, key), exc)
    if not form.is_valid():
        return _key_page(request, key, roll_form=form, status=400)
    try:
        spent = _spend_form_token(request, form.cleaned_data["nonce"])
    except FormTokenUnavailable:
        logger.warning("Cache unavailable: API key roll refused", exc_info=True)
        form.add_error(None, CACHE_DOWN_ROLL)
        response = _key_page(request, key, roll_form=form, status=503)
        response["Retry-After"] = str(CACHE_DOWN_RETRY_AFTER)
        return response
    if not spent:
        messages.info(
            request,
            "That form was already sent, so the key was not rolled again. A new key is shown "
            "only once: if you did not copy it, roll the key again.",
        )
        return redirect("dashboard:api-key", key_id=key.pk)
    try:
        key, raw = services.api_key_roll(
            key=key,
            expires_old_in=form.validated_data["expiresOldIn"],
            session_auth_hash=session_auth_hash(request),
        )
    except CredentialChanged:
        raise
    except ApiError as exc:  # revoked or expired meanwhile
        messages.error(request, str(exc.detail))
        return redirect("dashboard:api-key", key_id=key.pk)
    return _key_created(request, key, raw, rolled=True)


@signed_in
def api_key_revoke(request: HttpRequest, key_id: str) -> HttpResponse:
    key = _owned_key(request, key_id)
    if request.method == "POST":
        services.api_key_revoke(key=key, revoked_by=request.user)
        messages.success(request, f"“{key.name}” is revoked. It stops working immediately.")
        # Back to the list with revoked keys shown, so the key is seen revoked, with its date.
        return redirect(f"{reverse('dashboard:api-keys')}?{REVOKED_PARAM}={REVOKED_SHOWN}")
    return render(request, "dashboard/api_key_revoke.html", {"key": key})
