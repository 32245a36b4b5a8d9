"""Static checks of the Kubernetes manifests (k8s/): no cluster needed.

Parsed with pyyaml: every object sits in the qlake namespace; Sail runs in kubernetes-cluster mode with what that
mode needs (driver pod name and IP from the downward API, a service account whose Role may manage pods, the
worker image = the driver's image, workers mounting the lake where the driver has it); qlake pods read only real
qlake settings, and every endpoint they use is a Service on a port its pods listen on; no secret is written here.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
import yaml

from test_compose import endpoint_of, setting_names

REPO = Path(__file__).resolve().parents[1]
K8S = REPO / "k8s"
NAMESPACE = "qlake"


@pytest.fixture(scope="module")
def objects() -> list[dict]:
    docs = [doc for path in sorted(K8S.glob("*.yaml")) for doc in yaml.safe_load_all(path.read_text()) if doc]
    assert docs, "k8s/ has no manifests"
    return docs


def by_kind(objects, kind: str) -> dict[str, dict]:
    return {o["metadata"]["name"]: o for o in objects if o["kind"] == kind}


def pod_spec(workload: dict) -> dict:
    return workload["spec"]["template"]["spec"]


def container_env(container: dict) -> dict[str, dict]:
    return {e["name"]: e for e in container.get("env", [])}


def config_env(objects, container: dict) -> dict[str, str]:
    env = {}
    for source in container.get("envFrom", []):
        env.update(by_kind(objects, "ConfigMap")[source["configMapRef"]["name"]]["data"])
    env.update({k: e["value"] for k, e in container_env(container).items() if "value" in e})
    return env


def workloads(objects) -> dict[str, dict]:
    return {**by_kind(objects, "Deployment"), **by_kind(objects, "StatefulSet")}


def service_ports(objects) -> dict[str, set[int]]:
    """Service name -> the ports it serves whose target a selected pod's container declares."""
    pods = workloads(objects)
    out = {}
    for name, svc in by_kind(objects, "Service").items():
        selector = svc["spec"]["selector"]
        matching = [w for w in pods.values() if selector.items() <= w["spec"]["template"]["metadata"]["labels"].items()]
        assert matching, f"Service {name} selects no pod"
        declared = {p["containerPort"] for w in matching for c in pod_spec(w)["containers"] for p in c.get("ports", [])}
        for port in svc["spec"]["ports"]:
            assert port["targetPort"] in declared, f"Service {name}: no container listens on {port['targetPort']}"
        out[name] = {p["port"] for p in svc["spec"]["ports"]}
    return out


def test_every_object_is_namespaced(objects):
    assert by_kind(objects, "Namespace") == {NAMESPACE: by_kind(objects, "Namespace")[NAMESPACE]}
    for o in objects:
        if o["kind"] != "Namespace":
            assert o["metadata"].get("namespace") == NAMESPACE, f"{o['kind']}/{o['metadata']['name']}"


def test_components_are_all_there(objects):
    assert set(workloads(objects)) == {"sail-spark-server", "postgres", "metastore", "kafka", "qlake-scheduler",
                                       "qlake-stream"}
    assert set(by_kind(objects, "Service")) == {"sail-spark-server", "postgres", "metastore", "kafka"}
    for name, w in workloads(objects).items():
        assert w["spec"]["replicas"] == 1, f"{name}: a singleton by design"
        assert w["spec"]["selector"]["matchLabels"].items() <= w["spec"]["template"]["metadata"]["labels"].items()


