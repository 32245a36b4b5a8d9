"""What one engine session knows of the catalog: which databases and tables the metastore holds, which tables
this process already ensured, and which it created empty (their first write needs no look-up of existing rows).

One :class:`CatalogState` per session object, found from the session (:meth:`CatalogState.of`) and dropped with
it: a new session — another Connect session, a restarted engine, a classic session — starts knowing nothing,
so it can never take a table for empty because another session created it so (a MERGE would become a blind
INSERT and duplicate rows). The state is only this session's cache: the metastore stays the truth.
"""

from __future__ import annotations

import threading
import weakref

from pyspark.sql import SparkSession

# session -> its state; weak, so a stopped and dropped session takes its state with it (no id() reuse).
_STATES: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()
_STATES_LOCK = threading.Lock()


class CatalogState:
    """The catalog facts one session learnt. Tables may be ensured from several threads (independent writes
    run side by side): the listings are guarded by one lock, and each table's check-and-create by its own, so
    two threads never both create one table."""

    def __init__(self) -> None:
        self.lock = threading.RLock()
        # databases the metastore listed (one SHOW DATABASES per session); None until asked
        self.databases: set[str] | None = None
        # database -> tables the metastore listed: one listing per database instead of a CREATE per table
        self.listed: dict[str, set[str]] = {}
        # table -> the location it was ensured at (a metastore round trip costs ~0.1 s per call): where this
        # session reads and writes it
        self.locations: dict[str, str] = {}
        # tables created over a location that held no Delta table, and not written since. Writers of one table
        # never run side by side (the jobs hold locks), so "created empty here" stays true until this session
        # writes.
        self.created_empty: set[str] = set()
        self._table_locks: dict[tuple[str, str], threading.Lock] = {}
        # host:port of the Hive metastore when it is the engine's catalog (qlake's own Sail): listings ask it
        # directly (qlake.metastore_api); None: through the engine's SQL
        self.metastore: str | None = None

    @property
    def ensured(self) -> set[tuple[str, str]]:
        """(table, location) pairs already ensured."""
        with self.lock:
            return set(self.locations.items())

    @classmethod
    def of(cls, spark: SparkSession) -> CatalogState:
        """The state of ``spark`` (a fresh one the first time this session is seen)."""
        with _STATES_LOCK:
            state = _STATES.get(spark)
            if state is None:
                state = _STATES[spark] = cls()
            return state

    def table_lock(self, name: str, location: str) -> threading.Lock:
        with self.lock:
            return self._table_locks.setdefault((name, location), threading.Lock())

    def note_created(self, database: str, table: str, empty: bool) -> None:
        with self.lock:
            self.listed.setdefault(database, set()).add(table)
            if empty:
                self.created_empty.add(f"{database}.{table}")

    def claim_empty(self, name: str) -> bool:
        """Forget the table was created empty, before writing it (a write that fails after its commit must not
        leave the table marked empty); returns whether it was."""
        with self.lock:
            was_empty = name in self.created_empty
            self.created_empty.discard(name)
            return was_empty

    def forget(self, name: str) -> None:
        """The table was dropped: it is neither ensured, nor listed, nor empty any more."""
        database, table = name.split(".")
        with self.lock:
            self.locations.pop(name, None)
            self.created_empty.discard(name)
            self.listed.get(database, set()).discard(table)

    @staticmethod
    def dropped(name: str) -> None:
        """A table dropped in this process is gone for every session of it (they share the metastore)."""
        with _STATES_LOCK:
            states = list(_STATES.values())
        for state in states:
            state.forget(name)
