"""Every table the layers declare: importing a table module declares its TableSpec (columns, lineage, update
interval), and `qlake status` / `qlake lineage` need them all, not only those a job happened to import."""

from __future__ import annotations

import importlib
import pkgutil

from qlake import catalog
from qlake.catalog import TableSpec

LAYER_PACKAGES = ("bronze", "silver", "gold", "streaming")


def declare_tables() -> dict[str, TableSpec]:
    """Import every module of the layer packages (and the core's ops tables); return the declared tables."""
    for package in LAYER_PACKAGES:
        for module in pkgutil.iter_modules(importlib.import_module(package).__path__):
            importlib.import_module(f"{package}.{module.name}")
    importlib.import_module("qlake.runlog")
    return catalog.declared_tables()
