"""Wrong usages of ``creditstream`` end in one clear line, never a traceback or client noise.

Each case runs the CLI as a user would (a subprocess). "Kafka down" is a free local port
where nothing listens (127.0.0.1 only), so no broker is needed. An error is exactly one
stderr line ``creditstream: error: …`` and exit 1; a usage mistake is argparse's usage
plus one error line and exit 2. ``--timeout 3`` must end the wait well before the
10 s a metadata request used to take.
"""

from __future__ import annotations

import argparse
import os
import socket
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import pytest

from streams import cli
from streams.cli import build_parser
from streams.commands.common import bootstrap_problem
from streams.errors import ConfigError
from streams.sdk.subscriber import SubscriberError, check_identity
from streams.settings import Settings

CLI = [sys.executable, "-m", "streams.cli"]
REPO = Path(__file__).resolve().parents[2]
#: Commands whose options this suite holds to "every option has a help text".
CHECKED_COMMANDS = (
    "worker", "publish", "simulate", "rejects", "platforms", "audit", "billing", "feed",
    "subscribe", "revoke", "demo",
)  # fmt: skip
SUBSCRIBE = [
    "--bank", "acme", "--customer-ref", "cust-1", "--consent-ref", "cons-1",
    "--purpose", "CREDIT_APPLICATION", "--expires", "2099-01-01",
]  # fmt: skip


