r"""Does bfloat16 change the phase diagram? n* and regime labels of two phase-diagram runs compared.

Run the default phase diagram twice, in float32 and with bf16 matmuls, then compare::

  python -m sims.phase_diagram --workdir=runs/pd_f32
  python -m sims.phase_diagram --workdir=runs/pd_bf16 --config.train.matmul_dtype=bfloat16
  python -m benchmarks.precision_check runs/pd_f32 runs/pd_bf16

For every n* of ``critical_summary.json`` with a 95 % interval in both runs: whether each estimate
lies inside the other run's interval, whether the intervals overlap, the largest relative change;
for every experiment, the fraction of runs whose regime label is the same. Writes
``benchmarks/results/precision_check.json``.
"""

from __future__ import annotations

import json
import os
import sys

import numpy as np

import relu_dae as rd

EXPERIMENTS = ("n_sigma", "n_p", "hybrid", "alpha_K")


def _pairs(a, b, path=""):
  """``(path, index, (n*, lo, hi) of a, (n*, lo, hi) of b)`` for every n* defined with an interval in both."""
  if isinstance(a, dict) and {"n_star", "ci95_low", "ci95_high"} <= set(a):
    for i, (x, y) in enumerate(zip(zip(a["n_star"], a["ci95_low"], a["ci95_high"]),
                                   zip(b["n_star"], b["ci95_low"], b["ci95_high"]))):
      if None not in x and None not in y:
        yield path, i, x, y
  elif isinstance(a, dict):
    for k in a:
      if isinstance(b, dict) and k in b:
        yield from _pairs(a[k], b[k], f"{path}/{k}")


def compare(ref: str, other: str) -> dict:
  with open(os.path.join(ref, "critical_summary.json")) as f:
    a = json.load(f)
  with open(os.path.join(other, "critical_summary.json")) as f:
    b = json.load(f)
  pairs = list(_pairs(a, b))
  inside = [x[1] <= y[0] <= x[2] and y[1] <= x[0] <= y[2] for _, _, x, y in pairs]
  overlap = [not (x[2] < y[1] or y[2] < x[1]) for _, _, x, y in pairs]
  rel = [abs(y[0] - x[0]) / abs(x[0]) for _, _, x, y in pairs]
  k = int(np.argmax(rel))
  regimes = {}
  for e in EXPERIMENTS:
    ra, rb = (np.load(os.path.join(w, f"{e}.npz"))["regime"] for w in (ref, other))
    regimes[e] = {"runs": int(ra.size), "same_label": float((ra == rb).mean())}
  return {"ref": ref, "other": other, "n_star_pairs": len(pairs), "inside_both_intervals": int(sum(inside)),
          "intervals_overlap": int(sum(overlap)),
          "largest_relative_change": {"value": rel[k], "where": f"{pairs[k][0]}[{pairs[k][1]}]",
                                      "ref": pairs[k][2], "other": pairs[k][3]},
          "not_inside": [f"{p}[{i}]: {x} vs {y}" for (p, i, x, y), ok in zip(pairs, inside) if not ok],
          "regime_labels": regimes}


def main(argv):
  if len(argv) != 3:
    raise SystemExit("usage: python -m benchmarks.precision_check REF_WORKDIR OTHER_WORKDIR")
  out = compare(argv[1], argv[2])
  path = os.path.join("benchmarks", "results", "precision_check.json")
  rd.results.save_json(path, out)
  print(json.dumps(out, indent=1))
  print(f"wrote {path}")


if __name__ == "__main__":
  main(sys.argv)
