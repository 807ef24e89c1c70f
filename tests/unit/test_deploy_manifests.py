"""deploy/compose*.yaml and deploy/k8s: schema-valid offline, and consistent with the code.

Compose files are validated against the vendored compose-spec JSON Schema, built-in
Kubernetes kinds against kubernetes-validate's bundled schemas (strict), Strimzi and
Prometheus Operator kinds against the strict CRD subsets in deploy/schemas/crds.
"""

from __future__ import annotations

import json
import re
from functools import cache
from pathlib import Path
from typing import Any

import jsonschema
import kubernetes_validate
import pytest
import yaml

from streams.domain import acl as acl_model
from streams.runtime import provision
from streams.settings import KAFKA_VERSION, STAGES, STAGES_PATTERN, Settings
from streams.topology import TOPOLOGY

DEPLOY = Path(__file__).resolve().parents[2] / "deploy"
K8S = DEPLOY / "k8s"
SCHEMAS = DEPLOY / "schemas"
CRDS = {
    "Kafka": "kafka",
    "KafkaNodePool": "kafkanodepool",
    "KafkaTopic": "kafkatopic",
    "KafkaUser": "kafkauser",
    "PodMonitor": "podmonitor",
}
COMPOSE_FILES = ["compose.yaml", "compose.registry.yaml"]
K8S_FILES = sorted(p.name for p in K8S.glob("*.yaml") if p.name != "kustomization.yaml")


@cache
def schema(path: Path) -> dict[str, Any]:
    doc: dict[str, Any] = json.loads(path.read_text())
    return doc


def validate_k8s(doc: dict[str, Any]) -> None:
    """Raise if ``doc`` does not match its kind's schema (CRD subset or built-in)."""
    if doc["kind"] in CRDS:
        crd = schema(SCHEMAS / "crds" / f"{CRDS[doc['kind']]}.json")
        jsonschema.Draft202012Validator.check_schema(crd)
        jsonschema.Draft202012Validator(crd).validate(doc)
    else:
        kubernetes_validate.validate(doc, kubernetes_validate.latest_version(), strict=True)


def k8s_docs(kind: str | None = None) -> list[dict[str, Any]]:
    docs = [d for f in K8S_FILES for d in yaml.safe_load_all((K8S / f).read_text()) if d]
    return [d for d in docs if kind is None or d["kind"] == kind]


def one(kind: str, name: str | None = None) -> dict[str, Any]:
    found = [d for d in k8s_docs(kind) if name is None or d["metadata"]["name"] == name]
    assert len(found) == 1, (kind, name, len(found))
    return found[0]


def validate_compose(doc: dict[str, Any]) -> None:
    """Raise if ``doc`` breaks the compose-spec schema (a draft 2019-09 schema)."""
    spec = schema(SCHEMAS / "compose-spec.json")
    jsonschema.Draft201909Validator.check_schema(spec)
    jsonschema.Draft201909Validator(spec).validate(doc)


def compose(name: str = "compose.yaml") -> dict[str, Any]:
    doc: dict[str, Any] = yaml.safe_load((DEPLOY / name).read_text())
    return doc


def stages_of(env: dict[str, Any]) -> list[str]:
    """The stages a worker with environment ``env`` runs (all without CREDITSTREAM_STAGES),
    after checking the value is one Settings accepts."""
    value = str(env.get("CREDITSTREAM_STAGES", ",".join(STAGES)))
    assert re.fullmatch(STAGES_PATTERN, value), value
    names = value.split(",")
    assert len(names) == len(set(names)), f"a stage named twice: {value}"
    return names


def stage_services() -> dict[str, dict[str, Any]]:
    """The compose services that run ``creditstream worker`` (worker, front, borrower)."""
    return {
        name: svc
        for name, svc in compose()["services"].items()
        if svc.get("command", [None])[0] == "worker"
    }


