"""One identity per email address: the canonical key, and every way an address finds an account."""

from __future__ import annotations

import importlib
import re
from types import SimpleNamespace
from typing import Any
from urllib.parse import urlsplit

import pytest
from django.apps import apps as current_apps
from django.core import mail
from django.db import IntegrityError, connection, transaction
from django.db.migrations.executor import MigrationExecutor
from django.urls import reverse

from accounts.identity import canonical_email, nfkc_changes
from accounts.models import User
from accounts.tokens import user_for_password_reset_token
from tests.conftest import PASSWORD

pytestmark = pytest.mark.django_db

SIGN_UP = "/api/auth/sign-up/email"
SIGN_IN = "/api/auth/sign-in/email"
REQUEST_RESET = "/api/auth/request-password-reset"
DASHBOARD_SIGN_UP = "/sign-up"
NEW_PASSPHRASE = "a-long-secure-passphrase"
LOOK_ALIKE = (
    "Type the address in plain characters: it contains look-alike ones (such as fullwidth "
    "letters or a Kelvin sign for K)."
)
TAKEN = "An account with this email already exists."

KELVIN = "\u212a"  # KELVIN SIGN, NFKC: K
LONG_S = "\u017f"  # LATIN SMALL LETTER LONG S, NFKC: s
DOTTED_I = "\u0130"  # LATIN CAPITAL LETTER I WITH DOT ABOVE, casefold: i + U+0307

migration = importlib.import_module("accounts.migrations.0002_user_email_key")


# --- The key --------------------------------------------------------------------------------


CANONICAL = [
    ("jane@example.com", "jane@example.com"),
    ("Jane.Doe@Example.COM", "jane.doe@example.com"),
    ("  jane@example.com \n", "jane@example.com"),
    (f"{KELVIN}im@example.com", "kim@example.com"),
    (f"{LONG_S}am@example.com", "sam@example.com"),
    # The dotted capital I keeps its dot (casefold gives i + U+0307): it is another address
    # than info@, which PostgreSQL's lower() would have folded it into.
    (f"{DOTTED_I}nfo@example.com", "i\u0307nfo@example.com"),
    (
        "\uff4a\uff41\uff4e\uff45@\uff25\uff38\uff21\uff2d\uff30\uff2c\uff25.com",
        "jane@example.com",
    ),
    ("Stra\u00dfe@example.com", "strasse@example.com"),
    ("STRASSE@example.com", "strasse@example.com"),
    ("jane@b\u00fccher.example", "jane@xn--bcher-kva.example"),
    ("jane@B\u00dcCHER.EXAMPLE", "jane@xn--bcher-kva.example"),
    ("jane@bu\u0308cher.example", "jane@xn--bcher-kva.example"),
    ("jane@b\u00fccher\u3002example", "jane@xn--bcher-kva.example"),
    ("jane@XN--BCHER-KVA.example", "jane@xn--bcher-kva.example"),
    ("jane@stra\u00dfe.example", "jane@strasse.example"),
    ('"Jane@Home"@Example.com', '"jane@home"@example.com'),
    ("jane@[IPv6:::1]", "jane@[ipv6:::1]"),
]


@pytest.mark.parametrize(("address", "key"), CANONICAL)
def test_canonical_email(address, key):
    assert canonical_email(address) == key


@pytest.mark.parametrize("address", [address for address, _ in CANONICAL])
def test_a_key_is_its_own_key(address):
    # Typing the key itself finds the same account as the spelling it came from.
    key = canonical_email(address)

    assert canonical_email(key) == key


JUNK = [
    "",
    " ",
    "@",
    "@@",
    "not-an-address",
    "jane@",
    "@example.com",
    "jane@example..com",
    "jane@.",
    "jane@" + "x" * 64 + ".com",  # a label too long for IDNA
    "jane@" + "\u00fc" * 60 + ".example",  # too long once encoded
    "jane@exa\ufffdmple.com",  # not allowed in a domain name
    "jane@\ud800.com",  # an unpaired surrogate
    "jane\x00@example.com",
    "\x00",
    "jane@" + "\ufdfa" * 300,  # NFKC makes each of these 18 characters
    "\u0345\u0360\u1e9e\u030c\u1e9e\ufb00",
]


