"""What the marketing aggregates share: each is additive totals of the fact per its grain (``totals``), then
names and a rank over those totals (``finish``). Facts only appended add their totals to the stored ones, so an
hour updates an aggregate from its new facts (:func:`add_new_facts`) instead of re-aggregating the whole fact;
the job decides when that holds (``gold/job.py``)."""

from __future__ import annotations

import hashlib
from functools import cache
from pathlib import Path

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from qlake import catalog


def add_up(stored: DataFrame, new: DataFrame, module) -> DataFrame:
    """The totals per ``module.GRAIN`` of the stored rows and of ``new`` (the totals of new facts), typed as the
    table's columns. Sums of counts and amounts are exact (integers and decimals), so they equal one pass."""
    types = dict(module.TABLE.column_types)
    measures = [c for c in new.columns if c not in module.GRAIN]
    both = stored.select(*module.GRAIN, *measures).unionByName(new.select(*module.GRAIN, *measures))
    return both.groupBy(*module.GRAIN).agg(*[F.sum(m).cast(types[m]).alias(m) for m in measures])


def add_new_facts(spark: SparkSession, module, new_facts: DataFrame) -> DataFrame:
    """The aggregate's rows once ``new_facts`` (fact rows not in it yet) are counted in: its stored totals plus
    theirs, named and ranked again. Reads the aggregate (hundreds to thousands of rows), not the fact."""
    stored = catalog.read(spark, module.TABLE)
    return module.finish(spark, add_up(stored, module.totals(new_facts), module))


@cache  # a module's code does not change within a process; asked per aggregate, several times a run
def logic_version(module) -> str:
    """A fingerprint of the code that computes the aggregate (its module and this one): stored totals computed
    by other code are not added to, the aggregate is rebuilt once instead."""
    digest = hashlib.sha256()
    for path in (module.__file__, __file__):
        digest.update(Path(path).read_bytes())
    return digest.hexdigest()[:12]