def assert_each_stage_once(runs: dict[str, list[str]]) -> None:
    """``runs`` (workload -> its stages) runs every stage of the topology exactly once."""
    counted = [stage for stages in runs.values() for stage in stages]
    assert sorted(counted) == sorted(STAGES), runs
    assert {s.name for s in TOPOLOGY.stages} == set(STAGES)


# -- compose --------------------------------------------------------------------------------
@pytest.mark.parametrize("name", COMPOSE_FILES)
def test_compose_matches_the_compose_spec(name: str) -> None:
    validate_compose(yaml.safe_load((DEPLOY / name).read_text()))


def test_compose_schema_rejects_a_typo() -> None:
    bad = compose()
    bad["services"]["worker"]["enviroment"] = {"X": "1"}
    with pytest.raises(jsonschema.ValidationError, match="enviroment"):
        validate_compose(bad)


def test_compose_references_resolve() -> None:
    doc = compose()
    services = doc["services"]
    assert {"kafka-1", "kafka-2", "kafka-3", "worker", "prometheus", "grafana"} <= set(services)
    assert {"front", "borrower"} <= set(services)
    for name, svc in services.items():
        deps = svc.get("depends_on", [])
        assert set(deps) <= set(services), name
        for vol in svc.get("volumes", []):
            source = vol.split(":")[0]
            if source.startswith("."):
                assert (DEPLOY / source).exists(), f"{name}: {source}"
            else:
                assert source in doc["volumes"], f"{name}: {source}"
    for name in stage_services():
        build = services[name]["build"]
        assert (DEPLOY / build["context"] / build["dockerfile"]).is_file(), name
    config = next(a for a in services["prometheus"]["command"] if a.startswith("--config.file"))
    assert (DEPLOY / "prometheus" / Path(config.split("=")[1]).name).is_file()


def test_compose_kafka_is_kraft_and_in_step_with_the_local_broker() -> None:
    for n in (1, 2, 3):
        svc = compose()["services"][f"kafka-{n}"]
        assert svc["image"] == f"apache/kafka:${{KAFKA_VERSION:-{KAFKA_VERSION}}}"
        env = svc["environment"]
        assert env["KAFKA_NODE_ID"] == n
        assert env["KAFKA_PROCESS_ROLES"] == "broker,controller"
        assert env["KAFKA_AUTO_CREATE_TOPICS_ENABLE"] == "false"


def settings_env_names() -> set[str]:
    return {f"CREDITSTREAM_{f.upper()}" for f in Settings.model_fields}


def test_worker_environment_names_are_settings() -> None:
    """A misspelt CREDITSTREAM_* variable is silently ignored by Settings: catch it here."""
    known = settings_env_names()
    for name, svc in stage_services().items():
        assert set(svc["environment"]) - known == set(), name
    for name, svc in compose("compose.registry.yaml")["services"].items():
        ours = {k for k in svc.get("environment", {}) if k.startswith("CREDITSTREAM_")}
        assert ours - known == set(), name
    cm = one("ConfigMap", "creditstream-worker")["data"]
    assert set(cm) - known == set()
    for deployment in k8s_docs("Deployment"):
        for container in deployment["spec"]["template"]["spec"]["containers"]:
            assert {e["name"] for e in container.get("env", [])} - known == set()


# -- stages as processes: the split --------------------------------------------------------
def test_compose_runs_every_stage_once_by_default_and_split() -> None:
    """`docker compose up`: the `worker` service runs all three stages; with
    `--profile split --scale worker=0`, `front` and `borrower` run each stage once."""
    services = stage_services()
    default = {n: s for n, s in services.items() if not s.get("profiles")}
    split = {n: s for n, s in services.items() if "split" in s.get("profiles", [])}
    assert set(default) == {"worker"} and set(split) == {"front", "borrower"}
    assert set(services) == set(default) | set(split)
    assert_each_stage_once({n: stages_of(s["environment"]) for n, s in default.items()})
    assert_each_stage_once({n: stages_of(s["environment"]) for n, s in split.items()})
    assert stages_of(split["borrower"]["environment"]) == ["borrower"]
    compose_help = (DEPLOY / "compose.yaml").read_text()
    assert "--profile split" in compose_help and "--scale worker=0" in compose_help


