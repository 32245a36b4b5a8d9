"""A warm process that runs commands in fresh children of itself: the imports are paid once, not every hour.

A job's process spends ~0.5 s importing before its first request to the engine (pandas, which PySpark's Connect
client requires, pyspark, pyarrow, deltalake, gRPC, the layers), the same modules every hour. :func:`serve`
imports them once, then forks a child per command. The child is the command as its caller would have run it:

- the caller's argument list, environment, working directory and standard input/output/error (its file
  descriptors, passed over the socket), so output, redirections and exit codes are the caller's own;
- a fresh process: it starts the engine, connects to the metastore and the GX worker, and exits, as before;
  nothing from an earlier command survives in it (the server itself never runs one);
- stopped with the caller: a signal the caller receives (Ctrl-C, a scheduler's SIGTERM) is passed on, and a
  caller that dies (SIGKILL) has its child killed.

The server is single-threaded (a selector over the listener, the callers' connections and the children's pid
file descriptors): a process that forks must hold no lock another thread could be holding. It serves only a
caller of the same code (:func:`qlake.resident.source_version`); a caller of other code is refused and the
server leaves once its running children have ended, for the caller to start one of its own code.

Protocol, one connection per command: the caller sends one JSON line with its three descriptors attached
(``code``, ``argv``, ``env``, ``cwd``, its streams' encodings); the server answers ``{"pid": N}`` (or
``{"refused": why}``), then ``{"exit": code}`` when the child has ended (``-N``: killed by signal N).
"""

from __future__ import annotations

import contextlib
import fcntl
import gc
import io
import json
import os
import select
import selectors
import signal
import socket
import struct
import sys
import time
from collections.abc import Callable

from qlake.resident import connect, listen

_FORWARDED = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP, signal.SIGQUIT)
_CHECK_SECONDS = 30  # how often an idle server looks whether its socket is still its own


def forward(path: str, code: str, argv: list[str]) -> int | None:
    """Run ``argv`` in a child of the server at ``path``; its exit code, or None when no server of this ``code``
    took it (none running, or one of other code): then the caller runs the command itself."""
    connection = connect(path)
    if connection is None:
        return None
    with connection:
        streams = {name: [getattr(sys, name).encoding, getattr(sys, name).errors] for name in ("stdout", "stderr")}
        request = json.dumps({"code": code, "argv": argv, "env": dict(os.environ), "cwd": os.getcwd(),
                              "streams": streams}).encode() + b"\n"
        opened = [fd for fd in range(3) if not _is_open(fd)]
        for fd in opened:  # a closed stream (cron's stdin): the child gets /dev/null, as Python itself would
            os.dup2(os.open(os.devnull, os.O_RDWR), fd)
        try:
            sent = socket.send_fds(connection, [request], [0, 1, 2])
            connection.sendall(request[sent:])
            replies = connection.makefile("rb")
            started = json.loads(replies.readline() or b"{}")
        except (OSError, ValueError):
            return None
        if "pid" not in started:
            return None
        pid = started["pid"]
        previous = {sig: signal.signal(sig, lambda sig, _frame: _kill(pid, sig)) for sig in _FORWARDED}
        try:
            ended = json.loads(replies.readline() or b"{}")
        except (OSError, ValueError):  # the runner was killed meanwhile
            ended = {}
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)
    if "exit" not in ended:  # its command goes on, alone: the caller waits for it, but cannot know how it ended
        _wait_for(pid)
        print(f"qlake: the warm runner stopped during its command (pid {pid}); how the command ended is in the "
              "run log (`qlake status`)", file=sys.stderr)
        return 1
    if ended["exit"] < 0:  # the child was killed by a signal: so is its caller, as if it had run the command
        with contextlib.suppress(OSError, ValueError):  # SIGKILL's action cannot be changed (nor need be)
            signal.signal(-ended["exit"], signal.SIG_DFL)
        os.kill(os.getpid(), -ended["exit"])
    return ended["exit"]


