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
  jump of the response (``steering.smoothness``), with 95 % bootstrap intervals over inputs.

Writes ``<workdir>/{detection,steering}.json`` (+ ``arrays.npz/.json``) and ``detection_roc.png``,
``steering_response.png``, ``steering_digits.png`` into ``--figdir`` (default ``<workdir>/figures``;
``--figdir=figures`` rewrites the committed ones). The config and both directories are checked
before the first model trains (a ``ValueError`` naming the override, e.g. ``--config.roc_sigma=0.3: ...``).

Usage::

  python -m sims.detect_steer                      # quick preset, < 5 min on 2 CPU cores
  python -m sims.detect_steer --figdir=figures     # the same, regenerating the committed figures
  python -m sims.detect_steer --config=sims/configs/detect_steer.py:smoke --figdir=/tmp/figs
  python -m sims.detect_steer --config=sims/configs/detect_steer.py:paper
"""

from __future__ import annotations

import os
import time
from typing import NamedTuple

from absl import app
from absl import logging
import jax
import jax.numpy as jnp
import numpy as np
from sklearn.linear_model import LogisticRegression
from tqdm.auto import tqdm

import relu_dae as rd
from relu_dae import detection
from relu_dae import diffusion
from relu_dae import plotting
from relu_dae import steering
from sims import _flags

_FLAGS = {}  # absl flag holders, defined only when the module runs as the app

LAYERS = ("h", "h_scaled")  # [Wᵀy]₊ (official rep) and the decoder input exp(m(log σ)) ⊙ [Wᵀy]₊
LABELLINGS = ("euclidean", "direction")
GROUPS = ("memorized", "generalized")
MODES = ("onestep", "sampling")


def define_flags() -> dict:
  """Defines this app's absl flags (at ``__main__`` only, so apps can be imported together)."""
  _FLAGS.update(_flags.define("detect_steer.py", "results/detect_steer"))
  return _FLAGS


class Hybrid(NamedTuple):
  """A hybrid training set and what the experiments need around it (rows are samples)."""
  name: str
  X: np.ndarray  # (n, d) training rows, duplicated samples repeated
  unique: np.ndarray  # (u, d) distinct training samples
  unique_dup: np.ndarray  # (u,) bool: the sample is one of the duplicated ones
  unique_labels: np.ndarray  # (u,) class (digits) or mixture mode (synthetic)
  X_test: np.ndarray  # (t, d) held-out samples of the abundant classes/modes
  test_labels: np.ndarray  # (t,)
  target: int  # the steering target class/mode (abundant, never duplicated)
  offset: np.ndarray  # (d,) added back to draw a sample as an image (the digits' mean)
  info: dict


def synthetic_hybrid(key, c) -> Hybrid:
  """Cor. 3.4 data: ``n_duplicated`` points × ``copies`` (α_k = 0) + abundant separable clusters."""
  K = c.n_duplicated + c.n_abundant
  per = c.n_per_cluster + c.n_test_per_cluster
  X, labels, spec = rd.data.separable_mixture(
      key, d=c.d, K=K, n_per_cluster=[c.copies] * c.n_duplicated + [per] * c.n_abundant,
      alpha=[0.0] * c.n_duplicated + [c.alpha] * c.n_abundant, beta=-1.0 / (K - 1), rank=c.rank,
      norm=c.norm, decay=c.decay)
  X, labels = np.asarray(X), np.asarray(labels)
  dup = labels < c.n_duplicated
  first = np.r_[True, labels[1:] != labels[:-1]]  # first row of each cluster
  rank_in_cluster = np.arange(len(labels)) - np.flatnonzero(first)[labels]
  test = ~dup & (rank_in_cluster >= c.n_per_cluster)
  keep = (dup & first) | (~dup & ~test)
  return Hybrid("synthetic", X[~test], X[keep], dup[keep], labels[keep], X[test], labels[test], K - 1,
                np.zeros(c.d, np.float32), dict(alpha=spec.alpha, beta=spec.beta, n_train=int((~test).sum())))