def test_compose_stage_services_differ_only_in_their_stages() -> None:
    """Same image, command, health check, broker and app id (so the same consumer groups);
    each container its own network, so all serve /ready and /metrics on one port."""
    services = stage_services()
    base = services["worker"]
    for name, svc in services.items():
        assert {k: v for k, v in svc.items() if k not in ("environment", "profiles")} == {
            k: v for k, v in base.items() if k not in ("environment", "profiles")
        }, name
        env = {k: v for k, v in svc["environment"].items() if k != "CREDITSTREAM_STAGES"}
        assert env == base["environment"], name
        assert env.get("CREDITSTREAM_APP_ID", Settings().app_id) == Settings().app_id
        assert svc["expose"] == [str(env["CREDITSTREAM_WEB_PORT"])], name


def test_compose_registry_and_prometheus_cover_every_stage_service() -> None:
    registry = compose("compose.registry.yaml")["services"]
    prom = yaml.safe_load((DEPLOY / "prometheus" / "prometheus-compose.yml").read_text())
    (job,) = [j for j in prom["scrape_configs"] if j["job_name"] == "creditstream"]
    names = {n for sd in job["dns_sd_configs"] for n in sd["names"]}
    ports = {sd["port"] for sd in job["dns_sd_configs"]}
    for name, svc in stage_services().items():
        assert "CREDITSTREAM_SCHEMA_REGISTRY_URL" in registry[name]["environment"], name
        assert name in names, name
        assert ports == {int(svc["environment"]["CREDITSTREAM_WEB_PORT"])}


def container_env(deployment: dict[str, Any]) -> dict[str, Any]:
    (container,) = deployment["spec"]["template"]["spec"]["containers"]
    return {e["name"]: e.get("value", e.get("valueFrom")) for e in container.get("env", [])}


def cpu(quantity: str) -> float:
    return float(quantity[:-1]) / 1000 if quantity.endswith("m") else float(quantity)


def test_k8s_workloads_run_every_stage_once() -> None:
    """Two Deployments, front (ingress,consents) and borrower, each stage in exactly one;
    the stages come from the container, never from the shared ConfigMap."""
    deployments = {d["metadata"]["name"]: d for d in k8s_docs("Deployment")}
    assert set(deployments) == {"creditstream-front", "creditstream-borrower"}
    assert k8s_docs("StatefulSet") == []
    assert "CREDITSTREAM_STAGES" not in one("ConfigMap", "creditstream-worker")["data"]
    runs = {}
    for name, d in deployments.items():
        env = container_env(d)
        assert "CREDITSTREAM_STAGES" in env, f"{name} would run every stage"
        runs[name] = stages_of(env)
    assert_each_stage_once(runs)
    assert runs["creditstream-borrower"] == ["borrower"]
    assert runs["creditstream-front"] == ["ingress", "consents"]


