"""A sample's variant calls: read a VCF on H37Rv, normalise it as the WHO instructions say.

WHO 2023 instructions of use (WHO2023_Instruction_of_use_v2): split multi-allelic
records, left-align and trim indels, then match CHROM/POS/REF/ALT against the
genomic-coordinates file. Records that failed (FILTER other than PASS, no genotype,
depth below the minimum) are kept as *failed* so that the report can say "not
determined" where they matter — a failed call is never read as "no variant".
"""

from __future__ import annotations

import gzip
import re
from collections.abc import Mapping
from dataclasses import dataclass

from yilian.tb.catalogue import REFERENCE_ACCESSION, REFERENCE_LENGTH

# Other names under which H37Rv NC_000962.3 reaches us from pipelines.
H37RV_ALIASES = frozenset({"NC_000962.3", "NC_000962", "Chromosome", "H37Rv", "AL123456.3"})
_BASES = re.compile(r"^[ACGTN]+$")
_SYMBOLIC = re.compile(r"^<[A-Z:_0-9]+>$")


class VcfError(ValueError):
    """A VCF that cannot be read as a sample on H37Rv; the message names the line."""


@dataclass(frozen=True)
class Call:
    pos: int
    ref: str
    alt: str
    freq: float | None = None
    depth: int | None = None
    failed: str | None = None  # why the call is not usable ("low depth", "filter q10", …)
    end: int | None = None  # last reference base a symbolic deletion removes

    @property
    def span_end(self) -> int:
        return self.end if self.end is not None else self.pos + max(len(self.ref), 1) - 1


@dataclass
class SampleCalls:
    calls: list[Call]
    # Ranges with no usable call (failed reference blocks, missing sites): (start, end).
    missing: list[tuple[int, int]]
    sample_name: str | None = None
    records: int = 0


def decode(data: bytes) -> str:
    """The VCF text of an upload, plain or gzipped."""
    if data[:2] == b"\x1f\x8b":
        try:
            data = gzip.decompress(data)
        except (OSError, EOFError) as exc:
            raise VcfError(f"the gzipped VCF cannot be decompressed: {exc}") from exc
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise VcfError(f"the VCF is not UTF-8 text (byte {exc.start})") from exc


def _num(value: str) -> float | None:
    try:
        return float(value)
    except ValueError:
        return None


def _format_values(fmt: str, sample: str) -> dict[str, str]:
    return dict(zip(fmt.split(":"), sample.split(":"), strict=False))


def _info(text: str) -> dict[str, str]:
    out: dict[str, str] = {}
    if text in ("", "."):
        return out
    for item in text.split(";"):
        key, _, value = item.partition("=")
        out[key] = value
    return out


def trim(pos: int, ref: str, alt: str) -> tuple[int, str, str]:
    """Trim shared suffix then prefix, keeping one anchor base for indels (vt/bcftools norm)."""
    while len(ref) > 1 and len(alt) > 1 and ref[-1] == alt[-1]:
        ref, alt = ref[:-1], alt[:-1]
    while len(ref) > 1 and len(alt) > 1 and ref[0] == alt[0]:
        ref, alt, pos = ref[1:], alt[1:], pos + 1
    return pos, ref, alt


def left_align(pos: int, ref: str, alt: str, reference: Mapping[int, str]) -> tuple[int, str, str]:
    """Shift an indel left while the reference allows it (where the reference base is known)."""
    if len(ref) == len(alt) or min(len(ref), len(alt)) != 1 or ref[0] != alt[0]:
        return pos, ref, alt
    while pos > 1:
        before = reference.get(pos - 1)
        if before is None:
            break
        # Rotating the indel one base left is possible when its last base equals the anchor.
        if len(ref) > len(alt):
            body = ref[1:]
            if body[-1] != ref[0]:
                break
            ref = before + ref[0] + body[:-1]
            alt = before
        else:
            body = alt[1:]
            if body[-1] != alt[0]:
                break
            alt = before + alt[0] + body[:-1]
            ref = before
        pos -= 1
    return pos, ref, alt