def free_port() -> int:
    """A local port nobody listens on (bound once, then released)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass(frozen=True)
class Run:
    code: int
    stdout: str
    stderr: str
    seconds: float

    @property
    def err_lines(self) -> list[str]:
        return self.stderr.splitlines()


def run(*args: str, env: dict[str, str] | None = None, stdin: str = "") -> Run:
    base = {k: v for k, v in os.environ.items() if not k.startswith("CREDITSTREAM_")}
    start = time.monotonic()
    done = subprocess.run(
        [*CLI, *args],
        env=base | {"CREDITSTREAM_BOOTSTRAP": f"127.0.0.1:{free_port()}"} | (env or {}),
        input=stdin,
        capture_output=True,
        text=True,
        timeout=60,
        cwd=REPO,
        check=False,
    )
    return Run(done.returncode, done.stdout, done.stderr, time.monotonic() - start)


def assert_one_error_line(result: Run, *needles: str) -> None:
    assert "Traceback" not in result.stderr, result.stderr
    assert "%3|" not in result.stderr, result.stderr[:500]
    assert result.code == 1, result
    assert len(result.err_lines) == 1, result.stderr[:2000]
    line = result.err_lines[0]
    assert line.startswith("creditstream: error: "), line
    for needle in needles:
        assert needle in line, line


def assert_usage_error(result: Run, needle: str) -> None:
    assert "Traceback" not in result.stderr, result.stderr
    assert result.code == 2, result
    assert result.err_lines[0].startswith("usage: creditstream"), result.stderr
    assert result.err_lines[-1].startswith("creditstream"), result.stderr
    assert "error:" in result.err_lines[-1] and needle in result.err_lines[-1], result.stderr


# -- files --------------------------------------------------------------------------------


def test_publish_of_a_missing_file_is_one_line(tmp_path: Path) -> None:
    missing = tmp_path / "nonexistent.jsonl"
    result = run("publish", "--platform", "acme", str(missing))
    assert_one_error_line(result, f"cannot read {missing}", "No such file or directory")


def test_publish_of_a_directory_is_one_line(tmp_path: Path) -> None:
    result = run("publish", "--platform", "acme", str(tmp_path))
    assert_one_error_line(result, f"cannot read {tmp_path}", "Is a directory")


# -- Kafka down ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "args",
    [
        ["rejects", "--platform", "acme"],
        ["billing", "--month", "2026-08"],
        ["audit", "verify"],
        ["audit", "--national-id", "850101-1234"],
        ["feed", "--bank", "acme"],
    ],
    ids=lambda a: "-".join(a[:2]),
)
def test_timeout_3_ends_the_wait_for_a_down_kafka_in_one_line(args: list[str]) -> None:
    port = free_port()
    env = {"CREDITSTREAM_HMAC_KEY": "unit-test-hmac-key-0123456789abcdef"}
    result = run("--bootstrap", f"127.0.0.1:{port}", *args, "--timeout", "3", env=env)
    assert_one_error_line(result, f"cannot reach Kafka at 127.0.0.1:{port}", "Connection refused")
    assert result.seconds < 8, f"--timeout 3 took {result.seconds:.1f} s"


def test_commands_without_timeout_also_end_in_one_line() -> None:
    """platforms (Kafka named by a CREDITSTREAM_BOOTSTRAP that nothing answers), simulate
    and subscribe wait the standard 10 s; run side by side to keep the suite quick."""
    port = free_port()
    cases = {
        "platforms": (["platforms"], {"CREDITSTREAM_BOOTSTRAP": f"127.0.0.1:{port}"}),
        "simulate": (["--bootstrap", f"127.0.0.1:{port}", "simulate", "--events", "10"], {}),
        "subscribe": (
            [
                "--bootstrap",
                f"127.0.0.1:{port}",
                "subscribe",
                "--national-id",
                "850101-1234",
                *SUBSCRIBE,
            ],
            {},
        ),
    }
    with ThreadPoolExecutor(len(cases)) as pool:
        futures = {name: pool.submit(run, *args, env=env) for name, (args, env) in cases.items()}
        results = {name: f.result() for name, f in futures.items()}
    for result in results.values():
        assert_one_error_line(result, f"cannot reach Kafka at 127.0.0.1:{port}")
        assert result.seconds < 30


def test_verbose_shows_the_client_log_lines_the_default_hides() -> None:
    port = free_port()
    args = ["--bootstrap", f"127.0.0.1:{port}", "rejects", "--platform", "acme", "--timeout", "1"]
    quiet, loud = run(*args), run("--verbose", *args)
    assert_one_error_line(quiet, "Connection refused")
    assert "%3|" not in loud.stderr and "Traceback" not in loud.stderr
    assert any(line.startswith("creditstream: kafka: ") for line in loud.err_lines)
    assert loud.err_lines[-1] == quiet.err_lines[0]


def test_an_unresolvable_bootstrap_names_the_reason() -> None:
    result = run("--bootstrap", "nosuchhost.invalid:9092", "rejects", "--platform", "acme",
                 "--timeout", "2")  # fmt: skip
    assert_one_error_line(result, "nosuchhost.invalid:9092", "resolve")


# -- settings and usage -------------------------------------------------------------------


def test_an_invalid_setting_is_one_line_naming_the_variable() -> None:
    result = run("platforms", env={"CREDITSTREAM_PARTITIONS": "many"})
    assert_one_error_line(result, "CREDITSTREAM_PARTITIONS")


def test_a_bootstrap_without_a_valid_port_is_refused() -> None:
    assert_usage_error(run("--bootstrap", "host:abc", "platforms"), "no valid port")
    result = run("platforms", env={"CREDITSTREAM_BOOTSTRAP": "host:abc"})
    assert_one_error_line(result, "CREDITSTREAM_BOOTSTRAP", "no valid port")


def test_a_timeout_must_be_positive() -> None:
    assert_usage_error(run("billing", "--month", "2026-08", "--timeout", "0"), "--timeout")


def test_subscribe_checks_the_national_id_before_contacting_kafka() -> None:
    result = run("subscribe", "--national-id", "12", *SUBSCRIBE)
    assert_one_error_line(result, "national_id is not 4-32 letters/digits")
    assert "12" not in result.err_lines[0].replace("4-32", "")  # the ID is never echoed
    assert result.seconds < 8
    revoke = run("revoke", "--national-id", "-", *SUBSCRIBE[:6], stdin="1-2\n")
    assert_one_error_line(revoke, "national_id is not 4-32 letters/digits")


def test_audit_reads_the_national_id_from_stdin_and_checks_it_first() -> None:
    """A regulator's lookup keeps the ID out of the process list; a bad one is one line."""
    key = {"CREDITSTREAM_HMAC_KEY": "k" * 32}
    bad = run("audit", "--national-id", "-", stdin="1-2\n", env=key)
    assert_one_error_line(bad, "--national-id is not 4-32 letters/digits")
    # A valid ID from stdin passes the check and gets as far as Kafka (down here).
    good = run("audit", "--national-id", "-", "--timeout", "3", stdin="850101-1234\n", env=key)
    assert_one_error_line(good, "cannot reach Kafka")


