"""Benchmark: FHIR ingestion (records.service.ingest_bundle) of a synthetic region.

Generates a synthetic district with ``yilian.synth.demo.generate_demo``, loads its
registry into a fresh database and sends every generated bundle as the institution's
own system would (one transaction per bundle, as ``yilian.demo.ingest`` does). Prints
resources/s and bundles/s. SQLite uses a fresh temporary file; PostgreSQL a fresh
schema (dropped afterwards). Bounded by ``--residents``, ``--days`` and ``--max-seconds``.

    .venv/bin/python bench/fhir_ingest.py                                   # SQLite
    .venv/bin/python bench/fhir_ingest.py --database postgresql://localhost:5432/test
    .venv/bin/python bench/fhir_ingest.py --profile 30                      # cProfile top 30
    .venv/bin/python bench/fhir_ingest.py --workers 2   # two senders at once, as two server
                                                        # workers on two cores would take them

With ``--workers N`` the institutions are split across N processes (each institution's
bundles stay in order in one process) and the figure is all resources over wall time.
"""

from __future__ import annotations

import argparse
import cProfile
import json
import multiprocessing
import os
import platform
import pstats
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path
from typing import Any

from yilian.db import make_engine, make_sessionmaker, session_scope
from yilian.kit.errors import YilianError
from yilian.migrate import upgrade
from yilian.models import load_all
from yilian.records import intake
from yilian.records import service as records
from yilian.records.projectors import registered, unregister
from yilian.registry import service as registry
from yilian.security.principal import Principal, institution_system
from yilian.synth.demo import generate_demo, iter_demo_bundles
from yilian.synth.load import read_registry


def machine() -> str:
    cpu = "unknown CPU"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    usable = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return f"nproc {usable}, {cpu}, Python {platform.python_version()}"


def _system(code: str, organization_id: str) -> Principal:
    return institution_system(code, organization_id, via="bench")


ANALYZE_EVERY = 50  # bundles


def _autovacuum_off(engine: Any) -> bool:
    if engine.dialect.name != "postgresql":
        return False
    with engine.connect() as conn:
        return str(conn.exec_driver_sql("SHOW autovacuum").scalar()) == "off"


def _send(
    url: str,
    bundles: list[tuple[str, dict[str, Any]]],
    org_ids: dict[str, str],
    profile: int,
    analyze: bool,
) -> dict[str, Any]:
    engine = make_engine(url)
    factory = make_sessionmaker(engine)
    # A PostgreSQL server without autovacuum never learns that the tables grew: plans
    # made while they were empty (foreign-key checks included) stay sequential scans and
    # every bundle gets slower. Production servers run autovacuum; here we ANALYZE as it
    # would, every ANALYZE_EVERY bundles (its time counts in the figure).
    profiler = cProfile.Profile() if profile else None
    resources = done = 0
    refused: dict[str, int] = {}
    sizes: list[int] = []
    cpu = time.process_time()
    if profiler:
        profiler.enable()
    for n, (code, bundle) in enumerate(bundles):
        if analyze and n % ANALYZE_EVERY == ANALYZE_EVERY - 1:
            with engine.begin() as conn:
                conn.exec_driver_sql("ANALYZE")
        org_id = org_ids.get(code)
        if org_id is None:
            refused["unknown institution"] = refused.get("unknown institution", 0) + 1
            continue
        n = len(bundle.get("entry") or [])
        try:
            with session_scope(factory) as session:
                records.ingest_bundle(session, _system(code, org_id), bundle)
        except YilianError as exc:
            reason = exc.message.split(":")[0][:80]
            refused[reason] = refused.get(reason, 0) + 1
        else:
            resources += n
            done += 1
            sizes.append(n)
    if profiler:
        profiler.disable()
        stats = pstats.Stats(profiler, stream=sys.stderr)
        stats.sort_stats("cumulative").print_stats(profile)
        stats.sort_stats("tottime").print_stats(profile)
    engine.dispose()
    return {
        "bundles": done,
        "resources": resources,
        "cpu": time.process_time() - cpu,
        "sizes": sizes,
        "refused": refused,
    }


def _send_star(
    args: tuple[str, list[tuple[str, dict[str, Any]]], dict[str, str], int, bool],
) -> Any:
    return _send(*args)


AUTOANALYZE_NAPTIME = 1.0  # seconds
# pg_class and the statistics function directly: the pg_stat_user_tables view (joins of
# pg_index and every namespace) took ~25 ms of server CPU per look, a second of a 60-day
# import; autovacuum's own look costs next to nothing.
AUTOANALYZE_DUE = (
    "SELECT c.relname FROM pg_class c"
    " WHERE c.relnamespace = current_schema()::regnamespace AND c.relkind = 'r'"
    " AND pg_stat_get_mod_since_analyze(c.oid) > 50 + 0.1 * GREATEST(c.reltuples, 0)"
)


