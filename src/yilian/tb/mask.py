"""The SNP-distance mask: repetitive gene families of H37Rv left out of strain distances.

Transmission-cluster work on M. tuberculosis leaves out the PE, PPE and PE_PGRS
families (GC-rich repeats where short reads map badly: 161 named genes, 271 kb or
~6 % of the genome in the RefSeq annotation of NC_000962.3) and the 16 IS6110
copies (multi-copy), as in Walker et al., Lancet Infect Dis 2013. The
mask is computed, not listed: gene names in the imported catalogue's gene table
(the WHO ``gene_locations.csv``) are matched against ``YILIAN_TB_MASK_GENE_PATTERNS``,
and so are the genes of ``YILIAN_TB_MASK_FILE`` when the user gives a genome
annotation (GFF3, GenBank, or a gene table in the WHO layout; gzipped or not); a BED
file is a mask already and is taken whole. ``YILIAN_TB_MASK_RANGES`` adds ranges by hand.

The WHO gene table names only the catalogue's ~65 genes, of which PPE35 is the one
PE/PPE gene: a genome-wide mask needs the annotation file, e.g. the RefSeq GenBank
record NC_000962.3 (``NC_000962.3.gbk``, as TB tools such as tbtamr ship it).
"""

from __future__ import annotations

import csv
import gzip
import re
import threading
import zlib
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
# The same in a GenBank flat file (INSDC feature keys and qualifiers).
GENBANK_TYPES = frozenset({"gene", "CDS", "mobile_element", "repeat_region"})
_GBK_NAME_KEYS = ("gene", "locus_tag", "gene_synonym")
_GBK_KEYS = frozenset(_GBK_NAME_KEYS + _TEXT_KEYS)
# One span of a location: "123", "<1..>206", "123^124" (between two bases).
_GBK_SPAN = re.compile(r"<?(\d+)(?:\.\.>?(\d+)|\^(\d+))?")


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


def _genbank_spans(location: str, where: str) -> list[tuple[int, int]]:
    """The spans of a GenBank location: ``complement(join(1..10,20..30))`` → two spans.

    A joined feature is masked span by span, so that one wrapping the origin of the
    circular chromosome does not cover the whole genome. Spans on other records
    (``AL123456.3:1..10``) are left out.
    """
    body = re.sub(r"\b(?:complement|join|order)\(|\)", "", location.replace(" ", ""))
    spans = []
    for part in body.split(","):
        if ":" in part:
            continue
        m = _GBK_SPAN.fullmatch(part)
        if m is None:
            raise MaskFileError(f"{where}: location {location!r} is not understood")
        start = int(m.group(1))
        end = int(m.group(2) or m.group(3) or start)
        spans.append(_range(start, end, where))
    return spans


def _read_genbank(path: Path, lines: list[str]) -> list[Feature]:
    """Features of the H37Rv records of a GenBank flat file (the FEATURES table only)."""
    out: list[Feature] = []
    h37rv = in_table = False
    key = location = where = ""
    quals: list[list[str]] = []  # [qualifier, value so far]; only the ones looked at

    def flush() -> None:
        nonlocal key
        if key in GENBANK_TYPES:
            values: dict[str, list[str]] = {}
            for q, v in filter(None, quals):
                values.setdefault(q, []).append(v.strip().strip('"').replace('""', '"'))
            names = [v for k in _GBK_NAME_KEYS for v in values.get(k, []) if v]
            names += [v for k in _TEXT_KEYS for v in values.get(k, []) if v]
            out.extend(Feature(s, e, tuple(names)) for s, e in _genbank_spans(location, where))
        key = ""

    for n, line in enumerate(lines, start=1):
        if line[:1].strip():  # a keyword in column 1: LOCUS, VERSION, FEATURES, ORIGIN, //…
            flush()
            word, *rest = line.split()
            if word == "LOCUS" or (word == "VERSION" and rest):  # VERSION has the last word
                h37rv = bool(rest) and rest[0] in H37RV_ALIASES
            in_table = word == "FEATURES" and h37rv
        elif not in_table:
            continue
        elif line[5:6].strip():  # a feature key in column 6, its location from column 22
            flush()
            key, location, where = line[5:21].strip(), line[21:].strip(), f"{path.name} line {n}"
            quals = []
        elif line[21:22] == "/":
            q, _, v = line[21:].strip()[1:].partition("=")
            wanted = key in GENBANK_TYPES and q in _GBK_KEYS
            quals.append([q, v] if wanted else [])  # [] stands for one not looked at
        elif quals and quals[-1]:
            quals[-1][1] += " " + line.strip()
        elif not quals:  # a location continued on the next line
            location += line.strip()
    flush()
    return out


def _text(path: Path) -> str:
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise MaskFileError(f"mask file {path}: {exc.strerror or exc}") from exc
    if data[:2] == b"\x1f\x8b":
        try:
            data = gzip.decompress(data)
        except (OSError, EOFError, zlib.error) as exc:
            raise MaskFileError(f"mask file {path}: a broken gzip file ({exc})") from exc
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise MaskFileError(f"mask file {path}: not UTF-8 text") from exc


def read_mask_file(path: Path) -> list[Feature]:
    """Read a GFF3 or GenBank annotation, a WHO-layout gene table or a BED (gzipped or
    not); refuse anything else."""
    lines = _text(path).splitlines()
    first = next((line for line in lines if line.strip()), "")
    if first.startswith("##gff-version 3"):
        features = _read_gff3(path, lines)
    elif first.startswith("LOCUS"):
        features = _read_genbank(path, lines)
    elif first.split(",") == GENES_HEADER:
        features = _read_gene_table(path, lines)
    elif first.split("\t")[0] in H37RV_ALIASES or first.startswith(("track", "browser", "#")):
        features = _read_bed(path, lines)
    else:
        raise MaskFileError(
            f"mask file {path.name}: not a GFF3, a GenBank file, a gene table "
            "(gene name,start,end,strand) or a BED on NC_000962.3"
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