def test_sail_driver_runs_kubernetes_cluster_mode(objects):
    driver = pod_spec(by_kind(objects, "Deployment")["sail-spark-server"])
    (server,) = driver["containers"]
    env = container_env(server)
    value = {k: e.get("value") for k, e in env.items()}
    assert value["SAIL_MODE"] == "kubernetes-cluster"
    assert value["SAIL_CLUSTER__DRIVER_LISTEN_HOST"] == "0.0.0.0"
    assert env["SAIL_CLUSTER__DRIVER_EXTERNAL_HOST"]["valueFrom"]["fieldRef"]["fieldPath"] == "status.podIP"
    assert env["SAIL_KUBERNETES__DRIVER_POD_NAME"]["valueFrom"]["fieldRef"]["fieldPath"] == "metadata.name"
    assert value["SAIL_KUBERNETES__NAMESPACE"] == NAMESPACE
    assert value["SAIL_KUBERNETES__IMAGE"] == server["image"], "workers must run the driver's Sail build"
    assert int(value["SAIL_CLUSTER__WORKER_INITIAL_COUNT"]) >= 2 and int(value["SAIL_CLUSTER__WORKER_TASK_SLOTS"]) >= 1
    assert "SAIL_CLUSTER__WORKER_MAX_COUNT" not in value  # a cap can refuse wide task regions (README engine gaps)
    assert value["SAIL_CATALOG__DEFAULT_CATALOG"] == "hms"
    assert 'uris=["metastore:9083"]' in value["SAIL_CATALOG__LIST"]
    assert server["args"][:2] == ["spark", "server"]
    port = int(server["args"][server["args"].index("--port") + 1])
    assert server["args"][server["args"].index("--ip") + 1] == "0.0.0.0"
    assert [p["containerPort"] for p in server["ports"]] == [port]
    assert service_ports(objects)["sail-spark-server"] == {port}
    pinned = re.search(r'"pysail==([\d.]+)"', (REPO / "pyproject.toml").read_text()).group(1)
    assert server["image"].endswith(f":{pinned}"), "the Sail server must be the pysail version qlake pins"
    dockerfile = (REPO / "docker" / "sail.Dockerfile").read_text()
    assert f"ARG PYSAIL_VERSION={pinned}" in dockerfile and 'ENTRYPOINT ["/usr/local/bin/sail"]' in dockerfile


def test_sail_service_account_may_manage_worker_pods(objects):
    driver = pod_spec(by_kind(objects, "Deployment")["sail-spark-server"])
    account = driver["serviceAccountName"]
    assert account in by_kind(objects, "ServiceAccount")
    env = {k: e.get("value") for k, e in container_env(driver["containers"][0]).items()}
    assert env["SAIL_KUBERNETES__WORKER_SERVICE_ACCOUNT_NAME"] == account
    bindings = [b for b in by_kind(objects, "RoleBinding").values()
                if {"kind": "ServiceAccount", "name": account, "namespace": NAMESPACE} in b["subjects"]]
    assert bindings, f"no RoleBinding for service account {account}"
    roles = by_kind(objects, "Role")
    verbs = {v for b in bindings for rule in roles[b["roleRef"]["name"]]["rules"]
             if "pods" in rule["resources"] and "" in rule["apiGroups"] for v in rule["verbs"]}
    assert {"create", "delete", "get", "list", "watch"} <= verbs, f"the driver launches and removes pods: {verbs}"


def test_sail_workers_and_qlake_share_the_lake(objects):
    deployments = by_kind(objects, "Deployment")
    driver = pod_spec(deployments["sail-spark-server"])
    env = {k: e.get("value") for k, e in container_env(driver["containers"][0]).items()}
    template = json.loads(env["SAIL_KUBERNETES__WORKER_POD_TEMPLATE"])
    lake_home = by_kind(objects, "ConfigMap")["qlake-config"]["data"]["QLAKE_HOME"]

    def lake_claim(spec: dict, container: dict) -> str:
        mount = next(m for m in container["volumeMounts"] if m["mountPath"] == lake_home)
        volume = next(v for v in spec["volumes"] if v["name"] == mount["name"])
        return volume["persistentVolumeClaim"]["claimName"]

    claims = {lake_claim(template["spec"], template["spec"]["containers"][0]),
              lake_claim(driver, driver["containers"][0])}
    for name in ("qlake-scheduler", "qlake-stream"):
        spec = pod_spec(deployments[name])
        claims.add(lake_claim(spec, spec["containers"][0]))
    (claim,) = claims
    assert by_kind(objects, "PersistentVolumeClaim")[claim]["spec"]["accessModes"] == ["ReadWriteMany"]
    limits = template["spec"]["containers"][0]["resources"]["limits"]
    assert limits["memory"].endswith("Gi"), "each worker pod has a memory limit"