def _bulk(
    url: str,
    raw: list[tuple[str, bytes]],
    org_ids: dict[str, str],
    profile: int,
    workers: int,
    analyze: bool,
) -> dict[str, Any]:
    """All bundles through records.intake: validation workers ahead of one writer."""
    engine = make_engine(url)
    factory = make_sessionmaker(engine)
    items = [
        intake.Item(_system(code, org_ids[code]), data, code)
        for code, data in raw
        if code in org_ids
    ]
    refused: dict[str, int] = {}
    if len(items) < len(raw):
        refused["unknown institution"] = len(raw) - len(items)
    resources = done = 0
    sizes: list[int] = []
    profiler = cProfile.Profile() if profile else None
    cpu = time.process_time()
    children = _children_cpu()
    if profiler:
        profiler.enable()
    # Without autovacuum (see _send), a thread stands in for it on its own connection,
    # concurrently with the import: every second it ANALYZEs the tables autovacuum would
    # (more rows changed since their last ANALYZE than 50 + 10% of the table: the
    # defaults of autovacuum_analyze_threshold and _scale_factor).
    finished = threading.Event()

    def analyzer() -> None:
        while not finished.wait(AUTOANALYZE_NAPTIME):
            with engine.begin() as conn:
                due = conn.exec_driver_sql(AUTOANALYZE_DUE).scalars().all()
                for name in due:
                    conn.exec_driver_sql(f'ANALYZE "{name}"')

    thread = threading.Thread(target=analyzer, daemon=True) if analyze else None
    if thread:
        thread.start()
    for result in intake.import_bundles(factory, items, workers=workers):
        if result.error is not None:
            reason = result.error.message.split(":")[0][:80]
            refused[reason] = refused.get(reason, 0) + 1
        else:
            resources += result.resources
            done += 1
            sizes.append(result.resources)
    if thread:
        finished.set()
        thread.join()
    if profiler:
        profiler.disable()
        stats = pstats.Stats(profiler, stream=sys.stderr)
        stats.sort_stats("cumulative").print_stats(profile)
        stats.sort_stats("tottime").print_stats(profile)
    engine.dispose()
    writer = time.process_time() - cpu
    return {
        "bundles": done,
        "resources": resources,
        "writer_cpu": writer,
        "cpu": writer + _children_cpu() - children,
        "sizes": sizes,
        "refused": refused,
    }


def _children_cpu() -> float:
    t = os.times()
    return t.children_user + t.children_system


def _server_cpu() -> float | None:
    """CPU seconds of the local PostgreSQL server's processes, ended backends included.

    Summed from /proc over processes named ``postgres`` (utime + stime and, for the
    postmaster, the waited-for children's cutime + cstime). None where /proc is not
    readable or the server is not on this machine.
    """
    tick = os.sysconf("SC_CLK_TCK")
    total, seen = 0, False
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            text = stat.read_text()
        except OSError:
            continue
        name = text[text.index("(") + 1 : text.rindex(")")]
        if name != "postgres":
            continue
        fields = text[text.rindex(")") + 2 :].split()
        total += sum(int(f) for f in fields[11:15])  # utime stime cutime cstime
        seen = True
    return total / tick if seen else None


def run(
    url: str,
    out_dir: Path,
    max_bundles: int,
    profile: int,
    workers: int,
    projectors: bool,
    bulk: bool = False,
) -> dict[str, Any]:
    upgrade(url)
    load_all()  # the domains' projectors run during ingestion, as in the server
    if not projectors:
        for rtype, fns in registered().items():
            for fn in fns:
                unregister(rtype, fn)
    engine = make_engine(url)
    factory = make_sessionmaker(engine)
    with session_scope(factory) as session:
        org_ids = registry.load_registry(session, **read_registry(out_dir)).organization_ids
    analyzed = _autovacuum_off(engine)
    engine.dispose()
    raw = [(p.name.split(".")[0], data) for p, data in iter_demo_bundles(out_dir)]
    raw = raw[:max_bundles] if max_bundles else raw
    server = _server_cpu() if url.startswith("postgresql") else None
    if bulk:
        start = time.perf_counter()
        part = _bulk(url, raw, org_ids, profile, workers, analyzed)
        elapsed = time.perf_counter() - start
        return {
            **part,
            "server_cpu": _cpu_since(server),
            "of": len(raw),
            "seconds": elapsed,
            "mean_size": statistics.mean(part["sizes"]) if part["sizes"] else 0.0,
            "max_size": max(part["sizes"], default=0),
            "analyzed": analyzed,
        }
    bundles = [(code, json.loads(data)) for code, data in raw]
    shares: list[list[tuple[str, dict[str, Any]]]] = [[] for _ in range(workers)]
    owner: dict[str, int] = {}
    for code, bundle in bundles:
        shares[owner.setdefault(code, len(owner) % workers)].append((code, bundle))
    start = time.perf_counter()
    if workers == 1:
        parts = [_send(url, bundles, org_ids, profile, analyzed)]
    else:
        with multiprocessing.get_context("fork").Pool(workers) as pool:
            parts = pool.map(_send_star, [(url, share, org_ids, 0, analyzed) for share in shares])
    elapsed = time.perf_counter() - start
    sizes = [n for part in parts for n in part["sizes"]]
    refused: dict[str, int] = {}
    for part in parts:
        for reason, n in part["refused"].items():
            refused[reason] = refused.get(reason, 0) + n
    return {
        "bundles": sum(p["bundles"] for p in parts),
        "of": len(bundles),
        "resources": sum(p["resources"] for p in parts),
        "seconds": elapsed,
        "cpu": sum(p["cpu"] for p in parts),
        "mean_size": statistics.mean(sizes) if sizes else 0.0,
        "max_size": max(sizes, default=0),
        "refused": refused,
        "analyzed": analyzed,
        "server_cpu": _cpu_since(server),
    }


