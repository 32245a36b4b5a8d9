"""Static checks of the cluster deployment (docker-compose.yaml + docker/): no Docker engine needed.

The file is parsed with pyyaml and its wiring checked: the qlake services are configured only with real qlake
settings (read from qlake/config.py's source), every endpoint names a service of the file on a port that service
listens on (and that its own configuration agrees with), depends_on names real services, published ports bind
127.0.0.1, and no secret is written in plain text (only `${VAR:-dev-only default}`).
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[1]
COMPOSE = REPO / "docker-compose.yaml"
CONFIG = REPO / "qlake" / "config.py"

# ${VAR}, ${VAR:-default}, ${VAR-default}, ${VAR:?error} as docker compose interpolates them
_INTERPOLATION = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?:(:?[-?])([^}]*))?\}")
# scheme://host:port or host:port (host = a compose service name, checked by the callers)
_ENDPOINT = re.compile(r"(?<![A-Za-z0-9_./-])(?:([A-Za-z][A-Za-z0-9+.:-]*)://)?([a-z][a-z0-9-]*):(\d{2,5})(?![\d.])")
_URL = re.compile(r"\b(sc|hdfs|thrift|spark|jdbc:postgresql)://([A-Za-z0-9_.-]+):(\d+)")
_SECRET_KEY = re.compile(r"PASSWORD|PASSWD|SECRET|TOKEN|CREDENTIAL|API_?KEY|PRIVATE_?KEY", re.I)
_SECRET_ASSIGNMENT = re.compile(r"(?i)(?:password|passwd|secret|token)[A-Za-z0-9_.]*=(\S+)")


@pytest.fixture(scope="module")
def compose() -> dict:
    assert COMPOSE.is_file(), "docker-compose.yaml is missing at the repository root"
    return yaml.safe_load(COMPOSE.read_text())


@pytest.fixture(scope="module")
def services(compose) -> dict[str, dict]:
    return compose["services"]


@pytest.fixture(scope="module")
def qlake_services(services) -> dict[str, dict]:
    """The qlake services of the default (Spark) stack; the Sail variant's are under the `sail` profile."""
    found = {name: svc for name, svc in services.items()
             if _dockerfile(svc).endswith("qlake.Dockerfile") and not svc.get("profiles")}
    assert found, "no service is built from docker/qlake.Dockerfile"
    return found


@pytest.fixture(scope="module")
def sail_services(services) -> dict[str, dict]:
    return {name: svc for name, svc in services.items() if "sail" in (svc.get("profiles") or [])}


# ---- helpers ---------------------------------------------------------------------------------------------------
def interpolate(value: str) -> str:
    """Resolve compose interpolation to its defaults (what runs when nothing is set in the environment)."""
    def default(m: re.Match) -> str:
        op, text = m.group(2), m.group(3)
        return text if op in (":-", "-") else ""
    return _INTERPOLATION.sub(default, str(value))


def setting_names() -> set[str]:
    """Every QLAKE_* variable qlake/config.py reads, from its source (the one place the environment is read)."""
    source = CONFIG.read_text()
    return set(re.findall(r"(?:_env|_env_int|os\.environ\.get|os\.getenv)\(\s*[\"'](QLAKE_[A-Z0-9_]+)[\"']", source))


def env_of(service: dict) -> dict[str, str]:
    env = service.get("environment") or {}
    if isinstance(env, list):
        env = dict(item.split("=", 1) if "=" in item else (item, "") for item in env)
    return {str(k): "" if v is None else str(v) for k, v in env.items()}


def command_of(service: dict) -> list[str]:
    command = service.get("command") or []
    return command.split() if isinstance(command, str) else [str(c) for c in command]


def depends_of(service: dict) -> dict[str, str]:
    deps = service.get("depends_on") or {}
    if isinstance(deps, list):
        return {d: "service_started" for d in deps}
    return {name: (spec or {}).get("condition", "service_started") for name, spec in deps.items()}


def _dockerfile(service: dict) -> str:
    build = service.get("build")
    if isinstance(build, dict):
        return str(build.get("dockerfile", "Dockerfile"))
    return "Dockerfile" if build else ""


