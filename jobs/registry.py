"""Every table of the lake, found in the table modules themselves: the registry walks the layer packages and
collects each module's ``TABLE`` (``TABLES`` where one computation yields several, as streaming/app_events.py).

It sits above the layers (it imports them all); the declaration type and the ordering live in the core,
:mod:`qlake.tables`. What one table is made of: :class:`Registered` (its declaration, the module that declares
it, the function that builds it). The runners take their order from :func:`levels`.
"""

from __future__ import annotations

import importlib
import pkgutil
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from functools import cache
from pathlib import Path

from qlake import catalog
from qlake import tables as table_graph
from qlake.catalog import TableSpec
from qlake.tables import Table

# Lowest first: a layer's modules may import the ones before it.
PACKAGES = ("bronze", "silver", "gold", "streaming")
REPO_ROOT = Path(__file__).resolve().parent.parent


class RegistryError(ValueError):
    """A declaration the registry cannot accept; the message names the table and its module."""


@dataclass(frozen=True)
class Registered:
    table: Table
    module: str  # e.g. "gold.fact_sales"

    @property
    def name(self) -> str:
        return self.table.name

    @property
    def package(self) -> str:
        """The package whose job writes the table (``streaming`` for the stream's gold tables)."""
        return self.module.split(".")[0]

    @property
    def source(self) -> str:
        """The declaring module's path from the repository root."""
        return self.module.replace(".", "/") + ".py"

    @property
    def builder(self) -> str:
        """The build function as ``package.module.function``."""
        return self.table.build if "." in self.table.build else f"{self.module}.{self.table.build}"

    def build_function(self) -> Callable:
        module, _, function = self.builder.rpartition(".")
        found = getattr(importlib.import_module(module), function, None)
        if not callable(found):
            raise RegistryError(f"{self.name} ({self.source}): its build function {self.builder} does not exist")
        return found


def _declared_in(module) -> list[Table]:
    if hasattr(module, "TABLE"):
        return [module.TABLE]
    return list(getattr(module, "TABLES", ()))


@cache
def registry() -> dict[str, Registered]:
    """Table name -> its registration, every layer package walked (lowest layer first, modules by name)."""
    found: dict[str, Registered] = {}
    for package_name in PACKAGES:
        package = importlib.import_module(package_name)
        for info in sorted(pkgutil.iter_modules(package.__path__), key=lambda i: i.name):
            module_name = f"{package_name}.{info.name}"
            for table in _declared_in(importlib.import_module(module_name)):
                if not isinstance(table, Table):
                    raise RegistryError(f"{module_name}: TABLE is a {type(table).__name__}, not a qlake.tables.Table")
                if table.name in found:
                    raise RegistryError(f"{table.name} is declared twice: in {found[table.name].source} and "
                                        f"{module_name.replace('.', '/')}.py")
                found[table.name] = Registered(table, module_name)
    return found


def declared_specs() -> dict[str, TableSpec]:
    """Every declared contract, the core's ops tables included: what `qlake status` and `qlake lineage` read
    (each table module is imported, and a TableSpec records itself when constructed)."""
    registry()
    importlib.import_module("qlake.runlog")  # declares the ops.* tables
    return catalog.declared_tables()


def tables(package: str | None = None) -> list[Registered]:
    """The registered tables (of one package's job, when given), in discovery order."""
    return [r for r in registry().values() if package is None or r.package == package]


def levels(package: str) -> list[list[str]]:
    """The build levels of one package's tables; inputs outside the package must be registered tables."""
    return table_graph.levels([r.table for r in tables(package)], known=registry())


def check(entries: Iterable[Registered] | None = None) -> list[str]:
    """What is wrong with the declarations, one line each: unknown inputs or a cycle, a build function, suite or
    test module that does not exist. Empty when all is well (a test asserts it)."""
    entries = list(registry().values() if entries is None else entries)
    problems = []
    try:
        table_graph.levels([r.table for r in entries], known=())
    except table_graph.GraphError as exc:
        problems.append(str(exc))
    for entry in entries:
        try:
            entry.build_function()
        except RegistryError as exc:
            problems.append(str(exc))
        if entry.table.suite and not (REPO_ROOT / "expectations" / f"{entry.table.suite}.json").is_file():
            problems.append(f"{entry.name} ({entry.source}): suite expectations/{entry.table.suite}.json is missing")
        problems += [f"{entry.name} ({entry.source}): test module {path} is missing"
                     for path in entry.table.tests if not (REPO_ROOT / path).is_file()]
    return problems