def _cpu_since(start: float | None) -> float | None:
    """Server CPU since ``start``, read once the closed connections' backends are reaped."""
    if start is None:
        return None
    now = _server_cpu()
    for _ in range(20):  # a backend's time reaches the postmaster when it is waited for
        time.sleep(0.1)
        later = _server_cpu()
        if later is None or now is None or later - now < 0.005:
            break
        now = later
    return None if now is None else now - start


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--residents", type=int, default=2000)
    ap.add_argument("--days", type=int, default=7)
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--max-bundles", type=int, default=0, help="send only the first N bundles")
    ap.add_argument("--workers", type=int, default=1, help="sending processes")
    ap.add_argument(
        "--bare", action="store_true", help="the exchange alone, without the domains' projectors"
    )
    ap.add_argument(
        "--bulk",
        action="store_true",
        help="import through records.intake (--workers validation processes, one writer)",
    )
    ap.add_argument("--database", default="sqlite", help="'sqlite' or a postgresql:// URL")
    ap.add_argument("--out", type=Path, help="keep the generated region here (reused if present)")
    ap.add_argument("--profile", type=int, default=0, help="print the top N cProfile entries")
    args = ap.parse_args()
    print(machine())
    with tempfile.TemporaryDirectory(prefix="yl-fhir-bench-") as tmp:
        out_dir = args.out or Path(tmp) / "region"
        if args.out is None or not (out_dir / "registry.json").exists():
            t0 = time.perf_counter()
            made = generate_demo(out_dir, residents=args.residents, days=args.days, seed=args.seed)
            print(
                f"generated {made.bundles} bundles, {made.resources} resources "
                f"({args.residents} residents, {args.days} days) in {time.perf_counter() - t0:.1f}s"
            )
        schema = None
        if args.database == "sqlite":
            url, backend = f"sqlite:///{tmp}/bench.db", "SQLite"
        else:
            schema = f"yl_bench_{uuid.uuid4().hex[:8]}"
            subprocess.run(["psql", args.database, "-qc", f"CREATE SCHEMA {schema}"], check=True)
            sep = "&" if "?" in args.database else "?"
            url, backend = f"{args.database}{sep}options=-csearch_path%3D{schema}", "PostgreSQL"
        try:
            r = run(
                url,
                out_dir,
                args.max_bundles,
                args.profile,
                args.workers,
                not args.bare,
                args.bulk,
            )
        finally:
            if schema:
                subprocess.run(
                    ["psql", args.database, "-qc", f"DROP SCHEMA {schema} CASCADE"],
                    check=False,
                    env={**os.environ, "PGOPTIONS": "-c client_min_messages=warning"},
                )
    s = r["seconds"]
    print(
        f"{backend}, {args.workers} worker(s): {r['resources']} resources in "
        f"{r['bundles']}/{r['of']} bundles "
        f"(mean {r['mean_size']:.1f}, max {r['max_size']} entries) in {s:.1f}s: "
        f"{r['resources'] / s:.0f} resources/s, {r['bundles'] / s:.1f} bundles/s; "
        f"the senders used {r['cpu']:.1f} CPU s ({r['resources'] / r['cpu']:.0f} resources "
        "per CPU s: less sensitive to other load on the machine)"
    )
    if "writer_cpu" in r:
        print(
            f"the writer used {r['writer_cpu']:.1f} CPU s, the validation workers "
            f"{r['cpu'] - r['writer_cpu']:.1f}"
        )
    if r.get("server_cpu") is not None:
        print(f"the PostgreSQL server used {r['server_cpu']:.1f} CPU s (this machine's)")
    print(f"load average {os.getloadavg()[0]:.2f}")
    if r["analyzed"]:
        every = (
            "second on the tables autovacuum would, concurrently"
            if args.bulk
            else f"{ANALYZE_EVERY} bundles"
        )
        print(f"autovacuum is off on this server: ANALYZE ran every {every}")
    if r["refused"]:
        print(f"refused: {r['refused']}")


if __name__ == "__main__":
    main()
