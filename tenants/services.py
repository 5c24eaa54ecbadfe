"""Organization and project workflows."""

from __future__ import annotations

from typing import Any

from django.db import IntegrityError, transaction
from django.http import HttpRequest

from accounts.models import User
from audit.models import Action
from audit.services import audit_record
from lib.ids import available_slug
from tenants.models import SLUG_MAX_LENGTH, Membership, Organization, Project, Role


@transaction.atomic
def organization_create(*, owner: User, name: str) -> Membership:
    """Create an organization with `owner` as its owner; return the owner's membership."""
    for attempt in range(3):
        try:
            with transaction.atomic():
                organization = Organization.objects.create(
                    name=name[:100],
                    slug=available_slug(
                        Organization,
                        "slug",
                        name,
                        max_length=SLUG_MAX_LENGTH,
                        contended=attempt > 0,
                    ),
                )
            break
        except IntegrityError:
            if attempt == 2:  # the slug was taken concurrently three times running
                raise
    membership = Membership.objects.create(user=owner, organization=organization, role=Role.OWNER)
    audit_record(
        action=Action.ORGANIZATION_CREATED,
        actor=owner,
        organization=organization,
        target=organization,
        detail={"name": organization.name},
    )
    return membership


@transaction.atomic
def organization_update(
    *, organization: Organization, name: str, actor: User | None = None
) -> Organization:
    previous = organization.name
    organization.name = name
    organization.save(update_fields=["name", "updated_at"])
    audit_record(
        action=Action.ORGANIZATION_UPDATED,
        actor=actor,
        organization=organization,
        target=organization,
        detail={"name": {"from": previous, "to": name}},
    )
    return organization


@transaction.atomic
def project_create(
    *, organization: Organization, created_by: User, name: str, description: str = ""
) -> Project:
    return Project.objects.create(
        organization=organization, created_by=created_by, name=name, description=description
    )


@transaction.atomic
def project_update(
    *, project: Project, name: str | None = None, description: str | None = None
) -> Project:
    fields = ["updated_at"]
    if name is not None:
        project.name = name
        fields.append("name")
    if description is not None:
        project.description = description
        fields.append("description")
    project.save(update_fields=fields)
    return project


@transaction.atomic
def project_delete(*, project: Project) -> None:
    project.delete()


@transaction.atomic
def membership_role_change(
    *, membership: Membership, role: str, request: HttpRequest | Any = None, by: str = "operator"
) -> Membership:
    """Give the member another role, read and written under a lock, with the audit event.
    The member's keys feel it on their next request (the warm-key cache forgets them)."""
    current = Membership.objects.select_for_update().select_related("user").get(pk=membership.pk)
    previous = current.role
    if previous == role:
        return current
    current.role = role
    current.save(update_fields=["role"])
    _member_audit(
        request,
        Action.MEMBER_ROLE_CHANGED,
        current,
        {"role": {"from": previous, "to": role}, "by": by},
    )
    return current


@transaction.atomic
def membership_remove(
    *, membership: Membership, request: HttpRequest | Any = None, by: str = "operator"
) -> None:
    """Take the member out of the organization, with the audit event; their keys lose it on
    their next request."""
    current = (
        Membership.objects.select_for_update()
        .select_related("user")
        .filter(pk=membership.pk)
        .first()
    )
    if current is None:
        return  # removed meanwhile
    current.delete()
    _member_audit(request, Action.MEMBER_REMOVED, current, {"role": current.role, "by": by})


def _member_audit(
    request: HttpRequest | Any, action: str, membership: Membership, detail: dict[str, Any]
) -> None:
    actor = getattr(request, "user", None)
    audit_record(
        action=action,
        request=request,
        actor=actor if actor is not None and actor.is_authenticated else None,
        organization_id=membership.organization_id,
        target=membership.user,
        detail=detail,
    )
