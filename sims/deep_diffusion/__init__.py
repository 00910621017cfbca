r"""The paper's §4 on a deep diffusion network trained here: a UNet (``relu_dae.unet``) on the bundled digits
or (``--config.data=bars``) on the synthetic bars of :mod:`relu_dae.bars`, a family with a known truth.

Every model is the EDM-preconditioned UNet trained with Adam on the multi-σ loss (σ log-uniform on
[0.02, 2]) and sampled with the official ancestral VE sampler; a generation *copies* a training image
when its nearest-neighbour ratio d₁/d₂ < 1/3 (Euclidean, to the distinct training images).

* ``sweep`` — the deep analogue of the phase diagram: one model per seed and training-set size n
  (the first n of a seeded permutation of the 1797 images), the copy rate of its generations against n
  with hierarchical-bootstrap intervals (seeds, then generations), and ``n_half``, where it falls
  through ½, with its interval. For the bars also the *valid* and *novel valid* rates: a generation
  is valid when its RMS distance to the family is at most ``valid_distance``, so a generalizing model
  is seen to make new members of the family, not merely non-copies. Fig. 2's analogue: generations next
  to their nearest training image.
* ``hybrid`` — one model on all 1797 images with ``n_duplicated`` of them weighted ``copies`` times (as
  duplicated captions in LAION), so it has memorized (copies of a duplicated image: positives) and
  generalized generations (copies of nothing: negatives). On them:

  - Table 1's protocol, prompt-free: re-noise each generation at σ, take every level's representation
    (``unet.layer_names``: SiLU(GN₂) of a ResNet block) with spatial max or mean pooling, score it with
    every ``relu_dae.detection.SCORES`` entry (std, ‖h‖₄/‖h‖₂, max/mean, top-1 share, −participation
    ratio); AUROC and TPR@1%FPR with 95 % stratified bootstrap intervals per layer, pooling and score;
    each group's mean score per layer (Fig. 5's analogue);
  - steering (Eq. 11, Fig. 7's analogue): the mean activation map of target-class images added at the
    up blocks over the sampler's steps except the last two; the
    probability a logistic-regression classifier gives the target class, against a, for memorized and
    generalized seeds, with total variation and largest jump (smooth vs brittle) and intervals;
  - the denoiser's Jacobian at re-noised memorized and generalized generations: singular values and
    effective rank (App. B.3).

Each trained model (params, losses, generations) is kept in ``<workdir>/models``, so a killed run
resumes where it stopped and gives the same numbers. Writes ``<workdir>/{sweep,hybrid}.json`` (+
``arrays.npz/.json``) and the figures ``deep_copy_rate.png``, ``deep_generations.png``,
``deep_layer_scores.png``, ``deep_detection_roc.png``, ``deep_steering.png``, ``deep_jacobian_spectra.png``
into ``--figdir`` (default
``<workdir>/figures``; ``--figdir=figures`` rewrites the committed ones). The config, ``--experiments``
and both directories are checked before the first model trains.

Layout: :mod:`~sims.deep_diffusion.experiments`, :mod:`~sims.deep_diffusion.analysis`,
:mod:`~sims.deep_diffusion.plots`, :mod:`~sims.deep_diffusion.validate`, :mod:`~sims.deep_diffusion.main`;
presets ``default`` (the committed figures), ``smoke`` (tests), ``gpu`` in ``sims/configs/deep_diffusion.py``.

Usage::

  python -m sims.deep_diffusion                     # default preset into runs/deep_diffusion, <= 15 min on 2 CPU cores
  python -m sims.deep_diffusion --figdir=figures    # the same, regenerating the committed figures
  python -m sims.deep_diffusion --config=sims/configs/deep_diffusion.py:smoke --workdir=/tmp/deep_smoke
"""

from __future__ import annotations

import os
import time

from absl import logging
import jax
import numpy as np