def test_k8s_workloads_share_the_app_id_and_differ_only_where_they_should() -> None:
    """Same image, ConfigMap (so app id, broker, partitions), secrets and probes; only the
    stages, the resources and the component label differ, and the borrower gets more CPU
    (no CPU limit: a GIL-bound process never uses much more than one core anyway)."""
    front = one("Deployment", "creditstream-front")
    borrower = one("Deployment", "creditstream-borrower")
    cm = one("ConfigMap", "creditstream-worker")["data"]
    assert cm["CREDITSTREAM_APP_ID"] == Settings().app_id

    def resources(d: dict[str, Any]) -> dict[str, Any]:
        (container,) = d["spec"]["template"]["spec"]["containers"]
        res: dict[str, Any] = container["resources"]
        return res

    for d in (front, borrower):
        assert "CREDITSTREAM_APP_ID" not in container_env(d)
        # A CPU limit (checkov's CKV_K8S_11) that never throttles: one GIL-bound
        # Python thread plus librdkafka's threads stay under two cores, and CFS
        # throttling below that would show as feed latency.
        assert cpu(resources(d)["limits"]["cpu"]) >= 2
        assert 1 <= d["spec"]["replicas"] <= int(cm["CREDITSTREAM_PARTITIONS"])
    assert cpu(resources(borrower)["requests"]["cpu"]) > cpu(resources(front)["requests"]["cpu"])

    def neutral(d: dict[str, Any]) -> str:
        d = json.loads(json.dumps(d))
        component = d["metadata"]["labels"]["app.kubernetes.io/component"]
        (container,) = d["spec"]["template"]["spec"]["containers"]
        container["env"] = [e for e in container["env"] if e["name"] != "CREDITSTREAM_STAGES"]
        del container["resources"]
        del d["spec"]["replicas"]
        text = json.dumps(d["spec"])
        assert text.count(f'"{component}"') == 3  # selector, pod labels, spread constraint
        return text.replace(f'"{component}"', '"COMPONENT"')

    assert neutral(front) == neutral(borrower)


def test_k8s_selectors_split_the_pods_by_component() -> None:
    """Each Deployment and its PodDisruptionBudget select only its own pods; the Service
    and the PodMonitor select both."""
    deployments = k8s_docs("Deployment")
    budgets = {b["metadata"]["name"]: b for b in k8s_docs("PodDisruptionBudget")}
    assert set(budgets) == {d["metadata"]["name"] for d in deployments}
    for d in deployments:
        name = d["metadata"]["name"]
        selector = d["spec"]["selector"]["matchLabels"]
        assert selector.items() <= d["spec"]["template"]["metadata"]["labels"].items()
        assert budgets[name]["spec"]["selector"]["matchLabels"] == selector
        assert budgets[name]["spec"]["maxUnavailable"] == 1
        for other in deployments:
            if other is not d:
                labels = other["spec"]["template"]["metadata"]["labels"]
                assert not selector.items() <= labels.items(), (name, other["metadata"]["name"])
        labels = d["spec"]["template"]["metadata"]["labels"]
        assert one("Service")["spec"]["selector"].items() <= labels.items()
        assert one("PodMonitor")["spec"]["selector"]["matchLabels"].items() <= labels.items()


# -- Kubernetes -----------------------------------------------------------------------------
@pytest.mark.parametrize("name", K8S_FILES)
def test_k8s_manifests_validate(name: str) -> None:
    docs = [d for d in yaml.safe_load_all((K8S / name).read_text()) if d]
    assert docs
    for doc in docs:
        validate_k8s(doc)


def test_k8s_validation_rejects_typos() -> None:
    deployment = one("Deployment", "creditstream-borrower")
    deployment["spec"]["replica"] = 3
    with pytest.raises(kubernetes_validate.ValidationError):
        validate_k8s(deployment)
    user = one("KafkaUser", "acme")
    user["spec"]["authorization"]["acls"][0]["operations"] = ["Wrtie"]
    with pytest.raises(jsonschema.ValidationError):
        validate_k8s(user)
    topic = one("KafkaTopic", "exchange.events")
    topic["spec"]["partition"] = 3
    with pytest.raises(jsonschema.ValidationError):
        validate_k8s(topic)


def test_kustomization_lists_every_manifest_but_the_example_secret() -> None:
    resources = yaml.safe_load((K8S / "kustomization.yaml").read_text())["resources"]
    assert sorted(resources) == sorted(f for f in K8S_FILES if ".example." not in f)


