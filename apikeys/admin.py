"""The API keys admin: find a key (a reported leaked key too), see what it can do, revoke it.

Neither the digest nor the lookup id is shown on any page, and no key can be added here: a key
exists only as issued by apikeys.services, which shows its plaintext once. A whole key is only
ever accepted in a POST body, never in a URL, which access logs, proxies and browser history
keep.
"""

from __future__ import annotations

import json
import re
from typing import Any
from urllib.parse import urlencode

from django.contrib import admin, messages
from django.contrib.admin.views.main import SEARCH_VAR
from django.core.exceptions import PermissionDenied
from django.db import transaction
from django.db.models import Q, QuerySet
from django.forms import ModelForm
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import URLPattern, path, reverse
from django.utils import timezone
from django.utils.decorators import method_decorator
from django.views.decorators.debug import sensitive_post_parameters
from django.views.decorators.http import require_POST

from access import scopes
from accounts.admin import confirm_action
from apikeys import conf, crypto
from apikeys.authentication import presents
from apikeys.models import ApiKey
from apikeys.services import api_key_rename, api_key_revoke

FIND_KEY_FIELD = "key"
GET_SEARCH_REFUSED = (
    "A whole key is not searched for in the search box, whose text goes into the URL (and "
    "from there into access logs). Paste it into “Find a reported key” instead."
)


def key_in(term: str) -> str | None:
    """The first thing in `term` shaped like a key (checksum right or wrong), or None. Such
    text is never echoed back or put in a URL: a key with a mistyped checksum is still nearly
    the key."""
    found = re.search(crypto.key_pattern(conf.prefix()), term)
    return found.group(0) if found else None


def looks_like_key(term: str) -> bool:
    return key_in(term) is not None


def pasted_key(term: str) -> ApiKey | None:
    """The key whose plaintext is `term`, found as authentication finds it: by lookup id (a
    rolled key's previous secret by its own), then a constant-time comparison with the stored
    digest. None for anything else."""
    parsed = crypto.parse(term, conf.prefix())
    if parsed is None:
        return None
    candidates = ApiKey.objects.filter(
        Q(lookup=parsed.lookup) | Q(previous_lookup=parsed.lookup)
    ).only("id", "lookup", "digest", "previous_lookup", "previous_digest", "name", "start")
    return next((key for key in candidates[:2] if presents(parsed, key)), None)


class StatusFilter(admin.SimpleListFilter):
    title = "status"
    parameter_name = "status"

    def lookups(self, request: HttpRequest, model_admin: admin.ModelAdmin) -> list:
        return [("active", "Active"), ("expired", "Expired"), ("revoked", "Revoked")]

    def queryset(self, request: HttpRequest, queryset: QuerySet) -> QuerySet:
        now = timezone.now()
        match self.value():
            case "active":
                return queryset.active(now)
            case "expired":  # as ApiKey.status(): a revoked key counts as revoked
                return queryset.filter(revoked_at__isnull=True, expires_at__lte=now)
            case "revoked":
                return queryset.filter(revoked_at__isnull=False)
        return queryset


class ScopeFilter(admin.SimpleListFilter):
    """Keys that hold a scope of the catalogue, as granted (`projects:*` is its own entry)."""

    title = "scope"
    parameter_name = "scope"

    def lookups(self, request: HttpRequest, model_admin: admin.ModelAdmin) -> list:
        return [(entry["scope"], entry["scope"]) for entry in scopes.catalogue()]

    def queryset(self, request: HttpRequest, queryset: QuerySet) -> QuerySet:
        scope = self.value()
        if scope is None:
            return queryset
        if not scopes.is_known(scope):
            return queryset.none()
        # `scopes` is a JSON list. JSON containment (`scopes__contains=[scope]`) does not
        # exist on SQLite, so the JSON text is searched for the quoted scope, which works on
        # SQLite and PostgreSQL alike; the quotes make it match one whole element, so
        # `"projects:*"` does not match a key holding `"projects:read"`.
        return queryset.filter(scopes__icontains=json.dumps(scope))