def build_dir(service: dict) -> Path:
    build = service["build"]
    context = build["context"] if isinstance(build, dict) else build
    return (REPO / context).resolve()


def dockerfile_path(service: dict) -> Path:
    return build_dir(service) / _dockerfile(service)


def published(service: dict) -> list[tuple[str, str, str]]:
    """(host ip, host port, container port) of every published port, short or long syntax."""
    out = []
    for entry in service.get("ports") or []:
        if isinstance(entry, dict):
            out.append((str(entry.get("host_ip", "")), str(entry.get("published", "")), str(entry["target"])))
            continue
        parts = interpolate(entry).split("/")[0].split(":")
        if len(parts) == 3:
            out.append((parts[0], parts[1], parts[2]))
        elif len(parts) == 2:
            out.append(("", parts[0], parts[1]))
        else:
            out.append(("", "", parts[0]))
    return out


def container_ports(service: dict) -> set[int]:
    ports = {int(interpolate(p).split("/")[0]) for p in service.get("expose") or []}
    ports |= {int(target) for _, _, target in published(service)}
    return ports


def strings(node) -> list[str]:
    """Every string in a parsed YAML node (keys and values), for whole-file scans."""
    if isinstance(node, dict):
        return [s for k, v in node.items() for s in [str(k), *strings(v)]]
    if isinstance(node, list):
        return [s for item in node for s in strings(item)]
    return [] if node is None else [str(node)]


def env_files(services: dict) -> dict[Path, str]:
    files = {}
    for svc in services.values():
        entries = svc.get("env_file") or []
        for entry in [entries] if isinstance(entries, (str, dict)) else entries:
            path = entry["path"] if isinstance(entry, dict) else entry
            files[(REPO / path).resolve()] = (REPO / path).read_text() if (REPO / path).is_file() else ""
    return files


def endpoints(text: str, service_names: set[str]) -> list[tuple[str, int, str]]:
    """(host, port, matched text) of every host:port in ``text`` whose host is a compose service."""
    found = []
    for m in _ENDPOINT.finditer(interpolate(text)):
        host, port = m.group(2), int(m.group(3))
        if host in service_names:
            found.append((host, port, m.group(0)))
    return found


def endpoint_of(value: str) -> tuple[str, int]:
    m = re.match(r"^(?:[a-z][a-z0-9+.-]*://)?([A-Za-z0-9_.-]+):(\d+)", interpolate(value))
    assert m, f"no host:port in {value!r}"
    return m.group(1), int(m.group(2))


# ---- the qlake services ----------------------------------------------------------------------------------------
def test_config_names_are_parsed():
    names = setting_names()
    assert {"QLAKE_HOME", "QLAKE_SPARK_REMOTE", "QLAKE_METASTORE_URI", "QLAKE_KAFKA_BOOTSTRAP"} <= names


def test_qlake_services_run_the_scheduler_and_the_stream(qlake_services):
    commands = {tuple(command_of(svc)) for svc in qlake_services.values()}
    assert ("qlake", "schedule") in commands
    assert ("qlake", "stream") in commands


def test_qlake_env_names_are_real_settings(qlake_services):
    names = setting_names()
    for name, svc in qlake_services.items():
        env = env_of(svc)
        assert env, f"{name}: no environment"
        unknown = sorted(set(env) - names)
        assert not unknown, f"{name}: {unknown} are not read by qlake/config.py (known: {sorted(names)})"


def test_qlake_env_points_at_the_cluster(qlake_services):
    for name, svc in qlake_services.items():
        env = {k: interpolate(v) for k, v in env_of(svc).items()}
        assert env.get("QLAKE_HOME") == "hdfs://namenode:8020/qlake", name
        assert env.get("QLAKE_SPARK_REMOTE") == "sc://spark-connect:15002", name
        assert env.get("QLAKE_KAFKA_BOOTSTRAP") == "kafka:9092", name
        assert env.get("QLAKE_METASTORE_URI") == "thrift://metastore:9083", name
        # state that must be local (run/, dq/, exports/) on a volume, not in the container's cwd
        state = env.get("QLAKE_LOCAL_STATE")
        assert state and any(str(v).split(":")[1] == state for v in svc.get("volumes") or [] if ":" in str(v)), \
            f"{name}: QLAKE_LOCAL_STATE should be a mounted volume"


