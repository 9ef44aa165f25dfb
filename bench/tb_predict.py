"""Benchmark: TB drug-resistance reports from VCF, one sample and a batch of 1,000.

Reads the WHO catalogue from a directory the user gives (default ../shared/data/tb
next to the repository; the files are never copied into it), builds synthetic
sample VCFs on H37Rv of about 1,500 records each — catalogue variants at their
genomic coordinates plus random background SNPs at positions the catalogue does
not grade — and times ``tb.service.predict_text`` (parse, normalise, annotate,
grade, resistance type). Prints the median and p95 for one sample, and the
batch wall time for N samples on one process.

    .venv/bin/python bench/tb_predict.py                     # 1,000 samples
    .venv/bin/python bench/tb_predict.py --quick             # 50 samples
    .venv/bin/python bench/tb_predict.py --catalogue /path/to/who-files
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.fhir_ingest import machine
from yilian.tb import service
from yilian.tb.catalogue import Catalogue, read_files
from yilian.tb.config import get_tb_settings

GENOME = 4_411_532
HEADER = (
    "##fileformat=VCFv4.2\n"
    "##contig=<ID=NC_000962.3,length=4411532>\n"
    '##FORMAT=<ID=GT,Number=1,Type=String,Description="Genotype">\n'
    '##FORMAT=<ID=DP,Number=1,Type=Integer,Description="Depth">\n'
    '##FORMAT=<ID=AF,Number=1,Type=Float,Description="Allele frequency">\n'
    "#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO\tFORMAT\tsample\n"
)
BASES = "ACGT"


def sample_vcf(cat: Catalogue, rng: random.Random, records: int, graded: int) -> str:
    """A VCF of ``records`` calls: ``graded`` catalogue SNVs, the rest background SNPs."""
    snvs = [k for k in cat.by_allele if len(k[1]) == 1 and len(k[2]) == 1]
    chosen = dict.fromkeys(k for k in rng.sample(snvs, graded))
    calls = {pos: (ref, alt) for pos, ref, alt in chosen}
    while len(calls) < records:
        pos = rng.randrange(1, GENOME)
        if pos in calls or pos in cat.reference:
            continue
        ref = rng.choice(BASES)
        calls[pos] = (ref, rng.choice([b for b in BASES if b != ref]))
    fmt = "NC_000962.3\t{}\t.\t{}\t{}\t200\tPASS\t.\tGT:DP:AF\t1/1:{}:1.0"
    lines = [
        fmt.format(pos, ref, alt, rng.randint(30, 120)) for pos, (ref, alt) in sorted(calls.items())
    ]
    return HEADER + "\n".join(lines) + "\n"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    default = Path(__file__).resolve().parents[2] / "shared" / "data" / "tb"
    ap.add_argument("--catalogue", type=Path, default=default, help="WHO catalogue files")
    ap.add_argument("--samples", type=int, default=1_000)
    ap.add_argument("--records", type=int, default=1_500, help="VCF records per sample")
    ap.add_argument("--graded", type=int, default=8, help="catalogue variants per sample")
    ap.add_argument("--quick", action="store_true", help="50 samples")
    args = ap.parse_args()
    samples = 50 if args.quick else args.samples
    print(machine())
    t0 = time.perf_counter()
    cat = Catalogue.from_files(read_files([args.catalogue], get_tb_settings().accepted_catalogues))
    print(f"catalogue {cat.version} read and indexed in {time.perf_counter() - t0:.1f}s")
    rng = random.Random(5)
    texts = [sample_vcf(cat, rng, args.records, args.graded) for _ in range(samples)]
    timings: list[float] = []
    types: dict[str, int] = {}
    start = time.perf_counter()
    for i, text in enumerate(texts):
        t = time.perf_counter()
        report, _calls = service.predict_text(cat, text, sample_id=f"bench-{i}")
        timings.append((time.perf_counter() - t) * 1000)
        kind = str(report.get("drtype") or "?")
        types[kind] = types.get(kind, 0) + 1
    batch = time.perf_counter() - start
    timings.sort()
    p95 = timings[max(0, int(len(timings) * 0.95) - 1)]
    per_thousand = batch * 1000 / samples
    print(
        f"one sample ({args.records} records): median {statistics.median(timings):.0f} ms, "
        f"p95 {p95:.0f} ms ({'meets' if p95 < 1000 else 'misses'} < 1 s); {samples} samples "
        f"in {batch:.1f}s on one process, i.e. {per_thousand:.0f} s per 1,000 "
        f"({'meets' if per_thousand < 60 else 'misses'} < 60 s)"
    )
    print(f"resistance types: {dict(sorted(types.items()))}")
    print(f"load average {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
