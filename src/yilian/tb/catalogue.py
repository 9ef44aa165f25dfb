"""The WHO catalogue of mutations as data: read the published files, index them in memory.

The catalogue is never code: ``yilian tb catalogue import`` reads the WHO's files
(the genomic-coordinates VCF of the 2023 catalogue, the grades by gene and HGVS
change, the expert rules and the gene coordinates) from a path the user gives; the
rows are stored in the ``tb_catalogue*`` tables and turned back into a
:class:`Catalogue` for prediction. A file of another version or layout is refused
with a one-line reason (:class:`CatalogueError`).
"""

from __future__ import annotations

import csv
import gzip
import hashlib
import io
import re
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

REFERENCE_ACCESSION = "NC_000962.3"
REFERENCE_LENGTH = 4_411_532
CATALOGUE_TITLE = "WHO catalogue of mutations in MTBC and their association with drug resistance"

GRADES_HEADER = ["Gene", "Mutation", "type", "drug", "original_mutation", "confidence", "comment"]
RULES_HEADER_START = ["GENBANK_REFERENCE", "CATALOGUE_NAME", "CATALOGUE_VERSION"]
GENES_HEADER = ["gene name", "start", "end", "strand"]
PROMOTERS_HEADER = ["gene name", "start", "region_end"]

# WHO confidence grading (catalogue 2023, section 2.4): the text → the group number.
CONFIDENCE_GROUPS = {
    "Assoc w R": 1,
    "Assoc w R - Interim": 2,
    "Uncertain significance": 3,
    "Not assoc w R - Interim": 4,
    "Not assoc w R": 5,
}
# Effects of the catalogue's loss-of-function expert rule, as the grades file spells them.
LOF_EFFECTS = ("feature_ablation", "start_lost", "stop_gained", "frameshift_variant")

_ALIAS = re.compile(r"Alias\s+([A-Za-z0-9]+_[cnp]\.[^\s.,;]+(?:\.[^\s,;]+)?)")


class CatalogueError(ValueError):
    """A catalogue file that cannot be imported; the message names the file and the reason."""


@dataclass(frozen=True)
class Gene:
    name: str
    start: int
    end: int
    strand: int  # 1 or -1


@dataclass(frozen=True)
class Grade:
    gene: str
    mutation: str  # HGVS change or LoF effect, e.g. "p.Ser450Leu", "frameshift_variant"
    drug: str
    group: int
    confidence: str
    original: str  # the WHO row it comes from ("LoF", "deletion" or the change)
    comment: str = ""

    @property
    def name(self) -> str:
        return f"{self.gene}_{self.mutation}"


@dataclass(frozen=True)
class Coordinate:
    pos: int
    ref: str
    alt: str
    names: tuple[str, ...]


@dataclass
class CatalogueFiles:
    """What one import reads: parsed rows, ready to store or to index."""

    version: str
    coordinates_label: str
    coordinates: list[Coordinate]
    grades: list[Grade]
    genes: list[Gene]
    promoters: list[tuple[str, int, int]]
    sources: list[dict[str, str]] = field(default_factory=list)


def _open_text(path: Path) -> io.TextIOBase:
    if path.name.endswith(".gz"):
        return io.TextIOWrapper(gzip.open(path, "rb"), encoding="utf-8")
    return io.TextIOWrapper(open(path, "rb"), encoding="utf-8-sig")


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def _first_line(path: Path) -> str:
    try:
        with _open_text(path) as f:
            return str(f.readline()).strip()
    except (OSError, UnicodeDecodeError, EOFError) as exc:
        raise CatalogueError(f"{path.name}: cannot be read ({exc})") from exc


def classify(paths: Iterable[Path]) -> dict[str, Path]:
    """Name each given file by what it holds (from its header, not its name)."""
    found: dict[str, Path] = {}
    for path in paths:
        if path.is_dir():
            continue
        if path.name.endswith((".pdf", ".md", ".txt")):
            continue
        line = _first_line(path)
        kind: str | None = None
        if line.startswith("##fileformat=VCF"):
            kind = "coordinates"
        elif line.split(",") == GRADES_HEADER:
            kind = "grades"
        elif line.split(",")[:3] == RULES_HEADER_START:
            kind = "rules"
        elif line.split(",") == GENES_HEADER:
            kind = "genes"
        elif line.split(",") == PROMOTERS_HEADER:
            kind = "promoters"
        if kind is None:
            raise CatalogueError(
                f"{path.name}: not a file of the WHO catalogue (header {line[:60]!r})"
            )
        if kind in found:
            raise CatalogueError(f"{path.name}: a second {kind} file (first: {found[kind].name})")
        found[kind] = path
    return found


