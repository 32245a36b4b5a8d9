"""`python -m bench.scale`: one delivery group end to end (ingest → silver → gold) at growing sizes, qlake against
DuckDB on the same generated file, each in its own process so that each peak RSS is its own.

Sizes: QLAKE_BENCH_ROWS (comma-separated, default ``550000,2000000``; add ``10000000`` for the 10M-row hour).
Engine: QLAKE_ENGINE_MODE etc. as for any run (the child inherits them). qlake runs `qlake run hourly`, the job
the scheduler runs, with a memory-sampling profile: each phase's time and peak RSS (ingest, silver's staging,
validation and writes, gold) go into the results beside the whole run's. The metastore is started beforehand
and measured apart (it is a long-lived service, not part of the hour's work). QLAKE_BENCH_DATA: a folder where
generated groups are kept and reused (the 10M-row group takes a minute to write); by default they are removed.
Writes bench/results_scale.json and bench/results_scale.md.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import threading
import time
from datetime import date
from pathlib import Path

import psutil

from bench.common import Measure, tree_rss

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
RSS_LIMIT_MB = 4096

# `qlake run hourly` as the command line runs it, with a profile that samples RSS per phase, saved as JSON.
_QLAKE = """
import json, sys
from cli.main import main
from qlake import profile
group, phases = sys.argv[1], sys.argv[2]
active = profile.start(echo=True, rss=True)
try:
    # main(), not the `qlake` script's run(): that one ends the process at once, before the phases are saved
    main(["run", "hourly", "--incoming", group], prog_name="qlake")
finally:
    with open(phases, "w") as out:
        json.dump(active.as_dicts(), out)
