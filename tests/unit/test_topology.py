"""The topology declared once (``streams.topology.TOPOLOGY``): consistent in itself, true to
the stage code, the source of provisioning and the tenants' ACLs, rendered by
``creditstream topology`` and embedded in the README's Architecture diagram."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from streams import topics
from streams.cli import main
from streams.commands.topology import render, render_diagram
from streams.domain import acl
from streams.errors import StageHaltError
from streams.runtime import provision
from streams.runtime.clients import StageIdentity
from streams.settings import Settings
from streams.stages.borrower import stage as borrower_stage
from streams.stages.consents import stage as consents_stage
from streams.stages.ingress import stage as ingress_stage
from streams.topology import COMPACT, TOPOLOGY, Stage, Topic, Topology

README = Path(__file__).resolve().parents[2] / "README.md"


def test_every_topic_a_stage_names_is_declared() -> None:
    for stage in TOPOLOGY.stages:
        for name in (*stage.inputs, *stage.writes, *(n for c in stage.copartitioned for n in c)):
            assert name in {t.name for t in TOPOLOGY.topics}, (stage.name, name)


def test_every_declared_topic_is_read_or_written_by_some_stage_or_a_named_command() -> None:
    used = {n for s in TOPOLOGY.stages for n in (*s.inputs, *s.writes)}
    written = {n for s in TOPOLOGY.stages for n in s.writes}
    by_commands = {t.name for t in TOPOLOGY.topics if t.written_by is not None}
    assert {t.name for t in TOPOLOGY.topics} == used | by_commands
    assert not written & by_commands  # one writer each (a stage may read what a command wrote)


def test_names_are_unique_and_stage_groups_are_what_the_clients_use() -> None:
    assert len({t.name for t in TOPOLOGY.topics}) == len(TOPOLOGY.topics)
    assert len({s.name for s in TOPOLOGY.stages}) == len(TOPOLOGY.stages)
    settings = Settings(app_id="cs-x")
    for stage in TOPOLOGY.stages:
        assert StageIdentity.of(settings, stage.name).group == stage.group("cs-x")


def test_every_changelog_is_compacted_and_owned_by_the_exchange() -> None:
    changelogs = [s.changelog for s in TOPOLOGY.stages if s.changelog]
    assert changelogs == [topics.INGRESS_DEDUP, topics.BORROWER_STATE]
    for name in changelogs:
        topic = TOPOLOGY.topic(name)
        assert topic.config["cleanup.policy"] == "compact", name
        assert topic.owner == "exchange", name


def test_co_partitioned_sets_share_a_key_and_are_exchange_topics_of_the_stage() -> None:
    for stage in TOPOLOGY.stages:
        for group in stage.copartitioned:
            declared = [TOPOLOGY.topic(n) for n in group]
            assert len({t.key for t in declared}) == 1, (stage.name, group)
            assert all(t.owner == "exchange" for t in declared), group
            assert set(group) <= {*stage.inputs, *stage.writes}, group
    # The borrower stage joins events, consents and borrowers' requests by borrower_id,
    # keeps one state entry per borrower and chains audit records per partition: all five
    # are one partition p.
    borrower = TOPOLOGY.stage("borrower")
    assert set(borrower.inputs) == {topics.EXCHANGE_EVENTS, topics.CONSENTS, topics.REQUESTS}
    assert borrower.copartitioned == (
        (
            topics.EXCHANGE_EVENTS,
            topics.CONSENTS,
            topics.REQUESTS,
            topics.BORROWER_STATE,
            topics.EXCHANGE_AUDIT,
        ),
    )


def test_profile_updates_is_written_for_auditors_and_read_by_no_stage() -> None:
    """exchange.profile-updates is the change stream behind every delivery: the borrower
    stage writes it in the same transaction as the feeds; no stage consumes it."""
    writers = [s.name for s in TOPOLOGY.stages if topics.PROFILE_UPDATES in s.outputs]
    readers = [s.name for s in TOPOLOGY.stages if topics.PROFILE_UPDATES in s.inputs]
    assert writers == ["borrower"] and readers == []
    borrower = TOPOLOGY.stage("borrower")
    assert {topics.EXCHANGE_PROFILES, "banks.{bank}.feed", topics.EXCHANGE_AUDIT} <= set(
        borrower.outputs
    )


def test_tenant_topics_are_templates_with_an_access_and_exchange_topics_are_not() -> None:
    for t in TOPOLOGY.topics:
        placeholder = "{platform}" if t.owner == "platform" else "{bank}"
        if t.per_tenant:
            assert placeholder in t.name and t.tenant_access is not None, t
            assert t.partitions == "tenant", t
        else:
            assert "{" not in t.name and t.tenant_access is None, t
            assert t.partitions in {"setting", "pinned"}, t
            assert t.name.startswith("exchange."), t


def test_tenant_topic_templates_are_the_name_functions() -> None:
    t = TOPOLOGY.topic
    assert t("ingest.acme.loans").named("acme") == topics.ingest_loans("acme")
    assert t("ingest.acme.activity").named("acme") == topics.ingest_activity("acme")
    assert t("ingest.acme.rejected").named("acme") == topics.rejected("acme")
    assert t("banks.b-1.subscriptions").named("b-1") == topics.subscriptions("b-1")
    assert t("banks.b-1.feed").named("b-1") == topics.feed("b-1")
    assert not t("ingest.{platform}.loans").matches("ingest.acme.rejected")
    assert not t("ingest.{platform}.loans").matches("ingest.Acme.loans")
    with pytest.raises(KeyError):
        t("ingest.acme.other")


def test_the_stages_subscribe_to_what_the_topology_declares() -> None:
    """The regex subscriptions in the stage code match exactly the declared inputs."""
    cases = [
        ("ingress", ingress_stage.SUBSCRIPTION, "acme"),
        ("consents", consents_stage.SUBSCRIPTION, "acme"),
    ]
    every_tenant_topic = [t.named("acme") for t in TOPOLOGY.topics if t.per_tenant]
    for stage_name, regex, tenant in cases:
        stage = TOPOLOGY.stage(stage_name)
        wanted = {TOPOLOGY.topic(n).named(tenant) for n in stage.inputs}
        assert {n for n in every_tenant_topic if re.match(regex, n)} == wanted, stage_name
    # The borrower stage subscribes to exchange topics by name.
    assert sorted(borrower_stage.SUBSCRIPTION) == sorted(TOPOLOGY.stage("borrower").inputs)


def test_provisioning_derives_from_the_topology() -> None:
    exchange = provision.exchange_topics(3)
    assert [s.name for s in exchange] == [t.name for t in TOPOLOGY.owned_by("exchange")]
    assert {s.partitions for s in exchange} == {3}
    assert {s.name: s.config for s in provision.platform_topics("acme", 2)} == {
        "ingest.acme.loans": {"cleanup.policy": "delete", "retention.ms": str(7 * 86_400_000)},
        "ingest.acme.activity": {"cleanup.policy": "delete", "retention.ms": str(7 * 86_400_000)},
        "ingest.acme.rejected": {"cleanup.policy": "delete", "retention.ms": str(30 * 86_400_000)},
        "platforms.acme.disputes": {
            "cleanup.policy": "delete",
            "retention.ms": str(400 * 86_400_000),
        },
    }
    assert [s.name for s in provision.bank_topics("nb", 2)] == [
        "banks.nb.subscriptions",
        "banks.nb.feed",
    ]


def test_tenant_acls_follow_the_declared_access() -> None:
    for owner, make in (("platform", acl.platform_acls), ("bank", acl.bank_acls)):
        grants = make("acme")
        for t in TOPOLOGY.owned_by(owner):  # type: ignore[arg-type]
            name = t.named("acme")
            op = "WRITE" if t.tenant_access == "write" else "READ"
            other = "READ" if op == "WRITE" else "WRITE"
            assert acl.allowed(grants, "TOPIC", name, op), name
            assert not acl.allowed(grants, "TOPIC", name, other), name


def test_the_exchange_acls_cover_every_stage_read_and_write() -> None:
    """With the rights its provisioning and each tenant's provisioning grant it."""
    grants = acl.exchange_acls("ex", "cs")
    grants += acl.exchange_tenant_acls("platform", "acme", "ex")
    grants += acl.exchange_tenant_acls("bank", "acme", "ex")
    for stage in TOPOLOGY.stages:
        assert acl.allowed(grants, "GROUP", stage.group("cs"), "READ"), stage.name
        for name in stage.inputs:
            assert acl.allowed(grants, "TOPIC", TOPOLOGY.topic(name).named("acme"), "READ")
        for name in stage.writes:
            assert acl.allowed(grants, "TOPIC", TOPOLOGY.topic(name).named("acme"), "WRITE")


