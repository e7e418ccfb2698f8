#!/usr/bin/env python3
"""The SAR peer's item-similarity step, as the baseline of issue 12 item 7.

SAR (Microsoft Recommenders' Smart Adaptive Recommendations) computes item similarities
by a sparse matrix product: with X the binary user x item matrix of the ratings,
co-occurrence C = X^T X, then Jaccard C_ij / (C_ii + C_jj - C_ij) (or lift, or the raw
count). This script does that step with SciPy, as SAR's `fit` does, and then, so that its
output is comparable with what `streamrec batch` writes, cuts each item's row to its top K.

It prints one line of JSON: the times of loading, of the similarity (product + Jaccard)
and of the top-K cut, the CPU seconds of those three together (cpu_s), the number of non-zero pairs (off the diagonal), and a digest of
the result (so that a run that did less work is visible).

Usage: sar_similarity.py RATINGS [--format movielens|tsv] [--top-k 200]
                         [--similarity jaccard|lift|count]
RATINGS: MovieLens u.data (user item rating timestamp, tab separated), or the golden
split's train.tsv (the same columns).
Needs python3-numpy and python3-scipy (Debian).
"""
import argparse
import json
import sys
import time

try:
    import numpy as np
    import scipy.sparse as sp
except ImportError as e:  # said plainly, not a traceback
    sys.exit(f"sar_similarity.py needs NumPy and SciPy (apt-get install python3-numpy python3-scipy): {e}")


def load(path):
    users, items = [], []
    with open(path, "rb") as f:
        for line in f:
            parts = line.split()
            if len(parts) < 2:
                continue
            users.append(int(parts[0]))
            items.append(int(parts[1]))
    return np.asarray(users, dtype=np.int64), np.asarray(items, dtype=np.int64)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("ratings")
    ap.add_argument("--top-k", type=int, default=200)
    ap.add_argument("--similarity", choices=["jaccard", "lift", "count"], default="jaccard")
    args = ap.parse_args()

    c0 = time.process_time()
    t0 = time.perf_counter()
    users, items = load(args.ratings)
    t1 = time.perf_counter()
    # SAR's fit: index users and items, binary affinity, co-occurrence by matrix product.
    u_ids, u_idx = np.unique(users, return_inverse=True)
    i_ids, i_idx = np.unique(items, return_inverse=True)
    x = sp.csr_matrix((np.ones(len(u_idx), dtype=np.float64), (u_idx, i_idx)),
                      shape=(len(u_ids), len(i_ids)))
    x.data[:] = 1.0  # duplicates of a (user, item) count once, as in SAR
    c = (x.T @ x).tocsr()
    diag = c.diagonal()
    coo = c.tocoo()
    if args.similarity == "jaccard":
        vals = coo.data / (diag[coo.row] + diag[coo.col] - coo.data)
    elif args.similarity == "lift":
        vals = coo.data / (diag[coo.row] * diag[coo.col])
    else:
        vals = coo.data
    off = coo.row != coo.col
    sim = sp.csr_matrix((vals[off], (coo.row[off], coo.col[off])), shape=c.shape)
    t2 = time.perf_counter()
    # Top K per row (not part of SAR's fit; it ranks at recommend time).
    digest = 0.0
    kept = 0
    for r in range(sim.shape[0]):
        lo, hi = sim.indptr[r], sim.indptr[r + 1]
        row = sim.data[lo:hi]
        if hi - lo > args.top_k:
            sel = np.argpartition(-row, args.top_k - 1)[: args.top_k]
            row = row[sel]
        kept += len(row)
        digest += float(row.sum())
    t3 = time.perf_counter()
    c3 = time.process_time()
    print(json.dumps({
        "ratings": int(len(users)), "users": int(len(u_ids)), "items": int(len(i_ids)),
        "pairs": int(sim.nnz), "kept": kept, "digest": round(digest, 6),
        "load_s": round(t1 - t0, 4), "similarity_s": round(t2 - t1, 4), "top_k_s": round(t3 - t2, 4),
        "cpu_s": round(c3 - c0, 4),
    }))


if __name__ == "__main__":
    main()
