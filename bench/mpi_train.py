"""Train the MPI's default model on synthetic records and write it into the package.

    .venv/bin/python bench/mpi_train.py [--people 20000] [--seed 1]

The model ships as ``src/yilian/patients/model/default_model.json``; ``yilian``
uses it until a store has been trained on its own records. The training
records are synthetic (tests/patients/synthetic.py), never real patients, and
the evaluation in bench/mpi_accuracy.py uses a different seed.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.patients.synthetic import dataset

from yilian.patients.matching import DEFAULT_MODEL_PATH, save_model, train_model

TRAIN_SEED = 1


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--people", type=int, default=20_000)
    parser.add_argument("--seed", type=int, default=TRAIN_SEED)
    parser.add_argument("--out", type=Path, default=DEFAULT_MODEL_PATH)
    args = parser.parse_args()

    records, _ = dataset(args.people, seed=args.seed)
    started = time.perf_counter()
    model = train_model(records)
    print(f"trained on {len(records)} records in {time.perf_counter() - started:.1f} s")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    save_model(model, args.out)
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
