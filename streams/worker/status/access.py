"""Who may use the regulator's lookup, and what its form sent.

The lookup ("who received this person's data") answers only to a credential: the token
held in the file ``CREDITSTREAM_STATUS_REGULATOR_TOKEN_FILE`` names (a mounted secret,
so it never sits in the environment; its trailing newline is cut, as for the SASL
password file). Without that setting the lookup is disabled and says so; the rest of the
status page is open and read-only.

Contract:

* :func:`load_token` reads the file once, at start: ``None`` when no file is configured,
  a ``SecretStr`` otherwise; an unreadable, non-UTF-8, empty or too short
  (< :data:`MIN_TOKEN_CHARS`) file is a ``ConfigError`` (the worker does not start with
  a guessable or broken credential).
* :func:`verdict` compares a presented token with the configured one in constant time:
  ``"ok"``, ``"missing"`` (nothing presented: 401), ``"wrong"`` (403) or
  ``"disabled"`` (no token configured).
* :func:`form_fields` decodes an ``application/x-www-form-urlencoded`` body of at most
  :data:`MAX_FORM_BYTES`; anything else is a ``ValueError`` whose message never repeats
  the body (it holds a national ID).

No Kafka, no Faust. Nothing here logs.
"""

from __future__ import annotations

import hmac
from pathlib import Path
from typing import Literal
from urllib.parse import parse_qs

from pydantic import SecretStr

from streams.errors import ConfigError

#: Shortest token accepted: below this a token is guessable.
MIN_TOKEN_CHARS = 16
#: Largest lookup form body read (a national ID and a token fit many times over).
MAX_FORM_BYTES = 4096
#: The setting naming the token file, as operators type it.
TOKEN_SETTING = "CREDITSTREAM_STATUS_REGULATOR_TOKEN_FILE"

Verdict = Literal["ok", "missing", "wrong", "disabled"]


def load_token(path: Path | None) -> SecretStr | None:
    """The regulator's token from ``path`` (``None``: the lookup is disabled)."""
    if path is None:
        return None
    try:
        text = path.read_text(encoding="utf-8").rstrip("\r\n")
    except (OSError, UnicodeDecodeError) as exc:
        why = exc.strerror if isinstance(exc, OSError) else "not UTF-8 text"
        raise ConfigError(f"cannot read the regulator token file {path}: {why}") from None
    if len(text) < MIN_TOKEN_CHARS:
        raise ConfigError(
            f"the regulator token in {path} is shorter than {MIN_TOKEN_CHARS} characters"
        )
    return SecretStr(text)


def verdict(configured: SecretStr | None, presented: str | None) -> Verdict:
    """Whether ``presented`` opens the lookup (see the module doc)."""
    if configured is None:
        return "disabled"
    if not presented:
        return "missing"
    same = hmac.compare_digest(
        presented.encode("utf-8", "replace"), configured.get_secret_value().encode()
    )
    return "ok" if same else "wrong"


def bearer(authorization: str | None) -> str | None:
    """The token of an ``Authorization: Bearer <token>`` header, else ``None``."""
    if not authorization:
        return None
    scheme, _, token = authorization.partition(" ")
    if scheme.lower() != "bearer":
        return None
    return token.strip() or None


def form_fields(body: bytes, content_type: str) -> dict[str, str]:
    """The fields of a url-encoded form (the first value of each)."""
    media_type = content_type.partition(";")[0].strip().lower()
    if media_type != "application/x-www-form-urlencoded":
        raise ValueError("send the form as application/x-www-form-urlencoded")
    if len(body) > MAX_FORM_BYTES:
        raise ValueError(f"the form is larger than {MAX_FORM_BYTES} bytes")
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        raise ValueError("the form is not UTF-8") from None
    fields = parse_qs(text, keep_blank_values=True, max_num_fields=8)
    return {name: values[0] for name, values in fields.items()}
