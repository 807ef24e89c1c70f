"""Pseudonymization: normalization, determinism, key versions, secrecy of keys."""

from __future__ import annotations

import hashlib
import hmac
import pickle
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import SecretStr

from streams.domain.privacy import (
    Pseudonymizer,
    is_valid_national_id,
    normalize_national_id,
    read_key_file,
)
from streams.errors import ConfigError

KEY1 = "k1-0123456789abcdef-secret-material"
KEY2 = "k2-fedcba9876543210-secret-material"
ids = st.text(min_size=1, max_size=40)
ascii_ids = st.text(alphabet="0123456789ABCDEFabcdef -.", min_size=4, max_size=30)


@given(ids)
def test_normalization_is_idempotent(raw: str) -> None:
    once = normalize_national_id(raw)
    assert normalize_national_id(once) == once


@given(ascii_ids)
def test_formatting_does_not_change_identity(raw: str) -> None:
    plain = raw.replace(" ", "").replace("-", "").replace(".", "").upper()
    assert normalize_national_id(raw) == plain
    assert normalize_national_id(f" {raw.lower()}\t") == plain


def test_normalization_examples() -> None:
    assert normalize_national_id("850101-1234") == "8501011234"
    assert normalize_national_id("ab 123.456-c") == "AB123456C"
    assert normalize_national_id("ＡＢ１２３４") == "AB1234"  # fullwidth forms (NFKC)
    assert normalize_national_id("85\u20130101\u00a01234") == "8501011234"  # en dash, nbsp
    assert is_valid_national_id("AB123456C") and not is_valid_national_id("A1")


@given(ids)
def test_same_id_same_borrower_id_under_one_version(raw: str) -> None:
    p = Pseudonymizer({1: KEY1})
    q = Pseudonymizer({1: SecretStr(KEY1)})  # another process with the same key
    assert p.borrower_id(raw) == q.borrower_id(raw) == p.borrower_id(normalize_national_id(raw))


@given(ids)
def test_key_versions_give_different_ids(raw: str) -> None:
    p = Pseudonymizer({1: KEY1, 2: KEY2})
    assert p.borrower_id(raw, 1) != p.borrower_id(raw, 2)


def test_borrower_id_is_hmac_sha256_hex_of_the_normalized_id() -> None:
    expected = hmac.new(KEY1.encode(), b"8501011234", hashlib.sha256).hexdigest()
    assert Pseudonymizer({1: KEY1}).borrower_id("850101-1234") == expected
    assert len(expected) == 64


def test_rotation_current_is_highest_unless_chosen_and_old_versions_stay_usable() -> None:
    p = Pseudonymizer({1: KEY1, 2: KEY2})
    assert p.current_version == 2 and p.versions == (1, 2)
    assert p.pseudonymize("850101-1234") == (2, p.borrower_id("850101-1234", 2))
    pinned = Pseudonymizer({1: KEY1, 2: KEY2}, current_version=1)
    assert pinned.pseudonymize("850101-1234") == (1, p.borrower_id("850101-1234", 1))
    with pytest.raises(ConfigError):
        p.borrower_id("850101-1234", 3)
    with pytest.raises(ConfigError):
        Pseudonymizer({1: KEY1}, current_version=2)


def test_weak_or_missing_keys_are_refused() -> None:
    with pytest.raises(ConfigError):
        Pseudonymizer({})
    with pytest.raises(ConfigError, match="shorter"):
        Pseudonymizer({1: "short"})


def test_key_file_is_read_and_trailing_newline_ignored(tmp_path: Path) -> None:
    path = tmp_path / "key1"
    path.write_text(KEY1 + "\n")
    assert read_key_file(path).get_secret_value() == KEY1.encode()
    from_file = Pseudonymizer.from_files({1: path})
    assert from_file.borrower_id("x1234") == Pseudonymizer({1: KEY1}).borrower_id("x1234")
    with pytest.raises(ConfigError) as err:
        Pseudonymizer.from_files({1: tmp_path / "missing"})
    assert KEY1 not in str(err.value)


def test_key_never_appears_in_repr_str_or_pickle(tmp_path: Path) -> None:
    path = tmp_path / "key2"
    path.write_text(KEY2)
    for p in (Pseudonymizer({1: KEY1, 2: KEY2}), Pseudonymizer.from_files({2: path})):
        for text in (repr(p), str(p), f"{p}", repr(read_key_file(path))):
            assert KEY1 not in text and KEY2 not in text
            assert "secret" not in text
        with pytest.raises(TypeError):
            pickle.dumps(p)
        assert not hasattr(p, "__dict__")  # no vars(p) dump of internals
