"""Top-n neighbour selection of a pruned item x item matrix: stored entries vs dense rows.

Publishing the recall tables lists each item's top 20 neighbours per item-based source.
The dense selection turns every batch of rows into full catalogue-wide rows before
selecting; the sparse one reads the (at most ``k``) stored entries of each pruned row.
This times both on the same random pruned matrix (``--items`` x ``--items``, ``--k``
entries per row) over ``--rows`` rows and extrapolates to the whole catalogue.

Usage::

    .venv/bin/python benchmarks/neighbor_selection.py [--items 59047] [--k 200] [--rows 2048]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
import scipy.sparse as sp

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from recommender.engine.recall import BaseRecallSource, ItemKNNSource


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--items", type=int, default=59047)
    parser.add_argument("--k", type=int, default=200)
    parser.add_argument("--rows", type=int, default=2048)
    parser.add_argument("--n", type=int, default=20)
    args = parser.parse_args()
    rng = np.random.default_rng(0)
    columns = rng.integers(0, args.items, size=(args.items, args.k))
    values = rng.random((args.items, args.k)).astype(np.float32)
    rows = np.repeat(np.arange(args.items), args.k)
    matrix = sp.csr_matrix((values.ravel(), (rows, columns.ravel())), (args.items, args.items))
    source = ItemKNNSource()
    source._set_similarity(matrix, args.items)
    sample = np.arange(args.rows)
    timings, tables = {}, []
    for name, select in (
        ("dense rows", lambda: BaseRecallSource._top_neighbors(source, sample, args.n)),
        ("stored entries", lambda: source._top_neighbors(sample, args.n)),
    ):
        started = time.perf_counter()
        tables.append(select())
        timings[name] = time.perf_counter() - started
        whole = timings[name] * args.items / args.rows
        print(f"{name:<15} {timings[name]:.3f} s, {args.rows:,} rows (catalogue ≈ {whole:.1f} s)")
    assert all(np.array_equal(a, b) for a, b in zip(*tables, strict=True)), "tables differ"
    speedup = timings["dense rows"] / timings["stored entries"]
    print(f"same tables; stored entries {speedup:.0f}× faster")


if __name__ == "__main__":
    main()
