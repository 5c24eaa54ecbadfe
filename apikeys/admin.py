"""The API keys admin: find a key (a pasted leaked key too), see what it can do, revoke it.

Neither the digest nor the lookup id is shown on any page, and no key can be added here: a key
exists only as issued by apikeys.services, which shows its plaintext once.
"""

from __future__ import annotations

import json
import re
from typing import Any

from django.contrib import admin, messages
from django.contrib.admin.views.main import SEARCH_VAR
from django.db import transaction
from django.db.models import QuerySet
from django.forms import ModelForm
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.utils import timezone

from accounts.admin import confirm_action
from apikeys import conf, crypto, scopes
from apikeys.models import ApiKey
from apikeys.services import api_key_revoke
from audit.models import Action
from audit.services import audit_record


def looks_like_key(term: str) -> bool:
    """True when `term` has the shape of a key (checksum right or wrong): such a term is
    never echoed back, since a key with a mistyped checksum is still nearly the key."""
    return re.fullmatch(crypto.key_pattern(conf.prefix()), term) is not None


def pasted_key(term: str) -> ApiKey | None:
    """The key whose plaintext is `term`, found as authentication finds it: by lookup id,
    then a constant-time comparison with the stored digest. None for anything else."""
    parsed = crypto.parse(term, conf.prefix())
    if parsed is None:
        return None
    key = ApiKey.objects.filter(lookup=parsed.lookup).only("id", "digest").first()
    if key is None or not crypto.matches(parsed.raw, key.digest, conf.pepper()):
        return None
    return key


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
    list_display = [
        "name",
        "owner_email",
        "organization",
        "start",
        "scope_list",
        "created_at",
        "expires_at",
        "last_used_at",
        "key_status",
    ]
    list_select_related = ["user", "organization"]
    list_filter = [StatusFilter, ("organization", admin.RelatedOnlyFieldListFilter), ScopeFilter]
    search_fields = ["user__email", "name", "id", "start"]
    search_help_text = (
        "Owner email, key name, key id (ak_…) or start. A whole key pasted here finds that "
        "key by its digest, and is not shown back."
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

    def changelist_view(
        self, request: HttpRequest, extra_context: dict[str, Any] | None = None
    ) -> HttpResponse:
        term = request.GET.get(SEARCH_VAR, "").strip()
        if request.method == "GET" and looks_like_key(term):
            # The changelist repeats its search term in the search box and in every filter
            # and page link, so a pasted key is swapped at once for a term that finds the
            # same thing: the key's id, or, when no key matches, the key's non-secret start
            # and an ellipsis, which matches nothing.
            key = pasted_key(term)
            params = request.GET.copy()
            params[SEARCH_VAR] = key.pk if key else f"{crypto.start(term, conf.prefix())}…"
            if key is None:
                self.message_user(request, "No API key matches the pasted key.", messages.WARNING)
            return HttpResponseRedirect(f"{request.path}?{params.urlencode()}")
        return super().changelist_view(request, extra_context)

    def get_search_results(
        self, request: HttpRequest, queryset: QuerySet, search_term: str
    ) -> tuple[QuerySet, bool]:
        """A whole key finds exactly its own row (none if it matches no digest); any other
        term searches the search_fields."""
        term = search_term.strip()
        if looks_like_key(term):
            key = pasted_key(term)
            return (queryset.filter(pk=key.pk) if key else queryset.none()), False
        return super().get_search_results(request, queryset, search_term)

    def save_model(self, request: HttpRequest, obj: ApiKey, form: ModelForm, change: bool) -> None:
        # The name is the only editable field, and the only column written: a full save()
        # would write back every column as read, over a revocation committed meanwhile.
        # The change view runs in a transaction, so the event commits with the rename.
        if "name" not in form.changed_data:
            return
        obj.save(update_fields=["name"])
        audit_record(
            action=Action.KEY_RENAMED,
            request=request,
            actor=request.user,
            organization_id=obj.organization_id,
            target=obj,
            detail={"name": {"from": form.initial.get("name"), "to": obj.name}, "by": "operator"},
        )

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