def digits_hybrid(key, c, target_class: int) -> Hybrid:
  """Centred digits: ``n_duplicated`` anti-correlated images of other classes × ``copies`` + the rest."""
  X_all, y_all = rd.data.load_digits(center=False)
  offset = X_all.mean(axis=0)
  X_all = X_all - offset
  perm = np.random.default_rng(np.asarray(jax.random.key_data(key)).tolist()).permutation(len(X_all))
  test, pool = perm[:c.n_test], perm[c.n_test:]
  candidates = pool[y_all[pool] != target_class]
  idx, beta1 = rd.data.negatively_correlated_subset(X_all[candidates], c.n_duplicated)
  dup = candidates[idx]
  abundant = pool[~np.isin(pool, dup)]
  if c.n_abundant is not None:
    abundant = abundant[:c.n_abundant]  # pool is shuffled: a random subset
  X = np.concatenate([np.repeat(X_all[dup], c.copies, axis=0), X_all[abundant]])
  unique = np.concatenate([dup, abundant])
  return Hybrid("digits", X, X_all[unique], np.arange(len(unique)) < len(dup), y_all[unique], X_all[test],
                y_all[test], target_class, offset,
                dict(duplicated_indices=dup.tolist(), duplicated_classes=y_all[dup].tolist(), beta1=beta1,
                     n_train=int(len(X))))


def _train_config(t) -> rd.train.TrainConfig:
  return rd.train.TrainConfig(steps=t.steps, learning_rate=t.learning_rate, lam=t.lam, batch_size=t.batch_size,
                              optimizer=t.optimizer, chunk_size=t.chunk_size)


def train_model(h: Hybrid, c, key, *, progress: bool):
  tc = _train_config(c.train)
  k_init, k_train = jax.random.split(key)
  params = diffusion.init(k_init, h.X.shape[1], c.p)
  params, hist = diffusion.fit(params, jnp.asarray(h.X), k_train, tc, progress=progress, desc=f"train {h.name}")
  return params, float(np.mean(np.asarray(hist.loss)[-100:]))


def copy_labels(G, h: Hybrid, threshold: float, *, direction: bool) -> dict:
  """Positives (copies of a duplicated sample), negatives (copies of nothing) and the rest.

  ``direction=True`` compares unit vectors (cosine nearest neighbour, scale-free).
  """
  ratio = np.asarray(rd.metrics.nn_ratio(jnp.asarray(G), jnp.asarray(h.unique), jnp.ones(len(h.unique)),
                                         direction=direction))
  # nearest distinct training sample: largest cosine for directions, smallest distance otherwise
  nearest = (np.argmax(np.asarray(rd.metrics.column_cosines(jnp.asarray(h.unique).T, jnp.asarray(G))), axis=1)
             if direction else np.argmin(np.sum(h.unique**2, axis=1) - 2.0 * G @ h.unique.T, axis=1))
  copy = ratio < threshold
  return dict(pos=copy & h.unique_dup[nearest], neg=~copy, copies_of_abundant=copy & ~h.unique_dup[nearest],
              nearest=nearest, ratio=ratio)


def _represent(params, layer, sigma):
  if layer == "h":
    return rd.model.represent
  return lambda p, y: diffusion.represent(params, y, sigma, scaled=True)


