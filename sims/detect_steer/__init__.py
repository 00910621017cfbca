r"""Prompt-free memorization detection and representation steering on hybrid ReLU diffusion models.

Two hybrid training sets (Cor. 3.4: a few samples duplicated many times next to abundant data) —
a synthetic (α, β)-separable mixture whose duplicated "clusters" are single points (α_k = 0), and
the centred scikit-learn digits with a few images duplicated — each train the time-conditioned
ReLU model of ``relu_dae.diffusion`` (THEORY.md §6), which then generates samples with the
official ancestral VE sampler.

* **Detection** (Algorithm 1, THEORY.md §4.2). A generated sample is a *positive* when it copies a
  duplicated training sample (nearest-neighbour ratio d₁/d₂ < 1/3 to the distinct training
  samples, its nearest one duplicated) and a *negative* when it copies nothing. Two labellings:
  ``euclidean`` (the field's standard, on the samples themselves) and ``direction`` (the same
  ratio on unit vectors, i.e. by cosine as the official code's nearest neighbour; the tied ReLU
  model stores a memorized sample as a half-line, so it generates scaled copies). Each generated
  sample is re-noised at σ and scored by every ``relu_dae.detection.SCORES`` entry of its
  representation — ``h = [Wᵀy]₊`` (the official ``rep``) or the decoder input ``exp(m(log σ)) ⊙ h``
  — prompt-free; AUROC and TPR@1%FPR with 95 % stratified bootstrap intervals.
* **Steering** (Eq. 11). ``v`` = mean representation of the target (an abundant mode / the digit
  class ``target_class``) at σ_ref; the probability that the output belongs to the target
  (scikit-learn logistic regression on the clean data) as a function of the strength ``a``, for
  *memorized* inputs (duplicated training samples; generated samples that copy them) and
  *generalized* inputs (held-out samples; novel generated samples), with the one-step steered
  denoiser and with steered sampling (``steering.steered_denoiser`` on the sampler's last half of
  steps except the last two, as the official notebook). Smoothness = total variation and largest
  jump of the response (``steering.smoothness``, ``steering.smoothness_per_sample``), with 95 % bootstrap
  intervals over inputs.

The experiments (``--experiments=`` selects them; empty = both) are ``detection`` and ``steering``;
both train and sample the two hybrid models first.

Writes ``<workdir>/{detection,steering}.json`` (+ ``arrays.npz/.json``) and ``detection_roc.png``,
``steering_response.png``, ``steering_digits.png`` into ``--figdir`` (default ``<workdir>/figures``;
``--figdir=figures`` rewrites the committed ones). The config, ``--experiments`` and both
directories are checked before the first model trains (one line naming the override, e.g.
``--config.roc_sigma=0.3: ...``, exit status 1).

Layout: :mod:`~sims.detect_steer.experiments`, :mod:`~sims.detect_steer.plots`,
:mod:`~sims.detect_steer.validate`, :mod:`~sims.detect_steer.main` (absl flags); presets ``default``
(the committed figures), ``smoke`` (tests), ``paper`` in ``sims/configs/detect_steer.py``.

Usage::

  python -m sims.detect_steer                      # default preset into runs/detect_steer, < 5 min on 2 CPU cores
  python -m sims.detect_steer --figdir=figures     # the same, regenerating the committed figures
  python -m sims.detect_steer --config=sims/configs/detect_steer.py:smoke --workdir=/tmp/detect_steer_smoke
  python -m sims.detect_steer --config=sims/configs/detect_steer.py:paper
"""

from __future__ import annotations

import os
import time

from absl import logging
import jax
import numpy as np

import relu_dae as rd
from relu_dae import diffusion
from sims import _flags
from sims.detect_steer.experiments import (EXPERIMENTS, LABELLINGS, best_rows, copy_labels, detect, digits_hybrid,
                                           steer_experiment, synthetic_hybrid, train_model)
from sims.detect_steer.validate import validate_config, validate_experiments

__all__ = ["EXPERIMENTS", "run", "validate_config"]


