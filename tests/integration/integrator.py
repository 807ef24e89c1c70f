"""A bank's integrator reading records with other Avro libraries, from the ``.avsc`` files alone.

* :func:`fastavro_decode`: fastavro's ``load_schema`` (named references resolved from the
  same folder), the single-object header checked against fastavro's own fingerprint.
* :func:`avro_java`: Apache Avro for Java (``tests/interop/avro-java``: Maven resolves its
  classpath from Maven Central, Java runs the reader as a single-file source program)
  — its fingerprint of every schema and its ``BinaryMessageDecoder`` decode of values.

Neither uses the project's codec or schema loader: what they agree with is what a bank
on those libraries gets.
"""

from __future__ import annotations

import base64
import io
import json
import re
import shutil
import subprocess
from datetime import datetime
from decimal import Decimal
from functools import cache
from pathlib import Path
from typing import Any

import fastavro
import fastavro.schema

from streams.domain.validation import to_epoch_ms
from streams.wire.codec import SINGLE_OBJECT_MAGIC
from streams.wire.schemas import SCHEMA_DIR

JAVA_READER = Path(__file__).parents[1] / "interop" / "avro-java"
_ISO = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d(:\d\d(\.\d+)?)?(Z|[+-]\d\d:\d\d)")


def fastavro_decode(values: list[bytes], full_name: str) -> list[dict[str, Any]]:
    """Decode single-object ``values`` of ``full_name`` with fastavro alone."""
    schema = fastavro.schema.load_schema(str(SCHEMA_DIR / f"{full_name}.avsc"))
    canonical = fastavro.schema.to_parsing_canonical_form(schema)
    header = SINGLE_OBJECT_MAGIC + bytes.fromhex(
        fastavro.schema.fingerprint(canonical, "CRC-64-AVRO")
    )
    out = []
    for value in values:
        assert value.startswith(header), f"not single-object {full_name}: {value[:10].hex()}"
        datum = fastavro.schemaless_reader(io.BytesIO(value[len(header) :]), schema, None)
        assert isinstance(datum, dict)
        out.append(datum)
    return out


@cache
def _classpath() -> str:
    mvn = shutil.which("mvn")
    assert mvn is not None, "Maven is required (the project's setup needs it)"
    out = JAVA_READER / "target" / "classpath.txt"
    subprocess.run(
        [mvn, "-q", "-B", "-f", str(JAVA_READER / "pom.xml"), "dependency:build-classpath",
         f"-Dmdep.outputFile={out}"],
        check=True, capture_output=True, timeout=600,
    )  # fmt: skip
    return out.read_text().strip()


def avro_java(values: list[bytes], full_name: str) -> tuple[dict[str, str], list[dict[str, Any]]]:
    """``(fingerprints by full name as wire hex, decoded values)`` by Avro for Java."""
    java = shutil.which("java")
    assert java is not None
    lines = "".join(base64.b64encode(v).decode() + "\n" for v in values)
    proc = subprocess.run(
        [java, "-cp", _classpath(), str(JAVA_READER / "AvroFeedReader.java"), str(SCHEMA_DIR),
         full_name],
        input=lines, capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    fingerprints: dict[str, str] = {}
    records: list[dict[str, Any]] = []
    for line in proc.stdout.splitlines():
        kind, _, rest = line.partition(" ")
        if kind == "fingerprint":
            name, hex_ = rest.split()
            fingerprints[name] = hex_
        elif kind == "record":
            records.append(json.loads(rest, parse_float=Decimal))
    return fingerprints, records


def normalized(value: Any) -> Any:
    """``value`` with every time as epoch ms (Java prints ISO-8601 strings, Python gives
    datetimes) and every number as Java prints it compared by value (Decimal): what two
    libraries' decodings of one record must agree on."""
    if isinstance(value, dict):
        return {k: normalized(v) for k, v in value.items()}
    if isinstance(value, list):
        return [normalized(v) for v in value]
    if isinstance(value, datetime):
        return to_epoch_ms(value)
    if isinstance(value, str) and _ISO.fullmatch(value):
        return to_epoch_ms(datetime.fromisoformat(value))
    return value
