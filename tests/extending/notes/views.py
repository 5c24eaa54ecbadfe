"""The notes routes. Both views are OrganizationAPIViews: before any handler runs, the tenancy
gate admits the caller to the URL's organization, then ScopePermission checks the key's scope
and the member's role against `required_scopes`."""

from __future__ import annotations

from drf_spectacular.utils import extend_schema
from rest_framework import status
from rest_framework.exceptions import NotFound
from rest_framework.request import Request
from rest_framework.response import Response

from api.envelope import envelope
from api.pagination import paginate
from api.schema import paginated
from tenants.serializers import DeletedSerializer
from tenants.views import OrganizationAPIView

from . import services
from .models import Note
from .serializers import NoteSerializer


class NoteListView(OrganizationAPIView):
    """GET, POST /api/user/organizations/{organizationId}/notes"""

    required_scopes = {"GET": "notes:read", "POST": "notes:write"}

    @paginated(NoteSerializer, operation_id="listNotes")
    def get(self, request: Request, organization_id: str) -> Response:
        notes = Note.objects.filter(organization_id=self.organization_id)
        return paginate(request, notes, NoteSerializer, message="Notes fetched")

    @extend_schema(
        operation_id="createNote", request=NoteSerializer, responses={201: NoteSerializer}
    )
    def post(self, request: Request, organization_id: str) -> Response:
        serializer = NoteSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        note = services.note_create(
            organization=self.organization,
            author=request.user,
            title=serializer.validated_data["title"],
            body=serializer.validated_data.get("body", ""),
        )
        return envelope(
            NoteSerializer(note).data, message="Note created", status=status.HTTP_201_CREATED
        )


class NoteDetailView(OrganizationAPIView):
    """GET, PATCH, DELETE /api/user/organizations/{organizationId}/notes/{noteId}

    A note asked for through another organization's path is 404: the lookup is confined to the
    organization the gate admitted.
    """

    required_scopes = {"GET": "notes:read", "PATCH": "notes:write", "DELETE": "notes:write"}

    def get_note(self, note_id: str) -> Note:
        note = Note.objects.filter(organization_id=self.organization_id, pk=note_id).first()
        if note is None:
            raise NotFound("Note not found.")
        return note

    @extend_schema(operation_id="getNote", responses=NoteSerializer)
    def get(self, request: Request, organization_id: str, note_id: str) -> Response:
        return envelope(NoteSerializer(self.get_note(note_id)).data, message="Note fetched")

    @extend_schema(operation_id="updateNote", request=NoteSerializer, responses=NoteSerializer)
    def patch(self, request: Request, organization_id: str, note_id: str) -> Response:
        note = self.get_note(note_id)
        serializer = NoteSerializer(note, data=request.data, partial=True)
        serializer.is_valid(raise_exception=True)
        note = services.note_update(
            note=note,
            title=serializer.validated_data.get("title"),
            body=serializer.validated_data.get("body"),
        )
        return envelope(NoteSerializer(note).data, message="Note updated")

    @extend_schema(operation_id="deleteNote", responses={200: DeletedSerializer})
    def delete(self, request: Request, organization_id: str, note_id: str) -> Response:
        services.note_delete(note=self.get_note(note_id))
        return envelope({"id": note_id}, message="Note deleted")