def run(config, workdir: str, figdir: str | None = None, *, experiments=None, progress: bool = True) -> dict:
  """Runs the selected experiments (``detection``, ``steering``; ``None`` or empty = both) on both hybrid
  models; returns ``{"detection", "steering", "figures", "seconds"}`` (an experiment not run: ``{}``).

  ``figdir`` defaults to ``<workdir>/figures``. The config, the selection and both directories are
  checked before the first model trains."""
  selected = validate_experiments(experiments)
  validate_config(config)
  figdir = _flags.checked_dirs(workdir, figdir)
  start = time.perf_counter()
  c = config
  key = jax.random.PRNGKey(c.seed)
  k_syn, k_dig = jax.random.split(key)
  hybrids = [synthetic_hybrid(jax.random.fold_in(k_syn, 0), c.synthetic),
             digits_hybrid(jax.random.fold_in(k_dig, 0), c.digits, c.steer.target_class)]
  det, steer, rocs, counts, curves, arrays = {}, {}, {}, {}, {}, {}
  digit_grid = None
  for h, mc, k in zip(hybrids, (c.synthetic, c.digits), (k_syn, k_dig)):
    t0 = time.perf_counter()
    k_train, k_gen, k_score, k_steer = jax.random.split(jax.random.fold_in(k, 1), 4)
    params, final_loss = train_model(h, mc, k_train, progress=progress)
    G = np.asarray(diffusion.sample(params, k_gen, c.num_samples, h.X.shape[1], num_steps=c.num_steps))
    labels = {lab: copy_labels(G, h, c.copy_threshold, direction=lab == "direction") for lab in LABELLINGS}
    counts[h.name] = {lab: dict(n_total=len(G), n_pos=int(v["pos"].sum()), n_neg=int(v["neg"].sum()),
                                n_copies_of_abundant=int(v["copies_of_abundant"].sum()))
                      for lab, v in labels.items()}
    rows = []
    if "detection" in selected:
      rows, rocs[h.name] = detect(params, G, labels, k_score, h.name, score_sigmas=c.score_sigmas,
                                  score_noise=c.score_noise, num_bootstrap=c.num_bootstrap, roc_sigma=c.roc_sigma,
                                  progress=progress)
    curves[h.name] = {}
    if "steering" in selected:
      steer[h.name], curves[h.name], grid = steer_experiment(params, h, G, labels, c.steer, k_steer, k_gen,
                                                             num_steps=c.num_steps, num_bootstrap=c.num_bootstrap,
                                                             progress=progress)
      if h.name == "digits":
        digit_grid = (grid, steer[h.name]["a_sampling"], h.offset)
    det[h.name] = dict(counts=counts[h.name], rows=rows, train_final_loss=final_loss, n_train=len(h.X),
                       n_distinct=len(h.unique), n_duplicated=int(h.unique_dup.sum()), info=h.info,
                       best=best_rows(rows), seconds=time.perf_counter() - t0)
    arrays.update({f"{h.name}_generated": G, f"{h.name}_W": np.asarray(params["W"]),
                   **{f"{h.name}_{lab}_{kind}": v[kind] for lab, v in labels.items() for kind in ("pos", "neg")},
                   **{f"{h.name}_{mode}_{g}_curves": cur for (mode, g), cur in curves[h.name].items()}})
    logging.info("%s: %d of %d samples copy a duplicated sample (direction labels), %.0f s", h.name,
                 counts[h.name]["direction"]["n_pos"], len(G), time.perf_counter() - t0)

  os.makedirs(figdir, exist_ok=True)
  from sims.detect_steer import plots  # matplotlib only when drawing
  figs = []
  if "detection" in selected:
    figs.append(plots.plot_roc(rocs, counts, os.path.join(figdir, "detection_roc.png"), c.roc_sigma, c.preset))
  if "steering" in selected:
    figs.append(plots.plot_response(steer, curves, os.path.join(figdir, "steering_response.png"), c.preset))
  if digit_grid is not None:
    figs.append(plots.plot_digit_grid(*digit_grid, os.path.join(figdir, "steering_digits.png"), c.preset))
  seconds = time.perf_counter() - start
  meta = dict(config=c.to_dict(), seconds=seconds, figures=figs, experiments=list(selected))
  rd.results.save_json(os.path.join(workdir, "detection.json"), dict(meta, datasets=det))
  if "steering" in selected:
    rd.results.save_json(os.path.join(workdir, "steering.json"), dict(meta, datasets=steer))
  rd.results.save(os.path.join(workdir, "arrays"), arrays, meta)
  return dict(detection=det, steering=steer, figures=figs, seconds=seconds)
