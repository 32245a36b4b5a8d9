"""The sockets of the resident processes qlake keeps beside the runs (:class:`qlake.services.SocketService`), in the
lake's ``run/`` folder: the Great Expectations worker (:mod:`qlake.gx_client`) and the warm runner
(:mod:`qlake.forkserver`, ``cli.runner``). Light: the warm runner's caller imports it before anything else.

A socket, not a port: only its owner can connect (the file is created ``0600``), since a connection can write
into the lake. Each process tells the code it loaded (:func:`source_version`); a caller of other code (an
upgrade, another checkout on the same lake) never uses it, and has it replaced.
"""

from __future__ import annotations

import hashlib
import os
import socket
import sys
import sysconfig
from pathlib import Path

from qlake.config import Settings


def source_version(folders: list[Path]) -> str:
    """Which code a process runs: its interpreter, its installed packages' folder and the Python files under
    ``folders`` (path, size, modification time): ~150 files, ~2 ms (the warm runner's caller asks every time)."""
    digest = hashlib.sha1(sys.executable.encode())
    digest.update(str(os.stat(sysconfig.get_paths()["purelib"]).st_mtime_ns).encode())  # an install or upgrade
    for folder in folders:
        for root, dirs, files in os.walk(folder):
            dirs[:] = sorted(d for d in dirs if d != "__pycache__")
            for name in sorted(f for f in files if f.endswith(".py")):
                stat = os.stat(os.path.join(root, name))
                digest.update(f"{root}/{name}:{stat.st_size}:{stat.st_mtime_ns};".encode())
    return digest.hexdigest()[:16]


def socket_path(cfg: Settings, name: str) -> str:
    """``run/<name>.sock`` in the lake, unless that path is past AF_UNIX's 107 bytes (then a folder of this
    user's own under the temp dir, named after it)."""
    path = str(Path(cfg.run_dir, f"{name}.sock"))
    if len(path.encode()) <= 100:
        return path
    import tempfile  # only here: the warm runner's caller imports this module and never needs it

    short = Path(tempfile.gettempdir(), f"qlake-{os.getuid()}")
    short.mkdir(mode=0o700, exist_ok=True)
    return str(short / f"{name}-{hashlib.sha1(path.encode()).hexdigest()[:12]}.sock")


def connect(path: str) -> socket.socket | None:
    """A connection to the process listening at ``path``, or None when none listens there."""
    connection = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        connection.connect(path)
    except OSError:
        connection.close()
        return None
    return connection


def listen(path: str) -> socket.socket:
    """Listen at ``path`` (owner-only), replacing a socket file left by a process that was killed."""
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    try:
        os.unlink(path)
    except FileNotFoundError:
        pass
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    previous = os.umask(0o177)
    try:
        listener.bind(path)
    finally:
        os.umask(previous)
    listener.listen(16)
    return listener