def test_qlake_endpoints_name_services_and_their_ports(services, qlake_services):
    names = set(services)
    for name, svc in qlake_services.items():
        for key, value in env_of(svc).items():
            value = interpolate(value)
            if "://" not in value and not re.search(r":\d+", value):
                continue  # not an endpoint (topic, cron, a local path)
            targets = value.split(",") if key == "QLAKE_KAFKA_BOOTSTRAP" else [value]
            for target in targets:
                host, port = endpoint_of(target)
                assert host in names, f"{name}: {key}={value} points at {host!r}, not a service of the file"
                assert port in container_ports(services[host]), \
                    f"{name}: {key}={value}: {host} does not listen on {port} (exposes {sorted(container_ports(services[host]))})"
                assert host in depends_of(svc), f"{name}: uses {host} ({key}) but does not depend on it"


def test_servers_agree_with_the_endpoints_qlake_uses(services, qlake_services, compose):
    env = {k: interpolate(v) for k, v in env_of(next(iter(qlake_services.values()))).items()}
    hadoop_env = "\n".join(env_files(services).values())
    # HDFS: the namenode's RPC address is QLAKE_HOME's authority
    home_host, home_port = endpoint_of(env["QLAKE_HOME"])
    assert f"dfs.namenode.rpc-address={home_host}:{home_port}" in hadoop_env
    assert f"fs.defaultFS=hdfs://{home_host}:{home_port}" in hadoop_env
    # Kafka advertises the bootstrap address qlake dials
    advertised = interpolate(env_of(services["kafka"])["KAFKA_ADVERTISED_LISTENERS"])
    for server in env["QLAKE_KAFKA_BOOTSTRAP"].split(","):
        assert f"://{server}" in advertised, f"kafka advertises {advertised}, qlake dials {server}"
    # Spark Connect serves on the port of QLAKE_SPARK_REMOTE
    host, port = endpoint_of(env["QLAKE_SPARK_REMOTE"])
    assert f"spark.connect.grpc.binding.port={port}" in [interpolate(c) for c in command_of(services[host])]
    assert any("start-connect-server.sh" in c for c in command_of(services[host]))
    # the Spark servers use the metastore qlake uses (same catalog for jobs and SQL clients)
    for server in ("spark-connect", "spark-thrift"):
        assert f"spark.hadoop.hive.metastore.uris={env['QLAKE_METASTORE_URI']}" in command_of(services[server])
    # HiveServer2 listens on the container port that is published
    thrift = services["spark-thrift"]
    hs2_port = next(c.split("=")[1] for c in command_of(thrift) if c.startswith("hive.server2.thrift.port="))
    assert [target for _, _, target in published(thrift)] == [hs2_port]


def test_every_endpoint_in_the_file_names_a_listening_service(services, compose):
    names = set(services)
    for name, svc in services.items():
        texts = strings({k: v for k, v in svc.items() if k not in ("image", "build", "ports", "expose", "volumes", "healthcheck")})
        for text in texts:
            for host, port, match in endpoints(text, names):
                assert port in container_ports(services[host]), \
                    f"{name}: {match!r}: {host} does not listen on {port} (exposes {sorted(container_ports(services[host]))})"
            for m in _URL.finditer(interpolate(text)):
                assert m.group(2) in names, f"{name}: {m.group(0)} names no service of the file"
    for path, text in env_files(services).items():
        for host, port, match in endpoints(text, names):
            assert port in container_ports(services[host]), f"{path.name}: {match}: {host} does not listen on {port}"


