"""Local services qlake starts for itself: the Hive metastore, the Kafka-protocol broker and the Great Expectations
worker (:mod:`qlake.gx_client`).

Each service is a child process in its own session, with a PID file and a log file under ``run/``. ``up`` is
idempotent (a live PID whose port answers is left alone), ``down`` stops by PID only (never by name, so nothing
else on the machine is touched). When the settings point at an external metastore or Kafka, qlake starts nothing.
"""

from __future__ import annotations

import contextlib
import importlib.util
import os
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from qlake import resident
from qlake.config import REPO_ROOT, Settings


class ServiceError(RuntimeError):
    """A service did not start; the message says which, why, and where its log is."""


def port_open(host: str, port: int, timeout: float = 0.5) -> bool:
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


def wait_for_port(host: str, port: int, timeout: float, alive: Callable[[], bool] = lambda: True) -> bool:
    return _wait_until(lambda: port_open(host, port), timeout, alive)


def _wait_until(listening: Callable[[], bool], timeout: float, alive: Callable[[], bool]) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if listening():
            return True
        if not alive():
            return False
        time.sleep(0.05)
    return False


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    # A zombie child of ours still "exists": check its state. A multi-threaded process's first thread turns
    # zombie while its other threads are still exiting, holding its sockets: alive until every thread is gone.
    states = []
    try:
        for task in Path(f"/proc/{pid}/task").iterdir():
            with contextlib.suppress(OSError):  # that thread has just ended
                states.append(Path(task, "stat").read_text().split(")")[-1].split()[0])
    except OSError:
        return True  # cannot tell: a caller waiting for it asks again
    return any(state != "Z" for state in states)


def spark_home() -> str:
    """SPARK_HOME of the installed pyspark wheel (its jars hold Hive, Derby, the Thrift server and beeline)."""
    if os.environ.get("SPARK_HOME"):
        return os.environ["SPARK_HOME"]
    return str(Path(importlib.util.find_spec("pyspark").origin).parent)  # found, not imported (~0.1 s)


