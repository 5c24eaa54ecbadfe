"""Organization → API keys: the keys that act in the organization, for its owners and admins,
who may revoke them there. Organization → Key policy: the organization's rules for keys, which
every member reads and owners and admins change. The same services as the API's."""

from __future__ import annotations

from django.contrib import messages
from django.core.paginator import Paginator
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render

from access.roles import require_role, role_allows
from apikeys import policy as key_policy
from apikeys.models import ApiKey
from apikeys.organization_services import api_key_revoke_in_organization, keys_acting_in
from apikeys.policy_services import key_policy_update
from dashboard.forms import KeyPolicyForm, scope_groups
from dashboard.pages import form_status, organization_page, posted
from dashboard.views.keys import KEY_ID
from tenants.models import Membership

PAGE_SIZE = 25
# The list shows the keys in use unless asked: ?status=all adds the revoked and expired ones.
STATUS_PARAM = "status"
EVERY_STATUS = "all"


def _context(membership: Membership) -> dict[str, object]:
    return {"membership": membership, "organization": membership.organization}


def _mark(key: ApiKey, organization_id: str) -> ApiKey:
    """The key, with what the organization's pages show of it."""
    key.revoked_here = organization_id in key.revoked_in
    key.pinned_here = key.organization_id == organization_id
    return key


@organization_page("members:write")
def organization_api_keys(request: HttpRequest, membership: Membership) -> HttpResponse:
    """Every key that can act in the organization, newest first, with its owner; revoked and
    expired keys with `?status=all`."""
    show_all = request.GET.get(STATUS_PARAM) == EVERY_STATUS
    keys = keys_acting_in(membership.organization_id).select_related("user")
    if not show_all:
        keys = keys.active()
    page_obj = Paginator(keys, PAGE_SIZE).get_page(request.GET.get("page"))
    for key in page_obj:
        _mark(key, membership.organization_id)
    context = {**_context(membership), "page_obj": page_obj, "show_all": show_all}
    return render(request, "dashboard/organization_api_keys.html", context)


@organization_page("members:write")
def organization_api_key_revoke(
    request: HttpRequest, membership: Membership, key_id: str
) -> HttpResponse:
    """A confirmation page, and its POST: the key is revoked here (outright when pinned)."""
    found = None
    if KEY_ID.fullmatch(key_id):
        acting = keys_acting_in(membership.organization_id).select_related("user")
        found = acting.filter(pk=f"ak_{key_id[3:].upper()}").first()
    if found is None:  # a key that does not act here looks exactly like a missing one
        raise Http404
    key = _mark(found, membership.organization_id)
    if request.method == "POST":
        revoked = api_key_revoke_in_organization(
            organization_id=membership.organization_id, key_id=key.pk, actor=request.user
        )
        owner = key.user.full_name or key.user.email
        if key.pinned_here:
            done = f"“{revoked.name}” of {owner} is revoked. It stops working immediately."
        else:
            done = (
                f"“{revoked.name}” of {owner} is revoked in {membership.organization.name}. "
                "It keeps working in their other organizations."
            )
        messages.success(request, done)
        return redirect(
            "dashboard:organization-api-keys", organization_id=membership.organization_id
        )
    context = {**_context(membership), "key": key}
    return render(request, "dashboard/organization_api_key_revoke.html", context)


@organization_page("organizations:read")
def organization_key_policy(request: HttpRequest, membership: Membership) -> HttpResponse:
    """The organization's key policy: every member reads it; owners and admins change it."""
    policy = key_policy.shown(membership.organization.key_policy)
    may_edit = role_allows(membership.role, "organizations:write")
    form = KeyPolicyForm(posted(request), initial=KeyPolicyForm.initial_from(policy))
    if request.method == "POST":
        require_role(membership.role, "organizations:write")
        if form.is_valid():
            key_policy_update(
                organization_id=membership.organization_id,
                changes=form.validated_data,
                actor=request.user,
            )
            messages.success(request, "Key policy saved. Keys are held to it from their next use.")
            return redirect(
                "dashboard:organization-key-policy", organization_id=membership.organization_id
            )
    context = {
        **_context(membership),
        "policy": policy,
        "may_edit": may_edit,
        "form": form,
        "groups": scope_groups(),
    }
    return render(
        request, "dashboard/organization_key_policy.html", context, status=form_status(form)
    )