def detect(params, G, labellings: dict, c, key, name: str, *, progress: bool = True) -> tuple[list, dict]:
  """AUROC / TPR@1%FPR (+ bootstrap CIs) per labelling, layer, σ and score; ROC curves at roc_sigma."""
  rows, rocs = [], {}
  W = {"W": params["W"]}
  combos = [(layer, s) for layer in LAYERS for s in c.score_sigmas]
  for i, (layer, sigma) in enumerate(tqdm(combos, desc=f"detect {name}", leave=False, disable=not progress)):
    scores = detection.scores(W, jnp.asarray(G), sigma, jax.random.fold_in(key, i), num_noise=c.score_noise,
                              represent=_represent(params, layer, sigma))
    for labelling, lab in labellings.items():
      if lab["pos"].sum() < 2 or lab["neg"].sum() < 2:
        continue  # too few positives/negatives for a ROC curve; the counts are reported
      for score, s in scores.items():
        s = np.asarray(s, np.float64)
        r = detection.evaluate(s[lab["pos"]], s[lab["neg"]])
        ci = detection.bootstrap_ci(jax.random.fold_in(key, 1000 + i), s[lab["pos"]], s[lab["neg"]],
                                    num=c.num_bootstrap)
        rows.append(dict(dataset=name, labelling=labelling, layer=layer, sigma=float(sigma), score=score,
                         auroc=r.auroc, auroc_ci=ci.auroc, tpr_at_1pct_fpr=r.tpr_at_1pct_fpr,
                         tpr_at_1pct_fpr_ci=ci.tpr_at_1pct_fpr, n_pos=int(lab["pos"].sum()),
                         n_neg=int(lab["neg"].sum())))
        if layer == "h" and np.isclose(sigma, c.roc_sigma):
          rocs[(labelling, score)] = (r.fpr, r.tpr, r.auroc)
  return rows, rocs


# ----------------------------------------------------------------------------- steering


def _bootstrap_curves(rng, curves, num: int, level: float = 0.95) -> dict:
  """Mean response over inputs, its band, and smoothness with percentile-bootstrap CIs over inputs.

  ``curves (A, m)``: P(target) per strength (rows) and input (columns).
  """
  A, m = curves.shape
  q = [(1 - level) / 2, (1 + level) / 2]

  def stats(cols):
    mean = steering.smoothness(cols)  # of the mean curve
    per = steering.smoothness(cols, per_sample=True)  # of each input's curve
    return np.array([mean["total_variation"], mean["max_jump"], per["total_variation"].mean(),
                     per["max_jump"].mean()])

  boot_idx = rng.integers(0, m, size=(num, m))
  boot_mean = np.stack([curves[:, i].mean(axis=1) for i in boot_idx])  # (num, A)
  boot_stats = np.stack([stats(curves[:, i]) for i in boot_idx])
  point, (lo, hi) = stats(curves), np.quantile(boot_stats, q, axis=0)
  keys = ["mean_curve_total_variation", "mean_curve_max_jump", "per_input_total_variation",
          "per_input_max_jump"]
  out = {k: dict(value=float(point[j]), ci=(float(lo[j]), float(hi[j]))) for j, k in enumerate(keys)}
  out.update(num_inputs=int(m), mean_curve=curves.mean(axis=1), band=np.quantile(boot_mean, q, axis=0),
             final_p_target=dict(value=float(curves[-1].mean()),
                                 ci=tuple(float(x) for x in np.quantile(boot_mean[:, -1], q))))
  return out


def _classifier(h: Hybrid):
  clf = LogisticRegression(max_iter=2000).fit(h.unique, h.unique_labels)
  col = int(np.flatnonzero(clf.classes_ == h.target)[0])

  def p_target(Y):
    Y = np.asarray(Y, np.float64).reshape(-1, h.unique.shape[1])
    return clf.predict_proba(Y)[:, col] if len(Y) else np.zeros(0)

  return clf, p_target


@jax.jit
def _denoise(denoiser, Y, sigma):  # one compilation per input shape for every a (a is a leaf)
  return denoiser(Y, sigma)


