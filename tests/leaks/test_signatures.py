"""The scanner's public keys: read from a file or an https URL, kept for a while, read again
early for a key not yet known but never in a loop, and checked as P-256 keys."""

from __future__ import annotations

import io
import json
from typing import Any

import pytest
import urllib3
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from leaks import signatures
from tests.config.test_settings import load_settings
from tests.leaks.conftest import key_list, new_scanner, public_pem

GITHUB_KEYS = "https://api.github.com/meta/public_keys/secret_scanning"
BODY = b'[{"token":"ba_x","type":"t","url":"","source":"content"}]'


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> Clock:
    clock = Clock()
    monkeypatch.setattr(signatures, "timer", clock)
    return clock


class Server:
    """api.github.com, as far as the key list goes: what it serves, and what was asked."""

    def __init__(self) -> None:
        self.body = b'{"public_keys": []}'
        self.status = 200
        self.fail = False
        self.requests: list[dict[str, Any]] = []


@pytest.fixture
def github(monkeypatch: pytest.MonkeyPatch, settings: Any) -> Server:
    """No real connection: every https request is recorded and answered by `Server`."""
    server = Server()

    def urlopen(pool: Any, method: str, url: str, **kwargs: Any) -> Any:
        server.requests.append({"host": pool.host, "method": method, "path": url, **kwargs})
        if server.fail:
            raise urllib3.exceptions.NewConnectionError(pool, "unreachable")
        return urllib3.HTTPResponse(
            body=io.BytesIO(server.body),
            headers={"Content-Type": "application/json"},
            status=server.status,
            preload_content=False,
        )

    monkeypatch.setattr(urllib3.HTTPSConnectionPool, "urlopen", urlopen)
    settings.LEAKS = {**settings.LEAKS, "SCANNING_PUBLIC_KEYS": GITHUB_KEYS}
    return server


def verifies(scanner: Any, body: bytes = BODY) -> bool:
    try:
        signatures.verify(body=body, key_id=scanner.key_id, signature=scanner.sign(body))
    except signatures.SignatureInvalid:
        return False
    return True


def test_the_key_list_is_read_from_a_file(scanner):
    assert verifies(scanner)


def test_the_key_list_is_fetched_from_an_https_url(github):
    scanner = new_scanner()
    github.body = key_list(scanner)

    assert verifies(scanner)
    [request] = github.requests
    assert (request["host"], request["method"], request["path"]) == (
        "api.github.com",
        "GET",
        "/meta/public_keys/secret_scanning",
    )
    assert request["redirect"] is False
    assert request["headers"]["Accept"] == "application/json"


def test_the_list_is_kept_and_read_again_once_it_is_old(github, clock, settings):
    scanner = new_scanner()
    github.body = key_list(scanner)
    settings.LEAKS = {**settings.LEAKS, "SCANNING_PUBLIC_KEYS_MAX_AGE": 3600}

    assert verifies(scanner) and verifies(scanner)
    clock.now += 3599
    assert verifies(scanner)
    assert len(github.requests) == 1
    clock.now += 2
    assert verifies(scanner)
    assert len(github.requests) == 2


def test_an_unknown_key_reads_the_list_again_but_at_most_once_a_minute(github, clock):
    old, rotated_in, stranger = new_scanner(), new_scanner(), new_scanner()
    github.body = key_list(old)
    assert verifies(old)

    # GitHub rotates a key in; the first message it signs makes us read the list again...
    github.body = key_list(old, rotated_in)
    clock.now += signatures.REFETCH_INTERVAL
    assert verifies(rotated_in)
    assert len(github.requests) == 2
    # ...but a flood of made-up key ids does not make us fetch in a loop.
    for _ in range(20):
        assert not verifies(stranger)
    assert len(github.requests) == 2
    clock.now += signatures.REFETCH_INTERVAL
    assert not verifies(stranger)
    assert len(github.requests) == 3