import relu_dae as rd
from sims import _flags
from sims.deep_diffusion import analysis
from sims.deep_diffusion import experiments as ex
from sims.deep_diffusion.validate import validate_config, validate_experiments

__all__ = ["EXPERIMENTS", "run", "validate_config", "validate_experiments"]

EXPERIMENTS = ex.EXPERIMENTS


def _progress(enabled: bool):
  return (lambda msg: logging.info("%s", msg)) if enabled else (lambda msg: None)


def _run_sweep(c, data, cfg, tc, key, workdir, say) -> tuple[dict, dict]:
  sweep = ex.sweep_models(data, c, cfg, tc, key, workdir, say)
  rng = np.random.default_rng([c.seed, 1])
  summary = analysis.copy_rate_summary(sweep, c.sweep.n_values, rng, c.num_bootstrap, valid_distance=c.valid_distance)
  return dict(data=c.data, **summary), sweep


def _run_hybrid(c, data, cfg, tc, key, workdir, say) -> tuple[dict, dict]:
  k_dup, k_model, k_score, k_steer, k_jac, k_boot = jax.random.split(key, 6)
  w, dup = ex.hybrid_weights(data, c, k_dup)
  os.makedirs(os.path.join(workdir, "models"), exist_ok=True)
  model = ex.train_model(data.X, w, k_model, cfg, tc, num_samples=c.num_samples, num_steps=c.num_steps,
                         cache=os.path.join(workdir, "models", "hybrid"))
  if model.nonfinite_step >= 0:
    raise RuntimeError(f"the hybrid model's training diverged at step {model.nonfinite_step} (a non-finite loss); "
                       "its generations would be read as novel: lower --config.train.learning_rate")
  G = model.generated
  lab = ex.copy_labels(G, data.X, w, c.copy_threshold)
  labels = analysis.hybrid_labels(lab, dup)
  counts = dict(n_total=len(G), n_pos=int(labels["pos"].sum()), n_neg=int(labels["neg"].sum()),
                n_copies_of_ordinary=int(labels["copies_of_ordinary"].sum()),
                # the positives copy this many distinct images: intervals over generations are conditional on them
                n_distinct_copied=len(np.unique(lab["nearest"][labels["pos"]])))
  say(f"hybrid: {counts['n_pos']} copies of a duplicated image, {counts['n_neg']} novel of {len(G)}")
  scores, negative = ex.layer_scores(model.params, cfg, G, k_score, sigma=c.detect.sigma,
                                     num_noise=c.detect.score_noise, poolings=tuple(c.detect.poolings))
  rows = analysis.detection_rows(scores, labels, k_boot, c.num_bootstrap)
  say(f"hybrid: detection on {len(rows)} (layer, pooling, score) rows")
  st = ex.steer(model.params, cfg, data, G, labels, c.steer, k_steer, ex.generation_key(k_model),
                target=c.hybrid.target_class, num_steps=c.num_steps)
  rng = np.random.default_rng([c.seed, 2])
  steer_sum = analysis.steering_summary(st, rng, c.num_bootstrap)
  groups = {g: np.flatnonzero(labels[k])[:c.jacobian.num_points] for g, k in zip(ex.GROUPS, ("pos", "neg"))}
  spectra = ex.jacobian_spectra(model.params, cfg, G, groups, k_jac, sigmas=tuple(c.jacobian.sigmas))
  jac = analysis.jacobian_summary(spectra, rng, c.num_bootstrap)
  fam = ex.family_distance(G, data)  # the bars' known truth: is a novel generation a member of the family?
  family = {g: dict(median_distance=float(np.nanmedian(fam[labels[k]])),
                    valid_rate=analysis.mean_ci(rng, fam[labels[k]] <= c.valid_distance, c.num_bootstrap))
            for g, k in zip(ex.GROUPS, ("pos", "neg")) if labels[k].any()} if np.isfinite(fam).any() else {}
  summary = dict(data=c.data, counts=counts, family=family, duplicated_indices=dup.tolist(),
                 duplicated_classes=data.labels[dup].tolist(),
                 train_weight_duplicated=float(w[dup].sum() / w.sum()), final_loss=model.final_loss,
                 loss_drift=model.loss_drift, rows=rows,
                 negative_share={f"{layer} {pooling}": v for (layer, pooling), v in negative.items()},
                 steering=dict(a=st["a"], window_sigma=st["window_sigma"], window_steps=st["window_steps"],
                               blocks=list(ex.steered_blocks(cfg, c.steer.blocks)), vector=c.steer.vector,
                               v_norms=st["v_norms"],
                               classifier_train_accuracy=st["classifier_train_accuracy"],
                               a0_max_abs_diff=st["a0_max_abs_diff"], **steer_sum),
                 jacobian=jac, median_norm_ratio_pos=float(np.median(lab["norm_ratio"][labels["pos"]]))
                 if labels["pos"].any() else float("nan"))
  arrays = dict(generated=G, family_distance=fam, ratio=lab["ratio"], nearest=lab["nearest"], pos=labels["pos"],
                neg=labels["neg"],
                steer_outputs=st["outputs"], steer_p=st["p"],
                **{f"steer_seeds_{g}": v for g, v in st["seeds"].items()},
                **{f"score_{layer}_{pooling}_{k}": v for (layer, pooling), d in scores.items() for k, v in d.items()},
                **{f"jacobian_sv_{g}_{s}": sv for (g, s), sv in spectra.items()})
  return summary, arrays