def read_files(paths: Sequence[Path], accepted_versions: Sequence[str]) -> CatalogueFiles:
    """Read the catalogue from a directory or from its files; refuse what does not fit."""
    files: list[Path] = []
    for p in paths:
        if not p.exists():
            raise CatalogueError(f"{p}: no such file or directory")
        files.extend(sorted(p.iterdir()) if p.is_dir() else [p])
    found = classify(files)
    for required in ("coordinates", "grades", "rules", "genes"):
        if required not in found:
            raise CatalogueError(
                f"missing the catalogue's {required} file (need the genomic-coordinates VCF, "
                "the grades CSV, the expert-rules CSV and gene_locations.csv)"
            )
    version = read_version(found["rules"], accepted_versions)
    grades = read_grades(found["grades"])
    coordinates = read_coordinates(found["coordinates"])
    genes = read_genes(found["genes"])
    promoters = read_promoters(found["promoters"]) if "promoters" in found else []
    graded = {g.name for g in grades}
    unknown = {n for c in coordinates for n in c.names} - graded
    if len(unknown) > len(graded) // 2:
        raise CatalogueError(
            f"{found['coordinates'].name}: its variant names do not match the grades file "
            f"({len(unknown)} names ungraded, e.g. {sorted(unknown)[0]}): "
            "another catalogue version?"
        )
    label = re.sub(r"\.vcf(\.gz)?$", "", found["coordinates"].name)
    sources = [
        {"kind": kind, "file": path.name, "sha256": _sha256(path)}
        for kind, path in sorted(found.items())
    ]
    return CatalogueFiles(version, label, coordinates, grades, genes, promoters, sources)


def read_version(path: Path, accepted: Sequence[str]) -> str:
    """The catalogue name of the expert-rules file, which must be one this build accepts."""
    with _open_text(path) as f:
        reader = csv.DictReader(f)
        names = set()
        for row in reader:
            if row.get("GENBANK_REFERENCE") != REFERENCE_ACCESSION:
                raise CatalogueError(
                    f"{path.name}: rules are on {row.get('GENBANK_REFERENCE')!r}, "
                    f"not on H37Rv {REFERENCE_ACCESSION}"
                )
            names.add(row.get("CATALOGUE_NAME") or "")
    if len(names) != 1:
        raise CatalogueError(f"{path.name}: expected one catalogue version, found {sorted(names)}")
    (version,) = names
    if version not in accepted:
        raise CatalogueError(
            f"{path.name}: catalogue version {version!r} is not supported "
            f"(expected {', '.join(accepted)})"
        )
    return version


def read_grades(path: Path) -> list[Grade]:
    out: list[Grade] = []
    with _open_text(path) as f:
        reader = csv.reader(f)
        header = next(reader)
        if header != GRADES_HEADER:
            raise CatalogueError(f"{path.name}: unexpected header {header}")
        for n, row in enumerate(reader, start=2):
            if not row:
                continue
            if len(row) != len(GRADES_HEADER):
                raise CatalogueError(f"{path.name} line {n}: {len(row)} fields, expected 7")
            gene, mutation, _type, drug, original, confidence, comment = row
            group = CONFIDENCE_GROUPS.get(confidence)
            if group is None:
                raise CatalogueError(
                    f"{path.name} line {n}: confidence {confidence!r} is not a WHO 2023 grading"
                )
            out.append(Grade(gene, mutation, drug.lower(), group, confidence, original, comment))
    if not out:
        raise CatalogueError(f"{path.name}: no graded variants")
    return out


def read_coordinates(path: Path) -> list[Coordinate]:
    out: list[Coordinate] = []
    contig_ok = info_ok = False
    with _open_text(path) as f:
        for n, line in enumerate(f, start=1):
            if line.startswith("##"):
                if line.startswith("##contig=") and f"ID={REFERENCE_ACCESSION}" in line:
                    contig_ok = True
                if line.startswith("##INFO=<ID=graded_variant"):
                    info_ok = True
                continue
            if line.startswith("#"):
                if not (contig_ok and info_ok):
                    raise CatalogueError(
                        f"{path.name}: not the WHO genomic-coordinates VCF "
                        f"(needs contig {REFERENCE_ACCESSION} and INFO graded_variant)"
                    )
                continue
            fields = line.rstrip("\n").split("\t")
            if len(fields) < 8 or fields[0] != REFERENCE_ACCESSION:
                raise CatalogueError(f"{path.name} line {n}: malformed record")
            info = fields[7]
            names: tuple[str, ...] = ()
            for item in info.split(";"):
                if item.startswith("graded_variant="):
                    names = tuple(item[len("graded_variant=") :].split("&"))
            try:
                pos = int(fields[1])
            except ValueError as exc:
                raise CatalogueError(f"{path.name} line {n}: position {fields[1]!r}") from exc
            for alt in fields[4].split(","):
                out.append(Coordinate(pos, fields[3].upper(), alt.upper(), names))
    if not out:
        raise CatalogueError(f"{path.name}: no records")
    return out