def test_topics_match_provision() -> None:
    partitions = int(one("ConfigMap", "creditstream-worker")["data"]["CREDITSTREAM_PARTITIONS"])
    specs = (
        provision.exchange_topics(partitions)
        + provision.platform_topics("acme", partitions)
        + provision.bank_topics("bank-a", partitions)
    )
    want = {s.name: s for s in specs}
    got = {t["spec"]["topicName"]: t for t in k8s_docs("KafkaTopic")}
    assert set(got) == set(want)
    for name, topic in got.items():
        assert topic["metadata"]["name"] == name
        assert topic["metadata"]["labels"]["strimzi.io/cluster"] == one("Kafka")["metadata"]["name"]
        assert topic["spec"]["partitions"] == want[name].partitions, name
        assert {k: str(v) for k, v in topic["spec"]["config"].items()} == want[name].config, name


def test_kafka_is_kraft_with_a_node_pool_and_scram() -> None:
    kafka, pool = one("Kafka"), one("KafkaNodePool")
    assert kafka["metadata"]["annotations"]["strimzi.io/node-pools"] == "enabled"
    assert "zookeeper" not in kafka["spec"]
    assert pool["metadata"]["labels"]["strimzi.io/cluster"] == kafka["metadata"]["name"]
    assert set(pool["spec"]["roles"]) == {"controller", "broker"}
    assert kafka["spec"]["kafka"]["authorization"]["type"] == "simple"
    assert kafka["spec"]["kafka"]["config"]["allow.everyone.if.no.acl.found"] is False
    # Every listener is SCRAM over TLS; the worker's bootstrap is one, with the cluster
    # CA (the Cluster Operator's <cluster>-cluster-ca-cert Secret) mounted where the
    # settings name it, in every workload.
    listeners = kafka["spec"]["kafka"]["listeners"]
    assert all(x["tls"] is True for x in listeners), listeners
    assert all(x["authentication"]["type"] == "scram-sha-512" for x in listeners), listeners
    cm = one("ConfigMap", "creditstream-worker")["data"]
    host, port = cm["CREDITSTREAM_BOOTSTRAP"].split(":")
    assert host.startswith(f"{kafka['metadata']['name']}-kafka-bootstrap.")
    assert int(port) in {x["port"] for x in listeners}
    assert cm["CREDITSTREAM_SECURITY_PROTOCOL"] == "SASL_SSL"
    ca_file = Path(cm["CREDITSTREAM_SSL_CA_FILE"])
    for deployment in k8s_docs("Deployment"):
        pod = deployment["spec"]["template"]["spec"]
        (container,) = pod["containers"]
        mount = next(m for m in container["volumeMounts"] if m["mountPath"] == str(ca_file.parent))
        volume = next(v for v in pod["volumes"] if v["name"] == mount["name"])
        assert volume["secret"]["secretName"] == f"{kafka['metadata']['name']}-cluster-ca-cert"
        assert {"key": "ca.crt", "path": ca_file.name} in volume["secret"]["items"]


def allowed(user: str, rtype: str, name: str, op: str) -> bool:
    """Kafka's simple authorizer over a KafkaUser's allow ACLs (Describe implied by R/W)."""
    for acl in one("KafkaUser", user)["spec"]["authorization"]["acls"]:
        res = acl["resource"]
        if res["type"] != rtype:
            continue
        if rtype != "cluster":
            literal = res.get("patternType", "literal") == "literal"
            if (literal and res["name"] not in (name, "*")) or not name.startswith(res["name"]):
                continue
        ops = set(acl["operations"])
        implied = op == "Describe" and bool(ops & {"Read", "Write", "Delete", "Alter"})
        if op in ops or "All" in ops or implied:
            return True
    return False


