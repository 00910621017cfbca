"""The measurements of ``sims.deep_diffusion`` on UNets trained on the bundled digits or on the synthetic
bars of :mod:`relu_dae.bars` (:func:`images`): training and
generating (:func:`train_model`, :func:`generate`, cached per model in the workdir), copy labels
(:func:`copy_labels`), the copy-rate sweep over n (:func:`sweep_models`), and on the hybrid model
the per-layer scores (:func:`layer_scores`), steering (:func:`steer`) and Jacobian spectra
(:func:`jacobian_spectra`). Explicit arguments; nothing reads absl flags.

Every model of a run trains on the same ``X`` — all 1797 images of the pool — with per-image weights (0 outside
the training set, ``copies`` on a duplicated image), so one compiled trainer and one compiled sampler
serve every training-set size, seed and the hybrid set.
"""

from __future__ import annotations

import hashlib
import os
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from sklearn.linear_model import LogisticRegression

import relu_dae as rd
from relu_dae import bars
from relu_dae import copies
from relu_dae import detection
from relu_dae import diffusion
from relu_dae import steering
from relu_dae import unet

__all__ = ["EXPERIMENTS", "GROUPS", "STEER_BLOCKS", "STEER_VECTORS", "DATA", "Images", "Model", "classifier",
           "copy_labels", "digits", "effective_rank", "family_distance", "generate", "generation_key", "hybrid_weights",
           "images", "jacobian_spectra",
           "layer_scores", "steer", "steer_steps", "steered_blocks", "sweep_models", "train_config", "train_model",
           "unet_config"]

EXPERIMENTS = ("sweep", "hybrid")
GROUPS = ("memorized", "generalized")
DATA = ("digits", "bars")
POOL_SIZE = 1797  # images in the pool: scikit-learn's digits, and as many bars so every n grid serves both


class Images(NamedTuple):
  """The training pool: flat images ``X (1797, d)`` in [−1, 1], class ``labels (1797,)`` and, for the
  synthetic bars, the ``family`` (a :class:`relu_dae.bars.BarSpec`) with each image's ``centres (1797, 2)``,
  the known truth (``None`` for digits)."""
  X: np.ndarray
  labels: np.ndarray
  family: bars.BarSpec | None = None
  centres: np.ndarray | None = None


class Model(NamedTuple):
  """A trained UNet and its generations: ``params``, final mean loss, ``generated (m, d)``."""
  params: dict
  final_loss: float
  loss_drift: float  # relative change of the mean loss between the last two tenths of training
  generated: np.ndarray
  nonfinite_step: int  # first step whose loss was not finite (its chunk discarded), -1 when training stayed finite


def generation_key(key):
  """The key a model's generations are drawn with (:func:`train_model`); a steered rerun with it reproduces them."""
  return jax.random.fold_in(key, 2)


def images(name: str, image_size: int, seed: int) -> Images:
  """The pool ``name`` of :data:`DATA`: :func:`digits`, or 1797 bars (:func:`relu_dae.bars.sample` of the
  ten-orientation family drawn at ``image_size``, with the key ``fold_in(PRNGKey(seed), 7)``)."""
  if name == "digits":
    return digits(image_size)
  if name != "bars":
    raise ValueError(f"data must be one of {DATA}, got {name!r}")
  family = bars.DEFAULT._replace(image_size=image_size)
  X, labels, centres = bars.sample(jax.random.fold_in(jax.random.PRNGKey(seed), 7), POOL_SIZE, family)
  return Images(X, labels, family, centres)


def family_distance(G, data: Images) -> np.ndarray:
  """Each generation's distance to the bars family (:func:`relu_dae.bars.distance_to_family`), RMS per
  pixel (the Euclidean distance over ``√d``); NaN for a non-finite generation, and everywhere for digits,
  which have no known family."""
  G = np.asarray(G, np.float64)
  out = np.full(len(G), np.nan)
  ok = np.all(np.isfinite(G), axis=1)
  if data.family is not None and ok.any():
    out[ok] = bars.distance_to_family(G[ok], data.family).distance / np.sqrt(G.shape[1])
  return out