def serve(path: str, code: str, entry: Callable[[], None]) -> None:
    """Serve commands at ``path`` until the socket is no longer this server's (replaced, or its lake removed),
    or a caller of other code came. Each command is ``entry()`` in a fresh child, which must end the process."""
    try:  # Linux 5.3+: without it, every command runs in its own process
        os.close(os.pidfd_open(os.getpid()))
    except (AttributeError, OSError) as exc:
        _log(f"this system has no pidfd_open ({exc}): not serving")
        return
    lock = open(f"{path}.lock", "w")  # noqa: SIM115 - held for the server's life: one server per socket
    if not _locked(lock):
        return
    listener = listen(path)
    identity = os.stat(path).st_ino
    gc.freeze()  # the imported modules' objects stay put: a child's collections never copy their pages
    selector = selectors.DefaultSelector()
    selector.register(listener, selectors.EVENT_READ, ("listener", None))
    serving = True
    while serving or _children(selector):
        events = selector.select(timeout=_CHECK_SECONDS)
        if not events and serving:
            serving = _still_ours(path, identity)
        for key, _ in events:
            kind, data = key.data
            if kind == "listener":
                try:
                    connection, _ = listener.accept()
                except OSError as exc:  # e.g. out of file descriptors: that caller runs its command itself
                    _log(f"a caller could not be accepted ({exc})")
                    continue
                serving = _start(selector, connection, code, entry, closing=(lock, listener)) and serving
            elif kind == "child":  # a child ended: its caller gets the exit code
                pid, connection = data
                _, status = os.waitpid(pid, 0)
                exit_code = os.waitstatus_to_exitcode(status)
                _log(f"pid {pid}: exit {exit_code}")
                with contextlib.suppress(OSError):
                    connection.sendall(json.dumps({"exit": exit_code}).encode() + b"\n")
                selector.unregister(key.fileobj)
                os.close(key.fileobj)
                with contextlib.suppress(KeyError):
                    selector.unregister(connection)
                connection.close()
            elif not _receive(key.fileobj):  # the caller's connection closed before its child ended: it died
                selector.unregister(key.fileobj)
                _kill(data, signal.SIGKILL)
        if not serving and listener.fileno() != -1:
            selector.unregister(listener)
            listener.close()
            if _still_ours(path, identity):
                os.unlink(path)


def _receive(connection: socket.socket) -> bytes:
    try:
        return connection.recv(64)
    except OSError:
        return b""


def _children(selector) -> bool:
    return any(key.data[0] == "child" for key in selector.get_map().values())


def _start(selector, connection: socket.socket, code: str, entry, closing) -> bool:
    """Fork a child for the command on ``connection``; False when its caller runs other code. The caller's
    descriptors are closed here whatever happens (the child has its copies; it never returns here)."""
    fds: list[int] = []
    try:
        try:
            connection.settimeout(5)
            pid_uid_gid = connection.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, struct.calcsize("3i"))
            if struct.unpack("3i", pid_uid_gid)[1] != os.getuid():
                raise PermissionError("another user")
            message, fds, _, _ = socket.recv_fds(connection, 1 << 16, 3)
            if not message:  # a look whether the runner listens (`qlake services status`)
                connection.close()
                return True
            if len(fds) != 3:
                raise ValueError(f"{len(fds)} file descriptors instead of 3")
            while not message.endswith(b"\n"):
                more = connection.recv(1 << 16)
                if not more:
                    raise ConnectionError("the caller left")
                message += more
            request = json.loads(message)
        except (OSError, ValueError) as exc:
            _log(f"a request could not be read ({exc})")
            connection.close()
            return True
        if request.get("code") != code:
            _log("a caller of other code came: leaving once the running commands end")
            with contextlib.suppress(OSError):
                connection.sendall(b'{"refused": "the caller runs other code"}\n')
            connection.close()
            return False
        try:
            pid = os.fork()
        except OSError as exc:  # e.g. out of memory: the caller, told nothing, runs its command itself
            _log(f"no child for {' '.join(request['argv'])} ({exc})")
            connection.close()
            return True
        if pid == 0:
            try:
                held = [key.fileobj for key in selector.get_map().values()]
                selector.close()
                for resource in (*closing, *held, connection):  # the server's files are none of the command's
                    with contextlib.suppress(OSError):
                        os.close(resource) if isinstance(resource, int) else resource.close()
                _become(request, fds)
                entry()
            except BaseException as exc:  # noqa: BLE001 - a command's traceback, where its caller sees it
                _report(exc)
            finally:
                os._exit(70)  # the entry returned or raised: never back into the server's loop
    finally:
        for fd in fds:
            os.close(fd)
    _log(f"pid {pid}: {' '.join(request['argv'])} (in {request['cwd']})")
    connection.settimeout(None)
    selector.register(os.pidfd_open(pid), selectors.EVENT_READ, ("child", (pid, connection)))
    try:
        connection.sendall(json.dumps({"pid": pid}).encode() + b"\n")
    except OSError:  # the caller is gone already: so is its command
        _kill(pid, signal.SIGKILL)
        return True
    selector.register(connection, selectors.EVENT_READ, ("caller", pid))
    return True