@dataclass
class Service:
    name: str
    port: int
    settings: Settings

    @property
    def pid_file(self) -> Path:
        return Path(self.settings.run_dir, f"{self.name}.pid")

    @property
    def log_file(self) -> Path:
        return Path(self.settings.run_dir, f"{self.name}.log")

    def pid(self) -> int | None:
        try:
            pid = int(self.pid_file.read_text().strip())
        except (OSError, ValueError):
            return None
        return pid if pid_alive(pid) else None

    def listening(self) -> bool:
        """Does something answer at the service's address (its TCP port)?"""
        return port_open(self.settings.host, self.port)

    @property
    def address(self) -> str | int:
        return self.port

    @property
    def where(self) -> str:
        """The address, as messages say it."""
        return f"port {self.address}"

    def running(self) -> bool:
        return self.pid() is not None and self.listening()

    def status(self) -> dict:
        pid = self.pid()
        return {
            "service": self.name,
            "pid": pid,
            "port": self.address,
            "listening": self.listening(),
            "log": str(self.log_file),
        }

    # -- to be provided by each service --
    def command(self) -> list[str]:
        raise NotImplementedError

    def env(self) -> dict[str, str]:
        return dict(os.environ)

    def prepare(self) -> None:
        """Create config files and folders before the first start."""

    def after_start(self) -> None:
        """Wait for anything beyond the open port."""

    startup_timeout: float = 120.0

    def signature(self) -> str | None:
        """A string only this instance's command line contains (its config/data folder), to find it by."""
        return None

    def _instances(self) -> list[int]:
        """Live processes of this very service (its config/data folder on their command line)."""
        mark = self.signature()
        if not mark:
            return []
        found = []
        for entry in Path("/proc").iterdir():
            if not entry.name.isdigit() or int(entry.name) == os.getpid():
                continue
            try:
                cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
            except OSError:
                continue
            if mark in cmdline and pid_alive(int(entry.name)):
                found.append(int(entry.name))
        return found

    def _adopt_orphan(self) -> int | None:
        """A process of this very service whose starter died before recording it (e.g. SIGKILL mid-start)."""
        instances = self._instances()
        return instances[0] if instances else None

    def up(self) -> str:
        if self.running():
            return f"{self.name}: already running (pid {self.pid()}, {self.where})"
        pid = self.pid() or self._adopt_orphan()
        if pid is not None:
            # Started by a process that died (or is still starting): wait for it rather than start a twin.
            self.pid_file.parent.mkdir(parents=True, exist_ok=True)
            self.pid_file.write_text(str(pid))
            if _wait_until(self.listening, self.startup_timeout, lambda: pid_alive(pid)):
                self.after_start()
                return f"{self.name}: adopted running instance (pid {pid}, {self.where})"
            self.down()
        if self.listening():
            raise ServiceError(
                f"{self.name}: port {self.settings.host}:{self.port} is taken by another process; "
                f"stop it or choose another port (see README, Configuration)"
            )
        proc = self.spawn()
        if not _wait_until(self.listening, self.startup_timeout, lambda: proc.poll() is None):
            code = proc.poll()
            self.down()
            tail = log_tail(self.log_file)
            state = f"exited with code {code}" if code is not None else "did not start listening in time"
            raise ServiceError(f"{self.name}: {state} ({self.where}); log {self.log_file}:\n{tail}")
        self.after_start()
        return f"{self.name}: started (pid {proc.pid}, {self.where})"

    def spawn(self) -> subprocess.Popen:
        """Start the service's process and record its PID, without waiting for it to listen."""
        Path(self.settings.run_dir).mkdir(parents=True, exist_ok=True)
        self.prepare()
        with open(self.log_file, "ab") as log:
            proc = subprocess.Popen(
                self.command(),
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                env=self.env(),
                cwd=self.settings.run_dir,
                start_new_session=True,  # survives the CLI process; never gets the terminal's Ctrl-C
            )
        self.pid_file.write_text(str(proc.pid))
        return proc

    def down(self) -> str:
        pid = self.pid()
        # Instances whose starter was killed before it wrote the PID file are ours too (same folder).
        strays = [p for p in self._instances() if p != pid]
        if pid is None and not strays:
            self.pid_file.unlink(missing_ok=True)
            return f"{self.name}: not running"
        # Collect descendants first: a wrapper (noida-db) leaves its child binary running when it dies.
        roots = ([pid] if pid is not None else []) + strays
        pids = [p for root in roots for p in (root, *_descendants(root))]
        pid = pid if pid is not None else strays[0]
        for p in pids:
            _signal(p, signal.SIGTERM)
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline and any(pid_alive(p) for p in pids):
            time.sleep(0.2)
        for p in pids:
            if pid_alive(p):
                _signal(p, signal.SIGKILL)
        for p in pids:  # reap our own children so they do not linger as zombies
            try:
                os.waitpid(p, os.WNOHANG)
            except ChildProcessError:
                pass
        self.pid_file.unlink(missing_ok=True)
        return f"{self.name}: stopped (pid {pid})"


def _signal(pid: int, sig: int) -> None:
    try:
        os.kill(pid, sig)
    except ProcessLookupError:
        pass


def log_tail(path: Path, lines: int = 25) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"


def _descendants(pid: int) -> list[int]:
    """All descendant PIDs of ``pid`` (read from /proc; no extra dependency)."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            ppid = int((entry / "stat").read_text().split(")")[-1].split()[1])
        except (OSError, IndexError, ValueError):
            continue
        children.setdefault(ppid, []).append(int(entry.name))
    out, todo = [], [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            out.append(child)
            todo.append(child)
    return out


HIVE_SITE = """<?xml version="1.0"?>
<configuration>
  <property><name>javax.jdo.option.ConnectionURL</name><value>{jdbc_url}</value></property>
  <property><name>javax.jdo.option.ConnectionDriverName</name><value>{jdbc_driver}</value></property>
  <property><name>datanucleus.schema.autoCreateAll</name><value>true</value></property>
  <property><name>hive.metastore.schema.verification</name><value>false</value></property>
  <property><name>hive.metastore.warehouse.dir</name><value>{warehouse}</value></property>
  <property><name>hive.async.log.enabled</name><value>false</value></property>
  <property><name>hive.metastore.event.db.notification.api.auth</name><value>false</value></property>
