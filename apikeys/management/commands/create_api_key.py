"""manage.py create_api_key: issue a key for a user and print it, once."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from rest_framework.exceptions import APIException, ValidationError

from accounts.models import User
from apikeys import services
from apikeys.serializers import ApiKeyCreateSerializer


class Command(BaseCommand):
    help = "Create an API key for a user and print it. The key is shown only this once."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--email", required=True, help="The key owner's email.")
        parser.add_argument("--name", required=True, help="A name to recognise the key by.")
        parser.add_argument(
            "--scopes", required=True, help="Comma-separated scopes, e.g. user:read,projects:*"
        )
        parser.add_argument("--org", help="Pin the key to this organization id.")
        parser.add_argument("--expires-in", type=int, help="Lifetime in seconds (default: none).")

    def handle(self, *args: Any, **options: Any) -> None:
        user = User.objects.with_email(options["email"]).filter(is_active=True).first()
        if user is None:
            raise CommandError(f"No active user with email {options['email']!r}.")
        payload: dict[str, Any] = {
            "name": options["name"],
            "scopes": [s.strip() for s in options["scopes"].split(",") if s.strip()],
            "expiresIn": options["expires_in"],
        }
        if options["org"]:
            payload["metadata"] = {"organizationId": options["org"]}
        serializer = ApiKeyCreateSerializer(data=payload)
        try:
            serializer.is_valid(raise_exception=True)
            key, raw = services.api_key_issue(
                user=user,
                name=serializer.validated_data["name"],
                scopes=serializer.validated_data["scopes"],
                expires_in=serializer.validated_data.get("expiresIn"),
                organization_id=serializer.organization_id(),
            )
        except ValidationError as exc:
            raise CommandError(f"Invalid input: {exc.detail}") from exc
        except APIException as exc:
            raise CommandError(str(exc.detail)) from exc
        self.stderr.write(
            f"Created {key.id} ({key.name}). Store the key now: it is not shown again."
        )
        self.stdout.write(raw)
