"""Great Expectations' validation results store, kept to each suite's latest runs so Data Docs stay flat in history.

GX builds its Data Docs index from every result in its store at every build: it lists the stored results three
times (a directory walk and a date parse each) and loads every one, ~0.9 ms a stored result once the page
templates are compiled (:mod:`qlake.gx_views`). Measured 2026-12-07 on a lake's real results (three suites): an
hour's build took 0.30-0.40 s of the worker's CPU with 100 runs kept, 0.11 s with 24, 0.04 s with 3, while the
run's gold level waits for the same two cores; it would take ~8 s after a year of hourly runs. So the store
keeps each suite's latest :data:`KEEP_RUNS` runs; an older run's result moves to ``dq/gx/archive/validations/`` and
its page to the site's ``archive/`` folder, at the same depth as ``validations/`` so its links to the site's assets
and index still work. Nothing is deleted: GX's index lists the kept runs; qlake's DQ report links every run's page,
archived ones included (:func:`qlake.dq_report.validation_pages`).

Layout (GX's): ``<gx>/uncommitted/validations/<suite>/<run name>/<run time>/<batch>.json`` and its page
``<site>/validations/<suite>/<run name>/<run time>/<batch>.html``; run times are ``YYYYMMDDTHHMMSS.ffffffZ``, so
their names sort in time order.
"""

from __future__ import annotations

import os
from pathlib import Path

from qlake.config import Settings

# A day of hourly runs: GX's index shows the last day, qlake's DQ report every run.
KEEP_RUNS = 24
ARCHIVE = "archive"


def gx_root(cfg: Settings) -> Path:
    """GX's file context folder (GX names it ``gx`` under the project root, ``$QLAKE_HOME/dq``)."""
    return Path(cfg.dq_dir, "gx")


def site_dir(cfg: Settings) -> Path:
    """The Data Docs site: ``index.html``, ``validations/``, ``archive/``, ``static/``."""
    return gx_root(cfg) / "uncommitted" / "data_docs" / "local_site"


def results_dir(gx_root: Path) -> Path:
    return Path(gx_root, "uncommitted", "validations")


def store_result(gx_root: Path, key: tuple[str, ...], serialized: str) -> Path:
    """Write a validation result where GX's store keeps it, ``<results>/<key parts>.json``, atomically.

    GX's own store writes the file in place: a run killed mid-write left half a JSON file, and every later Data
    Docs build, which loads every stored result, failed on it. A temporary file GX's store does not list (no
    ``.json`` suffix) is renamed over the result instead."""
    path = Path(results_dir(gx_root), *key[:-1], f"{key[-1]}.json")
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    temporary.write_text(serialized, encoding="utf-8")
    os.replace(temporary, path)
    return path


def archive_old_results(gx_root: Path, site: Path, keep: int = KEEP_RUNS) -> int:
    """Move each suite's results older than its newest ``keep`` runs, and their pages, out of GX's store and
    site listing; return the number of results moved. Reads only the suites' run folders (``keep`` + the runs
    since the last call each), never the archive."""
    store = results_dir(gx_root)
    if not store.is_dir():
        return 0
    moved = 0
    for suite in sorted(p for p in store.iterdir() if p.is_dir()):
        runs = sorted(((at.name, at) for run in suite.iterdir() if run.is_dir() for at in run.iterdir() if at.is_dir()),
                      reverse=True)
        for _, at in runs[keep:]:
            for result in sorted(at.glob("*.json")):
                relative = result.relative_to(store)
                _move(result, Path(gx_root, ARCHIVE, "validations", relative))
                page = Path(site, "validations", relative).with_suffix(".html")
                if page.exists():
                    _move(page, Path(site, ARCHIVE, relative).with_suffix(".html"))
                moved += 1
            _remove_empty(at, stop=store)
            _remove_empty(Path(site, "validations", at.relative_to(store)), stop=Path(site, "validations"))
    return moved


def _move(source: Path, target: Path) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    os.replace(source, target)


def _remove_empty(folder: Path, stop: Path) -> None:
    """Remove ``folder`` and its parents up to (not including) ``stop`` while they are empty."""
    while folder != stop and folder.is_dir() and not any(folder.iterdir()):
        folder.rmdir()
        folder = folder.parent
