r"""The three regimes of the ReLU DAE, one model at a time: memorization, generalization, hybrid
(Cor. 3.2–3.4), on synthetic data and on scikit-learn digits.

What it shows: locally sparse data with n ≤ p is memorized (every sample stored in a column,
W at W_mem of Eq. 9); separable low-rank clusters with n ≫ p are generalized (blocks of Eq. 8);
duplicated clusters next to abundant ones give the hybrid of Cor. 3.4; on digits, n = 5
anti-correlated images are stored while with all 1797 no column is a training image; memorized
models have spiky representations, generalized ones balanced (§4.1).

Layout (flax examples): :mod:`.experiments` (the trained models), :mod:`.analysis` (one summary
per claim), :mod:`.plots`, :mod:`.validate`, :mod:`.main` (absl flags)::

  python -m sims.regimes                          # default preset, ~1 min on 2 cores, into runs/regimes
  python -m sims.regimes --figdir=figures         # the same, rewriting the committed figures
  python -m sims.regimes --config=sims/configs/regimes.py:smoke --experiments=memorization,digits
  python -m sims.regimes --config.gen.train.sigma=0.5

Writes ``regimes_weights.png`` and ``regimes_representations.png`` into the figure directory
(default ``<workdir>/figures``) and ``<workdir>/regimes.{npz,json}`` (weights, data and every
number quoted, of the experiments this run trained).
"""

from __future__ import annotations

import os
import time

from sims import _flags
from sims.regimes import analysis
from sims.regimes import experiments as _experiments
from sims.regimes.experiments import EXPERIMENTS, Trained
from sims.regimes.validate import validate_config, validate_experiments

__all__ = ["EXPERIMENTS", "Trained", "run", "validate_config", "validate_experiments"]

APP = "regimes"


def run(config, workdir: str, figdir: str | None = None, *, experiments=(), progress: bool = True,
        overwrite: bool = False) -> dict:
  """Trains the ``experiments`` of ``config`` (all when empty); returns the summary written to
  ``<workdir>/regimes.json``.

  The config, the names, ``figdir`` (default ``<workdir>/figures``) and ``workdir`` (new, empty,
  or holding a run of this config; ``overwrite`` replaces one with other settings) are checked
  before the first model trains.
  """
  import relu_dae as rd
  from sims.regimes import plots
  chosen = validate_experiments(experiments)
  validate_config(config)
  workdir, figdir = _flags.prepare_dirs(workdir, figdir, APP, config.to_dict(), overwrite=overwrite)
  start = time.time()
  keys = _experiments.experiment_keys(config.seed)
  d, summary, panels, arrays, reps = config.d, {}, [], {}, {}
  if "memorization" in chosen:
    c = config.mem
    m = _experiments.memorization(keys["mem"], d, c, progress=progress)
    summary["memorization"] = analysis.memorization_summary(m, keys["eval"])
    panels.append(plots.memorization_panel(m, f"memorization: locally sparse, n={c.n} ≤ p={c.p}"))
    arrays.update(mem_X=m.X, mem_W=m.W)
    reps[m.name] = m
  if "generalization" in chosen:
    c = config.gen
    m, separability = _experiments.generalization(keys["gen"], d, c, progress=progress)
    summary["generalization"] = {**analysis.block_summary(m, keys["eval"]), **separability}
    panels.append(plots.block_panel(m, f"generalization: K={c.K} clusters, n={m.X.shape[0]} ≫ p={c.p}"))
    arrays.update(gen_X=m.X, gen_labels=m.labels, gen_W=m.W)
    reps[m.name] = m
  if "hybrid" in chosen:
    c = config.hybrid
    m, dup_rows = _experiments.hybrid(keys["hyb"], d, c, progress=progress)
    summary["hybrid"] = analysis.block_summary(m, keys["eval"], hybrid=True)
    summary["hybrid"]["duplicate_best_cosine"] = (
        rd.storage.best_column_cosine(m.W, m.X[dup_rows]).tolist())
    panels.append(plots.block_panel(
        m, f"hybrid: {c.n_duplicated} duplicated ×{c.copies} + {c.n_abundant} abundant clusters", c.n_duplicated))
    arrays.update(hyb_X=m.X, hyb_labels=m.labels, hyb_W=m.W)
  if "digits" in chosen:
    c = config.digits
    mem, gen, idx, beta1 = _experiments.digits(keys, c, progress=progress)
    summary["digits_memorization"] = {**analysis.memorization_summary(mem, keys["eval"]), "beta1": beta1}
    panels.append(plots.memorization_panel(mem, f"digits: n={c.n_mem} (β₁={beta1:.3f}) ≤ p={c.p}"))
    summary["digits_generalization"] = analysis.digits_generalization_summary(gen, keys["eval"])
    panels.append(plots.digits_panel(gen, f"digits: n={gen.X.shape[0]} ≫ p={c.p}"))
    arrays.update(digits_mem_idx=idx, digits_mem_W=mem.W, digits_gen_W=gen.W)
    reps[mem.name], reps[gen.name] = mem, gen

  # Representations (Fig. 4 analogue).
  h = {name: analysis.noisy_representations(m, keys["eval"], config.num_hist_inputs) for name, m in reps.items()}
  summary["representations"] = {name: analysis.representation_scores(v) for name, v in h.items()}
  for name, v in h.items():
    arrays[f"h_{name.replace(' ', '_').replace('=', '')}"] = v
  preset = config.get("preset", "default")
  paths = plots.figure_paths(figdir)
  plots.draw_weights(panels, paths["weights"], preset)
  if h:
    plots.draw_representations(h, paths["representations"], preset)
  summary["seconds"] = time.time() - start
  rd.results.save(os.path.join(workdir, "regimes"), arrays,
                  dict(config=config.to_dict(), experiments=list(chosen), summary=summary))
  return summary