def parse(
    text: str,
    *,
    reference: Mapping[int, str] | None = None,
    min_depth: int = 10,
    min_af: float = 0.1,
    max_errors: int = 1,
) -> SampleCalls:
    """Read a single-sample VCF; raise :class:`VcfError` on another reference or a bad line."""
    reference = reference or {}
    calls: list[Call] = []
    missing: list[tuple[int, int]] = []
    saw_header = False
    sample_name: str | None = None
    records = 0
    for n, raw in enumerate(text.splitlines(), start=1):
        line = raw.rstrip("\r")
        if not line:
            continue
        if line.startswith("##"):
            if line.startswith("##contig=<"):
                m = re.search(r"ID=([^,>]+)", line)
                length = re.search(r"length=(\d+)", line)
                if m and m.group(1) not in H37RV_ALIASES:
                    continue  # other contigs may be declared; records on them are refused
                if length and int(length.group(1)) != REFERENCE_LENGTH:
                    raise VcfError(
                        f"line {n}: contig {m.group(1) if m else '?'} has length "
                        f"{length.group(1)}; H37Rv {REFERENCE_ACCESSION} is {REFERENCE_LENGTH}"
                    )
            continue
        if line.startswith("#"):
            cols = line[1:].split("\t")
            if cols[:5] != ["CHROM", "POS", "ID", "REF", "ALT"]:
                raise VcfError(f"line {n}: the header line is not a VCF #CHROM header")
            if len(cols) > 9:
                sample_name = cols[9]
            saw_header = True
            continue
        if not saw_header:
            raise VcfError(f"line {n}: a record before the #CHROM header; is this a VCF?")
        f = line.split("\t")
        if len(f) < 8:
            raise VcfError(f"line {n}: {len(f)} tab-separated columns, a VCF record has at least 8")
        chrom, pos_s, _id, ref, alt_s, _qual, filt, info_s = f[:8]
        if chrom not in H37RV_ALIASES:
            raise VcfError(
                f"line {n}: chromosome {chrom!r} is not H37Rv {REFERENCE_ACCESSION}; "
                "call variants against NC_000962.3"
            )
        try:
            pos = int(pos_s)
        except ValueError as exc:
            raise VcfError(f"line {n}: position {pos_s!r} is not a number") from exc
        ref = ref.upper()
        if not (1 <= pos <= REFERENCE_LENGTH) or not _BASES.match(ref):
            raise VcfError(f"line {n}: position {pos} or REF {ref!r} is not on H37Rv")
        if pos + len(ref) - 1 > REFERENCE_LENGTH:
            raise VcfError(f"line {n}: REF runs past the end of H37Rv")
        for i, base in enumerate(ref):
            known = reference.get(pos + i)
            if known is not None and base != "N" and known != base:
                raise VcfError(
                    f"line {n}: REF {ref} at {pos} does not match H37Rv ({known} at {pos + i}); "
                    "another reference?"
                )
        records += 1
        info = _info(info_s)
        fmt = _format_values(f[8], f[9]) if len(f) > 9 else {}
        gt = fmt.get("GT", "")
        depth: int | None = None
        ad: list[float] = []
        if fmt.get("AD") and fmt["AD"] != ".":
            ad = [v for v in (_num(x) for x in fmt["AD"].split(",")) if v is not None]
        if fmt.get("DP") not in (None, "", "."):
            d = _num(fmt["DP"])
            depth = int(d) if d is not None else None
        elif info.get("DP"):
            d = _num(info["DP"])
            depth = int(d) if d is not None else None
        elif ad:
            depth = int(sum(ad))
        failed: str | None = None
        if filt not in ("PASS", ".", ""):
            failed = f"filter {filt}"
        elif gt and set(gt.replace("/", "").replace("|", "")) <= {"."}:
            failed = "no genotype"
        elif depth is not None and depth < min_depth:
            failed = f"depth {depth} < {min_depth}"
        alts = alt_s.split(",")
        if alt_s in (".", "<NON_REF>", "<*>", "*"):
            # A reference (or gVCF block) record: absent variant, unless it failed.
            if failed:
                block_end = (
                    int(info["END"]) if info.get("END", "").isdigit() else pos + len(ref) - 1
                )
                missing.append((pos, block_end))
            continue
        af_values = (info.get("AF") or fmt.get("AF") or "").split(",")
        for i, alt in enumerate(alts, start=1):
            alt = alt.upper()
            if alt in ("<NON_REF>", "<*>", "*"):
                continue
            end: int | None = None
            if _SYMBOLIC.match(alt):
                if not alt.startswith("<DEL"):
                    continue  # other structural symbols are not graded by the catalogue
                if info.get("END", "").isdigit():
                    end = int(info["END"])
                elif info.get("SVLEN", "").lstrip("-").isdigit():
                    end = pos + abs(int(info["SVLEN"]))
                else:
                    raise VcfError(f"line {n}: a <DEL> record needs END or SVLEN")
            elif not _BASES.match(alt):
                raise VcfError(f"line {n}: ALT {alt!r} is not a DNA sequence")
            freq: float | None = None
            if len(ad) > i and sum(ad) > 0:
                freq = ad[i] / sum(ad)
            elif len(af_values) >= i and _num(af_values[i - 1]) is not None:
                freq = _num(af_values[i - 1])
            elif gt:
                alleles = re.split(r"[/|]", gt)
                if str(i) in alleles:
                    freq = alleles.count(str(i)) / len(alleles)
                elif all(a in ("0",) for a in alleles):
                    continue  # genotype says reference: this ALT is not carried
            if freq is not None and freq < min_af and not failed:
                continue
            p, r, a = (pos, ref, alt) if end is not None else trim(pos, ref, alt)
            if end is None:
                p, r, a = left_align(p, r, a, reference)
            calls.append(Call(p, r, a, freq, depth, failed, end))
    if not saw_header:
        raise VcfError("the file has no #CHROM header line: an empty or truncated VCF")
    return SampleCalls(calls=calls, missing=missing, sample_name=sample_name, records=records)
