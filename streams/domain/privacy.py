"""Pseudonymization of national IDs: ``borrower_id = HMAC-SHA256(key, normalized ID)``.

Contract:

* :func:`normalize_national_id` is idempotent and removes only formatting (spaces,
  dashes, dots, slashes, Unicode compatibility forms, case), so ``"ab-12.34"`` and
  ``"AB 1234"`` are the same person.
* :class:`Pseudonymizer` holds one key per integer version. New events use the current
  (highest unless told) version; older versions stay loaded so IDs minted under them can
  be recomputed during a rotation. ``borrower_id`` is 64 lowercase hex chars and always
  travels with its ``key_version`` (``ExchangeEvent.key_version``).
* Key material is never part of ``repr``/``str``/pickles and never logged: it is held in
  pydantic ``SecretBytes`` and only unwrapped to seed the HMAC.

Pure: no Kafka, no I/O except reading a key file on construction.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import unicodedata
from collections.abc import Mapping
from pathlib import Path
from typing import Any, TypeAlias

from pydantic import SecretBytes, SecretStr

from streams.errors import ConfigError

MIN_KEY_BYTES = 16  # below this an HMAC key is guessable; 32 recommended
KeyMaterial: TypeAlias = SecretBytes | SecretStr | bytes | str

# Formatting characters people and systems put in IDs: whitespace, dots, slashes and the
# whole family of Unicode dashes/hyphens/minus signs.
_SEPARATORS = re.compile(r"[\s.\-/\u00ad\u2010-\u2015\u2212\ufe58\ufe63\uff0d]+")
_VALID = re.compile(r"[A-Z0-9]{4,32}")
# Same set as _SEPARATORS restricted to ASCII (re's \s includes \x1c-\x1f).
_ASCII_STRIP = str.maketrans("", "", " \t\r\n\f\v\x1c\x1d\x1e\x1f.-/")


def normalize_national_id(raw: str) -> str:
    """Canonical form of a national ID: separators removed, uppercase, NFKC; idempotent."""
    if raw.isascii():
        # Fast path for the common case; ASCII upper() never creates separators.
        return raw.translate(_ASCII_STRIP).upper()
    value = raw
    # NFKC and upper() can each expose work for the other (e.g. ligatures, fullwidth
    # forms), so iterate to a fixed point; in practice one or two rounds.
    for _ in range(4):
        nxt = _SEPARATORS.sub("", unicodedata.normalize("NFKC", value).upper())
        if nxt == value:
            break
        value = nxt
    return value


def is_valid_national_id(normalized: str) -> bool:
    """Whether a *normalized* ID has a plausible shape (4..32 ASCII letters/digits)."""
    return _VALID.fullmatch(normalized) is not None


def read_key_file(path: Path) -> SecretBytes:
    """Key bytes from a secret file (e.g. a mounted Kubernetes secret), trailing newline cut."""
    try:
        data = path.read_bytes().strip()
    except OSError as exc:
        # The path is configuration, not a secret; the key itself is never shown.
        raise ConfigError(f"cannot read pseudonymization key file {path}: {exc.strerror}") from None
    return SecretBytes(data)


def _as_secret(value: KeyMaterial) -> SecretBytes:
    if isinstance(value, SecretBytes):
        return value
    if isinstance(value, SecretStr):
        return SecretBytes(value.get_secret_value().encode())
    return SecretBytes(value.encode() if isinstance(value, str) else bytes(value))


class Pseudonymizer:
    """Keyed, versioned national-ID pseudonymizer. Thread-safe; cheap to call."""

    __slots__ = ("_current", "_keys", "_macs")

    def __init__(self, keys: Mapping[int, KeyMaterial], current_version: int | None = None) -> None:
        if not keys:
            raise ConfigError("at least one pseudonymization key version is required")
        self._keys: dict[int, SecretBytes] = {}
        self._macs: dict[int, Any] = {}
        for version, material in keys.items():
            secret = _as_secret(material)
            if version < 0:
                raise ConfigError(f"key version must be >= 0, got {version}")
            if len(secret.get_secret_value()) < MIN_KEY_BYTES:
                raise ConfigError(
                    f"pseudonymization key version {version} is shorter than {MIN_KEY_BYTES} bytes"
                )
            self._keys[version] = secret
            # Keyed HMAC prepared once; each call copies it (cheaper than re-keying).
            self._macs[version] = hmac.new(secret.get_secret_value(), digestmod=hashlib.sha256)
        current = max(self._keys) if current_version is None else current_version
        if current not in self._keys:
            raise ConfigError(f"current key version {current} is not among the loaded versions")
        self._current = current

    @classmethod
    def from_files(
        cls, files: Mapping[int, Path], current_version: int | None = None
    ) -> Pseudonymizer:
        """Build from ``{version: secret file path}``."""
        return cls({v: read_key_file(p) for v, p in files.items()}, current_version)

    @property
    def current_version(self) -> int:
        """Version used for new events."""
        return self._current

    @property
    def versions(self) -> tuple[int, ...]:
        """Every loaded key version, ascending."""
        return tuple(sorted(self._keys))

    def borrower_id(self, national_id: str, version: int | None = None) -> str:
        """Hex HMAC-SHA256 of the normalized ID under ``version`` (default: current)."""
        mac = self._macs.get(self._current if version is None else version)
        if mac is None:
            raise ConfigError(f"pseudonymization key version {version} is not loaded")
        h = mac.copy()
        h.update(normalize_national_id(national_id).encode())
        return str(h.hexdigest())

    def pseudonymize(self, national_id: str) -> tuple[int, str]:
        """``(current key version, borrower_id)`` for a new event."""
        return self._current, self.borrower_id(national_id, self._current)

    def __repr__(self) -> str:
        return f"Pseudonymizer(versions={list(self.versions)}, current={self._current})"

    def __str__(self) -> str:  # not ``__str__ = __repr__``: mypyc compiles this class
        return self.__repr__()

    def __reduce__(self) -> Any:
        # Pickling would write key material to wherever the pickle goes.
        raise TypeError("Pseudonymizer holds secret keys and cannot be pickled")


def pseudonymizer_from_settings(
    key: SecretStr | None, key_file: Path | None, version: int
) -> Pseudonymizer:
    """The pseudonymizer a worker runs with: the key from a secret file or a setting.

    Refuses to run without a key: a made-up default key would make borrower_ids
    guessable by anyone who reads this source.
    """
    if key_file is not None:
        return Pseudonymizer({version: read_key_file(key_file)}, version)
    if key is not None:
        return Pseudonymizer({version: key}, version)
    raise ConfigError(
        "no pseudonymization key: set CREDITSTREAM_HMAC_KEY_FILE (preferred) or "
        "CREDITSTREAM_HMAC_KEY"
    )
