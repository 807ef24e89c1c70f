"""Small argument helpers shared by subcommands."""

from __future__ import annotations

import argparse
import sys


def port_number(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a port number: {text!r}") from None
    if not 1 <= value <= 65535:
        raise argparse.ArgumentTypeError(f"port out of range 1-65535: {value}")
    return value


def bootstrap_problem(text: str) -> str | None:
    """Why ``text`` is not a ``HOST:PORT[,HOST:PORT…]`` list, or None when it is one.

    The port may be left out (librdkafka then uses 9092); a port that is not a number
    would silently become port 0, so it is refused here.
    """
    if not text.strip():
        return "no bootstrap server given (expected HOST:PORT)"
    for entry in text.split(","):
        server = entry.strip()
        host, sep, port = server.rpartition(":")
        if not sep or "]" in port:  # no port, or a bare [IPv6] address
            host, port = server, ""
        if not host.strip("[]"):
            return f"bootstrap server {server!r} has no host (expected HOST:PORT)"
        if port and (not port.isdigit() or not 1 <= int(port) <= 65535):
            return f"bootstrap server {server!r} has no valid port (1-65535)"
    return None


def bootstrap_servers(text: str) -> str:
    """argparse type of ``--bootstrap``: a ``HOST:PORT[,HOST:PORT…]`` list."""
    problem = bootstrap_problem(text)
    if problem is not None:
        raise argparse.ArgumentTypeError(problem)
    return text.strip()


def seconds(text: str) -> float:
    """argparse type of a ``--timeout``: a positive number of seconds."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number of seconds: {text!r}") from None
    if not value > 0 or value == float("inf"):
        raise argparse.ArgumentTypeError(f"must be a positive number of seconds: {text!r}")
    return value


def positive_days(text: str) -> float:
    """argparse type of a ``--days`` window: a positive number of days."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number of days: {text!r}") from None
    if not 0 < value < 100_000:
        raise argparse.ArgumentTypeError(f"must be a positive number of days: {text!r}")
    return value


def national_id(value: str) -> str:
    """``value``, or the first line of stdin when ``value`` is ``-``."""
    return sys.stdin.readline().strip() if value == "-" else value