@admin.register(ApiKey)
class ApiKeyAdmin(admin.ModelAdmin):
    # Status next to the name: the changelist is wider than most screens (it scrolls inside
    # its box), and whether a key still works is what an operator looks for first.
    list_display = [
        "name",
        "key_status",
        "owner_email",
        "organization",
        "start",
        "scope_list",
        "created_at",
        "expires_at",
        "last_used_at",
    ]
    list_select_related = ["user", "organization"]
    list_filter = [StatusFilter, ("organization", admin.RelatedOnlyFieldListFilter), ScopeFilter]
    search_fields = ["user__email", "name", "id", "start"]
    search_help_text = (
        "Owner email, key name, key id (ak_…) or start. To find a whole key someone reported, "
        "use “Find a reported key”."
    )
    # `lookup` and `digest` are in no list: never displayed, never editable.
    fields = [
        "id",
        "name",
        "user",
        "organization",
        "start",
        "scope_list",
        "key_status",
        "created_at",
        "expires_at",
        "last_used_at",
        "revoked_at",
        "revoked_by",
        "created_by_key",
    ]
    readonly_fields = [field for field in fields if field != "name"]
    actions = ["revoke_selected"]

    @admin.display(description="owner", ordering="user__email")
    def owner_email(self, key: ApiKey) -> str:
        return key.user.email

    @admin.display(description="scopes")
    def scope_list(self, key: ApiKey) -> str:
        return ", ".join(key.scopes)

    @admin.display(description="status")
    def key_status(self, key: ApiKey) -> str:
        return key.status()

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: ApiKey | None = None) -> bool:
        return False  # revoke instead: the row is what the audit trail points at

    def get_urls(self) -> list[URLPattern]:
        find = path(
            "find-key/",
            self.admin_site.admin_view(self.find_key_view),
            name=f"{self.opts.app_label}_{self.opts.model_name}_find_key",
        )
        return [find, *super().get_urls()]

    @method_decorator(sensitive_post_parameters(FIND_KEY_FIELD))
    @method_decorator(require_POST)
    def find_key_view(self, request: HttpRequest) -> HttpResponse:
        """POST {key}: the changelist's “Find a reported key” form. The key travels in the body
        only; the answer is a redirect to the changelist searching for the key's id, which is
        not secret, or back to the changelist with a warning. The pasted text may hold more
        than the key (a header line, a sentence): the key-shaped part is looked up."""
        if not self.has_view_or_change_permission(request):
            raise PermissionDenied
        changelist = reverse(f"admin:{self.opts.app_label}_{self.opts.model_name}_changelist")
        raw = key_in(request.POST.get(FIND_KEY_FIELD, ""))
        key = pasted_key(raw) if raw else None
        if key is None:
            message = (
                "No API key matches the pasted key."
                if raw
                else "That is not an API key: paste the whole key, as it was reported."
            )
            self.message_user(request, message, messages.WARNING)
            return HttpResponseRedirect(changelist)
        self.message_user(
            request, f"Found the key you pasted: “{key.name}” ({key.start}…).", messages.SUCCESS
        )
        return HttpResponseRedirect(f"{changelist}?{urlencode({SEARCH_VAR: key.pk})}")

    def changelist_view(
        self, request: HttpRequest, extra_context: dict[str, Any] | None = None
    ) -> HttpResponse:
        if request.method == "GET" and looks_like_key(request.GET.get(SEARCH_VAR, "")):
            # The key is already in this request's URL, but it goes no further: it is not
            # looked up, and the page, which would repeat the term in the search box and in
            # every filter and page link, is answered by a redirect without it.
            params = request.GET.copy()
            del params[SEARCH_VAR]
            self.message_user(request, GET_SEARCH_REFUSED, messages.WARNING)
            query = params.urlencode()
            return HttpResponseRedirect(f"{request.path}?{query}" if query else request.path)
        return super().changelist_view(request, extra_context)

    def get_search_results(
        self, request: HttpRequest, queryset: QuerySet, search_term: str
    ) -> tuple[QuerySet, bool]:
        """A term holding a whole key finds nothing, whoever calls (the changelist, the
        autocomplete endpoint): a key reaches the admin only through the find-key form's POST.
        Any other term searches the search_fields."""
        if looks_like_key(search_term):
            return queryset.none(), False
        return super().get_search_results(request, queryset, search_term)

    def save_model(self, request: HttpRequest, obj: ApiKey, form: ModelForm, change: bool) -> None:
        # The name is the only editable field; the owner's rename service writes it, with the
        # operator as the actor. (The change view runs in a transaction.)
        if "name" in form.changed_data:
            api_key_rename(key=obj, name=obj.name, operator=request.user, request=request)

    @admin.action(permissions=["change"], description="Revoke selected keys")
    def revoke_selected(self, request: HttpRequest, queryset: QuerySet) -> TemplateResponse | None:
        """Confirm, then revoke each key (and the keys it created) as the operator."""
        if request.POST.get("post") != "yes":
            keys = list(queryset.select_related("user", "organization"))
            return confirm_action(
                self,
                request,
                queryset,
                action="revoke_selected",
                title="Revoke API keys",
                question=f"Revoke {len(keys)} API key(s)? Each stops working on the next "
                "request, and so does every key it created. Revocation cannot be undone.",
                note="Keys already revoked are left as they are.",
                headers=["name", "owner", "organization", "start", "scopes", "status"],
                rows=[
                    (
                        key.name,
                        key.user.email,
                        key.organization or "-",
                        f"{key.start}…",
                        self.scope_list(key),
                        key.status(),
                    )
                    for key in keys
                ],
                confirm_label="Yes, revoke",
            )
        with transaction.atomic():
            # Locked, so that two operators revoking at once record one revocation per key;
            # without the changelist's joins, which PostgreSQL cannot lock (outer joins).
            live = queryset.select_related(None).filter(revoked_at__isnull=True)
            keys = list(live.select_for_update())
            for key in keys:
                # The service records the api_key.revoked event, the operator as its actor,
                # in this transaction.
                api_key_revoke(key=key, revoked_by=request.user, by="operator")
        self.message_user(request, f"Revoked {len(keys)} API key(s).", messages.SUCCESS)
        return None
