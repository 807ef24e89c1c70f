"""The clients' TLS settings: ``CREDITSTREAM_SECURITY_PROTOCOL=SASL_SSL`` with the CA of
``CREDITSTREAM_SSL_CA_FILE`` (or the system's CAs when unset)."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import SecretStr

from streams.errors import ConfigError
from streams.settings import Settings


def tls(**kw: object) -> Settings:
    return Settings(
        security_protocol="SASL_SSL",
        sasl_username="exchange",
        sasl_password=SecretStr("pw"),
        **kw,  # type: ignore[arg-type]
    )


def test_the_ca_file_is_what_the_client_trusts(tmp_path: Path) -> None:
    ca = tmp_path / "ca.crt"
    ca.write_text("-----BEGIN CERTIFICATE-----\n")
    conf = tls(ssl_ca_file=ca).kafka_client_config()
    assert conf["security.protocol"] == "SASL_SSL"
    assert conf["ssl.ca.location"] == str(ca)
    assert (conf["sasl.username"], conf["sasl.password"]) == ("exchange", "pw")


def test_without_a_ca_file_the_system_cas_are_trusted() -> None:
    conf = tls().kafka_client_config()
    assert "ssl.ca.location" not in conf
    assert conf["security.protocol"] == "SASL_SSL"


def test_a_missing_ca_file_is_one_clear_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="CREDITSTREAM_SSL_CA_FILE") as err:
        tls(ssl_ca_file=tmp_path / "nope.crt").kafka_client_config()
    assert "\n" not in str(err.value)


def test_sasl_ssl_needs_the_credentials_too() -> None:
    with pytest.raises(ConfigError, match="SASL_SSL needs CREDITSTREAM_SASL_USERNAME"):
        Settings(security_protocol="SASL_SSL").kafka_client_config()


def test_the_protocol_comes_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CREDITSTREAM_SECURITY_PROTOCOL", "SASL_SSL")
    monkeypatch.setenv("CREDITSTREAM_SSL_CA_FILE", "/etc/kafka-ca/ca.crt")
    settings = Settings()
    assert settings.security_protocol == "SASL_SSL"
    assert settings.ssl_ca_file == Path("/etc/kafka-ca/ca.crt")
    monkeypatch.setenv("CREDITSTREAM_SECURITY_PROTOCOL", "SSL_ANYTHING")
    with pytest.raises(ValueError, match="security_protocol"):
        Settings()
