"""Bulk intake (批量导入): many bundles validated in worker processes and written in groups.

``POST /fhir`` stores one bundle per request and transaction: the request's core
validates every resource (``fhir.resources`` costs about 0.35 ms per resource), then
writes, then waits for the commit. A bulk import — an institution's backlog, a
nightly extract, the demo region — comes through here instead:

- worker processes parse and validate bundles (:func:`records.service.parse_bundle`,
  which needs no database) ahead of the writer, in input order;
- one writer stores a group of bundles in one transaction and one commit, one
  audit-chain append. Within it, runs of bundles that claim different resources are
  written together in one savepoint (:func:`records.service.write_bundles`: one set
  of lookups, inserts and projector calls for the run); if the run is refused, its
  bundles are written again one per savepoint, so a bundle is still all or nothing
  and a refused one leaves the rest alone;
- if the group's commit itself fails, its bundles are written again one per
  transaction, so one bad bundle cannot take the others with it.

Every bundle is written through :func:`records.service.write_bundle` — the same
matching, access rules, projectors and audit as a request — as the principal that
sent it. Results come back in input order, one per bundle.
"""

from __future__ import annotations

import gc
import logging
import multiprocessing
import os
import sys
from collections import deque
from collections.abc import Iterable, Iterator
from concurrent.futures import Future, ProcessPoolExecutor
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from multiprocessing.context import BaseContext
from typing import Any

import orjson
from sqlalchemy.orm import Session, sessionmaker

from yilian.audit import service as audit
from yilian.db import session_scope
from yilian.kit.errors import BadRequest, YilianError
from yilian.records import service as records
from yilian.records import validation
from yilian.records.service import Claims, ParsedBundle
from yilian.security.principal import Principal

log = logging.getLogger("yilian.records.intake")

# A group is written in one transaction once it holds this many resources (or bundles).
# The first groups are smaller (FIRST_GROUP, then doubling), so that the writer starts
# while the workers validate the rest instead of waiting for a whole group.
GROUP_RESOURCES = 4000
GROUP_BUNDLES = 500
FIRST_GROUP = 500
# Validation workers run at a lower priority: the writer is the import's critical path.
WORKER_NICE = 10
# Bundles are sent to a worker in chunks of about this many bytes of JSON, and each
# worker runs this many chunks ahead of the writer (bounded memory on a long import).
CHUNK_BYTES = 256 * 1024
AHEAD = 16
# The writer collects cyclic garbage after the group that brings it past this many
# resources since the last collection (see _collections_between_groups); the workers'
# collector runs every GC_THRESHOLD allocations (default 700).
COLLECT_EVERY = 100_000
GC_THRESHOLD = 50_000


@dataclass(frozen=True)
class Item:
    """One bundle to import: its JSON (text, bytes or parsed) and who sent it."""

    principal: Principal
    bundle: bytes | str | dict[str, Any]
    label: str = ""  # where it came from (a file name), for the report


@dataclass
class ItemResult:
    """What became of one bundle: the FHIR reply, or the error that refused it whole."""

    label: str
    resources: int
    reply: dict[str, Any] | None = None
    error: YilianError | None = None

    @property
    def ok(self) -> bool:
        return self.error is None


def default_workers() -> int:
    """Validation workers beside the writer: one per core.

    The writer waits on the database and on the workers for part of its time, so a
    worker per core keeps every core busy (measured on 2 cores: 2 workers beat 1).
    """
    usable = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return max(1, usable or 1)


def _parse(raw: bytes | str | dict[str, Any], source: str | None) -> ParsedBundle | YilianError:
    """Parse and validate; the entries are the parser's own (a write rewrites references)."""
    try:
        # A parsed bundle is copied: the item stays as sent, to be parsed again if need be.
        bundle = orjson.loads(raw if isinstance(raw, bytes | str) else orjson.dumps(raw))
    except orjson.JSONDecodeError as exc:
        return BadRequest(f"the bundle is not valid JSON: {exc}")
    except orjson.JSONEncodeError as exc:
        return BadRequest(f"the bundle cannot be read as JSON: {exc}")
    try:
        return records.parse_bundle(bundle, source)
    except YilianError as exc:
        return exc
    except Exception:  # a bug must cost this bundle, not the import
        log.exception("a bundle could not be validated")
        return YilianError(
            "the bundle could not be validated because of a server error; it was not "
            "written and can be sent again (the server log has the details)",
            status_code=500,
        )


