"""A note as clients read and send it."""

from __future__ import annotations

from rest_framework import serializers

from api.fields import Timestamp

from .models import Note


class NoteSerializer(serializers.ModelSerializer):
    organizationId = serializers.CharField(source="organization_id", read_only=True)
    authorId = serializers.CharField(source="author_id", read_only=True)
    createdAt = Timestamp(source="created_at")
    updatedAt = Timestamp(source="updated_at")

    class Meta:
        model = Note
        fields = ["id", "organizationId", "title", "body", "authorId", "createdAt", "updatedAt"]
        read_only_fields = ["id", "organizationId", "authorId", "createdAt", "updatedAt"]
        extra_kwargs = {
            "title": {"max_length": 100},
            "body": {"max_length": 10_000, "required": False, "allow_blank": True},
        }
