"""The peer's three routes: the same row with no auth, behind HasAPIKey, behind knox."""

from __future__ import annotations

from django.urls import path

from bench.peer.items import views

urlpatterns = [
    path("noauth/items/<int:pk>", views.NoAuthItemView.as_view()),
    path("api-key/items/<int:pk>", views.ApiKeyItemView.as_view()),
    path("knox/items/<int:pk>", views.KnoxItemView.as_view()),
]