@pytest.mark.parametrize("junk", JUNK)
def test_canonical_email_never_raises_and_gives_a_storable_key(junk):
    key = canonical_email(junk)

    assert isinstance(key, str)
    key.encode("utf-8")  # hashable into a rate-limit key; raises on a lone surrogate
    assert "\x00" not in key  # PostgreSQL text cannot hold a NUL
    assert canonical_email(key) == key


def test_an_address_that_is_not_a_string_has_the_empty_key():
    assert canonical_email(None) == ""  # type: ignore[arg-type]


def test_a_domain_with_no_idna_form_keeps_its_folded_spelling():
    domain = "\u00dc" * 60 + ".example"

    assert canonical_email(f"Jane@{domain}") == f"jane@{domain.casefold()}"


@pytest.mark.parametrize(
    ("address", "changes"),
    [
        ("jane@example.com", False),
        ("Jane@B\u00fccher.example", False),
        ("stra\u00dfe@example.com", False),
        (f"{DOTTED_I}nfo@example.com", False),
        (f"{KELVIN}im@example.com", True),
        (f"{LONG_S}am@example.com", True),
        ("jane@\uff45xample.com", True),
        ("jane@bu\u0308cher.example", True),
        ("\ufb01le@example.com", True),  # the fi ligature
    ],
)
def test_nfkc_changes(address, changes):
    assert nfkc_changes(address) is changes


# --- Sign-up --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("existing", "attempt", "status", "code"),
    [
        ("kim@example.com", "KIM@EXAMPLE.COM", 409, "EMAIL_TAKEN"),
        ("kim@example.com", f"{KELVIN}im@example.com", 400, "VALIDATION_ERROR"),
        ("kim@example.com", "kim@\uff45xample.com", 400, "VALIDATION_ERROR"),
        ("jane@strasse.example", "jane@stra\u00dfe.example", 400, "VALIDATION_ERROR"),
        ("jane@xn--bcher-kva.example", "Jane@B\u00dcCHER.example", 409, "EMAIL_TAKEN"),
        ("jane@b\u00fccher.example", "jane@bu\u0308cher.example", 400, "VALIDATION_ERROR"),
    ],
)
def test_sign_up_with_a_look_alike_of_an_existing_address_is_refused(
    api_client, user_factory, existing, attempt, status, code
):
    owner = user_factory(email=existing)

    response = api_client.post(SIGN_UP, {"email": attempt, "password": NEW_PASSPHRASE})

    assert response.status_code == status
    body = response.json()
    assert body["success"] is False
    assert body["code"] == code
    if code == "VALIDATION_ERROR":
        assert body["details"] == {"email": [LOOK_ALIKE]}
        assert body["message"] == f"email: {LOOK_ALIKE}"
    else:
        assert body["message"] == TAKEN
    assert list(User.objects.values_list("pk", flat=True)) == [owner.pk]
    assert mail.outbox == []


@pytest.mark.parametrize(
    "address", [f"{KELVIN}im@example.com", "jane@\uff45xample.com", "jane@bu\u0308cher.example"]
)
def test_sign_up_refuses_a_look_alike_address_even_when_it_is_free(api_client, address):
    response = api_client.post(SIGN_UP, {"email": address, "password": NEW_PASSPHRASE})

    assert response.status_code == 400
    assert response.json()["code"] == "VALIDATION_ERROR"
    assert response.json()["details"] == {"email": [LOOK_ALIKE]}
    assert not User.objects.exists()


def test_the_address_is_kept_as_typed_and_keyed_canonically(api_client):
    response = api_client.post(
        SIGN_UP, {"email": "  Jane.Doe@B\u00fccher.Example ", "password": NEW_PASSPHRASE}
    )

    assert response.status_code == 200
    assert response.json()["data"]["email"] == "Jane.Doe@B\u00fccher.Example"
    user = User.objects.get()
    assert user.email == "Jane.Doe@B\u00fccher.Example"
    assert user.email_key == "jane.doe@xn--bcher-kva.example"
    assert mail.outbox[0].to == ["Jane.Doe@B\u00fccher.Example"]