# ---- the rest of the cluster -----------------------------------------------------------------------------------
def test_required_components_use_real_images(services):
    def base_images(svc) -> str:
        text = dockerfile_path(svc).read_text() if svc.get("build") else ""
        args = (svc.get("build") or {}).get("args") or {} if isinstance(svc.get("build"), dict) else {}
        return " ".join([interpolate(svc.get("image", "")), text, *[interpolate(v) for v in args.values()]])

    images = {name: base_images(svc) for name, svc in services.items()}
    expect = {
        "namenode": "apache/hadoop:3", "datanode": "apache/hadoop:3", "postgres": "postgres:",
        "metastore": "apache/hive:4", "spark-master": "apache/spark:4", "spark-worker": "apache/spark:4",
        "spark-connect": "apache/spark:4", "spark-thrift": "apache/spark:4", "kafka": "apache/kafka:",
    }
    for name, image in expect.items():
        assert name in services, f"service {name} is missing"
        assert image in images[name], f"{name}: expected an {image}* image, got {images[name][:200]}"
    assert "KAFKA_PROCESS_ROLES" in env_of(services["kafka"]), "Kafka must run in KRaft mode"
    assert "broker" in env_of(services["kafka"])["KAFKA_PROCESS_ROLES"]
    assert "controller" in env_of(services["kafka"])["KAFKA_PROCESS_ROLES"]
    assert env_of(services["metastore"])["DB_DRIVER"] == "postgres"
    assert "postgres" in depends_of(services["metastore"])
    assert "/opt/hive/lib/postgres.jar" in dockerfile_path(services["metastore"]).read_text(), "JDBC driver"


def test_spark_servers_have_delta_and_the_hive_catalog(services):
    for name in ("spark-connect", "spark-thrift"):
        command = [interpolate(c) for c in command_of(services[name])]
        for conf in ("spark.sql.extensions=io.delta.sql.DeltaSparkSessionExtension",
                     "spark.sql.catalog.spark_catalog=org.apache.spark.sql.delta.catalog.DeltaCatalog",
                     "spark.sql.catalogImplementation=hive"):
            assert conf in command, f"{name}: missing --conf {conf}"
        assert "--master" in command and command[command.index("--master") + 1] == "spark://spark-master:7077"
        build = services[name]["build"]
        package = interpolate(build["args"]["DELTA_PACKAGE"])
        assert re.fullmatch(r"io\.delta:delta-spark(_4\.\d)?_2\.13:4\.\d+\.\d+", package), package
        spark_line = re.search(r"apache/spark:(4\.\d)", interpolate(build["args"]["SPARK_IMAGE"])).group(1)
        if "_4." in package:  # Delta's Spark-qualified artifact must name the Spark line it runs on
            assert f"delta-spark_{spark_line}_2.13" in package, f"{package} is not built for Spark {spark_line}"
        assert '--packages "${DELTA_PACKAGE}"' in dockerfile_path(services[name]).read_text()
    assert any("start-thriftserver.sh" in c for c in command_of(services["spark-thrift"]))


def test_spark_client_and_server_lines_match(services):
    """Spark Connect wants the client (pyspark pinned in pyproject.toml) on the server's minor line."""
    pinned = re.search(r'"pyspark\[[^\]]*\]==(\d+\.\d+)\.\d+"', (REPO / "pyproject.toml").read_text())
    assert pinned, "pyspark pin not found in pyproject.toml"
    server = re.search(r"apache/spark:(\d+\.\d+)", interpolate(services["spark-connect"]["build"]["args"]["SPARK_IMAGE"]))
    assert server and server.group(1) == pinned.group(1), f"server {server and server.group(1)} vs client {pinned.group(1)}"


def test_depends_on_references_exist(services):
    conditions = {"service_started", "service_healthy", "service_completed_successfully"}
    for name, svc in services.items():
        for dep, condition in depends_of(svc).items():
            assert dep in services, f"{name} depends on unknown service {dep!r}"
            assert dep != name
            assert condition in conditions, f"{name} -> {dep}: condition {condition!r}"
            if condition == "service_healthy":
                assert services[dep].get("healthcheck"), f"{name} waits for {dep} to be healthy; it has no healthcheck"


def test_published_ports_bind_localhost_only_for_hiveserver2_and_ui(services):
    published_targets = {}
    for name, svc in services.items():
        for host_ip, host_port, target in published(svc):
            assert host_ip == "127.0.0.1", f"{name}: port {host_port}:{target} must bind 127.0.0.1, binds {host_ip or 'all'}"
            published_targets.setdefault(name, set()).add(int(target))
    assert 10000 in published_targets.get("spark-thrift", set()), "HiveServer2 is not published"
    others = {(n, p) for n, ports in published_targets.items() for p in ports} - {("spark-thrift", 10000)}
    assert all(port in (4040, 8080) for _, port in others), f"only HiveServer2 and a Spark UI may be published: {others}"


