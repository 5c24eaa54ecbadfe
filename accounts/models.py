"""The user: identified by the canonical key of their email, with a ULID id and a unique handle."""

from __future__ import annotations

from collections.abc import Collection
from typing import Any

from django.contrib.auth.base_user import AbstractBaseUser, BaseUserManager
from django.contrib.auth.models import PermissionsMixin
from django.contrib.sessions.base_session import AbstractBaseSession
from django.core.exceptions import ValidationError
from django.db import models
from django.utils import timezone

from accounts.identity import canonical_email
from lib.ids import ULID_LENGTH, available_slug, new_ulid

HANDLE_MAX_LENGTH = 39


class UserQuerySet(models.QuerySet):
    def with_email(self, email: str) -> UserQuerySet:
        """The user (at most one) whose address has the same canonical key as `email`: any
        spelling that differs only in case or by a compatibility look-alike finds them."""
        # Matched in Python's folding, never the database's: PostgreSQL's lower() and SQLite's
        # disagree with each other and with the key (İ, the Kelvin sign, ß), and a lookup that
        # folds differently from the unique column would let a look-alike be someone else.
        return self.filter(email_key=canonical_email(email))


class UserManager(BaseUserManager.from_queryset(UserQuerySet)):  # type: ignore[misc]
    use_in_migrations = True

    def get_by_natural_key(self, username: str | None) -> User:
        # Sign-in and the admin look users up here, by canonical key: A@x.com is a@x.com.
        return self.with_email(username or "").get()

    def create_user(self, email: str, password: str | None = None, **fields: Any) -> User:
        if not email:
            raise ValueError("Users need an email address.")
        email = email.strip()  # stored as given; save() derives the key that makes it unique
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
    # The identity of `email` (accounts/identity.py), unique: the column every lookup and
    # uniqueness check goes by. Written only by save(), from `email`. A text column: the key
    # can be longer than the address (ß is ss, and an IDNA domain grows).
    email_key = models.TextField("canonical email address", editable=False)
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
            models.UniqueConstraint(fields=["email_key"], name="accounts_user_email_key_unique"),
        ]

    def __str__(self) -> str:
        return self.email

    def save(self, **kwargs: Any) -> None:
        """Save, with `email_key` recomputed from `email`.

        The one place the key is written: create_user, sign-up, the admin's forms and a shell
        all save through here, so no row can carry an address under a stale key. (A bulk
        update() of emails would bypass it: change an address through save().)
        """
        self.email_key = canonical_email(self.email)
        update_fields = kwargs.get("update_fields")
        if update_fields is not None and "email" in update_fields:
            kwargs["update_fields"] = {*update_fields, "email_key"}
        super().save(**kwargs)

    def validate_constraints(self, exclude: Collection[str] | None = None) -> None:
        """Django's constraint checks, with the key's uniqueness checked along with `email`.

        `email_key` is on no form, so a form's validation would skip its constraint and a
        look-alike of an existing address would reach the database as an IntegrityError. It
        is checked whenever `email` is, and a clash is reported on `email`, the field a
        person can correct.
        """
        excluded = set(exclude or ())
        super().validate_constraints(exclude=excluded | {"email_key"})
        if "email" in excluded:
            return
        others = type(self)._default_manager.with_email(self.email).exclude(pk=self.pk)
        if others.exists():
            raise ValidationError({"email": self.unique_error_message(type(self), ("email",))})

    @property
    def role(self) -> str:
        """The account's platform role: `admin` for operators, `user` for everyone else."""
        return "admin" if self.is_staff else "user"

    def mark_verified(self) -> None:
        self.is_verified = True
        self.verified_at = timezone.now()
        self.save(update_fields=["is_verified", "verified_at", "updated_at"])


class UserSession(AbstractBaseSession):
    """A session row that knows its user (accounts.sessions.SessionStore fills `user_id`), so
    one person's sessions are counted and ended by an index, not by decoding every session."""

    user_id = models.CharField(max_length=ULID_LENGTH, blank=True, default="", db_index=True)

    @classmethod
    def get_session_store_class(cls) -> type:
        from accounts.sessions import SessionStore

        return SessionStore

    class Meta(AbstractBaseSession.Meta):
        db_table = "accounts_session"