def steer_experiment(params, h: Hybrid, G, labels: dict, c, key, gen_key, *, progress: bool):
  """Response curves P(target | a) for memorized and generalized inputs, one step and sampling.

  ``G`` are the samples ``diffusion.sample(params, gen_key, ...)`` generated for detection; steered
  sampling reruns the sampler with the same key, so at ``a = 0`` it reproduces them.
  """
  s = c.steer
  k_v, k_m, k_g = jax.random.split(key, 3)
  clf, p_target = _classifier(h)
  X_target = h.unique[(h.unique_labels == h.target) & ~h.unique_dup]
  v = steering.steering_vector({"W": params["W"]}, jnp.asarray(X_target), s.sigma_ref, k_v, num_noise=s.num_noise_ref)
  a_grid = np.linspace(0.0, s.a_max, s.num_a)  # one step
  a_samp = np.linspace(0.0, s.a_max_sampling, s.num_a)  # sampling: steering accumulates over the window
  d = h.X.shape[1]

  # One-step: y = x + σ ε for duplicated training samples (memorized) and held-out samples (generalized).
  dup = h.unique[h.unique_dup]
  X_mem = dup[np.arange(s.num_inputs) % len(dup)]
  X_gen = h.X_test[h.test_labels != h.target][:s.num_inputs]
  inputs = {"memorized": X_mem + s.onestep_sigma * np.asarray(jax.random.normal(k_m, X_mem.shape)),
            "generalized": X_gen + s.onestep_sigma * np.asarray(jax.random.normal(k_g, X_gen.shape))}
  onestep = {g: np.stack([p_target(_denoise(steering.steered_denoiser(params, v, a), jnp.asarray(Y), s.onestep_sigma))
                          for a in a_grid]) for g, Y in inputs.items()}

  # Steered sampling: the generated samples' own seeds (sample j depends only on fold_in(key, j)),
  # grouped by what the unsteered sampler produced: a copy of a duplicated sample (direction labels)
  # or a novel sample, both outside the target class.
  num_seeds = min(s.num_seeds, len(G))
  lab = labels["direction"]
  off_target = clf.predict(np.asarray(G[:num_seeds], np.float64)) != h.target
  seeds = {"memorized": np.flatnonzero(lab["pos"][:num_seeds] & off_target)[:s.num_inputs],
           "generalized": np.flatnonzero(lab["neg"][:num_seeds] & off_target)[:s.num_inputs]}
  first = int(round(s.window_first_frac * c.num_steps))
  window = steering.step_window(c.num_steps, min(first, c.num_steps - 1),
                                max(c.num_steps - s.window_skip_last, min(first, c.num_steps - 1) + 1))
  outputs = []
  for a in tqdm(a_samp, desc=f"steered sampling {h.name}", leave=False, disable=not progress):
    den = steering.steered_denoiser(params, v, a, sigma_window=window)
    outputs.append(np.asarray(diffusion.sample(den, gen_key, num_seeds, d, num_steps=c.num_steps)))
  outputs = np.stack(outputs)  # (A, num_seeds, d)
  sampling = {g: p_target(outputs[:, idx]).reshape(len(a_grid), -1) for g, idx in seeds.items()}

  rng = np.random.default_rng(np.asarray(jax.random.key_data(key)).tolist())
  result = dict(a=a_grid, a_sampling=a_samp, window_sigma=window, window_steps=(first, c.num_steps - s.window_skip_last),
                v_norm=float(jnp.linalg.norm(v)), target=int(h.target),
                classifier_train_accuracy=float(clf.score(h.unique, h.unique_labels)),
                sampling_a0_max_abs_diff=float(np.max(np.abs(outputs[0] - np.asarray(G[:num_seeds])))))
  curves = {}
  for mode, groups in (("onestep", onestep), ("sampling", sampling)):
    result[mode] = {}
    for g, cur in groups.items():
      if cur.shape[1] < 2:
        result[mode][g] = dict(num_inputs=int(cur.shape[1]), note="fewer than 2 inputs")
        continue
      result[mode][g] = _bootstrap_curves(rng, cur, c.num_bootstrap)
      curves[(mode, g)] = cur
  grid = dict(a_cols=np.linspace(0, len(a_samp) - 1, s.grid_cols).round().astype(int))
  grid.update({g: outputs[:, idx[:s.grid_rows]] for g, idx in seeds.items()})
  return result, curves, grid


