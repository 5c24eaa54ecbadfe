"""Note workflows: every write is one function, and views call it."""

from __future__ import annotations

from django.db import transaction

from accounts.models import User
from tenants.models import Organization

from .models import Note


@transaction.atomic
def note_create(*, organization: Organization, author: User, title: str, body: str = "") -> Note:
    return Note.objects.create(organization=organization, author=author, title=title, body=body)


@transaction.atomic
def note_update(*, note: Note, title: str | None = None, body: str | None = None) -> Note:
    fields = ["updated_at"]
    if title is not None:
        note.title = title
        fields.append("title")
    if body is not None:
        note.body = body
        fields.append("body")
    note.save(update_fields=fields)
    return note


@transaction.atomic
def note_delete(*, note: Note) -> None:
    note.delete()
