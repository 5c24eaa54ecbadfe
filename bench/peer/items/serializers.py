"""The item's representation, as a DRF app would usually write it."""

from __future__ import annotations

from rest_framework import serializers

from bench.peer.items.models import Item


class ItemSerializer(serializers.ModelSerializer):
    class Meta:
        model = Item
        fields = ["id", "name", "description", "created_at"]
