"""``creditstream schemas check FILE.avsc [...]`` and ``creditstream schemas list``.

``check`` lets a platform (or the exchange) test a schema change before publishing with
it: each file's named type, with references to the other shipped types resolved, is
compared with the newest released schema of the same full name
(``streams.wire.schemas``, the ``avro`` package's checker plus logical types) both ways:

* backward: the new schema reads records written with the released one (what a reader
  upgrading first needs, and what ``check_backward_compatibility`` gates in CI);
* forward: the released schema reads records written with the new one (what the
  exchange and banks still on the release need while producers move first).

It prints "compatible" or each incompatibility in plain words, and exits 0 when every
file is compatible, 1 otherwise. A file that is not JSON or not Avro, or whose name has
no released version, is one error line (exit 1).

``list`` prints each shipped named type's full name, its CRC-64-AVRO fingerprint (the
8 bytes of Avro single-object encoding, as hex in wire order, and as the unsigned
64-bit number the spec defines) and the released versions that contain it, for banks
and platforms using another Avro library.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from streams.errors import ConfigError
from streams.settings import Settings
from streams.wire import evolution, schemas


def _released_sets() -> list[tuple[str, schemas.SchemaSet]]:
    return [
        (v, schemas.load_schemas(schemas.RELEASED_DIR / v)) for v in schemas.released_versions()
    ]


def cmd_check(args: argparse.Namespace, settings: Settings) -> int:
    candidate, names = evolution.candidate_schemas(args.files)
    released = schemas.latest_released()
    version = (schemas.released_versions() or ["none"])[-1]
    for path, name in zip(args.files, names, strict=True):
        if released is None or name not in released:
            known = ", ".join(released.top_level) if released is not None else "none"
            raise ConfigError(
                f"{path}: {name} has no released schema to check against "
                f"(released in {version}: {known})"
            )
    backward = {r.name: r for r in evolution.check_backward_compatibility(candidate, released)}
    failed = 0
    report: list[dict[str, Any]] = []
    for path, name in zip(args.files, names, strict=True):
        assert released is not None
        new, old = candidate.info(name).resolved, released.info(name).resolved
        label, rel = "the new schema", f"release {version}"
        problems = [
            *evolution.plain_problems(new, backward[name].messages, label, rel),
            *evolution.plain_problems(old, evolution.check_pair(old, new), rel, label),
        ]
        failed += bool(problems)
        report.append({"file": str(path), "name": name, "released": version, "problems": problems})
        if args.json:
            continue
        if not problems:
            print(f"{path}: {name} is compatible with release {version}")
            continue
        print(f"{path}: {name} is NOT compatible with release {version}:")
        for p in problems:
            print(f"  - {p}")
    if args.json:
        print(json.dumps([r | {"compatible": not r["problems"]} for r in report], indent=2))
    return 1 if failed else 0


def cmd_list(args: argparse.Namespace, settings: Settings) -> int:
    current = schemas.load_schemas()
    released = _released_sets()
    rows: list[dict[str, Any]] = []
    for name in current.top_level:
        info = current.info(name)
        versions = [
            v for v, s in released if name in s and s.info(name).fingerprint == info.fingerprint
        ]
        rows.append(
            {
                "name": name,
                "fingerprint": info.fingerprint.hex(),
                "fingerprint_int": info.fingerprint_int,
                "released": [v for v, s in released if name in s],
                "same_as_released": versions,
            }
        )
    if args.json:
        print(json.dumps(rows, indent=2))
        return 0
    width = max(len(r["name"]) for r in rows)
    print(f"{'schema':<{width}}  {'fingerprint (wire hex)':<22}  released")
    for r in rows:
        note = ", ".join(
            v if v in r["same_as_released"] else f"{v} (changed since)" for v in r["released"]
        )
        print(f"{r['name']:<{width}}  {r['fingerprint']:<22}  {note or 'not yet released'}")
    return 0


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = sub.add_parser(
        "schemas",
        help="check a schema change against the released schemas; list fingerprints",
        description=(
            "The Avro schemas of the exchange (schemas/, released versions in "
            "schemas/released/). Needs no Kafka."
        ),
    )
    actions = parser.add_subparsers(dest="action", required=True, metavar="ACTION")
    check = actions.add_parser(
        "check",
        help="is a changed .avsc compatible with the released schema of the same name?",
        description=(
            "For each FILE (one Avro named type, like schemas/*.avsc; references to the "
            "other shipped types resolve), compare it with the newest released schema of "
            "the same full name, both ways: the new schema must read data written with the "
            "released one, and the released one must read data written with the new one. "
            "Exit 0 when every file is compatible, 1 otherwise or on an invalid file."
        ),
    )
    check.add_argument(
        "files", nargs="+", type=Path, metavar="FILE.avsc", help="a schema file to check"
    )
    check.add_argument("--json", action="store_true", help="print the findings as JSON")
    check.set_defaults(handler=cmd_check)
    listing = actions.add_parser(
        "list",
        help="each schema's CRC-64-AVRO fingerprint and released versions",
        description=(
            "Full name, CRC-64-AVRO fingerprint of the Parsing Canonical Form (hex, in the "
            "byte order of Avro single-object encoding; --json adds the unsigned 64-bit "
            "value) and the released versions holding that name."
        ),
    )
    listing.add_argument("--json", action="store_true", help="print the list as JSON")
    listing.set_defaults(handler=cmd_list)