</configuration>
"""


class Metastore(Service):
    """The standalone Hive Metastore Thrift service from the jars shipped inside the pyspark wheel (Derby)."""

    def __init__(self, settings: Settings):
        super().__init__("metastore", settings.metastore_port, settings)

    @property
    def conf_dir(self) -> Path:
        return Path(self.settings.run_dir, "metastore-conf")

    def signature(self) -> str:
        return f"{self.conf_dir}"

    def prepare(self) -> None:
        self.conf_dir.mkdir(parents=True, exist_ok=True)
        Path(self.settings.metastore_dir).parent.mkdir(parents=True, exist_ok=True)
        (self.conf_dir / "hive-site.xml").write_text(
            HIVE_SITE.format(
                jdbc_url=f"jdbc:derby:;databaseName={self.settings.metastore_dir};create=true",
                jdbc_driver="org.apache.derby.jdbc.EmbeddedDriver",
                warehouse=self.settings.path("warehouse"),
            )
        )

    def command(self) -> list[str]:
        jars = Path(spark_home(), "jars")
        return [
            os.environ.get("JAVA", "java"),
            "-Xmx1g",
            "-Dlog4j2.contextSelector=org.apache.logging.log4j.core.selector.ClassLoaderContextSelector",
            f"-Dderby.stream.error.file={Path(self.settings.run_dir, 'derby.log')}",
            "-cp",
            f"{jars}/*:{self.conf_dir}",
            "org.apache.hadoop.hive.metastore.HiveMetaStore",
            "-p",
            str(self.port),
        ]


def managed_services(settings: Settings) -> list[Service]:
    """The services qlake itself runs under these settings (none that point elsewhere)."""
    services: list[Service] = []
    if settings.manages_metastore:
        services.append(Metastore(settings))
    if settings.manages_broker:
        from qlake.broker import Broker  # here, not at the top: the broker module builds on Service

        services.append(Broker(settings))
    from qlake.gx_client import GxWorker  # likewise

    services.append(GxWorker(settings))
    return services


def up(settings: Settings) -> list[str]:
    return [service.up() for service in managed_services(settings)]


def down(settings: Settings) -> list[str]:
    return [service.down() for service in reversed(managed_services(settings))]


def status(settings: Settings) -> list[dict]:
    return [service.status() for service in managed_services(settings)]


def ensure_metastore(settings: Settings) -> None:
    """Start the metastore if qlake manages it and it is not running (jobs call this; it is cheap when up)."""
    if settings.manages_metastore:
        service = Metastore(settings)
        if not service.running():
            print(service.up(), file=sys.stderr)


class SocketService(Service):
    """A resident process of qlake's own code, listening on ``run/<name>.sock``."""

    def __init__(self, name: str, settings: Settings):
        super().__init__(name, 0, settings)
        self.socket = resident.socket_path(settings, name)

    @property
    def address(self) -> str:
        return self.socket

    @property
    def where(self) -> str:
        return f"socket {self.socket}"

    def listening(self) -> bool:
        connection = resident.connect(self.socket)
        if connection is None:
            return False
        connection.close()
        return True

    def signature(self) -> str:
        return self.socket

    def env(self) -> dict[str, str]:
        # The process imports qlake from the checkout that starts it, like the run that asks for it: started in
        # the lake's run/ folder, `-m ...` would otherwise import the installed (editable) checkout, and a run of
        # another checkout would replace that process again and again (its code version never matching).
        path = os.pathsep.join(filter(None, (str(REPO_ROOT), os.environ.get("PYTHONPATH"))))
        return {**os.environ, "PYTHONUNBUFFERED": "1", "PYTHONPATH": path}