PERMISSIONS = [
    # (user, resource type, name, operation, allowed)
    ("acme", "topic", "ingest.acme.loans", "Write", True),
    ("acme", "topic", "ingest.acme.activity", "Write", True),
    ("acme", "topic", "ingest.zeta.loans", "Write", False),
    ("acme", "topic", "ingest.acmex.loans", "Write", False),
    ("acme", "topic", "exchange.events", "Write", False),
    ("acme", "topic", "ingest.acme.rejected", "Read", True),
    ("acme", "topic", "ingest.acme.loans", "Read", False),
    ("acme", "topic", "ingest.zeta.rejected", "Read", False),
    ("acme", "topic", "banks.bank-a.feed", "Read", False),
    ("acme", "group", "acme.rejects", "Read", True),
    ("acme", "group", "bank-a.reader", "Read", False),
    ("bank-a", "topic", "banks.bank-a.subscriptions", "Write", True),
    ("bank-a", "topic", "banks.bank-b.subscriptions", "Write", False),
    ("bank-a", "topic", "banks.bank-a.feed", "Write", False),
    ("bank-a", "topic", "banks.bank-a.feed", "Read", True),
    ("bank-a", "topic", "banks.bank-b.feed", "Read", False),
    ("bank-a", "topic", "banks.bank-a.subscriptions", "Read", False),
    ("bank-a", "topic", "exchange.profiles", "Read", False),
    ("bank-a", "topic", "exchange.audit", "Read", False),
    ("bank-a", "group", "bank-a.feed-reader", "Read", True),
    ("bank-a", "group", "bank-b.feed-reader", "Read", False),
    ("bank-a", "group", "creditstream", "Read", False),
    ("creditstream-exchange", "topic", "ingest.acme.loans", "Read", True),
    ("creditstream-exchange", "topic", "ingest.acme.rejected", "Write", True),
    ("creditstream-exchange", "topic", "banks.bank-a.subscriptions", "Read", True),
    ("creditstream-exchange", "topic", "banks.bank-a.feed", "Write", True),
    ("creditstream-exchange", "topic", "exchange.events", "Create", True),
    ("creditstream-exchange", "topic", "creditstream-borrowers-changelog", "Write", False),
    ("creditstream-exchange", "group", "creditstream", "Read", False),
    ("creditstream-exchange", "group", "creditstream-ingress", "Read", True),
    ("creditstream-exchange", "group", "creditstream-borrower", "Read", True),
    ("creditstream-exchange", "group", "bank-a.feed-reader", "Read", False),
    ("creditstream-exchange", "transactionalId", "creditstream-ingress-0", "Write", True),
    ("creditstream-exchange", "transactionalId", "creditstream-borrower-0", "Write", True),
    ("creditstream-exchange", "topic", "exchange.borrower-state", "Write", True),
    ("creditstream-exchange", "topic", "ingest.acme.loans", "Delete", False),
    # It writes only what its stages produce for a tenant: never a platform's loans or a
    # bank's subscriptions, nor the topics of a tenant it was not provisioned for.
    ("creditstream-exchange", "topic", "ingest.acme.loans", "Write", False),
    ("creditstream-exchange", "topic", "banks.bank-a.subscriptions", "Write", False),
    ("creditstream-exchange", "topic", "ingest.zeta.rejected", "Write", False),
    # A platform never writes its own rejects (it would forge what it is told).
    ("acme", "topic", "ingest.acme.rejected", "Write", False),
]


@pytest.mark.parametrize(("user", "rtype", "name", "op", "ok"), PERMISSIONS)
def test_acl_matrix(user: str, rtype: str, name: str, op: str, ok: bool) -> None:
    assert allowed(user, rtype, name, op) is ok


_STRIMZI_TYPES = {"topic": "TOPIC", "group": "GROUP", "transactionalId": "TRANSACTIONAL_ID",
                  "cluster": "CLUSTER"}  # fmt: skip
_STRIMZI_PATTERNS = {"literal": "LITERAL", "prefix": "PREFIXED"}


