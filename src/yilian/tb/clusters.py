"""SNP distances between sequenced strains and transmission clusters: pure functions.

Distance = the positions where two strains' fixed SNPs differ, leaving out masked
regions (repetitive PE/PPE genes by default) and positions either strain could not
call. Clusters are the connected components of the "distance ≤ threshold" graph
(single linkage), the usual reading of Walker et al. 2013 (≤12 SNPs, ≤5 recent).
"""

from __future__ import annotations

import bisect
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass


@dataclass(frozen=True)
class Strain:
    id: str
    snps: Mapping[int, str]  # position → alt base
    missing: Sequence[tuple[int, int]] = ()


class Mask:
    """Sorted, merged ranges of H37Rv excluded from distances."""

    def __init__(self, ranges: Iterable[tuple[int, int]]) -> None:
        merged: list[list[int]] = []
        for s, e in sorted(ranges):
            if merged and s <= merged[-1][1] + 1:
                merged[-1][1] = max(merged[-1][1], e)
            else:
                merged.append([s, e])
        self.starts = [m[0] for m in merged]
        self.ends = [m[1] for m in merged]

    def __contains__(self, pos: object) -> bool:
        if not isinstance(pos, int):
            return False
        i = bisect.bisect_right(self.starts, pos) - 1
        return i >= 0 and pos <= self.ends[i]

    @property
    def ranges(self) -> list[tuple[int, int]]:
        return list(zip(self.starts, self.ends, strict=True))


def parse_ranges(items: Iterable[str]) -> list[tuple[int, int]]:
    """``["100-200", "5000-5100"]`` → [(100, 200), (5000, 5100)]."""
    out = []
    for item in items:
        start, _, end = item.strip().partition("-")
        try:
            lo, hi = int(start), int(end or start)
        except ValueError:
            lo, hi = 0, -1
        if not 1 <= lo <= hi:
            raise ValueError(f"mask range {item!r} is not start-end on H37Rv, e.g. 1000-2000")
        out.append((lo, hi))
    return out


def distance(a: Strain, b: Strain, mask: Mask) -> int:
    """SNP distance between two strains (masked and uncalled positions excluded)."""
    gaps = Mask([*a.missing, *b.missing]) if (a.missing or b.missing) else None
    n = 0
    for pos in a.snps.keys() ^ b.snps.keys():
        if pos in mask or (gaps is not None and pos in gaps):
            continue
        n += 1
    for pos in a.snps.keys() & b.snps.keys():
        if a.snps[pos] != b.snps[pos] and pos not in mask:
            n += 1
    return n


def links(
    new: Strain, others: Iterable[Strain], mask: Mask, threshold: int
) -> list[tuple[str, int]]:
    """The strains within ``threshold`` SNPs of ``new``, with their distance."""
    out = []
    for other in others:
        if other.id == new.id:
            continue
        # A lower bound first: the size difference of the SNP sets can already exceed it.
        if abs(len(new.snps) - len(other.snps)) > threshold and not (new.missing or other.missing):
            continue
        d = distance(new, other, mask)
        if d <= threshold:
            out.append((other.id, d))
    return out


def components(
    ids: Iterable[str], edges: Iterable[tuple[str, str, int]], threshold: int
) -> list[list[str]]:
    """Single-linkage clusters (≥2 members) of the edges with distance ≤ threshold."""
    parent: dict[str, str] = {i: i for i in ids}

    def find(x: str) -> str:
        while parent[x] != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x

    for a, b, d in edges:
        if d <= threshold and a in parent and b in parent:
            ra, rb = find(a), find(b)
            if ra != rb:
                parent[max(ra, rb)] = min(ra, rb)
    groups: dict[str, list[str]] = {}
    for i in parent:
        groups.setdefault(find(i), []).append(i)
    return sorted((sorted(g) for g in groups.values() if len(g) > 1), key=lambda g: (-len(g), g[0]))