def test_subscribe_refuses_the_national_id_as_a_reference() -> None:
    args = [a if a != "cust-1" else "850101 1234" for a in SUBSCRIBE]
    result = run("subscribe", "--national-id", "850101-1234", *args)
    assert_one_error_line(result, "customer_ref must be printable and must not be the national ID")
    assert "850101" not in result.stderr


def test_version_comes_from_the_package_metadata() -> None:
    result = run("--version")
    assert (result.code, result.stdout.strip()) == (0, "creditstream 0.1.0")


def test_help_names_the_environment_and_bootstrap() -> None:
    result = run("--help")
    assert result.code == 0
    assert "--bootstrap HOST:PORT" in result.stdout
    assert "CREDITSTREAM_<NAME>" in result.stdout and "streams/settings.py" in result.stdout
    assert "CREDITSTREAM_SCHEMA_REGISTRY_URL" in result.stdout


def test_bootstrap_applies_to_the_command() -> None:
    """--bootstrap wins over CREDITSTREAM_BOOTSTRAP (the error names its address)."""
    port = free_port()
    result = run("--bootstrap", f"127.0.0.1:{port}", "rejects", "--platform", "acme",
                 "--timeout", "1", env={"CREDITSTREAM_BOOTSTRAP": "127.0.0.1:1"})  # fmt: skip
    assert_one_error_line(result, f"at 127.0.0.1:{port} ")


def test_every_option_of_these_commands_has_help() -> None:
    def missing(parser: argparse.ArgumentParser, path: str) -> list[str]:
        out = []
        for action in parser._actions:
            if isinstance(action, argparse._SubParsersAction):
                for name, child in action.choices.items():
                    out += missing(child, f"{path} {name}")
            elif action.help is None:
                out.append(f"{path} {'/'.join(action.option_strings) or action.dest}")
        return out

    top = build_parser()
    (commands,) = [a for a in top._actions if isinstance(a, argparse._SubParsersAction)]
    assert [a.dest for a in top._actions if a.option_strings and a.help is None] == []
    for name in CHECKED_COMMANDS:
        assert missing(commands.choices[name], name) == []


# -- pure checks --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "ok"),
    [
        ("127.0.0.1:9092", True),
        ("a:1,b:2", True),
        ("kafka", True),  # librdkafka's default port
        ("[::1]:9092", True),
        ("host:abc", False),
        ("host:0", False),
        ("host:70000", False),
        (":9092", False),
        ("", False),
        ("a:1,", False),
    ],
)
def test_bootstrap_problem(text: str, ok: bool) -> None:
    assert (bootstrap_problem(text) is None) is ok


def test_check_identity_applies_the_exchanges_rules_without_echoing() -> None:
    check_identity("850101-1234", "cust-1", "cons-1")
    check_identity("850101-1234", "cust-1", None)
    for nid, cref, consent in [
        ("12", "c", "k"),
        ("A" * 33, "c", "k"),
        ("850101-1234", "8501011234", "k"),
        ("850101-1234", "c\n", "k"),
        ("850101-1234", "c", "85 01 01 12 34"),
    ]:
        with pytest.raises(SubscriberError) as err:
            check_identity(nid, cref, consent)
        assert "8501" not in str(err.value) and "AAAA" not in str(err.value)


def test_an_install_without_its_schemas_fails_in_one_line(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """Building the parser reads the schemas (enum choices); missing ones are one line."""

    def no_schemas() -> argparse.ArgumentParser:
        raise ConfigError("no Avro schemas (*.avsc) in /nowhere")

    monkeypatch.setattr(cli, "build_parser", no_schemas)
    assert cli.main(["--help"]) == 1
    assert capsys.readouterr().err == "creditstream: error: no Avro schemas (*.avsc) in /nowhere\n"


def test_only_the_cli_routes_client_logs_through_python() -> None:
    """A Python logger on a client can abort a multi-threaded worker (confluent-kafka's
    CallState assertion, seen in the chaos run): the worker's clients get none."""
    assert "logger" not in Settings().kafka_client_config()
    args = build_parser().parse_args(["platforms"])
    assert "logger" in cli.effective_settings(args).kafka_client_config()
    args = build_parser().parse_args(["worker"])
    assert "logger" not in cli.effective_settings(args).kafka_client_config()
