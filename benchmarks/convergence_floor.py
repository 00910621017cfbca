r"""Which learning-rate floor lets the convergence rule stop (docs/theory_choices.md §22).

Trains six configurations of the phase diagram's quick preset one at a time with
``relu_dae.train.train`` and its convergence rule at floors ``min_scale`` = 1/16, 1/64 and
1/256 (everything else as in ``sims/configs/phase_diagram.py``): σ = 0.8 at n = 8, 10, 12, 16
in the three ``n_sigma`` families (where a 1/16 floor never plateaus), σ = 0.1 at n = 8 and
σ = 0.2 at n = 64. Prints steps run, status and final monitor loss per floor, and writes them
to ``--json``. Not a test; about 2 minutes on 2 CPU cores.

Usage::

  python -m benchmarks.convergence_floor
"""

from __future__ import annotations

from absl import app
from absl import flags
import jax

from relu_dae import convergence, model, results, train
from sims import phase_diagram
from sims.configs import phase_diagram as config_lib

_JSON = flags.DEFINE_string("json", "benchmarks/results/convergence_floor.json", "Where the rows go.")
FLOORS = (1 / 16, 1 / 64, 1 / 256)
CASES = ((1, 8, 0.8), (0, 10, 0.8), (2, 12, 0.8), (1, 16, 0.8), (0, 8, 0.1), (1, 64, 0.2))  # (family, n, σ)


def main(argv):
  del argv
  c = config_lib.get_config("quick")
  families, _ = phase_diagram._families(c, "n_sigma")
  rows = []
  for floor in FLOORS:
    c.convergence.min_scale = floor
    for fam, n, sigma in CASES:
      X = families[fam].X
      k_init, k_train = jax.random.split(jax.random.PRNGKey(0))
      _, hist = train.train(model.init(k_init, X.shape[1], c.p_max), X[:n], k_train, phase_diagram.train_config(c),
                            sigma=sigma, lam=c.lam)
      row = dict(min_scale=floor, family=families[fam].name, n=n, sigma=sigma, steps_run=int(hist.steps_run),
                 status=convergence.STATUS_NAMES[int(hist.status)], monitor=float(hist.monitor))
      rows.append(row)
      print(f"floor 1/{round(1 / floor):<4d} {row['family']:<18s} n={n:<3d} σ={sigma:<4g} "
            f"{row['steps_run']:>6d} steps  {row['status']:<10s} monitor {row['monitor']:.4f}")
  results.save_json(_JSON.value, {"rows": rows, "versions": results.versions()})


if __name__ == "__main__":
  app.run(main)