def _worker_start() -> None:
    """A validation worker yields the CPU to the writer, which the import waits on.

    It forks from a writer whose automatic collection is off: it collects cyclic garbage
    every ``GC_THRESHOLD`` allocations instead (at the default 700 the collector cost
    about four fifths of the time spent unpickling results).
    """
    gc.set_threshold(GC_THRESHOLD, *gc.get_threshold()[1:])
    gc.enable()
    with suppress(OSError):  # not allowed here: the same priority, then
        os.nice(WORKER_NICE)


def _parse_chunk(
    chunk: list[tuple[bytes | str | dict[str, Any], str | None]],
) -> list[ParsedBundle | YilianError]:
    """Worker side: parse and validate a chunk of bundles (no database)."""
    return [_parse(raw, source) for raw, source in chunk]


def _size(raw: bytes | str | dict[str, Any]) -> int:
    return len(raw) if isinstance(raw, bytes | str) else CHUNK_BYTES // 16


def _source(item: Item) -> str | YilianError | None:
    try:
        return records.writer_org(item.principal)
    except YilianError as exc:
        return exc


def _parsed(
    items: Iterable[Item], workers: int
) -> Iterator[tuple[Item, ParsedBundle | YilianError]]:
    """The items with their parsed bundles, in input order; parsing runs in workers."""
    if workers <= 0:
        for item in items:
            source = _source(item)
            yield item, source if isinstance(source, YilianError) else _parse(item.bundle, source)
        return
    context: BaseContext
    if sys.platform == "linux":
        # A forked worker starts at once with the modules the writer already imported
        # (a fresh interpreter takes seconds to import the FHIR models). It only parses
        # and validates: it touches no connection, lock or file the writer holds.
        context = multiprocessing.get_context("fork")
        validation.load_models()  # imported once here, not in every worker
    else:
        context = multiprocessing.get_context("spawn")
    window: deque[tuple[list[tuple[Item, str | YilianError | None]], Future[Any]]] = deque()
    with ProcessPoolExecutor(
        max_workers=workers, mp_context=context, initializer=_worker_start
    ) as pool:

        def submit(chunk: list[tuple[Item, str | YilianError | None]]) -> None:
            work = [(i.bundle, s) for i, s in chunk if not isinstance(s, YilianError)]
            window.append((chunk, pool.submit(_parse_chunk, work)))

        def drain() -> Iterator[tuple[Item, ParsedBundle | YilianError]]:
            chunk, future = window.popleft()
            done = iter(future.result())
            for item, source in chunk:
                yield item, source if isinstance(source, YilianError) else next(done)

        chunk: list[tuple[Item, str | YilianError | None]] = []
        size = 0
        for item in items:
            chunk.append((item, _source(item)))
            size += _size(item.bundle)
            if size >= CHUNK_BYTES:
                submit(chunk)
                chunk, size = [], 0
                if len(window) >= workers * AHEAD:
                    yield from drain()
        if chunk:
            submit(chunk)
        while window:
            yield from drain()


def _together(group: list[tuple[Item, ParsedBundle]]) -> list[list[tuple[Item, ParsedBundle]]]:
    """The group cut into runs of bundles that can be written in one go.

    A run ends before a bundle that claims a resource an earlier bundle of the run
    claims (the same resource sent twice, or looked for by a conditional create: the
    second must see the first); a batch stands alone.
    """
    runs: list[list[tuple[Item, ParsedBundle]]] = []
    claimed = Claims()
    for item, parsed in group:
        claims = parsed.claims()
        if claims is None:
            runs.append([(item, parsed)])
            claimed = Claims()
            runs.append([])
            continue
        if not runs or claims.meets(claimed):
            runs.append([])
            claimed = Claims()
        runs[-1].append((item, parsed))
        claimed.add(claims)
    return [run for run in runs if run]


def _write_one(session: Session, item: Item, parsed: ParsedBundle) -> ItemResult:
    """One bundle in its own savepoint."""
    mark = audit.mark(session)
    try:
        with session.begin_nested():
            reply = records.write_bundle(session, item.principal, parsed)
    except YilianError as exc:
        audit.forget_since(session, mark)  # the bundle's writes are undone
        return ItemResult(item.label, parsed.size, error=exc)
    return ItemResult(item.label, parsed.size, reply=reply)