def test_internal_network(compose, services):
    networks = compose.get("networks") or {}
    internal = {n for n, spec in networks.items() if (spec or {}).get("internal")}
    assert internal, "no internal network"
    for name, svc in services.items():
        nets = svc.get("networks") or ["default"]
        nets = list(nets) if isinstance(nets, (list, dict)) else [nets]
        assert set(nets) & internal, f"{name} is not on the internal network"
        if not svc.get("ports"):
            assert set(nets) <= internal, f"{name} publishes nothing but sits on a non-internal network"


def test_no_plaintext_secrets(services):
    def dev_default(value: str) -> bool:
        m = _INTERPOLATION.fullmatch(value.strip())
        return bool(m) and (m.group(2) is None or "dev" in (m.group(3) or "").lower())

    for name, svc in services.items():
        for key, value in env_of(svc).items():
            if _SECRET_KEY.search(key):
                assert dev_default(value), f"{name}: {key} must come from ${{VAR:-...dev...}}, not plain text"
        for text in strings(svc):
            for m in _SECRET_ASSIGNMENT.finditer(text):
                assert dev_default(m.group(1)), f"{name}: secret in plain text: {m.group(0)!r}"
    for path, text in env_files(services).items():
        for line in text.splitlines():
            assert not _SECRET_KEY.search(line.split("=")[0]), f"{path.name}: secret-like setting {line!r}"


def test_build_inputs_exist(services):
    for name, svc in services.items():
        if svc.get("build"):
            assert build_dir(svc).is_dir(), f"{name}: build context {build_dir(svc)} missing"
            assert dockerfile_path(svc).is_file(), f"{name}: {dockerfile_path(svc)} missing"
    for path in env_files(services):
        assert path.is_file(), f"env_file {path} missing"


def test_qlake_image_copies_every_package(qlake_services):
    svc = next(iter(qlake_services.values()))
    assert build_dir(svc) == REPO, "the qlake image is built from the repository root"
    dockerfile = dockerfile_path(svc).read_text()
    copied = {src for line in dockerfile.splitlines() if line.startswith("COPY ") and "--from" not in line
              for src in line.split()[1:-1]}
    for src in copied:
        assert (REPO / src).exists(), f"COPY {src}: not in the repository"
    packages = re.search(r"include\s*=\s*\[([^\]]*)\]", (REPO / "pyproject.toml").read_text()).group(1)
    for package in re.findall(r'"([a-z_]+)\*"', packages):
        assert any(src.rstrip("/") == package for src in copied), f"the image does not COPY package {package}/"
    assert any(src.rstrip("/") == "expectations" for src in copied), "GX suites (expectations/) not copied"
    ignore = dockerfile_path(svc).with_name(dockerfile_path(svc).name + ".dockerignore")
    if ignore.is_file():
        kept = {line[1:].rstrip("/") for line in ignore.read_text().splitlines() if line.startswith("!")}
        missing = {src.rstrip("/") for src in copied} - kept
        assert not missing, f"{ignore.name} leaves out what the Dockerfile copies: {missing}"


def test_cluster_doc_exists():
    doc = REPO / "docs" / "cluster.md"
    assert doc.is_file()
    text = doc.read_text()
    assert "docker compose up" in text and "Known gaps" in text


def test_qlake_cli_has_the_commands_the_services_run(qlake_services):
    import click

    from cli.main import main

    wanted = {command_of(svc)[1] for svc in qlake_services.values()}
    context = click.Context(main)
    missing = sorted(name for name in wanted if main.get_command(context, name) is None)
    assert not missing, f"compose runs `qlake {' / '.join(missing)}`, which the CLI does not have"


