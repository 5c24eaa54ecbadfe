"""The dashboard's forms. Each one validates through the API's own serializer, so a page and
the JSON API accept and refuse exactly the same input."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from django import forms
from django.utils import timezone
from rest_framework import serializers

from access import scopes
from accounts.serializers import (
    ResendVerificationSerializer,
    SignInSerializer,
    SignUpSerializer,
)
from api.errors import NON_FIELD
from apikeys import conf
from apikeys.serializers import (
    ApiKeyCreateSerializer,
    ApiKeyEditSerializer,
    ApiKeyRollSerializer,
    KeyPolicyInputSerializer,
)
from tenants.models import Membership, Role
from tenants.serializers import (
    InvitationCreateSerializer,
    OrganizationInputSerializer,
    ProjectSerializer,
)

DAY = 24 * 60 * 60


class SerializerForm(forms.Form):
    """A form whose clean() hands the data to `serializer_class` and files its errors under the
    form's fields (`field_names` maps a serializer field to a form field where they differ)."""

    serializer_class: type[serializers.Serializer]
    field_names: dict[str, str] = {}

    def serializer_data(self, cleaned: dict[str, Any]) -> dict[str, Any]:
        return {name: cleaned.get(name) for name in self.serializer_class().fields}

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean()
        if self.errors:
            return cleaned
        data = self.serializer_data(cleaned)
        if self.errors:  # serializer_data may find a problem of its own
            return cleaned
        self.serializer = self.serializer_class(data=data)
        if self.serializer.is_valid():
            self.validated_data = self.serializer.validated_data
        else:
            self.add_serializer_errors(self.serializer.errors)
        return cleaned

    def add_serializer_errors(self, errors: dict[str, Any], prefix: str = "") -> None:
        for name, detail in errors.items():
            path = f"{prefix}.{name}" if prefix else name
            if isinstance(detail, dict):
                self.add_serializer_errors(detail, path)
                continue
            field = self.field_names.get(path, path)
            if field == NON_FIELD or field not in self.fields:
                field = None
            for message in detail:
                self.add_error(field, str(message))


def _email_field() -> forms.CharField:
    # A CharField: the serializer's EmailField is the one judge of what an address is.
    return forms.CharField(
        label="Email",
        max_length=254,
        widget=forms.EmailInput(attrs={"autocomplete": "email", "autocapitalize": "none"}),
    )


def _password_field(label: str, autocomplete: str, **kwargs: Any) -> forms.CharField:
    return forms.CharField(
        label=label,
        max_length=1024,
        strip=False,
        widget=forms.PasswordInput(attrs={"autocomplete": autocomplete}),
        **kwargs,
    )


class SignUpForm(SerializerForm):
    serializer_class = SignUpSerializer

    name = forms.CharField(
        label="Full name",
        max_length=150,
        required=False,
        widget=forms.TextInput(attrs={"autocomplete": "name"}),
    )
    email = _email_field()
    password = _password_field(
        "Password",
        "new-password",
        help_text="At least 10 characters; not a common password, not all digits, "
        "and not like your name or email.",
    )

    def serializer_data(self, cleaned: dict[str, Any]) -> dict[str, Any]:
        return {**cleaned, "name": cleaned.get("name") or ""}