def _write_run(session: Session, run: list[tuple[Item, ParsedBundle]]) -> list[ItemResult]:
    """A run of bundles in one write; if any is refused, each again in its own savepoint."""
    if len(run) == 1:
        return [_write_one(session, *run[0])]
    mark = audit.mark(session)
    try:
        with session.begin_nested():
            replies = records.write_bundles(session, [(i.principal, p) for i, p in run])
    except YilianError:
        audit.forget_since(session, mark)
        return [_write_one(session, item, parsed) for item, parsed in run]
    return [
        ItemResult(item.label, parsed.size, reply=reply)
        for (item, parsed), reply in zip(run, replies, strict=True)
    ]


def _write_group(
    factory: sessionmaker[Session], group: list[tuple[Item, ParsedBundle]]
) -> list[ItemResult]:
    """Write the group in one transaction: runs of bundles together, each all or nothing."""
    results: list[ItemResult] = []
    try:
        with session_scope(factory) as session:
            for run in _together(group):
                results.extend(_write_run(session, run))
        return results
    except Exception:
        if len(group) > 1:
            # Write them again one per transaction, so the failure stays with its bundle.
            # The attempt may have left assigned ids in the entries: each bundle is parsed
            # again from what was sent.
            again: list[ItemResult] = []
            for item, _parsed_once in group:
                reparsed = _parse(item.bundle, records.writer_org(item.principal))
                if isinstance(reparsed, YilianError):  # pragma: no cover - it parsed before
                    again.append(ItemResult(item.label, 0, error=reparsed))
                else:
                    again.extend(_write_group(factory, [(item, reparsed)]))
            return again
        item, parsed = group[0]
        log.exception("bundle %s could not be stored", item.label or "(unnamed)")
        error = YilianError(
            "the bundle could not be stored because of a server error; it was not written "
            "and can be sent again (the server log has the details)",
            status_code=500,
        )
        return [ItemResult(item.label, parsed.size, error=error)]


def import_bundles(
    factory: sessionmaker[Session],
    items: Iterable[Item],
    *,
    workers: int | None = None,
    group_resources: int = GROUP_RESOURCES,
) -> Iterator[ItemResult]:
    """Import bundles; yield one result per bundle, in input order, as groups commit.

    ``workers`` validation processes run ahead of the writer (``default_workers()``
    when None; 0 validates in this process).
    """
    with _collections_between_groups():
        yield from _import(factory, items, workers, group_resources)


@contextmanager
def _collections_between_groups() -> Iterator[None]:
    """The writer's cyclic garbage collector runs between groups, not while bundles stream.

    An import allocates millions of short-lived objects (parsed resources, the workers'
    results as they are unpickled, rows), nearly none in reference cycles: the 60-day
    benchmark import left 22,041 cyclic objects in all (61 ms to collect). Yet with the
    collector on (even every 50,000 allocations) its young-generation passes kept
    re-scanning the bundles in flight: 1.95 s of the writer's 17.2 CPU-s. So automatic
    collection is off in the writer and :func:`_import` collects every
    ``COLLECT_EVERY`` resources, after a group's commit; workers keep the collector,
    run less often (``GC_THRESHOLD``, see :func:`_worker_start`).
    """
    enabled = gc.isenabled()
    gc.disable()
    # What exists before the import (modules, models, mappers: a few hundred thousand
    # objects) stays out of every collection; a full collection scanning it took 0.27 s.
    freeze = gc.get_freeze_count() == 0
    if freeze:
        gc.freeze()
    try:
        yield
    finally:
        if freeze:
            gc.unfreeze()
        if enabled:
            gc.enable()


def _import(
    factory: sessionmaker[Session],
    items: Iterable[Item],
    workers: int | None,
    group_resources: int,
) -> Iterator[ItemResult]:
    group: list[tuple[Item, ParsedBundle]] = []
    pending: list[ItemResult | None] = []  # refused before writing, in order with the group
    held = written = 0
    limit = min(FIRST_GROUP, group_resources)
    for item, parsed in _parsed(items, default_workers() if workers is None else workers):
        if isinstance(parsed, YilianError):
            pending.append(ItemResult(item.label, 0, error=parsed))
            continue
        group.append((item, parsed))
        pending.append(None)
        held += parsed.size
        if held >= limit or len(group) >= GROUP_BUNDLES:
            yield from _merge(pending, _write_group(factory, group))
            written += held
            if written >= COLLECT_EVERY:
                gc.collect()
                written = 0
            group, pending, held = [], [], 0
            limit = min(limit * 2, group_resources)
    if group or pending:
        yield from _merge(pending, _write_group(factory, group) if group else [])


def _merge(pending: list[ItemResult | None], written: list[ItemResult]) -> Iterator[ItemResult]:
    done = iter(written)
    for result in pending:
        yield result if result is not None else next(done)
