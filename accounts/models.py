"""The user: keyed by email (unique regardless of case), with a ULID id and a unique handle."""

from __future__ import annotations

from typing import Any

from django.contrib.auth.base_user import AbstractBaseUser, BaseUserManager
from django.contrib.auth.models import PermissionsMixin
from django.db import models
from django.db.models.functions import Lower
from django.utils import timezone

from config.ids import ULID_LENGTH, available_slug, new_ulid

HANDLE_MAX_LENGTH = 39


class UserQuerySet(models.QuerySet):
    def with_email(self, email: str) -> UserQuerySet:
        """Users whose email equals `email`, ignoring case (served by the LOWER(email) index)."""
        return self.alias(email_lower=Lower("email")).filter(
            email_lower=Lower(models.Value(email))
        )


class UserManager(BaseUserManager.from_queryset(UserQuerySet)):  # type: ignore[misc]
    use_in_migrations = True

    def get_by_natural_key(self, username: str | None) -> User:
        # Sign-in and the admin look users up here: case-insensitive, so A@x.com is a@x.com.
        return self.with_email(username or "").get()

    def create_user(self, email: str, password: str | None = None, **fields: Any) -> User:
        if not email:
            raise ValueError("Users need an email address.")
        email = email.strip()  # stored as given; uniqueness ignores case
        fields.setdefault(
            "handle",
            available_slug(
                self.model, "handle", email.split("@", 1)[0], max_length=HANDLE_MAX_LENGTH
            ),
        )
        user = self.model(email=email, **fields)
        user.set_password(password)
        user.save(using=self._db)
        return user

    def create_superuser(self, email: str, password: str | None = None, **fields: Any) -> User:
        fields.update(is_staff=True, is_superuser=True)
        fields.setdefault("is_verified", True)
        if fields["is_verified"]:
            fields.setdefault("verified_at", timezone.now())
        return self.create_user(email, password, **fields)


class User(AbstractBaseUser, PermissionsMixin):
    id = models.CharField(
        primary_key=True, max_length=ULID_LENGTH, default=new_ulid, editable=False
    )
    email = models.EmailField("email address", max_length=254, unique=True)
    full_name = models.CharField(max_length=150, blank=True)
    handle = models.SlugField(max_length=HANDLE_MAX_LENGTH, unique=True)
    is_verified = models.BooleanField(default=False)
    verified_at = models.DateTimeField(null=True, blank=True)
    is_active = models.BooleanField(default=True)
    is_staff = models.BooleanField(
        default=False, help_text="Designates whether the user can sign in to the admin."
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    objects = UserManager()

    USERNAME_FIELD = "email"
    EMAIL_FIELD = "email"
    REQUIRED_FIELDS: list[str] = []

    class Meta:
        ordering = ["created_at"]
        constraints = [
            models.UniqueConstraint(Lower("email"), name="accounts_user_email_ci_unique"),
        ]

    def __str__(self) -> str:
        return self.email

    @property
    def role(self) -> str:
        """The account's platform role: `admin` for operators, `user` for everyone else."""
        return "admin" if self.is_staff else "user"

    def mark_verified(self) -> None:
        self.is_verified = True
        self.verified_at = timezone.now()
        self.save(update_fields=["is_verified", "verified_at", "updated_at"])
