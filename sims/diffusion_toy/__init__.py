r"""Copy rate of the multi-σ ReLU diffusion model vs sample count n (memorized vs generalized samples).

The time-conditioned ReLU model of ``relu_dae.diffusion`` (official settings, THEORY.md §6: σ
log-uniform on [0.02, 2] in the loss, the VE ancestral sampler on a geometric 60-step grid) is
trained on the first n rows of one (α, β)-separable K-cluster mixture pool, for n = 2 … 256, widths
p and seeds, then sampled. Each generated sample is compared with the training set:

* ``ratio``: the nearest-neighbour distance ratio d₁/d₂ (``metrics.nn_ratio``); a *copy* is
  d₁/d₂ < 1/3 (the field's standard, ``metrics.is_copy``);
* ``dir_ratio``: the same ratio between unit vectors (directions). The model is positively
  homogeneous (``f(cy, σ) = c f(y, σ)`` for c > 0), so it can store a training sample's direction
  but not its norm; a *direction copy* is ``dir_ratio < 1/3``;
* ``cosine``: the largest cosine similarity with a training sample (the official
  ``cosine_nn_idx`` measure behind the paper's Fig. 2).

Reference samplers on the same training sets: the empirical denoiser f_emp (Eq. 3; copies), the
exact mixture denoiser f_gt (never copies, up to the criterion's own false positives) and the
single-σ DAE of Eq. (5) trained by ``relu_dae.sweep`` and used at every σ
(``diffusion.single_sigma_dae``). Copy rates get 95 % hierarchical-bootstrap intervals (seeds,
then samples) and Wilson intervals on the pooled counts; the critical n where each copy rate
crosses 1/2 (``relu_dae.stats.bootstrap_crossing``, log-n interpolation) gets a bootstrap interval.

A second part trains the model on centred scikit-learn digits at a small and a large n and shows
generated samples next to their nearest training images (the paper's Fig. 2).

The experiments (``--experiments=`` selects some; empty = all) are ``diffusion`` (the multi-σ
model's sweep), ``dae`` (the single-σ DAE as sampler), ``oracles`` (f_emp, f_gt) and ``digits``.

Writes ``<workdir>/{diffusion,dae,oracles,digits}.{npz,json}`` plus ``<workdir>/summary.json`` (the
copy-rate table and critical n of the experiments run), and ``diffusion_copy_rate.png`` (needs
diffusion, dae, oracles), ``diffusion_samples.png`` (digits, diffusion, oracles) into ``--figdir``
(default ``<workdir>/figures``; ``--figdir=figures`` rewrites the committed ones). A rerun with the
same arguments reuses every finished part (each is keyed by a fingerprint of the settings it
depends on); ``--plot_only`` redraws from the saved results. The config, ``--experiments`` and
both directories are checked before anything trains (one line naming the override, exit status 1).

Layout: :mod:`~sims.diffusion_toy.experiments`, :mod:`~sims.diffusion_toy.analysis` (summary, with
:mod:`relu_dae.stats`), :mod:`~sims.diffusion_toy.plots`, :mod:`~sims.diffusion_toy.validate`,
:mod:`~sims.diffusion_toy.main` (absl flags); presets ``default`` (the committed figures), ``smoke``
(tests) and ``paper`` (GPU size) in ``sims/configs/diffusion_toy.py``.

Usage::

  python -m sims.diffusion_toy                    # default preset into runs/diffusion_toy, a few minutes on 2 CPU cores
  python -m sims.diffusion_toy --figdir=figures   # the same, regenerating the committed figures
  python -m sims.diffusion_toy --config=sims/configs/diffusion_toy.py:smoke --workdir=/tmp/diffusion_toy_smoke
  python -m sims.diffusion_toy --config=sims/configs/diffusion_toy.py:paper   # GPU size
  python -m sims.diffusion_toy --plot_only --figdir=figures
"""

from __future__ import annotations

import os
import time

from absl import logging

import relu_dae as rd
from sims import _flags
from sims.diffusion_toy import analysis
from sims.diffusion_toy import experiments as experiments_lib
from sims.diffusion_toy.experiments import EXPERIMENTS
from sims.diffusion_toy.validate import validate_config, validate_experiments

__all__ = ["EXPERIMENTS", "run", "validate_config"]


def run(c, workdir: str, figdir: str | None = None, *, experiments=None, plot_only: bool = False,
        progress: bool = True) -> list[str]:
  """Runs the selected experiments of config ``c`` (or with ``plot_only`` only redraws); returns the figure paths.

  Args:
    c: the config (``sims/configs/diffusion_toy.py``).
    workdir: where each experiment's ``<name>.{npz,json}`` and ``summary.json`` go (finished parts are reused).
    figdir: where the figures go; ``None`` or empty = ``<workdir>/figures``.
    experiments: names of :data:`EXPERIMENTS`; ``None`` or empty = all.
    plot_only: train nothing; redraw from the saved results.
    progress: tqdm bars.

  The config, the selection and both directories are checked before anything trains.
  """
  figdir = _flags.figdir_for(workdir, figdir)
  selected = validate_experiments(experiments)
  if plot_only:
    _flags.saved_results(workdir, _saved_experiments(workdir))
  else:
    validate_config(c)
    _flags.writable_dir("workdir", workdir)
  _flags.writable_dir("figdir", figdir)
  if not plot_only:
    start = time.perf_counter()
    s = experiments_lib.setup(c)
    data = experiments_lib.mixture_of(c) if set(selected) & {"diffusion", "dae", "oracles"} else None
    parts = dict(
        diffusion=lambda: experiments_lib.run_diffusion(s, data, workdir, progress=progress)[0],
        dae=lambda: experiments_lib.run_dae(s, data, workdir, progress=progress)[0],
        oracles=lambda: experiments_lib.run_oracles(s, data, workdir)[0],
        digits=lambda: experiments_lib.run_digits(experiments_lib.digits_config(c), s, workdir, progress=progress)[0])
    out = {name: parts[name]() if name in selected else None for name in EXPERIMENTS}
    summary = analysis.summarize(c, out["diffusion"], out["dae"], out["oracles"], out["digits"])
    summary["wall_s"] = time.perf_counter() - start
    summary["config"] = c.to_dict()
    rd.results.save_json(os.path.join(workdir, "summary.json"), summary)
    if out["diffusion"] is not None:
      for line in analysis.table_lines(summary) + analysis.table_lines(summary, measure="dir_copy"):
        logging.info("%s", line)
  from sims.diffusion_toy import plots  # matplotlib only when drawing
  return plots.draw_all(workdir, figdir)


def _saved_experiments(workdir: str) -> list:
  """The experiments a ``--plot_only`` redraw needs: those of ``<workdir>/summary.json`` (all without one)."""
  import json
  path = os.path.join(workdir, "summary.json")
  if not os.path.isfile(path):
    return list(EXPERIMENTS)
  with open(path) as f:
    return list(json.load(f).get("experiments", EXPERIMENTS))