def test_the_sign_up_page_refuses_a_look_alike_next_to_the_email_field(client, user_factory):
    user_factory(email="kim@example.com")

    response = client.post(
        DASHBOARD_SIGN_UP,
        {"name": "Kim", "email": f"{KELVIN}im@example.com", "password": NEW_PASSPHRASE},
    )

    assert response.status_code == 400
    block = re.search(r'<div id="id_email_error">(.*?)</div>', response.content.decode(), re.S)
    assert block is not None
    assert "look-alike ones" in block.group(1)
    assert User.objects.count() == 1


# --- Sign-in --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "spelling",
    [
        "kate.strasse@b\u00fccher.example",
        "KATE.STRASSE@B\u00dcCHER.EXAMPLE",
        f"{KELVIN}ate.strasse@b\u00fccher.example",
        "kate.stra\u00dfe@b\u00fccher.example",
        "kate.strasse@xn--bcher-kva.example",
        "\uff4b\uff41\uff54\uff45.strasse@bu\u0308cher.example",
        "  kate.strasse@b\u00fccher.example  ",
    ],
)
def test_sign_in_with_another_spelling_finds_the_same_account(api_client, user_factory, spelling):
    user = user_factory(email="Kate.Strasse@B\u00fccher.example")

    response = api_client.post(SIGN_IN, {"email": spelling, "password": PASSWORD})

    assert response.status_code == 200
    assert response.json()["data"]["id"] == user.pk
    assert response.json()["data"]["email"] == "Kate.Strasse@B\u00fccher.example"


def test_a_dotted_capital_i_is_another_address(api_client, user_factory):
    user_factory(email="info@example.com")

    response = api_client.post(
        SIGN_IN, {"email": f"{DOTTED_I}nfo@example.com", "password": PASSWORD}
    )

    assert response.status_code == 401
    assert response.json()["code"] == "INVALID_CREDENTIALS"


# --- Password reset -------------------------------------------------------------------------


@pytest.mark.parametrize(
    "spelling",
    [
        "KIM@example.com",
        f"{KELVIN}im@example.com",
        "kim@\uff25\uff38\uff21\uff2d\uff30\uff2c\uff25.com",
    ],
)
def test_a_reset_request_for_a_look_alike_reaches_only_the_real_account(
    api_client, user_factory, spelling
):
    real = user_factory(email="kim@example.com")
    squat = api_client.post(SIGN_UP, {"email": spelling, "password": NEW_PASSPHRASE})

    response = api_client.post(REQUEST_RESET, {"email": spelling})

    assert squat.status_code in (400, 409)
    assert response.status_code == 200
    assert response.json()["success"] is True
    assert User.objects.count() == 1
    assert [message.to for message in mail.outbox] == [["kim@example.com"]]
    link = re.search(r"https?://\S+", mail.outbox[0].body).group(0)
    token = urlsplit(link).path.rsplit("/", 1)[1]
    assert user_for_password_reset_token(token) == real


# --- The column -----------------------------------------------------------------------------


def test_the_key_follows_the_address_when_it_changes(user_factory):
    user = user_factory(email="old@example.com")

    user.email = "New@Example.com"
    user.save(update_fields=["email"])

    user.refresh_from_db()
    assert user.email_key == "new@example.com"
    assert User.objects.with_email("NEW@example.COM").get() == user
    assert not User.objects.with_email("old@example.com").exists()


def test_a_second_row_through_the_model_for_the_same_key_is_refused(user_factory):
    user_factory(email="kim@example.com")

    with pytest.raises(IntegrityError), transaction.atomic():
        User.objects.create_user(f"{KELVIN}IM@example.com", PASSWORD, handle="kim-2")

    assert User.objects.count() == 1


def test_the_database_holds_exactly_one_row_per_canonical_key(user_factory):
    user_factory(email="kim@example.com")
    # Straight to the database, past save(): the unique index itself refuses the row.
    squat = User(email=f"{KELVIN}im@example.com", email_key="kim@example.com", handle="kim-2")

    with pytest.raises(IntegrityError), transaction.atomic():
        User.objects.bulk_create([squat])

    assert User.objects.count() == 1


def test_the_admin_refuses_a_look_alike_of_another_account_on_the_email_field(
    admin_client, user_factory
):
    # email_key is on no admin form; its clash is reported on email, not raised as a 500.
    user_factory(email="kim@example.com")

    response = admin_client.post(
        reverse("admin:accounts_user_add"),
        {
            "email": f"{KELVIN}IM@example.com",
            "usable_password": "true",
            "password1": NEW_PASSPHRASE,
            "password2": NEW_PASSPHRASE,
        },
    )

    assert response.status_code == 200
    errors = re.findall(r'<ul class="errorlist[^>]*>(.*?)</ul>', response.content.decode(), re.S)
    assert errors == ["<li>User with this Email address already exists.</li>"]
    assert User.objects.count() == 2  # kim and the operator