# ----------------------------------------------------------------------------- figures


def plot_roc(rocs: dict, counts: dict, path: str, sigma: float) -> str:
  import matplotlib.pyplot as plt
  names = list(rocs)
  fig, axes = plt.subplots(len(names), len(LABELLINGS), figsize=(5.2 * len(LABELLINGS), 4.6 * len(names)),
                           squeeze=False)
  for i, name in enumerate(names):
    for j, labelling in enumerate(LABELLINGS):
      ax = axes[i, j]
      for (lab, score), (fpr, tpr, auc) in rocs[name].items():
        if lab == labelling:
          ax.plot(fpr, tpr, lw=1.6, label=f"{score} (AUROC {auc:.3f})")
      ax.plot([0, 1], [0, 1], color="0.6", ls=":", lw=1)
      ax.axvline(0.01, color="0.8", lw=0.8)
      n = counts[name][labelling]
      ax.set(xlabel="false positive rate (novel samples flagged)", ylabel="true positive rate (copies flagged)",
             title=f"{name}, {labelling} copy label: {n['n_pos']} copies / {n['n_neg']} novel\n"
                   f"scores of h = [Wᵀ(x+σε)]₊ at σ = {sigma}")
      ax.legend(loc="lower right", fontsize=8)
  fig.tight_layout()
  return plotting.save(fig, path)


def plot_response(results: dict, curves: dict, path: str) -> str:
  import matplotlib.pyplot as plt
  names = list(results)
  fig, axes = plt.subplots(len(names), len(MODES), figsize=(5.2 * len(MODES), 4.2 * len(names)), squeeze=False)
  colors = dict(memorized="tab:red", generalized="tab:blue")
  titles = dict(onestep="one-step steered denoiser g(h(y) + a v)", sampling="steered sampling (window of steps)")
  for i, name in enumerate(names):
    r = results[name]
    for j, mode in enumerate(MODES):
      ax = axes[i, j]
      for g in GROUPS:
        if (mode, g) not in curves[name]:
          continue
        cur, st = curves[name][(mode, g)], r[mode][g]
        a = r["a"] if mode == "onestep" else r["a_sampling"]
        ax.plot(a, cur[:, :8], color=colors[g], lw=0.6, alpha=0.35)
        ax.fill_between(a, st["band"][0], st["band"][1], color=colors[g], alpha=0.25)
        ax.plot(a, st["mean_curve"], color=colors[g], lw=2.2,
                label=f"{g} (n={st['num_inputs']}): per-input max jump {st['per_input_max_jump']['value']:.2f}")
      ax.set(xlabel="steering strength a", ylabel=f"P(output in target {'class' if name == 'digits' else 'mode'})",
             title=f"{name}: {titles[mode]}", ylim=(-0.02, 1.02))
      ax.legend(loc="upper left", fontsize=8)
  fig.tight_layout()
  return plotting.save(fig, path)


def plot_digit_grid(grid: dict, a_grid, offset, path: str) -> str:
  import matplotlib.pyplot as plt
  cols = grid["a_cols"]
  rows = [(g, k) for g in GROUPS for k in range(grid[g].shape[1])]
  fig, axes = plt.subplots(max(len(rows), 1), len(cols), figsize=(1.1 * len(cols) + 1.2, 1.1 * max(len(rows), 1)),
                           squeeze=False)
  for r, (g, k) in enumerate(rows):
    for j, col in enumerate(cols):
      ax = axes[r, j]
      ax.imshow(np.clip(grid[g][col, k] + offset, -1, 1).reshape(8, 8), cmap="gray_r", vmin=-1, vmax=1)
      ax.set_xticks([])
      ax.set_yticks([])
      if r == 0:
        ax.set_title(f"a = {a_grid[col]:.2f}", fontsize=8)
      if j == 0:
        ax.set_ylabel(g, fontsize=8, color="tab:red" if g == "memorized" else "tab:blue")
  fig.suptitle("steered sampling on digits (rows: generated samples, columns: increasing a)", fontsize=9)
  fig.tight_layout()
  return plotting.save(fig, path)