"""

_DUCKDB = """
import sys
from pathlib import Path
from bench import baseline_duckdb as duck
group, work = Path(sys.argv[1]), Path(sys.argv[2])
con = duck.connect()
duck.ingest(con, group, work / "duck_bronze")
duck.silver(con, work / "duck_bronze", work / "duck_silver.parquet")
print(duck.gold(con, work / "duck_silver.parquet", work / "duck_bronze", work / "duck_gold"))
"""


def run_measured(cmd: list[str], env: dict[str, str], log: Path) -> Measure:
    """Wall time and peak RSS (process + descendants, sampled every 50 ms) of one child process."""
    with open(log, "w") as out:
        start = time.perf_counter()
        child = subprocess.Popen(cmd, env=env, cwd=REPO, stdout=out, stderr=subprocess.STDOUT)
        proc, peak, done = psutil.Process(child.pid), [0], threading.Event()

        def sample():
            while not done.wait(0.05):
                try:
                    peak[0] = max(peak[0], tree_rss(proc))
                except psutil.Error:  # the child itself just ended
                    continue

        thread = threading.Thread(target=sample, daemon=True)
        thread.start()
        code = child.wait()
        seconds = time.perf_counter() - start
        done.set()
        thread.join()
    if code != 0:
        raise RuntimeError(f"{' '.join(cmd[:4])}… exited {code}; see {log}")
    return Measure(round(seconds, 2), round(peak[0] / 2**20, 1))


def one_size(rows: int, work: Path) -> dict:
    from qlake import services
    from qlake.config import settings
    from qlake.generate import generate

    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    env = dict(os.environ, QLAKE_HOME=str(work / "lake"), QLAKE_METASTORE_PORT=str(_free_port()),
               PYTHONPATH=os.pathsep.join([str(REPO), *filter(None, [os.environ.get("PYTHONPATH")])]))
    os.environ.update({k: env[k] for k in ("QLAKE_HOME", "QLAKE_METASTORE_PORT")})
    kept = os.environ.get("QLAKE_BENCH_DATA")
    incoming = Path(kept, str(rows)) if kept else work / "incoming"
    group, generated_s = incoming / "group1", None
    if not group.is_dir():
        started = time.perf_counter()
        group = generate(incoming.with_suffix(".tmp"), groups=1, rows=rows, seed=2026, redeliver=False)[0]
        group = Path(incoming.with_suffix(".tmp").rename(incoming), group.name)  # complete groups only
        generated_s = round(time.perf_counter() - started, 1)
    cfg = settings()
    services.ensure_metastore(cfg)
    try:
        load_before = os.getloadavg()[0]
        qlake = run_measured([sys.executable, "-c", _QLAKE, str(group), str(work / "phases.json")], env,
                             work / "qlake.log")
        phases = json.loads((work / "phases.json").read_text())
        pid = services.Metastore(cfg).pid()
        metastore_mb = round(tree_rss(psutil.Process(pid)) / 2**20, 1) if pid else None
    finally:
        services.down(cfg)
    duck = run_measured([sys.executable, "-c", _DUCKDB, str(group), str(work)], env, work / "duckdb.log")
    size_mb = round(sum(f.stat().st_size for f in group.iterdir()) / 2**20, 1)
    shutil.rmtree(work, ignore_errors=True)  # 10M rows of lake + Parquet: do not keep them
    return {"rows": rows, "input_mb": size_mb, "generate_s": generated_s,
            "qlake": qlake.__dict__, "duckdb": duck.__dict__, "ratio": round(qlake.seconds / duck.seconds, 2),
            "metastore_rss_mb": metastore_mb, "qlake_within_4gib": qlake.peak_rss_mb <= RSS_LIMIT_MB,
            # 1-minute load average when qlake started: above the core count, other work shared the machine
            "load_average_at_start": round(load_before, 2), "qlake_phases": phases}


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def markdown(runs: list[dict], engine: str) -> str:
    first = runs[0]
    lines = [f"Scale, one group end to end (`qlake run hourly`: ingest → silver → gold), engine {engine}, "
             f"measured {date.today().isoformat()}:", "",
             "| rows | CSV MB | qlake s | qlake peak RSS MB | DuckDB s | DuckDB peak RSS MB | ratio | qlake s / first |",
             "|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for r in runs:
        lines.append(f"| {r['rows']:,} | {r['input_mb']} | {r['qlake']['seconds']} | {r['qlake']['peak_rss_mb']:.0f} | "
                     f"{r['duckdb']['seconds']} | {r['duckdb']['peak_rss_mb']:.0f} | {r['ratio']} | "
                     f"{r['qlake']['seconds'] / first['qlake']['seconds']:.2f} |")
    measured = [r for r in runs if r.get("qlake_phases")]
    if measured:
        lines += ["", "Where qlake's time and memory go, per phase (peak RSS of the process while the phase ran):", "",
                  "| phase | " + " | ".join(f"{r['rows']:,} rows s / MB" for r in measured) + " |",
                  "|---|" + "---:|" * len(measured)]
        by_name = [{p["phase"]: p for p in r["qlake_phases"]} for r in measured]
        for p in measured[-1]["qlake_phases"]:
            cells = [f"{m[p['phase']]['seconds']:.1f} / {m[p['phase']]['peak_rss_mb']:.0f}" if p["phase"] in m
                     else "—" for m in by_name]
            lines.append(f"| {'&nbsp;' * 4 * p['depth']}{p['phase']} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main() -> int:
    from qlake.config import settings
    from qlake.spark import engine_description

    sizes = [int(x) for x in os.environ.get("QLAKE_BENCH_ROWS", "550000,2000000").split(",") if x.strip()]
    runs = []
    for rows in sizes:
        runs.append(one_size(rows, HERE / "out_scale_runs" / str(rows)))
        print(json.dumps(runs[-1]), flush=True)
    cfg = settings()
    engine = engine_description(cfg)
    # Sizes measured by an earlier invocation (same engine) stay in the file, so sizes can be run one at a time.
    path = HERE / "results_scale.json"
    earlier = json.loads(path.read_text()) if path.is_file() else {}
    if (earlier.get("engine"), earlier.get("engine_memory_mb")) == (engine, cfg.engine_memory_mb):
        runs = sorted([r for r in earlier.get("runs", []) if r["rows"] not in sizes] + runs, key=lambda r: r["rows"])
    payload = {"engine": engine, "engine_memory_mb": cfg.engine_memory_mb, "measured_on": date.today().isoformat(),
               "machine": {"cpus": os.cpu_count()}, "rss_limit_mb": RSS_LIMIT_MB,
               # other work shared the machine while some size ran: compare the ratios, not the seconds
               "under_load": any(r.get("load_average_at_start", 0) > (os.cpu_count() or 1) for r in runs),
               "runs": runs}
    path.write_text(json.dumps(payload, indent=2) + "\n")
    table = markdown(runs, engine)
    (HERE / "results_scale.md").write_text(table + "\n")
    print(table)
    return 0 if all(r["qlake_within_4gib"] for r in runs) else 1


if __name__ == "__main__":
    sys.exit(main())