def _report(exc: BaseException) -> None:
    """An exception the command let out, as Python reports it; an unhandled Ctrl-C ends the child by SIGINT."""
    import traceback  # only here: the runner's caller imports this module too

    traceback.print_exception(exc)
    sys.stderr.flush()
    if isinstance(exc, KeyboardInterrupt):
        signal.signal(signal.SIGINT, signal.SIG_DFL)
        os.kill(os.getpid(), signal.SIGINT)


def _become(request: dict, fds: list[int]) -> None:
    """Turn the fresh child into the caller's process: streams, directory, environment, arguments, signals."""
    for target, fd in enumerate(fds):
        os.dup2(fd, target)
        os.close(fd)
    os.chdir(request["cwd"])
    os.environ.clear()
    os.environ.update(request["env"])
    sys.argv = request["argv"]
    unbuffered = bool(request["env"].get("PYTHONUNBUFFERED"))
    sys.stdin = io.TextIOWrapper(io.FileIO(0, "r", closefd=False), encoding=request["streams"]["stdout"][0])
    for fd, name in ((1, "stdout"), (2, "stderr")):
        encoding, errors = request["streams"][name]
        # As Python opens them: stdout line-buffered on a terminal, stderr always line-buffered.
        stream = io.TextIOWrapper(io.FileIO(fd, "w", closefd=False), encoding=encoding, errors=errors,
                                  line_buffering=name == "stderr" or os.isatty(fd), write_through=unbuffered)
        setattr(sys, name, stream)
    signal.signal(signal.SIGINT, signal.default_int_handler)
    for sig in (signal.SIGTERM, signal.SIGHUP, signal.SIGQUIT, signal.SIGCHLD):
        signal.signal(sig, signal.SIG_DFL)


def _log(line: str) -> None:
    """A line in the server's log (its standard output): what it ran, for whom, how it ended."""
    print(f"{time.strftime('%Y-%m-%dT%H:%M:%S')} {line}", flush=True)


def _locked(lock) -> bool:
    """Hold the socket's lock; a server of the same socket still ending is waited for a few seconds."""
    for _ in range(50):
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return True
        except BlockingIOError:
            time.sleep(0.1)
    return False


def _still_ours(path: str, identity: int) -> bool:
    try:
        return os.stat(path).st_ino == identity
    except FileNotFoundError:
        return False


def _wait_for(pid: int) -> None:
    """Wait until a process that is not this one's child has ended."""
    try:
        pidfd = os.pidfd_open(pid)
    except OSError:  # gone already
        return
    try:
        select.select([pidfd], [], [])
    finally:
        os.close(pidfd)


def _is_open(fd: int) -> bool:
    try:
        os.fstat(fd)
        return True
    except OSError:
        return False


def _kill(pid: int, sig: int) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, sig)