# ----------------------------------------------------------------------------- app


def run(config, workdir: str, figdir: str | None = None, *, progress: bool = True) -> dict:
  """Runs detection and steering on both hybrid models; returns ``{"detection", "steering"}`` summaries.

  ``figdir`` defaults to ``<workdir>/figures``. The config and both directories are checked
  before the first model trains."""
  figdir = _flags.figdir_for(workdir, figdir)
  validate_config(config)
  _flags.writable_dir("workdir", workdir)
  _flags.writable_dir("figdir", figdir)
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
    rows, rocs[h.name] = detect(params, G, labels, c, k_score, h.name, progress=progress)
    steer[h.name], curves[h.name], grid = steer_experiment(params, h, G, labels, c, k_steer, k_gen,
                                                                progress=progress)
    if h.name == "digits":
      digit_grid = (grid, steer[h.name]["a_sampling"], h.offset)
    det[h.name] = dict(counts=counts[h.name], rows=rows, train_final_loss=final_loss, n_train=len(h.X),
                       n_distinct=len(h.unique), n_duplicated=int(h.unique_dup.sum()), info=h.info,
                       best=_best(rows), seconds=time.perf_counter() - t0)
    arrays.update({f"{h.name}_generated": G, f"{h.name}_W": np.asarray(params["W"]),
                   **{f"{h.name}_{lab}_{kind}": v[kind] for lab, v in labels.items() for kind in ("pos", "neg")},
                   **{f"{h.name}_{mode}_{g}_curves": cur for (mode, g), cur in curves[h.name].items()}})
    logging.info("%s: counts %s, best %s (%.0f s)", h.name, counts[h.name], det[h.name]["best"],
                 time.perf_counter() - t0)

  os.makedirs(figdir, exist_ok=True)
  figs = [plot_roc(rocs, counts, os.path.join(figdir, "detection_roc.png"), c.roc_sigma),
          plot_response(steer, curves, os.path.join(figdir, "steering_response.png"))]
  if digit_grid is not None:
    figs.append(plot_digit_grid(*digit_grid, os.path.join(figdir, "steering_digits.png")))
  seconds = time.perf_counter() - start
  meta = dict(config=c.to_dict(), seconds=seconds, figures=figs)
  rd.results.save_json(os.path.join(workdir, "detection.json"), dict(meta, datasets=det))
  rd.results.save_json(os.path.join(workdir, "steering.json"), dict(meta, datasets=steer))
  rd.results.save(os.path.join(workdir, "arrays"), arrays, meta)
  return dict(detection=det, steering=steer, figures=figs, seconds=seconds)


NUM_DIGITS, NUM_CLASSES = 1797, 10  # scikit-learn's digits


def validate_config(c) -> None:
  """Checks the whole config before the first model trains (``ValueError`` naming the override,
  e.g. ``--config.roc_sigma=0.3: ...``)."""
  _flags.seed(c, "seed")
  steps = _flags.integer(c, "num_steps", 2)
  _flags.integer(c, "num_samples", 2)
  _flags.real(c, "copy_threshold", 0.0, 1.0, closed=(False, False))
  sigmas = _flags.reals(c, "score_sigmas", 0.0, closed=(False, True), distinct=True)
  if not np.any(np.isclose(_flags.real(c, "roc_sigma", 0.0, closed=(False, True)), sigmas)):
    _flags.fail("roc_sigma", c.roc_sigma, f"must be one of score_sigmas={sigmas} (the ROC curves are drawn there)")
  _flags.integer(c, "score_noise")
  _flags.integer(c, "num_bootstrap", 2)
  _validate_synthetic(c)
  _validate_digits(c)
  _validate_steer(c, steps)
  for path in ("synthetic.train", "digits.train"):
    with _flags.section(path):
      _train_config(_flags.get(c, path))


