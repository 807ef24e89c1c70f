"""The SASL password from a file (``CREDITSTREAM_SASL_PASSWORD_FILE``): a mounted secret
instead of an environment variable, and one clear error when it cannot be used."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import SecretStr

from streams.errors import ConfigError
from streams.settings import Settings


def secure(**kw: object) -> Settings:
    return Settings(security_protocol="SASL_PLAINTEXT", sasl_username="exchange", **kw)  # type: ignore[arg-type]


def test_the_password_comes_from_the_file_without_its_newline(tmp_path: Path) -> None:
    path = tmp_path / "password"
    path.write_text("s3cret-pass\n")
    conf = secure(sasl_password_file=path).kafka_client_config()
    assert conf["sasl.password"] == "s3cret-pass" and conf["sasl.username"] == "exchange"
    assert "s3cret" not in repr(secure(sasl_password_file=path))


@pytest.mark.parametrize(
    ("content", "why"),
    [(None, "No such file"), ("\n", "is empty"), (b"\xff\xfe", "not UTF-8")],
)
def test_an_unusable_file_is_one_clear_error(
    tmp_path: Path, content: str | bytes | None, why: str
) -> None:
    path = tmp_path / "password"
    if isinstance(content, bytes):
        path.write_bytes(content)
    elif content is not None:
        path.write_text(content)
    with pytest.raises(ConfigError, match=why) as caught:
        secure(sasl_password_file=path).kafka_client_config()
    assert str(path) in str(caught.value)


def test_a_password_and_a_file_together_are_refused(tmp_path: Path) -> None:
    path = tmp_path / "password"
    path.write_text("one")
    both = secure(sasl_password=SecretStr("two"), sasl_password_file=path)
    with pytest.raises(ConfigError, match="give one"):
        both.kafka_client_config()


def test_neither_names_both_ways_to_give_it() -> None:
    with pytest.raises(ConfigError, match="CREDITSTREAM_SASL_PASSWORD_FILE"):
        secure().kafka_client_config()
