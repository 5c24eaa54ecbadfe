"""Benchmark-only settings: the project's settings plus the no-auth baseline route."""

from config.settings import *  # noqa: F403

ROOT_URLCONF = "bench.urls"
