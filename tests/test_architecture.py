"""The shape rules of DEVELOPERS.md, checked on the source itself (AST, no engine): which package may import
which, no module over 400 lines, imports at the top of a module unless it names a documented heavy one."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
PACKAGES = ("qlake", "bronze", "silver", "gold", "streaming", "jobs", "cli")
# What each package may import of the others. The core knows no layer; bronze < silver < gold; streaming is its
# own pipeline (Kafka -> its bronze/silver/gold tables) on the core alone; jobs orchestrate the layers; the
# command line wires everything.
MAY_IMPORT = {
    "qlake": set(),
    "bronze": {"qlake"},
    "silver": {"qlake", "bronze"},
    "gold": {"qlake", "bronze", "silver"},
    "streaming": {"qlake"},
    "jobs": {"qlake", "bronze", "silver", "gold", "streaming"},
    "cli": {"qlake", "bronze", "silver", "gold", "streaming", "jobs"},
}
MAX_LINES = 400
# Modules over MAX_LINES, each with its reason. Empty is the goal.
TOO_LONG: dict[str, str] = {}
# Imports a function may make instead of its module, and why: each costs startup a command must not pay.
HEAVY = {
    "great_expectations": "GX takes seconds to import; only a validation needs it",
    "matplotlib": "about a second to import; only the charts draw",
    "pysail": "the embedded engine's native library; a remote engine never loads it",
    "qlake.spark": "the Spark Connect client; `qlake sql` needs it only for a statement the engine runs",
    "kafka": "kafka-python (~0.15 s); only broker calls need it, not every process that starts the metastore",
    "qlake.broker": "circular: the broker is a qlake.services.Service",
    "qlake.gx_client": "circular: the Great Expectations worker is a qlake.services.Service",
    "qlake.gx_views": "Great Expectations' page views: GX itself, loaded when a context opens",
    "qlake.lineage_events": "the OpenLineage client and pyarrow.dataset (~0.25 s); a run emits events (on a thread "
                            "of its own), an idle hour (0.44 s as a process) does not",
    "streaming": "the stream's modules load classic Spark, confluent-kafka and deltalake (seconds); cli/stream.py's "
                 "`qlake stream status` and `qlake produce` load only what each runs",
}
# Modules whose function-level imports are their design, each with why (checked: the reasons stay written here).
LAZY_BY_DESIGN = {
    "qlake/sql/": "`qlake sql` is a one-statement process with a 1 s budget (issue 14): each statement kind loads "
                  "only what it uses (sqlglot for a rewrite, deltalake for catalog statements, rich for a table, "
                  "the classic-Spark path for decimal division)",
    "qlake/serve.py": "shared with `qlake sql`'s classic path, which must not load the Thrift server's pyspark setup",
    "qlake/serve_sql.py": "runs inside the Thrift server (py4j callbacks); it loads the SQL helpers on first call",
    "cli/launch.py": "the `qlake` command's first step: a command the warm runner takes costs this process ~40 ms, so "
                     "the command line (click, logging, the commands' modules) loads only to run one here",
    "qlake/forkserver.py": "imported by the launcher: the traceback module only when a child reports an exception",
    "qlake/resident.py": "imported by the launcher: tempfile only for a socket path past AF_UNIX's length",
}
NOT_YET_CHECKED_FOR_TOP_IMPORTS = tuple(LAZY_BY_DESIGN)


def _modules(*packages: str) -> list[Path]:
    return sorted(p for package in packages for p in (REPO / package).rglob("*.py"))


def _imports(tree: ast.AST):
    """(imported name, node) for every absolute import in ``tree``: ``a.b`` for ``import a.b``, ``a.b.c`` for
    ``from a.b import c``."""
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield alias.name, node
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            for alias in node.names:
                yield f"{node.module}.{alias.name}", node


def _rel(path: Path) -> str:
    return path.relative_to(REPO).as_posix()


@pytest.mark.parametrize("package", PACKAGES)
def test_each_package_imports_only_what_its_layer_may(package):
    allowed = MAY_IMPORT[package] | {package}
    wrong = sorted(f"{_rel(path)}:{node.lineno} imports {name}"
                   for path in _modules(package) for name, node in _imports(ast.parse(path.read_text()))
                   if name.split(".")[0] in PACKAGES and name.split(".")[0] not in allowed)
    assert wrong == [], f"{package}/ may import only {sorted(MAY_IMPORT[package])} of {PACKAGES}"


def test_the_core_imports_no_layer_nor_the_command_line():
    layers = [p for p in PACKAGES if p != "qlake"]
    found = sorted(f"{_rel(path)}:{node.lineno} imports {name}"
                   for path in _modules("qlake") for name, node in _imports(ast.parse(path.read_text()))
                   if name.split(".")[0] in layers)
    assert found == []
    assert not (REPO / "qlake" / "cli.py").exists(), "the command line is the cli/ package, above the layers"


def test_no_source_module_is_over_400_lines():
    lengths = {_rel(path): len(path.read_text().splitlines()) for path in _modules(*PACKAGES, "bench")}
    too_long = {name: n for name, n in lengths.items() if n > MAX_LINES}
    assert sorted(too_long) == sorted(TOO_LONG), f"modules over {MAX_LINES} lines: {too_long}"


def test_imports_sit_at_the_top_unless_heavy():
    """In every package a function imports only a documented heavy module."""
    inside = []
    for path in _modules(*PACKAGES):
        if _rel(path).startswith(NOT_YET_CHECKED_FOR_TOP_IMPORTS):
            continue
        tree = ast.parse(path.read_text())
        for function in (n for n in ast.walk(tree) if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef))):
            for name, node in _imports(function):
                if not any(name == heavy or name.startswith(f"{heavy}.") for heavy in HEAVY):
                    inside.append(f"{_rel(path)}:{node.lineno} {name}")
    assert sorted(set(inside)) == []


def test_a_short_command_loads_no_pipeline():
    """`qlake sql` loads its own module only: no layer, no job, no GX, matplotlib or OpenLineage (process start
    is most of a short statement's time)."""
    probe = ("import sys; from cli.main import main; import click; main.get_command(click.Context(main), 'sql'); "
             "print(' '.join(sorted({m.split('.')[0] for m in sys.modules})))")
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, cwd=REPO, check=True)
    loaded = set(out.stdout.split())
    assert "cli" in loaded
    assert loaded & {"bronze", "silver", "gold", "streaming", "jobs", "great_expectations", "matplotlib",
                     "openlineage", "deltalake"} == set()