def test_qlake_pods_use_real_settings_and_real_services(objects):
    names = setting_names()
    ports = service_ports(objects)
    for name in ("qlake-scheduler", "qlake-stream"):
        spec = pod_spec(by_kind(objects, "Deployment")[name])
        (container,) = spec["containers"]
        env = config_env(objects, container)
        assert set(env) <= names, f"{name}: {sorted(set(env) - names)} are not read by qlake/config.py"
        assert container["args"] == ["qlake", "schedule" if name == "qlake-scheduler" else "stream"]
        for key in ("QLAKE_SPARK_REMOTE", "QLAKE_METASTORE_URI", "QLAKE_KAFKA_BOOTSTRAP"):
            host, port = endpoint_of(env[key])
            assert port in ports.get(host, set()), f"{name}: {key}={env[key]}: no Service {host} on {port}"
        mounted = {m["mountPath"] for m in container["volumeMounts"]}
        assert {env["QLAKE_HOME"], env["QLAKE_LOCAL_STATE"]} <= mounted, f"{name}: lake/state not on volumes"
        claims = {v["persistentVolumeClaim"]["claimName"] for v in spec["volumes"]}
        assert claims <= set(by_kind(objects, "PersistentVolumeClaim")), f"{name}: undeclared claim"
    scheduler = pod_spec(by_kind(objects, "Deployment")["qlake-scheduler"])["containers"][0]
    assert config_env(objects, scheduler)["QLAKE_INCOMING"] in {m["mountPath"] for m in scheduler["volumeMounts"]}


def test_metastore_on_postgres_and_kafka_kraft(objects):
    ports = service_ports(objects)
    metastore = container_env(pod_spec(by_kind(objects, "Deployment")["metastore"])["containers"][0])
    assert metastore["DB_DRIVER"]["value"] == "postgres"
    opts = metastore["SERVICE_OPTS"]["value"]
    url = re.search(r"jdbc:postgresql://([a-z-]+):(\d+)/(\w+)", opts)
    assert url and int(url.group(2)) in ports[url.group(1)]
    postgres = container_env(pod_spec(by_kind(objects, "StatefulSet")["postgres"])["containers"][0])
    assert postgres["POSTGRES_DB"]["value"] == url.group(3)
    assert f"ConnectionUserName={postgres['POSTGRES_USER']['value']}" in opts
    assert "ConnectionPassword=$(HMS_DB_PASSWORD)" in opts
    kafka = {k: e["value"] for k, e in container_env(pod_spec(by_kind(objects, "StatefulSet")["kafka"])["containers"][0]).items()}
    assert set(kafka["KAFKA_PROCESS_ROLES"].split(",")) == {"broker", "controller"}
    bootstrap = by_kind(objects, "ConfigMap")["qlake-config"]["data"]["QLAKE_KAFKA_BOOTSTRAP"]
    assert f"PLAINTEXT://{bootstrap}" in kafka["KAFKA_ADVERTISED_LISTENERS"]


def test_no_secret_in_the_manifests(objects):
    assert not by_kind(objects, "Secret"), "secrets are created by the operator (docs/cluster.md), not committed"
    for w in workloads(objects).values():
        for c in pod_spec(w)["containers"]:
            for name, e in container_env(c).items():
                if re.search(r"PASSWORD|SECRET|TOKEN", name):
                    assert "secretKeyRef" in e.get("valueFrom", {}), f"{name} must come from a Secret"