# ---- the Sail-cluster variant (profile `sail`) -------------------------------------------------------------------
def test_sail_variant_has_a_server_and_both_jobs(sail_services):
    assert set(sail_services) == {"sail-server", "qlake-scheduler-sail", "qlake-stream-sail"}
    assert tuple(command_of(sail_services["qlake-scheduler-sail"])) == ("qlake", "schedule")
    assert tuple(command_of(sail_services["qlake-stream-sail"])) == ("qlake", "stream")


def test_sail_server_runs_the_cluster_runtime_on_the_metastore(services, sail_services):
    server = sail_services["sail-server"]
    env = {k: interpolate(v) for k, v in env_of(server).items()}
    assert env["SAIL_MODE"] == "local-cluster"
    assert int(env["SAIL_CLUSTER__WORKER_INITIAL_COUNT"]) >= 2
    assert int(env["SAIL_CLUSTER__WORKER_TASK_SLOTS"]) >= 1
    assert "SAIL_CLUSTER__WORKER_MAX_COUNT" not in env  # a cap can refuse wide task regions (README, engine gaps)
    assert env["SAIL_CATALOG__DEFAULT_CATALOG"] == "hms"
    assert 'type="hms"' in env["SAIL_CATALOG__LIST"] and 'uris=["metastore:9083"]' in env["SAIL_CATALOG__LIST"]
    assert 9083 in container_ports(services["metastore"])
    assert depends_of(server) == {"metastore": "service_healthy"}
    command = command_of(server)
    port = int(command[command.index("--port") + 1])
    assert command[:2] == ["spark", "server"] and command[command.index("--ip") + 1] == "0.0.0.0"
    assert container_ports(server) == {port}
    assert f"/dev/tcp/127.0.0.1/{port}" in " ".join(server["healthcheck"]["test"])
    dockerfile = dockerfile_path(server).read_text()
    pinned = re.search(r'"pysail==([\d.]+)"', (REPO / "pyproject.toml").read_text()).group(1)
    assert interpolate(server["build"]["args"]["PYSAIL_VERSION"]) == pinned, "server and client Sail differ"
    assert interpolate(server["image"]).endswith(f":{pinned}")
    assert 'pysail==${PYSAIL_VERSION}' in dockerfile and 'ENTRYPOINT ["/usr/local/bin/sail"]' in dockerfile


def test_sail_jobs_point_at_sail_and_share_the_lake_with_it(services, sail_services):
    names = setting_names()
    server = sail_services["sail-server"]
    lake_volume = next(v for v in server["volumes"] if str(v).endswith(":/lake"))
    for name in ("qlake-scheduler-sail", "qlake-stream-sail"):
        svc = sail_services[name]
        env = {k: interpolate(v) for k, v in env_of(svc).items()}
        assert set(env) <= names, f"{name}: {sorted(set(env) - names)} are not qlake settings"
        assert env["QLAKE_HOME"] == "/lake"
        assert lake_volume in svc["volumes"], f"{name}: the lake volume is not mounted where Sail has it"
        host, port = endpoint_of(env["QLAKE_SPARK_REMOTE"])
        assert (host, port) == ("sail-server", 50051) and port in container_ports(services[host])
        assert env["QLAKE_METASTORE_URI"] == "thrift://metastore:9083"
        assert env["QLAKE_KAFKA_BOOTSTRAP"] == "kafka:9092"
        assert depends_of(svc) == {"sail-server": "service_healthy", "metastore": "service_healthy",
                                   "kafka": "service_healthy"}
        state = env["QLAKE_LOCAL_STATE"]
        assert any(str(v).split(":")[1] == state for v in svc["volumes"]), f"{name}: state not on a volume"
        assert "spark-connect" not in depends_of(svc) and "namenode" not in " ".join(env.values())
    mounts = {interpolate(v).split(":")[0] for n in sail_services for v in sail_services[n].get("volumes", [])}
    assert mounts == {"lake-data", "qlake-sail-state", "qlake-sail-stream-state", "./incoming"}
    declared = yaml.safe_load(COMPOSE.read_text()).get("volumes") or {}
    assert mounts - {"./incoming"} <= set(declared), "a named volume of the Sail variant is not declared"
    assert server.get("profiles") == ["sail"] and "ports" not in server  # nothing published
