"""Fuzzing the delivery reader (hypothesis): random bytes and mutated sample files never crash ingestion, and no
row is lost — an ingested file's data lines are its bronze rows, a rejected file is kept whole in quarantine/.

The CI budget is well under a minute; `make fuzz` runs many more examples (QLAKE_FUZZ_EXAMPLES,
QLAKE_FUZZ_RUN_EXAMPLES)."""

from __future__ import annotations

import os
import re
import tempfile
import uuid
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bronze import delivery

QUICK = int(os.environ.get("QLAKE_FUZZ_EXAMPLES", "300"))
WITH_ENGINE = int(os.environ.get("QLAKE_FUZZ_RUN_EXAMPLES", "12"))
SAMPLE = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "raw" / "group1"
NAMES = ("branches_fuzz.csv", "sales_agents_fuzz.csv", "sales_transactions_fuzz.csv")


@settings(max_examples=QUICK, deadline=None)
@given(content=st.binary(max_size=4096), name=st.sampled_from(NAMES))
def test_inspection_of_random_bytes_accepts_or_rejects_with_a_reason(content, name):
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder, name)
        path.write_bytes(content)
        try:
            delivery.inspect_bytes(path, delivery.classify(name))
        except delivery.RejectedFile as exc:
            assert str(exc)  # a reason, never an empty message


def _sample_head(kind: str, lines: int = 40) -> bytes:
    path = next(SAMPLE.glob(f"{kind}_*.csv"))
    return b"\n".join(path.read_bytes().split(b"\n")[:lines]) + b"\n"


MUTATIONS = st.lists(
    st.one_of(
        st.tuples(st.just("flip"), st.integers(0, 1 << 16), st.integers(0, 255)),
        st.tuples(st.just("insert"), st.integers(0, 1 << 16), st.binary(min_size=1, max_size=8)),
        st.tuples(st.just("delete"), st.integers(0, 1 << 16), st.integers(1, 64)),
        st.tuples(st.just("truncate"), st.integers(0, 1 << 16), st.just(0)),
    ),
    min_size=1, max_size=4,
)


def mutate(data: bytes, mutations) -> bytes:
    for op, at, arg in mutations:
        at = at % max(len(data), 1)
        if op == "flip":
            data = data[:at] + bytes([arg]) + data[at + 1:]
        elif op == "insert":
            data = data[:at] + arg + data[at:]
        elif op == "delete":
            data = data[:at] + data[at + arg:]
        else:
            data = data[:at]
    return data


def data_lines(data: bytes) -> int:
    """Data records of a quote-free CSV as the engine reads it: lines after the header, empty lines skipped. A
    line ends at CR LF, LF or a lone CR (the engine's CSV reader, arrow-csv, ends a record at each)."""
    lines = re.split(rb"\r\n|\n|\r", data)
    return sum(1 for line in lines[1:] if line)


@settings(max_examples=WITH_ENGINE, deadline=None, suppress_health_check=list(HealthCheck))
@given(kind=st.sampled_from(("sales_agents", "sales_transactions")), mutations=MUTATIONS)
def test_mutated_sample_files_never_crash_and_lose_no_row(spark, cfg, kind, mutations):
    from bronze import ingest
    from qlake import table_stats

    content = mutate(_sample_head(kind), mutations)
    folder = Path(tempfile.mkdtemp(prefix="fuzz-"))
    path = folder / f"{kind}_fuzz_{uuid.uuid4().hex[:8]}.csv"
    path.write_bytes(content)
    report = ingest.ingest(spark, cfg, [path])  # never raises for a bad file
    outcome = report.files[0]
    assert outcome.status in ("ingested", "rejected", "duplicate"), outcome
    if outcome.status == "rejected":
        stored = spark.sql(f"select quarantine_path from bronze.rejected_files where sha256 = '{outcome.sha256}'")
        assert Path(stored.collect()[0][0]).read_bytes() == content  # the whole file, kept for the sender
    elif outcome.status == "ingested":
        spec = next(k.table for k in delivery.FILE_KINDS if k.kind == kind)
        assert table_stats.rows_with_value(spark, spec, cfg, "_source_sha256", outcome.sha256) == outcome.rows_added
        if b'"' not in content:
            assert outcome.rows_added == data_lines(content), content[:400]