def _validate_synthetic(c) -> None:
  """The synthetic hybrid: a duplicated point per mode next to at least 2 abundant modes
  (the last is the steering target; the others give the generalized inputs)."""
  s = "synthetic"
  for name in ("n_duplicated", "n_per_cluster", "n_test_per_cluster", "p"):
    _flags.integer(c, f"{s}.{name}")
  _flags.integer(c, f"{s}.copies", 2)
  _flags.integer(c, f"{s}.n_abundant", 2)
  K = c.synthetic.n_duplicated + c.synthetic.n_abundant
  d = _flags.integer(c, f"{s}.d", K, lo_name="n_duplicated + n_abundant")
  _flags.integer(c, f"{s}.rank", 1, d, hi_name="d")
  _flags.real(c, f"{s}.alpha", 0.0)
  for name in ("decay", "norm"):
    _flags.real(c, f"{s}.{name}", 0.0, closed=(False, True))


def _validate_digits(c) -> None:
  """The digits hybrid: its sizes against the 1797 images."""
  n_dup = _flags.integer(c, "digits.n_duplicated")
  _flags.integer(c, "digits.copies", 2)
  n_test = _flags.integer(c, "digits.n_test", 1, NUM_DIGITS - n_dup - 1, hi_name="1797 - n_duplicated - 1")
  if c.digits.n_abundant is not None:
    _flags.integer(c, "digits.n_abundant", 1, NUM_DIGITS - n_dup - n_test, hi_name="1797 - n_duplicated - n_test")
  _flags.integer(c, "digits.p")


def _validate_steer(c, num_steps: int) -> None:
  """The steering fields: strengths, inputs, the window of sampler steps, the figure's grid."""
  e = "steer"
  _flags.integer(c, f"{e}.target_class", 0, NUM_CLASSES - 1, hi_name="the last digit class")
  for name in ("sigma_ref", "a_max", "a_max_sampling", "onestep_sigma"):
    _flags.real(c, f"{e}.{name}", 0.0, closed=(False, True))
  num_a = _flags.integer(c, f"{e}.num_a", 2)
  for name in ("num_noise_ref", "num_seeds", "grid_rows"):
    _flags.integer(c, f"{e}.{name}")
  _flags.integer(c, f"{e}.num_inputs", 2)
  _flags.integer(c, f"{e}.grid_cols", 1, num_a, hi_name="steer.num_a")
  _flags.real(c, f"{e}.window_first_frac", 0.0, 1.0, closed=(True, False))
  _flags.integer(c, f"{e}.window_skip_last", 0, num_steps - 1, hi_name="num_steps - 1")


def _best(rows: list) -> dict:
  """Per labelling: the paper's std score and the best score by AUROC, both at layer h, best σ."""
  out = {}
  for lab in LABELLINGS:
    sel = [r for r in rows if r["labelling"] == lab and r["layer"] == "h"]
    if not sel:
      continue
    std = max((r for r in sel if r["score"] == "std"), key=lambda r: r["auroc"])
    best = max(sel, key=lambda r: r["auroc"])
    out[lab] = dict(std=std, best=best)
  return out


def main(argv):
  if len(argv) > 1:
    raise app.UsageError(f"Unexpected arguments: {argv[1:]}")
  out = run(_FLAGS["config"].value, _FLAGS["workdir"].value, _FLAGS["figdir"].value)
  print(f"wrote {', '.join(out['figures'])} and {_FLAGS['workdir'].value}/detection.json, steering.json "
        f"in {out['seconds']:.0f} s")


if __name__ == "__main__":
  define_flags()
  app.run(_flags.exit_on_flag_error(main))
