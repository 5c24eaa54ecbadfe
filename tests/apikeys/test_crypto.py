"""apikeys.crypto: key format, checksum, digest."""

from __future__ import annotations

import re

import pytest

from apikeys import crypto

PREFIX = "ba_"
PEPPER = b"pepper-for-tests"


def test_a_key_has_prefix_random_part_and_checksum():
    key = crypto.generate(PREFIX)

    assert key.startswith(PREFIX)
    assert len(key) == len(PREFIX) + crypto.RANDOM_LENGTH + crypto.CHECKSUM_LENGTH
    assert re.fullmatch(crypto.key_pattern(PREFIX), key)
    assert crypto.checksum(key[: -crypto.CHECKSUM_LENGTH]) == key[-crypto.CHECKSUM_LENGTH :]


def test_the_random_part_carries_at_least_160_bits():
    import math

    assert crypto.RANDOM_LENGTH * math.log2(62) >= 160
    # The part never stored (after the lookup id) is itself above 160 bits.
    assert (crypto.RANDOM_LENGTH - crypto.LOOKUP_LENGTH) * math.log2(62) >= 160


def test_keys_do_not_repeat():
    keys = {crypto.generate(PREFIX) for _ in range(2000)}

    assert len(keys) == 2000
    assert len({crypto.lookup_of(k, PREFIX) for k in keys}) == 2000


def test_parse_accepts_a_good_key_and_returns_its_lookup():
    key = crypto.generate(PREFIX)

    parsed = crypto.parse(key, PREFIX)

    assert parsed is not None
    assert parsed.lookup == key[len(PREFIX) : len(PREFIX) + crypto.LOOKUP_LENGTH]


def _flip(key: str, index: int) -> str:
    replacement = "A" if key[index] != "A" else "B"
    return key[:index] + replacement + key[index + 1 :]


@pytest.mark.parametrize(
    "mangle",
    [
        lambda k: "",
        lambda k: PREFIX,
        lambda k: k[:-1],
        lambda k: k + "0",
        lambda k: "xx_" + k[3:],
        lambda k: _flip(k, 10),
        lambda k: _flip(k, len(k) - 1),
        lambda k: k[:10] + "é" + k[11:],
        lambda k: k[:10] + " " + k[11:],
        lambda k: k[:10] + "-" + k[11:],
        lambda k: k.upper(),
    ],
    ids=[
        "empty",
        "prefix-only",
        "truncated",
        "extra",
        "wrong-prefix",
        "flipped-random",
        "flipped-checksum",
        "unicode",
        "space",
        "punctuation",
        "upper-cased",
    ],
)
def test_parse_refuses_wrong_shapes_and_checksums(mangle):
    assert crypto.parse(mangle(crypto.generate(PREFIX)), PREFIX) is None


def test_digest_is_versioned_keyed_and_not_the_key():
    key = crypto.generate(PREFIX)

    stored = crypto.digest(key, PEPPER)

    assert stored.startswith(f"v2${crypto.pepper_id(PEPPER)}$")
    assert key not in stored
    assert stored != crypto.digest(key, b"another-pepper")
    assert crypto.matches(key, stored, PEPPER)
    assert not crypto.matches(key, stored, b"another-pepper")
    assert not crypto.matches(crypto.generate(PREFIX), stored, PEPPER)


def test_an_unknown_digest_version_never_matches():
    key = crypto.generate(PREFIX)
    stored = crypto.digest(key, PEPPER)

    assert not crypto.matches(key, "v0$" + stored[3:], PEPPER)


def test_start_shows_only_a_few_characters():
    key = crypto.generate(PREFIX)

    start = crypto.start(key, PREFIX)

    assert key.startswith(start)
    assert len(start) == len(PREFIX) + crypto.START_LENGTH


def test_a_parsed_key_never_shows_the_key_in_its_repr():
    key = crypto.generate(PREFIX)

    assert key not in repr(crypto.parse(key, PREFIX))
