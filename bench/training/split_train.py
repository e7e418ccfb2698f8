#!/usr/bin/env python3
"""Per-user chronological split of a ratings file (user item rating ts): the last
`--ratio` of each user's events (by timestamp, file order breaking ties) go to the
validation file. Used to tune on the train split only, never on test."""
import argparse
import collections

ap = argparse.ArgumentParser()
ap.add_argument("input")
ap.add_argument("train_out")
ap.add_argument("valid_out")
ap.add_argument("--ratio", type=float, default=0.25)
a = ap.parse_args()
by_user = collections.OrderedDict()
with open(a.input) as f:
    for n, line in enumerate(f):
        parts = line.split()
        if len(parts) < 4:
            continue
        by_user.setdefault(parts[0], []).append((int(parts[3]), n, line))
with open(a.train_out, "w") as tr, open(a.valid_out, "w") as va:
    for user, rows in by_user.items():
        rows.sort()
        cut = len(rows) - int(round(len(rows) * a.ratio))
        for i, (_, _, line) in enumerate(rows):
            (tr if i < cut else va).write(line)