def run(config, workdir: str, figdir: str | None = None, *, experiments=None, progress: bool = True) -> dict:
  """Runs the selected experiments (``sweep``, ``hybrid``; ``None`` or empty = both); returns
  ``{"sweep", "hybrid", "figures", "seconds"}`` (an experiment not run: ``{}``).

  ``figdir`` defaults to ``<workdir>/figures``. The config, the selection and both directories are
  checked before the first model trains."""
  selected = validate_experiments(experiments)
  validate_config(config)
  figdir = _flags.checked_dirs(workdir, figdir)
  start = time.perf_counter()
  c, say = config, _progress(progress)
  data = ex.images(c.data, c.unet.image_size, c.seed)
  cfg, tc = ex.unet_config(c.unet), ex.train_config(c.train)
  key = jax.random.PRNGKey(c.seed)
  k_sweep, k_hybrid = jax.random.split(key)
  meta = dict(config=c.to_dict(), experiments=list(selected), num_params=None)
  out, arrays = dict(sweep={}, hybrid={}), {}
  if "sweep" in selected:
    t0 = time.perf_counter()
    out["sweep"], sweep = _run_sweep(c, data, cfg, tc, k_sweep, workdir, say)
    out["sweep"]["seconds"] = time.perf_counter() - t0
    arrays.update({f"sweep_{k}": v for k, v in sweep.items()})
  if "hybrid" in selected:
    t0 = time.perf_counter()
    out["hybrid"], hyb = _run_hybrid(c, data, cfg, tc, k_hybrid, workdir, say)
    out["hybrid"]["seconds"] = time.perf_counter() - t0
    arrays.update({f"hybrid_{k}": v for k, v in hyb.items()})
  meta["num_params"] = rd.unet.num_params(rd.unet.init(key, cfg))

  os.makedirs(figdir, exist_ok=True)
  from sims.deep_diffusion import plots  # matplotlib only when drawing
  figs = plots.draw_all(out, arrays, data, c, figdir)
  seconds = time.perf_counter() - start
  meta.update(total_seconds=seconds, figures=figs)  # each experiment's own "seconds" is in its JSON
  for name in selected:
    rd.results.save_json(os.path.join(workdir, f"{name}.json"), dict(meta, **out[name]))
  rd.results.save(os.path.join(workdir, "arrays"), arrays, meta)
  return dict(out, figures=figs, seconds=seconds)
