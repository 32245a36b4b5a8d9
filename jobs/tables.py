"""`qlake tables`: every table the registry knows, and `--graph`, their DAG as Mermaid (from the declared inputs)."""

from __future__ import annotations

from qlake.config import LAYERS, Settings
from jobs import registry

COLUMNS = ["table", "layer", "grain", "inputs", "suite", "tests", "declared in", "location"]


def listing(cfg: Settings) -> tuple[list[str], list[list]]:
    """(columns, rows): one row per table, lowest layer first, then by name."""
    entries = sorted(registry.tables(), key=lambda r: (_layer_rank(r.table.layer), r.name))
    return COLUMNS, [
        [r.name, r.table.layer, r.table.grain, ", ".join(r.table.inputs),
         f"expectations/{r.table.suite}.json" if r.table.suite else "", ", ".join(r.table.tests),
         f"{r.source} ({r.builder})", r.table.location(cfg)]
        for r in entries
    ]


def mermaid() -> str:
    """``flowchart LR``: one subgraph per layer, an edge from each input to the table that reads it."""
    entries = registry.tables()
    lines = ["flowchart LR"]
    for layer in sorted({r.table.layer for r in entries}, key=_layer_rank):
        lines.append(f"  subgraph {layer}")
        lines += [f'    {_node(r.name)}["{r.name}"]' for r in entries if r.table.layer == layer]
        lines.append("  end")
    lines += [f"  {_node(source)} --> {_node(r.name)}" for r in entries for source in r.table.inputs]
    return "\n".join(lines)


def _node(name: str) -> str:
    return name.replace(".", "_")


def _layer_rank(layer: str) -> int:
    return LAYERS.index(layer) if layer in LAYERS else len(LAYERS)
