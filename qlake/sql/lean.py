"""A lean start for `qlake sql`: pyspark's Connect client without importing pandas until something uses it.

pyspark 4.2's Connect client imports pandas at module level (its version check, ``connect.session``,
``connect.client.core``), ≈ 0.4 s of a ≈ 1.2 s `qlake sql` process on an idle 2-core box, yet a statement's rows
come back as Arrow converted to Rows without pandas. :func:`defer_pandas` puts stand-ins for ``pandas``,
``pandas.api`` and ``pandas.api.types`` in ``sys.modules``: the version is read from the package metadata, the
two functions ``connect.session`` imports by name call through, and any other attribute (or submodule) imports
the real pandas and is answered by it from then on — a code path that needs pandas gets pandas, only later
(checked by tests/test_sql_output.py: a `qlake sql` process never imports it, and `toPandas()` still works).
Heavy by design (documented): used only by the `qlake sql` command, before the engine's client is imported.
Also keeps IPython (pulled in for a progress bar's terminal size, which has a fallback) out of the process.
"""

from __future__ import annotations

import importlib
import importlib.metadata
import sys
import types
from contextlib import contextmanager

_STAND_INS = ("pandas", "pandas.api", "pandas.api.types")
# What pyspark.sql.connect.session imports by name at module level (pyspark is pinned: 4.2.0).
_IMPORTED_BY_NAME = {"pandas.api.types": ("is_datetime64_dtype", "is_timedelta64_dtype")}


class _Deferred(types.ModuleType):
    """A module that becomes the real one on first use of anything it does not already hold."""

    def __init__(self, name: str):
        super().__init__(name)
        # A package to the import system (`from pandas.api.types import x` checks for one), whose search path
        # is the real package's as soon as a submodule is looked up.
        self.__path__ = _DeferredPath(name)

    def __getattr__(self, name: str):
        return getattr(_real(self.__name__), name)


class _DeferredPath:
    def __init__(self, module: str):
        self.module = module

    def __iter__(self):
        return iter(_real(self.module).__path__)

    def __len__(self):
        return len(_real(self.module).__path__)

    def __getitem__(self, index):
        return _real(self.module).__path__[index]


def _real(name: str) -> types.ModuleType:
    for stand_in in _STAND_INS:
        if isinstance(sys.modules.get(stand_in), _Deferred):
            del sys.modules[stand_in]
    return importlib.import_module(name)


def _calls_through(module: str, name: str):
    def call(*args, **kwargs):
        return getattr(_real(module), name)(*args, **kwargs)

    call.__name__ = call.__qualname__ = name
    return call


class _AnnotationOnly:
    """``pd.DataFrame`` while the client is imported: one return annotation of ``connect.client.core`` reads it
    at definition time. Removed right after (:func:`connect_client`), so any real use reaches pandas."""


@contextmanager
def deferred_pandas():
    """Import the Connect client inside this block: pandas stays unimported until something uses it."""
    if "pandas" in sys.modules:
        yield
        return
    try:
        version = importlib.metadata.version("pandas")
    except importlib.metadata.PackageNotFoundError:
        return  # pyspark's own check will say pandas is missing
    modules = {name: _Deferred(name) for name in _STAND_INS}
    modules["pandas"].__version__ = version
    modules["pandas"].api = modules["pandas.api"]
    modules["pandas.api"].types = modules["pandas.api.types"]
    for module, names in _IMPORTED_BY_NAME.items():
        for name in names:
            setattr(modules[module], name, _calls_through(module, name))
    modules["pandas"].DataFrame = _AnnotationOnly
    sys.modules.update(modules)
    sys.modules.setdefault("IPython", None)  # `import IPython` raises ImportError: pyspark falls back to 80x25
    try:
        yield
    finally:
        modules["pandas"].__dict__.pop("DataFrame", None)


def connect_client() -> None:
    """Import pyspark's Connect client (what :mod:`qlake.spark` needs) without pandas."""
    with deferred_pandas():
        import pyspark.sql.connect.session  # noqa: F401