def digits(image_size: int) -> Images:
  """scikit-learn's digits in [−1, 1], nearest-neighbour upsampled from 8×8 to ``image_size`` (a multiple of 8)."""
  X, y = rd.data.load_digits()
  f = image_size // 8
  img = X.reshape(-1, 8, 8)
  if f > 1:
    img = np.repeat(np.repeat(img, f, axis=1), f, axis=2)
  return Images(np.ascontiguousarray(img.reshape(len(X), -1), np.float32), y)


def unet_config(c) -> unet.UNetConfig:
  return unet.UNetConfig(image_size=c.image_size, channels=tuple(c.channels), num_res_blocks=c.num_res_blocks,
                         embed_dim=c.embed_dim, groups=c.groups)


def train_config(t) -> rd.train.TrainConfig:
  return rd.train.TrainConfig(steps=t.steps, learning_rate=t.learning_rate, batch_size=t.batch_size,
                              chunk_size=t.chunk_size, optimizer="adam")


def _flat(params) -> dict:
  return {jax.tree_util.keystr(p): np.asarray(w) for p, w in jax.tree_util.tree_leaves_with_path(params)}


def _unflat(arrays: dict, like) -> dict:
  leaves = [jnp.asarray(arrays[jax.tree_util.keystr(p)]) for p, _ in jax.tree_util.tree_leaves_with_path(like)]
  return jax.tree_util.tree_unflatten(jax.tree_util.tree_structure(like), leaves)