# -- the start-up check (pure part) ------------------------------------------------------

EVEN = {t.name: 4 for t in TOPOLOGY.owned_by("exchange")}


def test_a_stage_starts_when_its_co_partitioned_topics_match() -> None:
    for stage in TOPOLOGY.stages:
        assert provision.stage_problem(stage, EVEN, 4) is None, stage.name


def test_borrower_refuses_unequal_inputs_in_one_line() -> None:
    counts = EVEN | {topics.CONSENTS: 2}
    problem = provision.stage_problem(TOPOLOGY.stage("borrower"), counts, 4)
    assert problem == (
        "borrower: exchange.events has 4 partitions but exchange.consents has 2: "
        "co-partitioned inputs must match (recreate one, or run provision with the same "
        "--partitions)"
    )
    # Other stages do not care about exchange.consents' count (consents writes it, by key).
    for name in ("ingress", "consents"):
        assert provision.stage_problem(TOPOLOGY.stage(name), counts, 4) is None, name


def test_borrower_refuses_a_state_or_audit_topic_of_another_count() -> None:
    for name in (topics.BORROWER_STATE, topics.EXCHANGE_AUDIT):
        counts = EVEN | {name: 8}
        problem = provision.stage_problem(TOPOLOGY.stage("borrower"), counts, 4)
        assert problem is not None and f"{name} has 8" in problem, name


