"""Generate a synthetic region: registry, sentinel series, residents' bundles and truth.

Residents are generated in fixed chunks of :data:`CHUNK` by worker processes;
each worker writes its chunk when the previous chunk is written (a turn
counter), so files are filled in resident order and the output is the same
bytes whatever the number of workers. Memory holds one chunk per worker, never
the region.
"""

from __future__ import annotations

import multiprocessing as mp
import os
import shutil
import time
from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import date, timedelta
from multiprocessing.sharedctypes import Synchronized
from multiprocessing.synchronize import Condition
from pathlib import Path
from typing import Any

import orjson

from yilian.synth import fhir
from yilian.synth import geography as geo
from yilian.synth import sentinel as sen
from yilian.synth.bundles import Emitter, stable_urn
from yilian.synth.history import Planner
from yilian.synth.people import ID_SLOTS, Population
from yilian.synth.profile import DEFAULT_PROFILE, Profile, load_profile
from yilian.synth.writer import BundleWriter, TruthWriter, dumps_line

CHUNK = 1000
DEFAULT_START = date(2024, 1, 1)
FORMAT_VERSION = 1

Progress = Callable[[str, int, int], None]


class SynthError(ValueError):
    """Bad parameters or an output directory that cannot be used; the message says which."""


@dataclass(frozen=True)
class Params:
    out: Path
    residents: int
    days: int
    seed: int
    start: date
    profile: Profile
    compress: bool


@dataclass
class Result:
    """What a run produced; ``manifest`` is also written to ``manifest.json``."""

    out: Path
    manifest: dict[str, Any]
    seconds: float
    resources: int
    bundles: int
    phases: dict[str, float] = field(default_factory=dict)


# --- one chunk ---------------------------------------------------------------------


class _ChunkWorker:
    """Generates chunks of residents and appends them to the run's files (one per process)."""

    def __init__(self, p: Params) -> None:
        self.p = p
        self.population = Population(p.profile, p.start, p.days, p.seed)
        self.planner = Planner(p.profile, self.population)
        self.emitter = Emitter(p.profile, p.start, p.days, p.seed)
        dates = [(p.start + timedelta(days=d)).isoformat() for d in range(p.days)]
        self.bundles = BundleWriter(p.out, dates, compress=p.compress, seed=p.seed)
        self.truth = TruthWriter(p.out, truncate=False)

    def compute(
        self, chunk: int
    ) -> tuple[dict[tuple[int, str], list[bytes]], dict[str, list[bytes]], Counter[str]]:
        groups: dict[tuple[int, str], list[bytes]] = {}
        truth: dict[str, list[bytes]] = {"people": [], "records": [], "repeat_tests": []}
        counts: Counter[str] = Counter()
        first = chunk * CHUNK
        for index in range(first, min(self.p.residents, first + CHUNK)):
            res, rng = self.population.resident(index)
            hist = self.planner.history(res, rng)
            out = self.emitter.emit(res, hist, rng)
            for day, org, payload in out.groups:
                groups.setdefault((day, org), []).append(payload)
            truth["people"].append(dumps_line(out.person))
            truth["records"].extend(dumps_line(r) for r in out.records)
            truth["repeat_tests"].extend(dumps_line(r) for r in out.repeats)
            counts.update(out.counts)
        return groups, truth, counts

    def write(
        self,
        groups: dict[tuple[int, str], list[bytes]],
        truth: dict[str, list[bytes]],
    ) -> None:
        for day, org in sorted(groups):
            self.bundles.append(day, org, groups[(day, org)])
        for name in TruthWriter.FILES:
            self.truth.append(name, truth[name])


_worker: _ChunkWorker | None = None
_turn: Synchronized[int] | None = None
_cond: Condition | None = None


def _init_worker(p: Params, turn: Synchronized[int], cond: Condition) -> None:
    global _worker, _turn, _cond
    _worker = _ChunkWorker(p)
    _turn, _cond = turn, cond


def _run_chunk(chunk: int) -> tuple[int, dict[str, int]]:
    """Generate a chunk, wait for its turn, write it, pass the turn on."""
    assert _worker is not None and _turn is not None and _cond is not None
    error: BaseException | None = None
    try:
        groups, truth, counts = _worker.compute(chunk)
    except BaseException as exc:  # the turn must pass on even when this chunk failed
        error = exc
    with _cond:
        while _turn.value != chunk:
            _cond.wait()
    try:
        if error is None:
            _worker.write(groups, truth)
    finally:
        with _cond:
            _turn.value = chunk + 1
            _cond.notify_all()
    if error is not None:
        raise error
    n = min(_worker.p.residents, (chunk + 1) * CHUNK) - chunk * CHUNK
    return n, dict(counts)


# --- the run ---------------------------------------------------------------------------


