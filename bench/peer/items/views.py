"""One item by its id, as JSON, with one query: with no auth, behind HasAPIKey, behind knox.

The three views differ only in their authentication and permission classes. They are
APIViews rather than RetrieveAPIView so that HasAPIKey runs once: get_object() would also run
the object-permission check, and a second key check with it.
"""

from __future__ import annotations

from django.shortcuts import get_object_or_404
from knox.auth import TokenAuthentication
from rest_framework.permissions import AllowAny, IsAuthenticated
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView
from rest_framework_api_key.permissions import HasAPIKey

from bench.peer.items.models import Item
from bench.peer.items.serializers import ItemSerializer


class NoAuthItemView(APIView):
    """GET /noauth/items/{pk}: for anyone."""

    authentication_classes: list = []
    permission_classes = [AllowAny]

    def get(self, request: Request, pk: int) -> Response:
        return Response(ItemSerializer(get_object_or_404(Item, pk=pk)).data)


class ApiKeyItemView(NoAuthItemView):
    """GET /api-key/items/{pk}: with `Authorization: Api-Key <key>` (drf-api-key)."""

    permission_classes = [HasAPIKey]


class KnoxItemView(NoAuthItemView):
    """GET /knox/items/{pk}: with `Authorization: Token <token>` (django-rest-knox)."""

    authentication_classes = [TokenAuthentication]
    permission_classes = [IsAuthenticated]
