"""A table's declaration: its contract (the :class:`~qlake.catalog.TableSpec` it is) plus what it is made of.

Every table module of ``bronze/ silver/ gold/ streaming/`` declares ``TABLE = Table(...)`` (Spark Declarative
Pipelines' idea: the table says what it reads and how it is built; the runner derives the order).
``jobs.registry`` discovers the declarations by walking the layer packages; this module knows no layer.

A ``Table`` *is* a ``TableSpec`` (a subclass): every function that takes a contract (``catalog.merge``,
freshness, lineage) takes the declaration unchanged, and the update interval, the columns and the column lineage
have one source each.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from qlake.catalog import TableSpec


@dataclass(frozen=True)
class Table(TableSpec):
    """``grain``: one sentence, what one row is. ``reads``: tables read that feed no column (e.g. a reference
    check); the tables named in ``column_lineage`` are inputs already. ``build``: the function that computes the
    rows — a name in the declaring module (``"build"``) or a dotted ``package.module.function`` elsewhere.
    ``suite``: the GX suite in ``expectations/`` (file name without ``.json``). ``tests``: the test modules
    that cover the table, as paths from the repository root."""

    grain: str = ""
    reads: tuple[str, ...] = ()
    build: str = "build"
    suite: str | None = None
    tests: tuple[str, ...] = field(default=(), compare=False)

    def __post_init__(self) -> None:
        super().__post_init__()
        if not self.grain:
            raise ValueError(f"{self.name}: a table declares its grain (what one row is)")
        if not self.tests:
            raise ValueError(f"{self.name}: a table names the test modules that cover it")

    @property
    def layer(self) -> str:
        return self.database

    @property
    def contract(self) -> TableSpec:
        """The contract part of the declaration (the declaration itself: a Table is a TableSpec)."""
        return self

    @property
    def inputs(self) -> tuple[str, ...]:
        """The tables this one reads: column-lineage sources first (in declaration order), then ``reads``."""
        names: dict[str, None] = {}
        for sources in self.column_lineage.values():
            for source in sources:
                names.setdefault(source.rsplit(".", 1)[0], None)
        for name in self.reads:
            names.setdefault(name, None)
        names.pop(self.name, None)
        return tuple(names)


class GraphError(ValueError):
    """The declared inputs do not form a DAG over known tables; the message names the tables."""


def levels(tables: Iterable[TableSpec], known: Iterable[str] | None = None) -> list[list[str]]:
    """Topological levels of ``tables`` by their declared inputs: every table comes after the tables it reads.

    Tables of one level read none of each other, so a runner may build them side by side. With ``known``, an
    input outside ``tables`` must be in it (a table another job builds) or the graph is refused; without it such
    inputs are taken as built before (a layer's job orders its own tables). Within a level, names keep the order
    they were given in.
    """
    tables = list(tables)
    inputs = {t.name: set(getattr(t, "inputs", ())) for t in tables}
    unknown = {} if known is None else {name: sorted(reads - inputs.keys() - set(known))
                                        for name, reads in inputs.items()}
    unknown = {name: missing for name, missing in unknown.items() if missing}
    if unknown:
        raise GraphError("unknown inputs: " + "; ".join(f"{n} reads {', '.join(m)}" for n, m in unknown.items()))
    pending = {name: reads & inputs.keys() for name, reads in inputs.items()}
    out: list[list[str]] = []
    while pending:
        ready = [name for name, reads in pending.items() if not reads]
        if not ready:
            raise GraphError("input cycle among: " + ", ".join(
                f"{name} (reads {', '.join(sorted(reads))})" for name, reads in pending.items()))
        out.append(ready)
        for name in ready:
            del pending[name]
        for reads in pending.values():
            reads.difference_update(ready)
    return out


def order(tables: Iterable[TableSpec], known: Iterable[str] | None = None) -> list[str]:
    """The names of ``tables`` in a build order (the levels, flattened)."""
    return [name for level in levels(tables, known) for name in level]
