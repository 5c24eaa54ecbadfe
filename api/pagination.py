"""The one pagination convention for every list: ?page=1&pageSize=20."""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

from django.db.models import QuerySet
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response

from api.envelope import envelope

DEFAULT_PAGE_SIZE = 20
MAX_PAGE_SIZE = 100


class PageParams(serializers.Serializer):
    page = serializers.IntegerField(min_value=1, max_value=1_000_000, default=1)
    pageSize = serializers.IntegerField(
        min_value=1, max_value=MAX_PAGE_SIZE, default=DEFAULT_PAGE_SIZE
    )


def paginate(
    request: Request,
    queryset: QuerySet,
    render: type[serializers.BaseSerializer] | Callable[[Any], dict[str, Any]],
    *,
    message: str,
    context: dict[str, Any] | None = None,
) -> Response:
    """Answer with one page of `queryset` in `data` and the page's position in `pagination`.

    `render` is a serializer class, or a function from one item to its representation (for
    the hot lists, where building a serializer's fields per request costs more than the
    query). A page past the end is an empty list, not an error. Costs two queries: count and
    page.
    """
    params = PageParams(data=request.query_params)
    params.is_valid(raise_exception=True)
    page, size = params.validated_data["page"], params.validated_data["pageSize"]
    total = queryset.count()
    items = list(queryset[(page - 1) * size : page * size])
    if isinstance(render, type) and issubclass(render, serializers.BaseSerializer):
        data = render(items, many=True, context=context or {}).data
    else:
        data = [render(item) for item in items]
    total_pages = math.ceil(total / size)
    return envelope(
        data,
        message=message,
        pagination={
            "page": page,
            "pageSize": size,
            "totalItems": total,
            "totalPages": total_pages,
            "hasNext": page < total_pages,
            "hasPrevious": page > 1,
        },
    )
