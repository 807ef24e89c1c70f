"""``creditstream topology [--json]``: the stages and topics, as declared once.

Prints :data:`streams.topology.TOPOLOGY` (no Kafka needed): a flow diagram (the README's
Architecture diagram is this output, checked by tests/unit/test_topology.py), then each
stage's consumer group, partitioning key and co-partitioned topics, then each topic's
key, cleanup, retention and partition rule. ``--json`` prints the same as data.
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Sequence

from streams.clock import DAY_MS
from streams.settings import Settings
from streams.topology import PARTITION_RULES, TOPOLOGY, Stage, Topic, Topology


def _stage_flow(topology: Topology, stage: Stage) -> list[str]:
    """``a ─┬─> stage ─┬─> x`` with one line per input / output, whichever are more."""
    ins = [topology.topic(n).display for n in stage.inputs]
    outs = [topology.topic(n).display for n in stage.outputs]
    if stage.changelog:
        outs.append(f"{stage.changelog} (changelog)")
    width = max(len(i) for i in ins)
    middle = f"─> {stage.name} ─"
    lines = []
    for row in range(max(len(ins), len(outs))):
        if row < len(ins):
            join = (
                "─" if len(ins) == 1 else "┬" if row == 0 else "┘" if row == len(ins) - 1 else "┤"
            )
            left = f"{ins[row]:<{width}} ─{join}"
        else:
            left = " " * (width + 3)
        centre = middle if row == 0 else " " * len(middle)
        if row < len(outs):
            fork = (
                "─" if len(outs) == 1 else "┬" if row == 0 else "└" if row == len(outs) - 1 else "├"
            )
            right = f"{fork}─> {outs[row]}"
        else:
            right = ""
        lines.append(f"{left}{centre}{right}".rstrip())
    return lines


def render_diagram(topology: Topology = TOPOLOGY) -> str:
    """Every stage's inputs, outputs and changelog, one block per stage, in order."""
    return "\n".join(line for s in topology.stages for line in _stage_flow(topology, s))


def _retention(topic: Topic) -> str:
    ms = topic.config.get("retention.ms")
    if topic.config.get("cleanup.policy") == "compact":
        return "compact"
    return f"delete, {int(ms) // DAY_MS} d" if ms else "delete"


def _table(header: tuple[str, ...], rows: Sequence[tuple[str, ...]]) -> list[str]:
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]
    return [
        "  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip()
        for r in [header, *rows]
    ]


def render(topology: Topology = TOPOLOGY) -> str:
    """The human output of ``creditstream topology``."""
    stages = [
        (
            s.name,
            s.group("<app_id>"),
            s.key,
            "; ".join(" = ".join(c) for c in s.copartitioned) or "-",
        )
        for s in topology.stages
    ]
    topic_rows = [(t.display, t.key, _retention(t), t.partitions, t.about) for t in topology.topics]
    rules = [f"  {rule}: {meaning}" for rule, meaning in PARTITION_RULES.items()]
    return "\n".join(
        [
            render_diagram(topology),
            "",
            *_table(("stage", "consumer group", "partitioning key", "co-partitioned"), stages),
            "",
            *_table(("topic", "key", "cleanup", "partitions", "what"), topic_rows),
            "",
            "partitions:",
            *rules,
        ]
    )


def cmd_topology(args: argparse.Namespace, settings: Settings) -> int:
    if args.json:
        print(json.dumps(TOPOLOGY.as_dict(), indent=2))
    else:
        print(render())
    return 0


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = sub.add_parser(
        "topology",
        help="the stages and topics of the exchange (inputs, outputs, groups, keys)",
        description=(
            "Prints the topology as declared in the code (streams/topology.py), which "
            "provisioning, ACLs and each stage's start-up check read: a flow diagram, the "
            "stages (consumer group <app_id>-<stage>, partitioning key, topics that must "
            "have equal partition counts) and the topics (key, cleanup and retention, "
            "partition rule). Needs no Kafka."
        ),
    )
    parser.add_argument(
        "--json", action="store_true", help="print the topology as one JSON document"
    )
    parser.set_defaults(handler=cmd_topology)
