"""CLI contract: services up twice is harmless, ingest --json / --watch, sql output formats."""

from __future__ import annotations

import json
import os
import subprocess
import sys

from helpers import reset_lake



def qlake(*args, timeout=300):
    return subprocess.run([sys.executable, "-m", "cli", *args], capture_output=True, text=True, timeout=timeout,
                          env=dict(os.environ))


def test_services_up_twice_is_harmless(cfg):
    from qlake import services

    first = services.Metastore(cfg).up()
    second = services.Metastore(cfg).up()
    assert "already running" in second, (first, second)
    out = qlake("services", "status", "--json")
    status = {s["service"]: s for s in json.loads(out.stdout)}
    assert status["metastore"]["listening"] is True


def test_ingest_json_and_watch(spark, cfg, tmp_path):
    from bronze import ingest
    from qlake.generate import generate

    reset_lake(spark, cfg)
    drop = tmp_path / "drop"
    group = generate(drop, groups=1, rows=50, seed=1, redeliver=False)[0]
    reports = ingest.watch(spark, cfg, drop, settle_seconds=0, once=True)
    assert [f.status for f in reports[0].files] == ["ingested"] * 3
    out = qlake("ingest", "--json", str(group))
    assert out.returncode == 0, out.stderr
    payload = json.loads(out.stdout)
    assert payload[0]["files"] == {"skipped": 3} and payload[0]["rows_added"] == 0


def test_sql_formats(spark, cfg):
    out = qlake("sql", "select 1 as one, 'a' as letter", "--format", "json")
    assert json.loads(out.stdout) == [{"one": 1, "letter": "a"}]
    out = qlake("sql", "select 1 as one", "--format", "csv")
    assert out.stdout.splitlines() == ["one", "1"]
    bad = qlake("sql", "select * from no_such_db.no_such_table")
    assert bad.returncode == 1 and "error: table or view not found: no_such_db.no_such_table" in bad.stderr
    assert "Traceback" not in bad.stderr