def manifest_acls(user: str) -> set[tuple[str, str, str, str]]:
    """A KafkaUser's ACLs as ``(type, name, pattern, OPERATION)``, as streams.domain.acl
    writes them (the cluster resource is ``kafka-cluster``, a literal)."""
    got = set()
    for entry in one("KafkaUser", user)["spec"]["authorization"]["acls"]:
        res = entry["resource"]
        rtype = _STRIMZI_TYPES[res["type"]]
        name = res.get("name", acl_model.CLUSTER_NAME)
        pattern = _STRIMZI_PATTERNS[res.get("patternType", "literal")]
        for op in entry["operations"]:
            got.add((rtype, name, pattern, re.sub(r"(?<!^)(?=[A-Z])", "_", op).upper()))
    return got


def generated(acls: list[acl_model.Acl]) -> set[tuple[str, str, str, str]]:
    return {(a.resource_type, a.resource_name, a.pattern_type, a.operation) for a in acls}


def test_users_grant_exactly_what_creditstream_admin_provisions() -> None:
    """users.yaml is what ``creditstream admin provision-*`` grants on the secure broker
    (streams.domain.acl, checked against Kafka by tests/integration/test_security_matrix.py):
    no right more, none less."""
    app_id = one("ConfigMap", "creditstream-worker")["data"]["CREDITSTREAM_APP_ID"]
    exchange_user = one("ConfigMap", "creditstream-worker")["data"]["CREDITSTREAM_SASL_USERNAME"]
    exchange = [
        *acl_model.exchange_acls(exchange_user, app_id),
        *acl_model.exchange_tenant_acls("platform", "acme", exchange_user),
        *acl_model.exchange_tenant_acls("bank", "bank-a", exchange_user),
    ]
    assert manifest_acls(exchange_user) == generated(exchange)
    assert manifest_acls("acme") == generated(acl_model.platform_acls("acme"))
    assert manifest_acls("bank-a") == generated(acl_model.bank_acls("bank-a"))
    assert {d["metadata"]["name"] for d in k8s_docs("KafkaUser")} == {
        exchange_user,
        "acme",
        "bank-a",
    }


def test_the_exchange_user_covers_every_stage_of_the_topology() -> None:
    """Every stage's group, transactional ids, inputs and writes (changelog included),
    for the app id the worker runs with."""
    user = one("ConfigMap", "creditstream-worker")["data"]["CREDITSTREAM_SASL_USERNAME"]
    app_id = one("ConfigMap", "creditstream-worker")["data"]["CREDITSTREAM_APP_ID"]
    for stage in TOPOLOGY.stages:
        group = stage.group(app_id)
        assert allowed(user, "group", group, "Read"), stage.name
        assert allowed(user, "transactionalId", f"{group}-0", "Write"), stage.name
        for name in stage.inputs:
            assert allowed(user, "topic", TOPOLOGY.topic(name).named("acme"), "Read"), name
        for name in stage.writes:
            topic = TOPOLOGY.topic(name)
            tenant = "bank-a" if topic.owner == "bank" else "acme"  # the example tenants
            assert allowed(user, "topic", topic.named(tenant), "Write"), name