class InvitationForm(SerializerForm):
    serializer_class = InvitationCreateSerializer

    email = _email_field()
    role = forms.ChoiceField(label="Role")

    def __init__(self, *args: Any, roles: list[tuple[str, str]], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["role"].choices = roles
        self.fields["role"].initial = Role.MEMBER


class SignInForm(SerializerForm):
    serializer_class = SignInSerializer

    email = _email_field()
    password = _password_field("Password", "current-password")


class EmailForm(SerializerForm):
    """Resend the verification email, or ask for a password reset link."""

    serializer_class = ResendVerificationSerializer

    email = _email_field()


class NewPasswordForm(forms.Form):
    """A new password, typed twice; the rules are checked by the caller, who knows the user."""

    new_password = _password_field("New password", "new-password")
    confirm_password = _password_field("Confirm new password", "new-password")

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean()
        new, confirm = cleaned.get("new_password"), cleaned.get("confirm_password")
        if new and confirm and new != confirm:
            self.add_error("confirm_password", "The two passwords do not match.")
        return cleaned


class PasswordResetForm(NewPasswordForm):
    """A new password from a reset link, and whether every key should be revoked too."""

    revoke_keys = forms.BooleanField(required=False)


class PasswordChangeForm(NewPasswordForm):
    current_password = _password_field("Current password", "current-password")

    field_order = ["current_password", "new_password", "confirm_password"]

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean()
        if cleaned.get("new_password") and cleaned.get("new_password") == cleaned.get(
            "current_password"
        ):
            self.add_error("new_password", "Choose a password different from the current one.")
        return cleaned


class ProjectForm(SerializerForm):
    serializer_class = ProjectSerializer

    name = forms.CharField(label="Name", max_length=100)
    description = forms.CharField(
        label="Description",
        max_length=2000,
        required=False,
        widget=forms.Textarea(attrs={"rows": 2}),
    )

    def serializer_data(self, cleaned: dict[str, Any]) -> dict[str, Any]:
        return {"name": cleaned.get("name"), "description": cleaned.get("description") or ""}


# --- API keys -------------------------------------------------------------------------------

EXPIRY_PRESETS = [("7", "7 days"), ("30", "30 days"), ("90", "90 days"), ("365", "1 year")]


def presets() -> dict[str, list[str]]:
    """The key form's one-click choices, from the scope registry as it stands (apps register
    their scopes at start-up, so this is read when a form is built, never at import)."""
    every = list(scopes.CATALOGUE)
    return {
        "read-only": [scope for scope in every if scope.endswith(":read")],
        "full-access": every,
    }


# `*` and `admin` grant exactly the same thing, everything (access.scopes.FULL_ACCESS), but the
# catalogue's descriptions read as two kinds of "Full access". The form tells them apart by
# saying what each is.
FULL_ACCESS_DESCRIPTIONS = {
    "*": "Everything: every scope of every resource, administration included.",
    "admin": "The same as *, under the name some tools expect: everything.",
}


def _form_catalogue() -> list[dict[str, str]]:
    """The scope catalogue with the descriptions the form shows."""
    return [
        {
            **entry,
            "description": FULL_ACCESS_DESCRIPTIONS.get(entry["scope"], entry["description"]),
        }
        for entry in scopes.catalogue()
    ]


def scope_choices() -> list[tuple[str, str]]:
    return [(entry["scope"], entry["description"]) for entry in _form_catalogue()]


def scope_groups() -> list[dict[str, Any]]:
    """The catalogue grouped for the form: one group per resource (its `resource:*`
    included), then the wildcards that span every resource."""
    groups: dict[str, list[dict[str, str]]] = {}
    for entry in _form_catalogue():
        groups.setdefault(entry["resource"], []).append(entry)
    wildcards = groups.pop("*", [])
    named = [
        {"name": resource.replace("-", " ").capitalize(), "scopes": entries}
        for resource, entries in groups.items()
    ]
    return [*named, {"name": "Every resource", "scopes": wildcards}]


class ApiKeyCreateForm(SerializerForm):
    serializer_class = ApiKeyCreateSerializer
    field_names = {
        "expiresIn": "expiry",
        "metadata.organizationId": "organization",
        "allowedCidrs": "allowed_networks",
    }

    name = forms.CharField(
        label="Name",
        max_length=100,
        help_text="What the key is for, e.g. “CI deploys” or “Reporting script”.",
    )
    scopes = forms.MultipleChoiceField(
        label="Scopes",
        widget=forms.CheckboxSelectMultiple,
        error_messages={"required": "Choose at least one scope."},
    )
    expiry = forms.ChoiceField(label="Expiration", widget=forms.RadioSelect, initial="30")
    expiry_date = forms.DateField(
        label="Expires on",
        required=False,
        help_text="The key works until the end of this day (UTC).",
        widget=forms.DateInput(attrs={"type": "date"}),
    )
    organization = forms.ChoiceField(label="Organization", required=False)
    allowed_networks = forms.CharField(
        label="Allowed networks",
        required=False,
        max_length=4000,
        widget=forms.Textarea(attrs={"rows": 3, "spellcheck": "false"}),
        help_text="One IP address or CIDR range per line, e.g. 203.0.113.0/24: "
        "the key is refused from any other address. Empty: any address.",
    )
    nonce = forms.CharField(widget=forms.HiddenInput, max_length=64)

    def __init__(self, *args: Any, memberships: list[Membership], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["scopes"].choices = scope_choices()
        shortest, longest = conf.setting("MIN_EXPIRES_IN"), conf.setting("MAX_EXPIRES_IN")
        presets = [
            (days, label)
            for days, label in EXPIRY_PRESETS
            if shortest <= int(days) * DAY <= longest
        ]
        self.fields["expiry"].choices = [
            *presets,
            ("custom", "Custom date"),
            ("never", "No expiration"),
        ]
        self.fields["organization"].choices = [
            ("", "All my organizations"),
            *((m.organization_id, m.organization.name) for m in memberships),
        ]
        today = timezone.now().date()
        # The earliest date whose end (midnight UTC after it) is at least MIN_EXPIRES_IN away.
        earliest = (timezone.now() + timedelta(seconds=shortest) - timedelta(days=1)).date()
        self.date_bounds = (max(today, earliest) + timedelta(days=1), self.latest_date())
        self.fields["expiry_date"].widget.attrs.update(
            {"min": self.date_bounds[0].isoformat(), "max": self.date_bounds[1].isoformat()}
        )

    @staticmethod
    def latest_date() -> date:
        latest = timezone.now() + timedelta(seconds=conf.setting("MAX_EXPIRES_IN"))
        # A custom date expires at the end of its day (UTC), which must still be in bounds.
        return (latest - timedelta(days=1)).date()

    def expires_in(self, cleaned: dict[str, Any]) -> int | None:
        choice = cleaned.get("expiry")
        if choice == "never":
            return None
        if choice != "custom":
            return int(choice) * DAY
        chosen = cleaned.get("expiry_date")
        low, high = self.date_bounds
        if chosen is None or not low <= chosen <= high:
            self.add_error(
                "expiry_date",
                f"Pick a date from {low:%-d %B %Y} to {high:%-d %B %Y}.",
            )
            return None
        end_of_day = datetime.combine(chosen + timedelta(days=1), time.min, tzinfo=UTC)
        return int((end_of_day - timezone.now()).total_seconds())

    def serializer_data(self, cleaned: dict[str, Any]) -> dict[str, Any]:
        return {
            "name": cleaned.get("name"),
            "scopes": cleaned.get("scopes"),
            "expiresIn": self.expires_in(cleaned),
            "metadata": {"organizationId": cleaned.get("organization") or None},
            "allowedCidrs": cleaned.get("allowed_networks", "").split() or None,
        }


class ApiKeyEditForm(SerializerForm):
    """A key's name and scopes, checked by the API's edit serializer."""

    serializer_class = ApiKeyEditSerializer

    name = forms.CharField(label="Name", max_length=100)
    scopes = forms.MultipleChoiceField(
        label="Scopes",
        widget=forms.CheckboxSelectMultiple,
        error_messages={"required": "Choose at least one scope."},
    )

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["scopes"].choices = scope_choices()


# When the current secret of a key being rolled stops working.
ROLL_OVERLAPS = [
    ("0", "Now"),
    (str(60 * 60), "In 1 hour"),
    (str(DAY), "In 24 hours"),
    (str(7 * DAY), "In 7 days"),
]


class ApiKeyRollForm(SerializerForm):
    serializer_class = ApiKeyRollSerializer
    field_names = {"expiresOldIn": "overlap"}

    overlap = forms.ChoiceField(
        label="The current key stops working",
        widget=forms.RadioSelect,
        choices=ROLL_OVERLAPS,
        initial=str(60 * 60),
    )
    nonce = forms.CharField(widget=forms.HiddenInput, max_length=64)

    def serializer_data(self, cleaned: dict[str, Any]) -> dict[str, Any]:
        return {"expiresOldIn": int(cleaned["overlap"])}


class OrganizationForm(SerializerForm):
    serializer_class = OrganizationInputSerializer

    name = forms.CharField(label="Name", max_length=100)


class OrganizationDeleteForm(forms.Form):
    confirm = forms.CharField(label="Type the organization's name to confirm", strip=False)

    def __init__(self, *args: Any, organization_name: str, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.organization_name = organization_name

    def clean_confirm(self) -> str:
        value = self.cleaned_data["confirm"]
        if value != self.organization_name:
            raise forms.ValidationError("Type the organization's name exactly.")
        return value


# --- Key policy -----------------------------------------------------------------------------


def _messages(detail: Any) -> list[str]:
    """Every message in a serializer error, however nested (a list's come by item index)."""
    if isinstance(detail, dict):
        return [message for value in detail.values() for message in _messages(value)]
    if isinstance(detail, list):
        return [message for value in detail for message in _messages(value)]
    return [str(detail)]


class KeyPolicyForm(SerializerForm):
    """An organization's key policy, checked by the API's key policy serializer. Every rule is
    sent: a blank number, no scope ticked or no network listed turns that rule off."""

    serializer_class = KeyPolicyInputSerializer
    field_names = {
        "requireExpiry": "require_expiry",
        "maxLifetimeDays": "max_lifetime_days",
        "allowedScopes": "allowed_scopes",
        "maxKeysPerMember": "max_keys_per_member",
        "allowedCidrs": "allowed_cidrs",
        "staleAfterDays": "stale_after_days",
    }

    require_expiry = forms.BooleanField(label="Keys must have an expiry date", required=False)
    max_lifetime_days = forms.IntegerField(
        label="Longest lifetime, in days",
        required=False,
        help_text="Keys must expire within this many days of their creation. Blank: no limit.",
        widget=forms.NumberInput(attrs={"min": 1}),
    )
    max_keys_per_member = forms.IntegerField(
        label="Keys per member",
        required=False,
        help_text="How many active keys acting here each member may hold. Blank: no limit.",
        widget=forms.NumberInput(attrs={"min": 1}),
    )
    stale_after_days = forms.IntegerField(
        label="Stop keys unused for, in days",
        required=False,
        help_text="A key unused this long stops working here. Blank: never.",
        widget=forms.NumberInput(attrs={"min": 1}),
    )
    allowed_scopes = forms.MultipleChoiceField(
        label="Allowed scopes", required=False, widget=forms.CheckboxSelectMultiple
    )
    allowed_cidrs = forms.CharField(
        label="Allowed networks",
        required=False,
        help_text="One per line, in CIDR notation such as 203.0.113.0/24 (a bare address is "
        "its own network). Blank: any address.",
        widget=forms.Textarea(attrs={"rows": 4, "spellcheck": "false"}),
    )

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["allowed_scopes"].choices = scope_choices()

    @staticmethod
    def initial_from(policy: dict[str, Any]) -> dict[str, Any]:
        """The form's fields for a policy in its API form (apikeys.policy.shown)."""
        return {
            "require_expiry": policy["requireExpiry"],
            "max_lifetime_days": policy["maxLifetimeDays"],
            "max_keys_per_member": policy["maxKeysPerMember"],
            "stale_after_days": policy["staleAfterDays"],
            "allowed_scopes": policy["allowedScopes"] or [],
            "allowed_cidrs": "\n".join(policy["allowedCidrs"] or []),
        }

    def serializer_data(self, cleaned: dict[str, Any]) -> dict[str, Any]:
        lines = (cleaned.get("allowed_cidrs") or "").splitlines()
        cidrs = [line.strip() for line in lines if line.strip()]
        return {
            "requireExpiry": bool(cleaned.get("require_expiry")),
            "maxLifetimeDays": cleaned.get("max_lifetime_days"),
            "allowedScopes": cleaned.get("allowed_scopes") or None,
            "maxKeysPerMember": cleaned.get("max_keys_per_member"),
            "allowedCidrs": cidrs or None,
            "staleAfterDays": cleaned.get("stale_after_days"),
        }

    def add_serializer_errors(self, errors: dict[str, Any], prefix: str = "") -> None:
        # A list's errors (one network, one scope) go under the list's own field.
        super().add_serializer_errors(
            {name: _messages(detail) for name, detail in errors.items()}, prefix
        )