# --- The migration --------------------------------------------------------------------------


def test_the_migration_fills_every_user_with_the_key_of_their_email(user_factory):
    jane = user_factory(email="Jane@B\u00fccher.example")
    kim = user_factory(email=f"{KELVIN}im@Example.com")
    User.objects.filter(pk=jane.pk).update(email_key="stale-1")
    User.objects.filter(pk=kim.pk).update(email_key="stale-2")

    migration.fill_email_keys(current_apps, SimpleNamespace(connection=connection))

    assert dict(User.objects.values_list("pk", "email_key")) == {
        jane.pk: "jane@xn--bcher-kva.example",
        kim.pk: "kim@example.com",
    }


def test_the_migration_names_the_users_whose_addresses_collide():
    rows = [
        ("01B", "STRASSE@example.com"),
        ("01C", "someone@example.com"),
        ("01A", "Stra\u00dfe@example.com"),
        ("01D", "kim@example.com"),
        ("01E", f"{KELVIN}im@example.com"),
    ]

    with pytest.raises(RuntimeError, match=r"user ids, per address: 01A, 01B; 01D, 01E\)"):
        migration.email_keys(rows)


def _migrate(target: str) -> Any:
    """Migrate accounts to `target`; return the apps of that state."""
    executor = MigrationExecutor(connection)
    executor.migrate([("accounts", target)])
    executor.loader.build_graph()
    return executor.loader.project_state([("accounts", target)]).apps


@pytest.fixture
def _back_to_the_latest_schema() -> Any:
    """Leave the database at the newest migration whatever a test migrated it to."""
    yield
    executor = MigrationExecutor(connection)
    executor.migrate(executor.loader.graph.leaf_nodes())


@pytest.mark.django_db(transaction=True)
@pytest.mark.usefixtures("_back_to_the_latest_schema")
def test_migrating_an_existing_database_keys_its_users():
    old = _migrate("0001_initial").get_model("accounts", "User")
    old.objects.create(id="01A", email="Jane@Example.com", handle="jane", password="!")
    old.objects.create(
        id="01B", email=f"{KELVIN}im@B\u00fccher.example", handle="kim", password="!"
    )

    _migrate("0002_user_email_key")

    assert dict(User.objects.values_list("pk", "email_key")) == {
        "01A": "jane@example.com",
        "01B": "kim@xn--bcher-kva.example",
    }
    assert User.objects.with_email("KIM@b\u00fccher.EXAMPLE").get().pk == "01B"


@pytest.mark.django_db(transaction=True)
@pytest.mark.usefixtures("_back_to_the_latest_schema")
def test_migrating_stops_with_a_clear_message_when_two_users_share_a_key():
    old = _migrate("0001_initial").get_model("accounts", "User")
    # LOWER(email) tells these apart; their canonical keys are one.
    old.objects.create(id="01A", email="Stra\u00dfe@example.com", handle="a", password="!")
    old.objects.create(id="01B", email="STRASSE@example.com", handle="b", password="!")
    try:
        with pytest.raises(RuntimeError, match="user ids, per address: 01A, 01B"):
            _migrate("0002_user_email_key")
        assert old.objects.count() == 2  # nothing was changed
    finally:
        old.objects.filter(pk="01B").delete()
        _migrate("0002_user_email_key")

    assert User.objects.get().email_key == "strasse@example.com"


@pytest.mark.parametrize(
    "email", ["u@fa\u00df.de", "u@\u03b1\u03c2.example", "u@fa\u00dfbar.example"]
)
def test_sign_up_refuses_a_domain_that_idna_versions_read_differently(api_client, email):
    response = api_client.post(
        "/api/auth/sign-up/email",
        {"email": email, "password": "a-long-secure-passphrase", "name": ""},
    )

    assert response.status_code == 400
    assert response.json()["code"] == "VALIDATION_ERROR"
    assert "email" in response.json()["details"]
    assert not User.objects.exists()