@pytest.mark.parametrize(
    "problem",
    ["unreachable", "status 500", "status 404", "not JSON", "wrong shape", "too large"],
)
def test_a_list_that_cannot_be_read_keeps_the_last_good_one(github, clock, problem):
    scanner = new_scanner()
    github.body = key_list(scanner)
    assert verifies(scanner)
    clock.now += 24 * 3600  # long past its age

    github.fail = problem == "unreachable"
    github.status = {"status 500": 500, "status 404": 404}.get(problem, 200)
    github.body = {
        "not JSON": b"<html>rate limited</html>",
        "wrong shape": b'{"keys": []}',
        "too large": b" " * (signatures.MAX_LIST_BYTES + 1) + b"{}",
    }.get(problem, github.body)

    assert verifies(scanner)
    assert len(github.requests) == 2


def test_with_no_list_ever_read_every_message_is_refused(github):
    github.fail = True
    scanner = new_scanner()

    with pytest.raises(signatures.SignatureInvalid) as refused:
        signatures.verify(body=BODY, key_id=scanner.key_id, signature=scanner.sign(BODY))

    assert refused.value.reason == "unknown_key"


def test_entries_that_are_not_p256_keys_are_left_out(tmp_path, settings):
    scanner = new_scanner()
    p384 = ec.generate_private_key(ec.SECP384R1())
    rsa_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    listing = tmp_path / "keys.json"
    listing.write_bytes(
        key_list(
            scanner,
            extra=[
                {"key_identifier": "p384", "key": public_pem(p384)},
                {"key_identifier": "rsa", "key": public_pem(rsa_key)},
                {"key_identifier": "junk", "key": "-----BEGIN PUBLIC KEY-----\nAAAA\n-----END"},
                {"key_identifier": 5, "key": public_pem(scanner.private_key)},
                {"key_identifier": "no key"},
                "not an entry",
            ],
        )
    )

    keys = signatures.public_keys_load(str(listing))

    assert set(keys) == {scanner.key_id}


@pytest.mark.parametrize(
    "content",
    [b"", b"[]", b'{"public_keys": {}}', b"\xff\xfe", b"[" * 100000],
    ids=["empty", "a list", "not a list of keys", "not UTF-8", "too deep"],
)
def test_a_malformed_file_is_unavailable(tmp_path, content):
    listing = tmp_path / "keys.json"
    listing.write_bytes(content)

    with pytest.raises(signatures.KeyListUnavailable):
        signatures.public_keys_load(str(listing))


def test_a_missing_file_is_unavailable(tmp_path):
    with pytest.raises(signatures.KeyListUnavailable):
        signatures.public_keys_load(str(tmp_path / "nowhere.json"))


def test_a_key_that_is_not_current_still_verifies(tmp_path, settings):
    # GitHub lists a key being rotated out with is_current false: it may still sign a while.
    scanner = new_scanner()
    listing = tmp_path / "keys.json"
    document = json.loads(key_list(scanner))
    document["public_keys"][0]["is_current"] = False
    listing.write_text(json.dumps(document))
    settings.LEAKS = {**settings.LEAKS, "SCANNING_PUBLIC_KEYS": str(listing)}

    assert verifies(scanner)


@pytest.mark.parametrize(
    "value",
    [
        "http://api.github.com/meta/public_keys/secret_scanning",
        "keys.json",
        "ftp://x/y",
        "https://",
    ],
)
def test_a_source_that_is_neither_https_nor_an_absolute_path_stops_start_up(value):
    result = load_settings(SECRET_SCANNING_PUBLIC_KEYS=value)

    assert result.returncode != 0
    assert "SECRET_SCANNING_PUBLIC_KEYS" in result.stderr


@pytest.mark.parametrize("value", ["", GITHUB_KEYS, "/etc/latchkey/secret_scanning.json"])
def test_an_https_url_or_an_absolute_path_starts(value):
    result = load_settings(SECRET_SCANNING_PUBLIC_KEYS=value)

    assert result.returncode == 0, result.stderr


def test_a_malformed_max_age_stops_start_up():
    result = load_settings(SECRET_SCANNING_PUBLIC_KEYS_MAX_AGE="30")

    assert result.returncode != 0
    assert "SECRET_SCANNING_PUBLIC_KEYS_MAX_AGE" in result.stderr
