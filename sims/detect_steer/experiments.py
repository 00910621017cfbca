"""The experiments of ``sims.detect_steer`` on a trained hybrid model: memorization detection
(:func:`detect`) and steering (:func:`steer_experiment`), with the hybrid training sets
(:func:`synthetic_hybrid`, :func:`digits_hybrid`; each takes its config section) and the copy
labels of generated samples (:func:`copy_labels`). Explicit arguments; nothing reads absl flags.
"""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from sklearn.linear_model import LogisticRegression
from tqdm.auto import tqdm

import relu_dae as rd
from relu_dae import detection
from relu_dae import diffusion
from relu_dae import steering
from sims import _response

__all__ = ["EXPERIMENTS", "GROUPS", "LABELLINGS", "LAYERS", "MODES", "Hybrid", "best_rows", "copy_labels", "detect",
           "digits_hybrid", "steer_experiment", "synthetic_hybrid", "train_model"]

EXPERIMENTS = ("detection", "steering")

LAYERS = ("h", "h_scaled")  # [Wᵀy]₊ (official rep) and the decoder input exp(m(log σ)) ⊙ [Wᵀy]₊
LABELLINGS = ("euclidean", "direction")
GROUPS = ("memorized", "generalized")
MODES = ("onestep", "sampling")


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
                     n_train=len(X)))


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


def detect(params, G, labellings: dict, key, name: str, *, score_sigmas, score_noise: int, num_bootstrap: int,
           roc_sigma: float, progress: bool = True) -> tuple[list, dict]:
  """AUROC / TPR@1%FPR (+ ``num_bootstrap`` bootstrap CIs) per labelling, layer, σ of ``score_sigmas`` and
  score (each the mean over ``score_noise`` noise draws); ROC curves at ``roc_sigma``."""
  rows, rocs = [], {}
  W = {"W": params["W"]}
  combos = [(layer, s) for layer in LAYERS for s in score_sigmas]
  for i, (layer, sigma) in enumerate(tqdm(combos, desc=f"detect {name}", leave=False, disable=not progress)):
    scores = detection.scores(W, jnp.asarray(G), sigma, jax.random.fold_in(key, i), num_noise=score_noise,
                              represent=_represent(params, layer, sigma))
    for labelling, lab in labellings.items():
      if lab["pos"].sum() < 2 or lab["neg"].sum() < 2:
        continue  # too few positives/negatives for a ROC curve; the counts are reported
      few = bool(lab["pos"].sum() < _response.MIN_POSITIVES)
      for score, s in scores.items():
        s = np.asarray(s, np.float64)
        r = detection.evaluate(s[lab["pos"]], s[lab["neg"]])
        ci = detection.bootstrap_ci(jax.random.fold_in(key, 1000 + i), s[lab["pos"]], s[lab["neg"]],
                                    num=num_bootstrap)
        rows.append(dict(dataset=name, labelling=labelling, layer=layer, sigma=float(sigma), score=score,
                         auroc=r.auroc, auroc_ci=ci.auroc, tpr_at_1pct_fpr=r.tpr_at_1pct_fpr,
                         tpr_at_1pct_fpr_ci=ci.tpr_at_1pct_fpr, n_pos=int(lab["pos"].sum()),
                         n_neg=int(lab["neg"].sum()), too_few_positives=few))
        if layer == "h" and np.isclose(sigma, roc_sigma) and not few:
          rocs[(labelling, score)] = (r.fpr, r.tpr, r.auroc)
  return rows, rocs


# ----------------------------------------------------------------------------- steering


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


def steer_experiment(params, h: Hybrid, G, labels: dict, s, key, gen_key, *, num_steps: int, num_bootstrap: int,
                     progress: bool = False):
  """Response curves P(target | a) for memorized and generalized inputs, one step and sampling.

  ``G`` are the samples ``diffusion.sample(params, gen_key, ...)`` generated for detection; steered
  sampling reruns the sampler with the same key (``num_steps`` steps), so at ``a = 0`` it reproduces
  them. ``s`` is the config's ``steer`` section; ``num_bootstrap`` replicates give the bands.
  """
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
  first = round(s.window_first_frac * num_steps)
  window = steering.step_window(num_steps, min(first, num_steps - 1),
                                max(num_steps - s.window_skip_last, min(first, num_steps - 1) + 1))
  outputs = []
  for a in tqdm(a_samp, desc=f"steered sampling {h.name}", leave=False, disable=not progress):
    den = steering.steered_denoiser(params, v, a, sigma_window=window)
    outputs.append(np.asarray(diffusion.sample(den, gen_key, num_seeds, d, num_steps=num_steps)))
  outputs = np.stack(outputs)  # (A, num_seeds, d)
  sampling = {g: p_target(outputs[:, idx]).reshape(len(a_grid), -1) for g, idx in seeds.items()}

  rng = np.random.default_rng(np.asarray(jax.random.key_data(key)).tolist())
  result = dict(a=a_grid, a_sampling=a_samp, window_sigma=window, window_steps=(first, num_steps - s.window_skip_last),
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
      result[mode][g] = _response.bootstrap_curves(rng, cur, num_bootstrap)
      curves[(mode, g)] = cur
  grid = dict(a_cols=np.linspace(0, len(a_samp) - 1, s.grid_cols).round().astype(int))
  grid.update({g: outputs[:, idx[:s.grid_rows]] for g, idx in seeds.items()})
  return result, curves, grid


def best_rows(rows: list) -> dict:
  """Per labelling: the paper's std score and the best score by AUROC, both at layer h, best σ (labellings with
  fewer than ``sims._response.MIN_POSITIVES`` positives are left out)."""
  out = {}
  for lab in LABELLINGS:
    sel = [r for r in rows if r["labelling"] == lab and r["layer"] == "h" and not r["too_few_positives"]]
    if not sel:
      continue
    std = max((r for r in sel if r["score"] == "std"), key=lambda r: r["auroc"])
    best = max(sel, key=lambda r: r["auroc"])
    out[lab] = dict(std=std, best=best)
  return out