def test_a_pinned_topic_must_equal_the_setting() -> None:
    ingress = TOPOLOGY.stage("ingress")
    assert provision.stage_problem(ingress, EVEN, 4) is None
    problem = provision.stage_problem(ingress, EVEN, 2)
    assert problem == (
        "ingress: exchange.ingress-dedup has 4 partitions but CREDITSTREAM_PARTITIONS is 2: "
        "the stage computes its partitions from the setting (set CREDITSTREAM_PARTITIONS=4)"
    )
    # A uniform difference from the setting is no reason to stop the other stages.
    for name in ("consents", "borrower"):
        assert provision.stage_problem(TOPOLOGY.stage(name), EVEN, 2) is None


def test_an_undeclared_stage_cannot_start() -> None:
    from streams.errors import ConfigError

    with pytest.raises(ConfigError, match="not declared"):
        provision.prepare_stage({"bootstrap.servers": "127.0.0.1:1"}, "nosuch", 2)
    assert issubclass(StageHaltError, Exception)


def test_mismatches_lists_only_existing_topics_of_another_count() -> None:
    specs = provision.exchange_topics(4)
    counts = {s.name: 4 for s in specs} | {topics.CONSENTS: 2}
    del counts[topics.EXCHANGE_AUDIT]
    (wrong,) = provision.mismatches(specs, counts)
    assert str(wrong) == "exchange.consents has 2 partitions, not 4"


# -- rendering -------------------------------------------------------------------------


def test_the_diagram_shows_every_stage_with_its_inputs_and_outputs() -> None:
    lines = render_diagram().splitlines()
    assert lines[0] == "ingest.<platform>.loans    ─┬─> ingress ─┬─> exchange.events"
    text = "\n".join(lines)
    for stage in TOPOLOGY.stages:
        assert f"─> {stage.name} ─" in text
    assert "exchange.borrower-state (changelog)" in text
    assert "profile-state" not in text and "fanout-state" not in text


def test_the_diagram_is_drawn_from_the_data() -> None:
    tiny = Topology(
        topics=(
            Topic("a", "k", COMPACT, "setting", "a"),
            Topic("b", "k", COMPACT, "setting", "b"),
            Topic("c", "k", COMPACT, "setting", "c"),
        ),
        stages=(Stage("s", ("a", "b"), ("c",), None, "s", "k", "joins"),),
    )
    assert render_diagram(tiny) == "a ─┬─> s ───> c\nb ─┘"


def test_the_readme_architecture_diagram_is_the_rendered_topology() -> None:
    text = README.read_text(encoding="utf-8")
    section = text.split("## Architecture", 1)[1]
    block = section.split("```\n", 2)[1]
    assert block.rstrip("\n") == render_diagram(), (
        "README's Architecture diagram differs from the topology: paste "
        "`creditstream topology`'s diagram (the lines before the first blank line)"
    )


def test_the_command_prints_the_diagram_stages_and_topics(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert main(["topology"]) == 0
    out = capsys.readouterr().out
    assert out.rstrip("\n") == render()
    assert out.startswith(render_diagram() + "\n\nstage")
    assert "<app_id>-borrower" in out
    assert "exchange.ingress-dedup" in out and "pinned" in out


def test_the_command_prints_json(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["topology", "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data == json.loads(json.dumps(TOPOLOGY.as_dict()))
    stages = {s["name"]: s for s in data["stages"]}
    assert list(stages) == ["ingress", "consents", "borrower"]
    assert stages["borrower"]["inputs"] == [
        "exchange.events",
        "exchange.consents",
        "exchange.requests",
    ]
    assert stages["borrower"]["changelog"] == "exchange.borrower-state"
    assert stages["ingress"]["inputs"] == ["ingest.<platform>.loans", "ingest.<platform>.activity"]
    assert stages["borrower"]["group"] == "<app_id>-borrower"
    names = {t["name"] for t in data["topics"]}
    assert "banks.<bank>.feed" in names and "exchange.audit" in names


def test_every_option_has_help(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        main(["topology", "--help"])
    out = capsys.readouterr().out
    assert "--json" in out and "JSON" in out