@pytest.mark.parametrize("name", ["creditstream-front", "creditstream-borrower"])
def test_worker_deployment_wiring(name: str) -> None:
    deployment, service, monitor = one("Deployment", name), one("Service"), one("PodMonitor")
    cm = one("ConfigMap", "creditstream-worker")["data"]
    pod = deployment["spec"]["template"]
    labels = pod["metadata"]["labels"]
    assert deployment["spec"]["replicas"] <= int(cm["CREDITSTREAM_PARTITIONS"])
    (container,) = pod["spec"]["containers"]
    (port,) = container["ports"]
    assert port["containerPort"] == int(cm["CREDITSTREAM_WEB_PORT"]) == Settings().web_port
    assert container["readinessProbe"]["httpGet"]["path"] == "/ready"
    assert service["spec"]["selector"].items() <= labels.items()
    assert monitor["spec"]["selector"]["matchLabels"].items() <= labels.items()
    endpoint = monitor["spec"]["podMetricsEndpoints"][0]
    assert (endpoint["port"], endpoint["path"]) == (port["name"], "/metrics")
    assert {"targetLabel": "job", "replacement": "creditstream"}.items() <= endpoint["relabelings"][
        0
    ].items()
    # SASL identity: the exchange's KafkaUser and the Secret the User Operator makes for it.
    user = cm["CREDITSTREAM_SASL_USERNAME"]
    one("KafkaUser", user)
    env = {e["name"]: e for e in container["env"]}
    assert "CREDITSTREAM_SASL_PASSWORD" not in env  # a secret never sits in the environment
    mounts = {m["name"]: m["mountPath"] for m in container["volumeMounts"]}
    password_file = Path(env["CREDITSTREAM_SASL_PASSWORD_FILE"]["value"])
    assert password_file == Path(mounts["sasl"]) / "password"
    assert Path(cm["CREDITSTREAM_HMAC_KEY_FILE"]).parent == Path(mounts["hmac"])
    assert Path(cm["CREDITSTREAM_STATE_DIR"]).is_relative_to(mounts["state"])
    secret = one("Secret", "creditstream-hmac")
    volumes = {v["name"]: v for v in pod["spec"]["volumes"]}
    assert volumes["hmac"]["secret"]["secretName"] == secret["metadata"]["name"]
    assert volumes["sasl"]["secret"]["secretName"] == user  # the User Operator's Secret
    assert re.fullmatch(r"[A-Z0-9-]+", secret["stringData"]["key"]), (
        "example must stay a placeholder"
    )


# -- hardening (issue 17) --------------------------------------------------------------------
@pytest.mark.parametrize("name", ["creditstream-front", "creditstream-borrower"])
def test_worker_pods_are_hardened(name: str) -> None:
    pod = one("Deployment", name)["spec"]["template"]["spec"]
    assert pod["automountServiceAccountToken"] is False  # it never calls the API
    (container,) = pod["containers"]
    limits, requests = container["resources"]["limits"], container["resources"]["requests"]
    assert {"cpu", "memory"} <= limits.keys() and {"cpu", "memory"} <= requests.keys()
    ctx = container["securityContext"]
    assert ctx["readOnlyRootFilesystem"] and not ctx["allowPrivilegeEscalation"]
    assert "env" not in container or all("secretKeyRef" not in str(e) for e in container["env"])


def test_the_network_policy_lets_workers_reach_kafka_and_dns_only() -> None:
    policy = one("NetworkPolicy", "creditstream-worker")["spec"]
    for name in ("creditstream-front", "creditstream-borrower"):
        labels = one("Deployment", name)["spec"]["template"]["metadata"]["labels"]
        assert policy["podSelector"]["matchLabels"].items() <= labels.items()
    assert set(policy["policyTypes"]) == {"Ingress", "Egress"}
    kafka = one("Kafka", "creditstream")
    ports = {listener["port"] for listener in kafka["spec"]["kafka"]["listeners"]}
    egress = policy["egress"]
    to_kafka = [e for e in egress if "strimzi.io/cluster" in str(e["to"])]
    assert len(to_kafka) == 1 and {p["port"] for p in to_kafka[0]["ports"]} == ports
    others = [e for e in egress if e not in to_kafka]
    assert all({p["port"] for p in e["ports"]} == {53} for e in others)  # DNS only
    (ingress,) = policy["ingress"]
    cm = one("ConfigMap", "creditstream-worker")["data"]
    assert [p["port"] for p in ingress["ports"]] == [int(cm["CREDITSTREAM_WEB_PORT"])]


def test_the_image_checks_its_own_readiness() -> None:
    dockerfile = (DEPLOY / "Dockerfile").read_text()
    (check,) = [line for line in dockerfile.splitlines() if line.startswith("  CMD")]
    port = one("ConfigMap", "creditstream-worker")["data"]["CREDITSTREAM_WEB_PORT"]
    assert "HEALTHCHECK" in dockerfile and f"127.0.0.1:{port}/ready" in check
