"""Organization and project workflows."""

from __future__ import annotations

from django.db import IntegrityError, transaction

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
