"""The SNP-distance mask: repetitive gene families of H37Rv left out of strain distances.

Transmission-cluster work on M. tuberculosis leaves out the PE, PPE and PE_PGRS
families (~10 % of the genome, GC-rich repeats where short reads map badly) and the
IS6110 transposases (multi-copy), as in Walker et al., Lancet Infect Dis 2013. The
mask is computed, not listed: gene names in the imported catalogue's gene table
(the WHO ``gene_locations.csv``) are matched against ``YILIAN_TB_MASK_GENE_PATTERNS``,
and so are the genes of ``YILIAN_TB_MASK_FILE`` when the user gives a genome
annotation (GFF3, or a gene table in the WHO layout); a BED file is a mask already
and is taken whole. ``YILIAN_TB_MASK_RANGES`` adds ranges by hand.

The WHO gene table names only the catalogue's ~65 genes, of which PPE35 is the one
PE/PPE gene: a genome-wide mask needs the annotation file.
"""

from __future__ import annotations

import csv
import re
import threading
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import unquote

from yilian.tb.catalogue import GENES_HEADER, REFERENCE_LENGTH
from yilian.tb.vcf import H37RV_ALIASES

# GFF3 feature types whose names and products say which family a stretch belongs to.
GFF_TYPES = frozenset({"gene", "pseudogene", "CDS", "mobile_genetic_element", "repeat_region"})
_NAME_KEYS = ("Name", "gene", "locus_tag", "gene_synonym", "Alias")
_TEXT_KEYS = ("product", "mobile_element_type", "rpt_family")


class MaskFileError(ValueError):
    """A mask file that cannot be read; the message names the file and the line."""


@dataclass(frozen=True)
class Feature:
    """A named stretch of H37Rv (1-based, inclusive) and what it is called."""

    start: int
    end: int
    names: tuple[str, ...]
    whole: bool = False  # a BED range: masked without looking at its name


def compile_patterns(patterns: Iterable[str]) -> list[re.Pattern[str]]:
    out = []
    for p in patterns:
        try:
            out.append(re.compile(p))
        except re.error as exc:
            raise MaskFileError(
                f"mask gene pattern {p!r} is not a regular expression: {exc}"
            ) from exc
    return out


def family_ranges(
    features: Iterable[Feature], patterns: Sequence[re.Pattern[str]]
) -> list[tuple[int, int]]:
    """The ranges to mask: BED ranges, and every feature one of whose names matches."""
    return [
        (f.start, f.end)
        for f in features
        if f.whole or any(p.search(n) for p in patterns for n in f.names)
    ]


def _int(text: str, where: str) -> int:
    try:
        return int(text)
    except ValueError as exc:
        raise MaskFileError(f"{where}: start/end are not numbers") from exc


def _range(start: int, end: int, where: str) -> tuple[int, int]:
    if not 1 <= start <= end <= REFERENCE_LENGTH:
        raise MaskFileError(f"{where}: {start}-{end} is not a range on H37Rv")
    return start, end


def _read_bed(path: Path, lines: list[str]) -> list[Feature]:
    out = []
    for n, line in enumerate(lines, start=1):
        if not line.strip() or line.startswith(("#", "track", "browser")):
            continue
        f = line.rstrip("\n").split("\t")
        where = f"{path.name} line {n}"
        if len(f) < 3 or f[0] not in H37RV_ALIASES:
            raise MaskFileError(f"{where}: not a BED record on H37Rv NC_000962.3")
        s, e = _range(_int(f[1], where) + 1, _int(f[2], where), where)  # BED: 0-based, half-open
        out.append(Feature(s, e, (f[3],) if len(f) > 3 else (), whole=True))
    return out


def _read_gene_table(path: Path, lines: list[str]) -> list[Feature]:
    out = []
    for n, row in enumerate(csv.reader(lines[1:]), start=2):
        if not row:
            continue
        where = f"{path.name} line {n}"
        if len(row) < 3:
            raise MaskFileError(f"{where}: not gene,start,end,strand")
        s, e = _range(_int(row[1], where), _int(row[2], where), where)
        out.append(Feature(s, e, (row[0],)))
    return out


def _read_gff3(path: Path, lines: list[str]) -> list[Feature]:
    out = []
    for n, line in enumerate(lines, start=1):
        if line.startswith("##FASTA"):
            break
        if not line.strip() or line.startswith("#"):
            continue
        f = line.rstrip("\n").split("\t")
        where = f"{path.name} line {n}"
        if len(f) != 9:
            raise MaskFileError(f"{where}: {len(f)} columns, a GFF3 feature has 9")
        if f[0] not in H37RV_ALIASES or f[2] not in GFF_TYPES:
            continue
        s, e = _range(_int(f[3], where), _int(f[4], where), where)
        attrs: dict[str, str] = {}
        for item in f[8].split(";"):
            key, _, value = item.partition("=")
            attrs[key.strip()] = unquote(value)
        names = [v for k in _NAME_KEYS for v in attrs.get(k, "").split(",") if v]
        names += [attrs[k] for k in _TEXT_KEYS if attrs.get(k)]
        out.append(Feature(s, e, tuple(names)))
    return out


def read_mask_file(path: Path) -> list[Feature]:
    """Read a GFF3 annotation, a WHO-layout gene table or a BED; refuse anything else."""
    try:
        text = path.read_text(encoding="utf-8-sig")
    except OSError as exc:
        raise MaskFileError(f"mask file {path}: {exc.strerror or exc}") from exc
    except UnicodeDecodeError as exc:
        raise MaskFileError(f"mask file {path}: not UTF-8 text") from exc
    lines = text.splitlines()
    first = next((line for line in lines if line.strip()), "")
    if first.startswith("##gff-version 3"):
        features = _read_gff3(path, lines)
    elif first.split(",") == GENES_HEADER:
        features = _read_gene_table(path, lines)
    elif first.split("\t")[0] in H37RV_ALIASES or first.startswith(("track", "browser", "#")):
        features = _read_bed(path, lines)
    else:
        raise MaskFileError(
            f"mask file {path.name}: not a GFF3, a gene table (gene name,start,end,strand) "
            "or a BED on NC_000962.3"
        )
    if not features:
        raise MaskFileError(f"mask file {path.name}: no features on H37Rv NC_000962.3")
    return features


_cache: dict[tuple[str, int, int], list[Feature]] = {}
_lock = threading.Lock()


def mask_file_features(path: Path) -> list[Feature]:
    """:func:`read_mask_file`, read again only when the file changes."""
    try:
        st = path.stat()
    except OSError as exc:
        raise MaskFileError(f"mask file {path}: {exc.strerror or exc}") from exc
    key = (str(path.resolve()), st.st_mtime_ns, st.st_size)
    found = _cache.get(key)
    if found is None:
        found = read_mask_file(path)
        with _lock:
            _cache[key] = found
    return found
