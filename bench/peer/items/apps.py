"""The peer's items app."""

from __future__ import annotations

from django.apps import AppConfig


class ItemsConfig(AppConfig):
    name = "bench.peer.items"
    label = "items"