def read_genes(path: Path) -> list[Gene]:
    out: list[Gene] = []
    with _open_text(path) as f:
        reader = csv.reader(f)
        next(reader)
        for n, row in enumerate(reader, start=2):
            if not row:
                continue
            try:
                out.append(Gene(row[0], int(row[1]), int(row[2]), int(row[3])))
            except (ValueError, IndexError) as exc:
                raise CatalogueError(f"{path.name} line {n}: {row}") from exc
    return out


def read_promoters(path: Path) -> list[tuple[str, int, int]]:
    out: list[tuple[str, int, int]] = []
    with _open_text(path) as f:
        reader = csv.reader(f)
        next(reader)
        for n, row in enumerate(reader, start=2):
            if not row:
                continue
            try:
                out.append((row[0], int(row[1]), int(row[2])))
            except (ValueError, IndexError) as exc:
                raise CatalogueError(f"{path.name} line {n}: {row}") from exc
    return out


class Catalogue:
    """The catalogue indexed for prediction: by (pos, ref, alt), by name, by gene."""

    def __init__(
        self,
        *,
        version: str,
        coordinates: Iterable[Coordinate],
        grades: Iterable[Grade],
        genes: Iterable[Gene],
        promoters: Iterable[tuple[str, int, int]] = (),
        label: str = "",
        catalogue_id: str | None = None,
    ) -> None:
        self.id = catalogue_id
        self.version = version
        self.label = label
        self.by_allele: dict[tuple[int, str, str], tuple[str, ...]] = {}
        self.reference: dict[int, str] = {}
        for c in coordinates:
            key = (c.pos, c.ref, c.alt)
            self.by_allele[key] = self.by_allele.get(key, ()) + c.names
            for i, base in enumerate(c.ref):
                self.reference[c.pos + i] = base
        self.by_name: dict[str, list[Grade]] = defaultdict(list)
        self.lof: dict[str, dict[str, list[Grade]]] = defaultdict(lambda: defaultdict(list))
        self.aliases: dict[str, str] = {}
        self.drugs: list[str] = []
        seen_drugs: set[str] = set()
        for g in grades:
            if g.mutation in LOF_EFFECTS:
                self.lof[g.gene][g.mutation].append(g)
            else:
                self.by_name[g.name].append(g)
                for alias in _ALIAS.findall(g.comment):
                    self.aliases[alias] = g.name
            if g.drug not in seen_drugs:
                seen_drugs.add(g.drug)
                self.drugs.append(g.drug)
        self.drugs.sort()
        self.genes = sorted(genes, key=lambda g: g.start)
        self.gene_by_name = {g.name: g for g in self.genes}
        self.promoters: dict[str, list[tuple[int, int]]] = defaultdict(list)
        for gene, start, end in promoters:
            self.promoters[gene].append((start, end))
        self._resistance_positions: dict[str, set[int]] | None = None

    @classmethod
    def from_files(cls, files: CatalogueFiles) -> Catalogue:
        return cls(
            version=files.version,
            coordinates=files.coordinates,
            grades=files.grades,
            genes=files.genes,
            promoters=files.promoters,
            label=files.coordinates_label,
        )

    def canonical(self, name: str) -> str:
        return self.aliases.get(name, name)

    def grades_of(self, name: str) -> list[Grade]:
        return self.by_name.get(self.canonical(name), [])

    def resistance_positions(self) -> dict[str, set[int]]:
        """Positions of Group 1–2 catalogue variants, per drug (where a failed call matters)."""
        if self._resistance_positions is None:
            resistant_names: dict[str, set[str]] = defaultdict(set)
            for name, grades in self.by_name.items():
                for g in grades:
                    if g.group <= 2:
                        resistant_names[name].add(g.drug)
            out: dict[str, set[int]] = defaultdict(set)
            for (pos, ref, alt), names in self.by_allele.items():
                drugs = set().union(*(resistant_names.get(n, set()) for n in names))
                if not drugs:
                    continue
                # The bases that actually change, not the whole MNP window.
                changed = [
                    pos + i for i, (a, b) in enumerate(zip(ref, alt, strict=False)) if a != b
                ]
                for p in changed or [pos]:
                    for d in drugs:
                        out[d].add(p)
            self._resistance_positions = dict(out)
        return self._resistance_positions

    def lof_drugs(self, gene: str, effect: str) -> list[Grade]:
        return list(self.lof.get(gene, {}).get(effect, []))

    def resistance_lof_genes(self) -> dict[str, set[str]]:
        """Genes whose loss of function confers resistance (Group 1–2), per drug."""
        out: dict[str, set[str]] = defaultdict(set)
        for gene, effects in self.lof.items():
            for grades in effects.values():
                for g in grades:
                    if g.group <= 2:
                        out[g.drug].add(gene)
        return dict(out)