def _drift(loss: np.ndarray) -> float:
  """Relative change of the mean loss from the second-last to the last tenth of the steps."""
  k = max(len(loss) // 10, 1)
  last, before = float(np.mean(loss[-k:])), float(np.mean(loss[-2 * k:-k]))
  return (last - before) / abs(before) if before else float("nan")


def _fingerprint(X, weights, key, cfg, tc, num_samples: int, num_steps: int) -> str:
  """A digest of everything a cached model depends on."""
  h = hashlib.sha256()
  for a in (np.asarray(X, np.float32), np.asarray(weights, np.float32), np.asarray(jax.random.key_data(key))):
    h.update(a.tobytes())
  h.update(repr((cfg, tc, num_samples, num_steps, diffusion.SIGMA_MIN, diffusion.SIGMA_MAX, "edm",
                 getattr(rd, "__version__", None), jax.__version__)).encode())
  return h.hexdigest()


def train_model(X, weights, key, cfg: unet.UNetConfig, tc: rd.train.TrainConfig, *, num_samples: int,
                num_steps: int, cache: str | None = None) -> Model:
  """Trains a UNet on the rows of ``X`` weighted by ``weights`` and generates ``num_samples`` images.

  Keys: ``fold_in(key, 0)`` initialises, ``1`` trains, ``2`` samples (sample ``j`` depends only on
  ``fold_in(fold_in(key, 2), j)``, so a steered rerun with that key reproduces it at ``a = 0``).
  With ``cache`` (a path stem), a finished model is read back instead of retrained when it was made
  from the same inputs (its ``fingerprint``: architecture, training config, weights, key, sampler
  settings); resumed runs are bit-identical, and a model made otherwise is retrained.
  """
  like = unet.init(jax.random.fold_in(key, 0), cfg)
  fingerprint = _fingerprint(X, weights, key, cfg, tc, num_samples, num_steps)
  if cache is not None and os.path.isfile(cache + ".npz") and os.path.isfile(cache + ".json"):
    arrays, meta = rd.results.load(cache)
    # Both files carry the fingerprint: a run killed between writing the .npz and the .json never pairs
    # another model's arrays with this model's metadata.
    if meta.get("fingerprint") == fingerprint and str(arrays.get("fingerprint", "")) == fingerprint:
      return Model(_unflat(arrays, like), meta["final_loss"], meta["loss_drift"], arrays["generated"],
                   meta["nonfinite_step"])
  params, hist = unet.train(like, X, jax.random.fold_in(key, 1), tc, cfg, weights=weights)
  loss = np.asarray(hist.loss)
  G = generate(params, cfg, generation_key(key), num_samples, num_steps)
  model = Model(params, float(np.mean(loss[-max(len(loss) // 10, 1):])), _drift(loss), G, int(hist.nonfinite_step))
  if cache is not None:
    rd.results.save(cache, {**_flat(params), "generated": G, "loss": loss, "fingerprint": np.asarray(fingerprint)},
                    dict(final_loss=model.final_loss, loss_drift=model.loss_drift,
                         nonfinite_step=model.nonfinite_step, fingerprint=fingerprint))
  return model


def generate(params, cfg: unet.UNetConfig, key, num_samples: int, num_steps: int) -> np.ndarray:
  """``num_samples`` flat images from the official ancestral VE sampler (``relu_dae.diffusion.sample``)."""
  return np.asarray(diffusion.sample(unet.denoiser(params, cfg), key, num_samples, cfg.d, num_steps=num_steps))


def copy_labels(G, X, weights, threshold: float) -> dict:
  """Nearest distinct training image of each generation (Euclidean), ``d1``, ``d2``, ``ratio = d1/d2``,
  ``copy = ratio < threshold`` and ``norm_ratio = ‖g‖/‖x_nearest‖``."""
  nb = copies.nearest_neighbours(jnp.asarray(G), jnp.asarray(X), jnp.asarray(weights))
  d1, d2, i1 = (np.asarray(v) for v in (nb.d1, nb.d2, nb.i1))
  ratio = np.minimum(d1, d2) / d2  # as copies.nearest_neighbour_ratio, from the same neighbours
  norm = np.where(i1 >= 0, np.linalg.norm(G, axis=1) / np.linalg.norm(X[np.maximum(i1, 0)], axis=1), np.nan)
  return dict(nearest=i1, d1=d1, d2=d2, ratio=ratio, copy=np.asarray(copies.is_copy(ratio, threshold)),
              norm_ratio=norm)


def sweep_models(data: Images, c, cfg, tc, key, workdir: str, progress) -> dict:
  """One model per (seed, n of ``c.sweep.n_values``) on the first n images of a seeded permutation;
  returns ``{"copy": (S, L, m) float (1 copy, 0 not, NaN for a diverged model), "ratio", "d1", "d2",
  "norm_ratio", "family_distance" (:func:`family_distance`; NaN for digits): (S, L, m), "final_loss",
  "loss_drift": (S, L), "generated": (S, L, m, d), "train_index": (S, 1797)}``."""
  n_values, S = tuple(c.sweep.n_values), c.sweep.seeds
  out = {k: [] for k in ("copy", "ratio", "d1", "d2", "norm_ratio", "family_distance", "final_loss", "loss_drift",
                         "generated", "train_index")}
  os.makedirs(os.path.join(workdir, "models"), exist_ok=True)
  for s in range(S):
    k_seed = jax.random.fold_in(key, s)
    perm = np.random.default_rng([c.seed, s]).permutation(len(data.X))
    out["train_index"].append(perm)
    rows = {k: [] for k in out if k != "train_index"}
    for n in n_values:
      w = np.zeros(len(data.X), np.float32)
      w[perm[:n]] = 1.0
      m = train_model(data.X, w, jax.random.fold_in(k_seed, n), cfg, tc, num_samples=c.num_samples,
                      num_steps=c.num_steps, cache=os.path.join(workdir, "models", f"sweep_s{s}_n{n}"))
      lab = copy_labels(m.generated, data.X, w, c.copy_threshold)
      lab["copy"] = lab["copy"].astype(np.float64)
      lab["family_distance"] = family_distance(m.generated, data)
      if m.nonfinite_step >= 0:  # a diverged model is a failed run: NaN, never "no copies"
        lab = {k: np.full_like(v, np.nan, dtype=np.float64) if k != "nearest" else v for k, v in lab.items()}
        progress(f"sweep seed {s} n={n}: training diverged at step {m.nonfinite_step}; its results are NaN")
      for k in ("copy", "ratio", "d1", "d2", "norm_ratio", "family_distance"):
        rows[k].append(lab[k])
      rows["final_loss"].append(m.final_loss)
      rows["loss_drift"].append(m.loss_drift)
      rows["generated"].append(m.generated)
      progress(f"sweep seed {s} n={n}: copy rate {np.mean(lab['copy']):.2f}, loss {m.final_loss:.3f}")
    for k, v in rows.items():
      out[k].append(np.stack(v))
  return {k: np.stack(v) for k, v in out.items()}


def hybrid_weights(data: Images, c, key) -> tuple[np.ndarray, np.ndarray]:
  """Weights of the hybrid set: ``c.hybrid.copies`` on ``n_duplicated`` images outside ``target_class``
  (drawn with ``key``), 1 on every other image. Returns ``(weights (1797,), duplicated indices)``."""
  h = c.hybrid
  pool = np.flatnonzero(data.labels != h.target_class)
  dup = np.sort(np.random.default_rng(np.asarray(jax.random.key_data(key)).tolist()).choice(
      pool, h.n_duplicated, replace=False))
  w = np.ones(len(data.X), np.float32)
  w[dup] = h.copies
  return w, dup


# The scores of relu_dae.detection are defined on nonnegative (ReLU) representations; the UNet's SiLU features
# reach down to -0.28, so they score the positive part [h]+ (docs/theory_choices.md; the share of negative
# entries is reported by negative_share).
POSITIVE_PART_SCORES = {k: (lambda h, fn=fn: fn(jnp.maximum(h, 0.0))) for k, fn in detection.SCORES.items()}
_NEGATIVE = "negative_share"  # read alongside the scores, from the same representations


def _negative_share(h):
  return jnp.mean(h < 0, axis=-1)


def layer_scores(params, cfg, G, key, *, sigma: float, num_noise: int, poolings) -> tuple[dict, dict]:
  """Table 1's protocol on generations ``G (m, d)``: re-noise at σ, represent every level of
  ``unet.layer_names(cfg)`` with each pooling, score ``[h]₊`` with every ``relu_dae.detection.SCORES`` entry.

  Returns ``{(layer, pooling): {score: (m,)}}`` (the noise draws are shared by all layers) and
  ``{(layer, pooling): share of negative entries of h}``."""
  out, negative = {}, {}
  names = {**POSITIVE_PART_SCORES, _NEGATIVE: _negative_share}
  for layer in unet.layer_names(cfg):
    for pooling in poolings:
      rep = unet.represent_fn(cfg, sigma, layer=layer, pooling=pooling)
      s = detection.scores(params, jnp.asarray(G), sigma, key, num_noise=num_noise, names=names, represent=rep)
      negative[(layer, pooling)] = float(jnp.mean(s.pop(_NEGATIVE)))  # equal-sized rows: the share of all entries
      out[(layer, pooling)] = {k: np.asarray(v, np.float64) for k, v in s.items()}
  return out, negative


STEER_BLOCKS = ("up", "coarse_up")
STEER_VECTORS = ("map", "channel")


def steered_blocks(cfg: unet.UNetConfig, which: str = "up") -> tuple[str, ...]:
  """The blocks steering edits: ``"up"`` every ResNet block of the up path; ``"coarse_up"`` those of its
  coarser half (the official code hooks ``up_blocks.{0,1}.resnets.*``, the coarser half of SD1.4's four)."""
  L = len(cfg.channels)
  top = L if which == "up" else max(L // 2, 1)
  return tuple(b for b in unet.layer_names(cfg, blocks=True) if b.startswith("up.") and int(b.split(".")[1]) < top)


def classifier(data: Images, target: int):
  """Logistic regression on the pool's classes; returns ``p_target(Y (..., d)) -> (...)`` and its training accuracy."""
  clf = LogisticRegression(max_iter=3000).fit(data.X, data.labels)
  col = int(np.flatnonzero(clf.classes_ == target)[0])

  def p_target(Y):
    Y = np.asarray(Y, np.float64)
    return clf.predict_proba(Y.reshape(-1, Y.shape[-1]))[:, col].reshape(Y.shape[:-1])

  return p_target, clf.predict, float(clf.score(data.X, data.labels))


def steer_steps(s, num_steps: int) -> tuple[int, int]:
  """The sampler steps ``[first, last)`` steering acts on: ``first = round(window_first_frac · N)`` (at most
  ``N − 1``), ``last = N − window_skip_last``; ``first < last`` is checked by ``validate.validate_config``."""
  return min(round(s.window_first_frac * num_steps), num_steps - 1), num_steps - s.window_skip_last


def steer(params, cfg, data: Images, G, labels: dict, s, key, gen_key, *, target: int, num_steps: int) -> dict:
  """Steered sampling (Eq. 11 in the UNet) toward the class ``target`` over ``a ∈ [0, a_max]``.

  ``v_ℓ`` = mean representation at σ_ref of ``num_reference`` images of class ``target`` — the whole
  activation map (``s.vector = "map"``) or its spatial max per channel (``"channel"``, added at every
  position) — added at :func:`steered_blocks` (``s.blocks``) on the sampler steps
  ``[first, num_steps − skip_last)``. The sampler reruns with
  the generations' key ``gen_key``, so at ``a = 0`` it reproduces ``G``. Inputs are the seeds whose
  unsteered generation is memorized (``labels["pos"]``) or generalized (``labels["neg"]``) and not of the
  target class. Returns the strengths, the window, ``p (A, num_seeds)`` and the outputs.
  """
  p_target, predict, acc = classifier(data, target)
  ref = data.X[data.labels == target][:s.num_reference]
  blocks = steered_blocks(cfg, s.blocks)
  pooling = "none" if s.vector == "map" else "max"
  v = {b: steering.steering_vector(params, jnp.asarray(ref), s.sigma_ref, k, num_noise=1,
                                   represent=unet.represent_fn(cfg, s.sigma_ref, layer=b, pooling=pooling))
       for b, k in zip(blocks, jax.random.split(key, len(blocks)))}
  first, last = steer_steps(s, num_steps)
  window = steering.step_window(num_steps, first, last)
  a_grid = np.linspace(0.0, s.a_max, s.num_a)
  num_seeds = min(s.num_seeds, len(G))
  outputs = np.stack([np.asarray(diffusion.sample(unet.steered_denoiser(params, cfg, v, a, sigma_window=window),
                                                  gen_key, num_seeds, cfg.d, num_steps=num_steps))
                      for a in a_grid])  # (A, num_seeds, d)
  off_target = predict(np.asarray(G[:num_seeds], np.float64)) != target
  seeds = {"memorized": np.flatnonzero(labels["pos"][:num_seeds] & off_target)[:s.num_inputs],
           "generalized": np.flatnonzero(labels["neg"][:num_seeds] & off_target)[:s.num_inputs]}
  return dict(a=a_grid, window_sigma=window, window_steps=(first, last), seeds=seeds, outputs=outputs,
              p=p_target(outputs), classifier_train_accuracy=acc,
              v_norms={b: float(jnp.linalg.norm(x)) for b, x in v.items()},
              a0_max_abs_diff=float(np.max(np.abs(outputs[0] - G[:num_seeds]))))


def effective_rank(sv: np.ndarray) -> np.ndarray:
  """Roy–Vetterli effective rank ``exp(H(s/Σs))`` of singular values ``(..., k)`` (1 for rank one, k for flat)."""
  p = sv / np.sum(sv, axis=-1, keepdims=True)
  return np.exp(-np.sum(np.where(p > 0, p * np.log(np.where(p > 0, p, 1.0)), 0.0), axis=-1))


def jacobian_spectra(params, cfg, G, groups: dict, key, *, sigmas) -> dict:
  """Singular values of ``∂D(g + σε; σ)/∂x`` at the generations of each group, per σ of ``sigmas``.
  Returns ``{(group, σ): (k, d) singular values}`` (descending)."""
  out = {}
  for i, sigma in enumerate(sigmas):
    for j, (g, idx) in enumerate(groups.items()):
      if len(idx) == 0:
        continue
      x = G[idx] + sigma * np.asarray(jax.random.normal(jax.random.fold_in(key, 10 * i + j), G[idx].shape))
      J = np.asarray(unet.jacobian(params, x.reshape(-1, *cfg.image_shape), sigma, cfg), np.float64)
      out[(g, float(sigma))] = np.linalg.svd(J, compute_uv=False)
  return out
