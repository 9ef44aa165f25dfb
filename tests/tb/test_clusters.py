"""SNP distance and single-linkage clusters (pure)."""

from __future__ import annotations

from yilian.tb.clusters import Mask, Strain, components, distance, links


def test_distance_excludes_mask_and_uncalled_positions() -> None:
    a = Strain("a", {100: "A", 200: "C", 300: "G", 5000: "T"})
    b = Strain("b", {100: "A", 200: "T", 400: "G"}, missing=[(300, 300)])
    mask = Mask([(4900, 5100)])
    # 200 differs; 300 uncalled in b; 400 only in b; 5000 masked.
    assert distance(a, b, mask) == 2
    assert distance(a, b, Mask([])) == 3  # 300 still uncalled in b


def test_single_linkage_at_threshold() -> None:
    edges = [("a", "b", 3), ("b", "c", 12), ("c", "d", 13)]
    assert components("abcde", edges, 12) == [["a", "b", "c"]]
    assert components("abcde", edges, 5) == [["a", "b"]]
    new = Strain("n", {i: "A" for i in range(10)})
    near = Strain("m", {i: "A" for i in range(12)})
    far = Strain("f", {i: "A" for i in range(40)})
    assert links(new, [near, far], Mask([]), 12) == [("m", 2)]