def _prepare(out: Path, overwrite: bool) -> None:
    if out.exists() and any(out.iterdir()):
        if not overwrite:
            raise SynthError(
                f"{out} is not empty; choose an empty directory or overwrite it (--overwrite)"
            )
        for name in ("bundles", "truth"):
            shutil.rmtree(out / name, ignore_errors=True)
        for name in ("manifest.json", "registry.json"):
            (out / name).unlink(missing_ok=True)
    out.mkdir(parents=True, exist_ok=True)


def _write_json(path: Path, obj: object) -> None:
    path.write_bytes(orjson.dumps(obj, option=orjson.OPT_SORT_KEYS | orjson.OPT_INDENT_2))


def _sentinels(p: Params, writer: BundleWriter) -> int:
    outbreaks = sen.plan_outbreaks(p.profile, p.days, p.seed)
    counts, extras = sen.series(p.profile, p.start, p.days, p.seed, outbreaks)
    n = 0
    for d in range(p.days):
        day = p.start + timedelta(days=d)
        for org in sen.sentinels():
            report = sen.measure_report(org, day, counts[org.code], d, p.profile)
            value = day.isoformat()
            url = stable_urn(p.seed, "sentinel", org.code, value)
            entry = fhir.entry(url, report, fhir.sid("measure-report", org.code), value)
            writer.append(d, org.code, [orjson.dumps(entry, option=orjson.OPT_SORT_KEYS)])
            n += 1
    _write_json(p.out / "truth" / "outbreaks.json", sen.outbreak_truth(outbreaks, extras, p.start))
    return n


def generate(
    out: str | Path,
    *,
    residents: int,
    days: int,
    seed: int,
    start: date = DEFAULT_START,
    profile: str | Path | Profile = DEFAULT_PROFILE,
    overrides: Mapping[str, Any] | None = None,
    workers: int | None = None,
    compress: bool = False,
    overwrite: bool = False,
    progress: Progress | None = None,
) -> Result:
    """Generate ``residents`` people over ``days`` days from ``start`` into ``out``.

    The same arguments give byte-identical files, whatever ``workers`` is.
    """
    if residents < 1:
        raise SynthError("residents must be at least 1")
    if not 1 <= days <= 3660:
        raise SynthError("days must be between 1 and 3660")
    prof = profile if isinstance(profile, Profile) else load_profile(profile, overrides)
    out = Path(out)
    _prepare(out, overwrite)
    p = Params(out, residents, days, seed, start, prof, compress)
    t0 = time.perf_counter()
    phases: dict[str, float] = {}

    _write_json(out / "registry.json", geo.registry_payload())
    dates = [(start + timedelta(days=d)).isoformat() for d in range(days)]
    writer = BundleWriter(out, dates, compress=compress, seed=seed)
    TruthWriter(out, truncate=True)
    sentinel_reports = _sentinels(p, writer)
    writer.close()  # before forking: workers open their own files
    phases["sentinel"] = time.perf_counter() - t0

    chunks = (residents + CHUNK - 1) // CHUNK
    workers = max(1, min(workers or os.cpu_count() or 1, chunks))
    counts: Counter[str] = Counter({"MeasureReport": sentinel_reports})
    done = 0
    t1 = time.perf_counter()
    if workers == 1:
        worker = _ChunkWorker(p)
        for chunk in range(chunks):
            groups, truth, chunk_counts = worker.compute(chunk)
            worker.write(groups, truth)
            counts.update(chunk_counts)
            done = min(residents, done + CHUNK)
            if progress:
                progress("residents", done, residents)
        worker.bundles.close()
    else:
        ctx = mp.get_context("fork")
        turn = ctx.Value("i", 0)
        cond = ctx.Condition()
        with ctx.Pool(workers, initializer=_init_worker, initargs=(p, turn, cond)) as pool:
            for n, counted in pool.imap(_run_chunk, range(chunks)):
                counts.update(counted)
                done += n
                if progress:
                    progress("residents", done, residents)
    phases["residents"] = time.perf_counter() - t1

    t2 = time.perf_counter()
    bundles = writer.finalize()
    phases["finalize"] = time.perf_counter() - t2
    resources = sum(counts.values())
    manifest = {
        "format_version": FORMAT_VERSION,
        "generator": "yilian.synth",
        "seed": seed,
        "residents": residents,
        "days": days,
        "start_date": start.isoformat(),
        "end_date": (start + timedelta(days=days - 1)).isoformat(),
        "profile": {"name": prof.name, "sha256": prof.sha256},
        "compressed": compress,
        "bundles": bundles,
        "resources": resources,
        "resources_by_type": dict(sorted(counts.items())),
        # Past ID_SLOTS residents two people may (rarely) draw the same 身份证号.
        "id_numbers_unique": residents <= ID_SLOTS,
    }
    _write_json(out / "manifest.json", manifest)
    seconds = time.perf_counter() - t0
    return Result(out, manifest, seconds, resources, bundles, phases)
