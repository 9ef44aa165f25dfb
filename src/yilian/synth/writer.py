"""Bundles and truth on disk, written as they are generated.

Layout of an output directory::

    manifest.json                       what was generated, from what, how much
    registry.json                       regions, organisations, consortia, practitioners
    bundles/<YYYY-MM-DD>/<org code>.json[.gz]   one transaction Bundle per institution and day
    truth/people.ndjson  truth/records.ndjson  truth/repeat_tests.ndjson  truth/outbreaks.json

A bundle file is built by appending: the first entries create it with the
opening ``{"entry":[``, later residents' entries are appended after a comma, and
:meth:`BundleWriter.finalize` closes every file with the Bundle's other keys
(in sorted order, so the file is what ``json.dumps(..., sort_keys=True)`` would
give). Nothing of a day is held in memory. With gzip, every append is its own
gzip member; concatenated members are one valid gzip stream.
"""

from __future__ import annotations

import gzip
import hashlib
import os
import resource
import uuid
from collections import OrderedDict
from collections.abc import Iterable, Iterator
from pathlib import Path

import orjson

_OPEN = b'{"entry":['
# HTEST: the v3 ActReason code for test health data, so no one mistakes these for patients.
_META = (
    b'"meta":{"tag":[{"code":"HTEST","display":"test health data",'
    b'"system":"http://terminology.hl7.org/CodeSystem/v3-ActReason"}]}'
)


def bundle_id(seed: int, org: str, day: str) -> str:
    digest = hashlib.sha256(f"yilian-synth|{seed}|{org}|{day}".encode()).digest()
    return str(uuid.UUID(bytes=digest[:16], version=4))


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        written = os.write(fd, view)
        view = view[written:]


def _fd_budget() -> int:
    """How many bundle files one process may keep open (raising the soft limit if allowed)."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard != resource.RLIM_INFINITY and soft < hard:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
            soft = hard
        except (ValueError, OSError):
            pass
    return max(16, min(soft - 256, 16_384))


class BundleWriter:
    """Appends entries to ``bundles/<day>/<org>.json`` files and closes them at the end.

    Open files are kept in a bounded LRU: a year has about 15,000 bundles and every
    chunk of residents appends to most of them, so reopening each time would cost
    more than generating the entries.
    """

    def __init__(self, out: Path, dates: list[str], *, compress: bool, seed: int) -> None:
        self.root = out / "bundles"
        self.dates = dates
        self.compress = compress
        self.seed = seed
        self.suffix = ".json.gz" if compress else ".json"
        self.day_dirs = [str(self.root / d) for d in dates]
        for d in self.day_dirs:
            os.makedirs(d, exist_ok=True)
        self._fds: OrderedDict[tuple[int, str], int] = OrderedDict()
        self._budget = _fd_budget()

    def _encode(self, data: bytes) -> bytes:
        return gzip.compress(data, compresslevel=1, mtime=0) if self.compress else data

    def append(self, day: int, org: str, parts: Iterable[bytes]) -> None:
        """Append serialised entries (each without brackets) to one bundle."""
        body = b",".join(parts)
        if not body:
            return
        key = (day, org)
        fd = self._fds.get(key)
        if fd is None:
            path = os.path.join(self.day_dirs[day], org + self.suffix)
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
            self._fds[key] = fd
            if len(self._fds) > self._budget:
                os.close(self._fds.popitem(last=False)[1])
        else:
            self._fds.move_to_end(key)
        # Only one process writes at a time (generate.py passes a turn), so an empty
        # file is one nobody has written to: it gets the opening of the Bundle.
        data = (_OPEN if os.fstat(fd).st_size == 0 else b",") + body
        _write_all(fd, self._encode(data))

    def close(self) -> None:
        """Close the files this writer keeps open (their content is already written)."""
        while self._fds:
            os.close(self._fds.popitem()[1])

    def finalize(self) -> int:
        """Close every bundle file with its id, tag, timestamp and type; return how many."""
        self.close()
        count = 0
        for d in self.dates:
            folder = self.root / d
            for path in sorted(folder.iterdir()):
                org = path.name.removesuffix(self.suffix)
                tail = (
                    f'],"id":"{bundle_id(self.seed, org, d)}",'.encode()
                    + _META
                    + f',"resourceType":"Bundle","timestamp":"{d}T23:59:59+08:00",'
                    '"type":"transaction"}'.encode()
                )
                with open(path, "ab") as fh:
                    fh.write(self._encode(tail))
                count += 1
        return count


class TruthWriter:
    """Appends truth lines (NDJSON) in the order residents are generated."""

    FILES = ("people", "records", "repeat_tests")

    def __init__(self, out: Path, *, truncate: bool) -> None:
        self.root = out / "truth"
        self.root.mkdir(parents=True, exist_ok=True)
        if truncate:
            for name in self.FILES:
                (self.root / f"{name}.ndjson").write_bytes(b"")

    def append(self, name: str, lines: list[bytes]) -> None:
        if not lines:
            return
        with open(self.root / f"{name}.ndjson", "ab") as fh:
            fh.write(b"".join(lines))


def dumps_line(obj: object) -> bytes:
    return orjson.dumps(obj, option=orjson.OPT_SORT_KEYS | orjson.OPT_APPEND_NEWLINE)


def iter_bundles(out: Path) -> Iterator[tuple[Path, bytes]]:
    """Every bundle of a run in the order an institution would have sent them: by day, then code.

    Yields the path and the bundle's JSON bytes (decompressed), ready to POST.
    """
    root = out / "bundles"
    for folder in sorted(p for p in root.iterdir() if p.is_dir()):
        for path in sorted(folder.iterdir()):
            data = path.read_bytes()
            if path.suffix == ".gz":
                data = gzip.decompress(data)
            yield path, data
