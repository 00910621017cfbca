"""The experiments of ``sims.margin_check``: random instances, their measurements, and the
Cor. 3.3, unit-birth, Jacobian and breaking-point experiments.

Every function takes explicit arguments: a :class:`Settings` (the config's top-level fields:
instance ranges, solvers, tolerances), a :class:`Family`, or its experiment's own NamedTuple
(:class:`Cor33`, :class:`Birth`, :class:`Jacobian`, :class:`Limits`); :func:`arguments` builds
them all from a config. Nothing here reads absl flags. :func:`compute` runs a selection of
:data:`EXPERIMENTS` and saves them in one ``margin_check.{npz,json}``; :func:`load` reads it back.
"""

from __future__ import annotations

import dataclasses
import functools
import time
from typing import NamedTuple

from absl import logging
import jax
import jax.numpy as jnp
import numpy as np
from tqdm.auto import tqdm

import relu_dae as rd
from relu_dae import data, losses, minima, model, theory, unit_birth

__all__ = [
    "EXPERIMENTS", "KINDS", "LIMIT_AXES", "Batch", "Birth", "Cor33", "Family", "Jacobian", "Limits", "Saved",
    "Settings", "arguments", "basin", "birth_experiment", "certify", "compute", "cor33_experiment",
    "decomposition", "draw_batch", "jacobian_experiment", "limits_experiment", "load", "measure_family",
    "residual", "settings", "train_random", "unit_birth_ok",
]

# The experiments, in the order their PRNG keys are folded (a selection keeps each one's key).
EXPERIMENTS = ("families", "cor33", "jacobian", "limits", "birth")


# ----------------------------------------------------------------------------- arguments


@dataclasses.dataclass(frozen=True)
class Settings:
  """The config's top-level fields every per-instance measurement uses (see sims/configs/margin_check.py)."""
  seed: int
  norm: float  # ‖x̄_k‖ (gen, hybrid) and mean ‖x_i‖ (mem)
  rank: int  # within-cluster covariance rank
  decay: float  # within-cluster spectrum decay
  beta_max: float  # β drawn up to this
  alpha: tuple  # (low, high) of α
  sigma: tuple  # (low, high) of σ / norm, log-uniform
  lam_frac: float  # nλ drawn in [0, lam_frac · smallest block eigenvalue)
  mem_pad: int  # zero columns appended to W_mem
  rotation_starts: int  # random O_k per block when maximizing γ_op
  rotation_steps: int
  birth_starts: int  # unit_birth.passes: random starts and steps
  birth_steps: int
  draws_per_dim: int  # moment-matched noise draws per sample = draws_per_dim · d
  chord_steps: int  # fixed-Hessian Newton steps of the residual
  refine_steps: int  # L-BFGS steps of the basin test
  basin_deltas: tuple  # relative perturbations of W* in the basin test
  basin_count: int  # instances per family in the basin test
  train: rd.train.TrainConfig  # Adam from a random init
  train_count: int  # instances per family trained
  grad_tol: float  # certificate: relative gradient norm
  eig_tol: float  # certificate: min Hessian eigenvalue >= -eig_tol * max


class Family(NamedTuple):
  """Instances of one shape: ``counts`` samples per cluster (mem: 1 each), ``ps`` units per
  cluster, the first ``dup`` clusters exact duplicates (Cor. 3.4), ``count`` instances."""
  name: str
  kind: str
  d: int
  counts: tuple
  ps: tuple
  count: int
  dup: int = 0


class Cor33(NamedTuple):
  """Cor. 3.3 as n_k grows: i.i.d. draws from one fixed K-mode mixture (``cor33`` of the config)."""
  d: int
  K: int
  beta: float
  rank: int
  decay: float
  spread: float
  n_k: tuple
  p_k: int
  sigma: float
  lam: float
  seeds: int
  test: int
  train_n_k: tuple


class Birth(NamedTuple):
  """λ*(σ) of the zero-padded W_mem: σ/norm values, sample cosines β, bisection steps."""
  sigma: tuple
  beta: tuple
  iters: int


class Jacobian(NamedTuple):
  """Jacobians at training points of a trained memorizing (mem_n samples, mem_p units) and a
  generalizing (gen_K clusters of gen_n_k, gen_ps units) model."""
  d: int
  mem_n: int
  mem_p: int
  gen_K: int  # noqa: N815  (the paper's K; a config key of the saved results)
  gen_n_k: int
  gen_ps: tuple
  sigma: float
  lam: float
  steps: int
  learning_rate: float


class Limits(NamedTuple):
  """Breaking points: ``count`` instances at each value of one axis at a time."""
  count: int
  beta: tuple
  alpha: tuple
  sigma: tuple
  lam_frac: tuple


def _tuples(d: dict) -> dict:
  return {k: tuple(v) if isinstance(v, list) else v for k, v in d.items()}


def settings(c) -> Settings:
  """The :class:`Settings` of config ``c``."""
  names = [f.name for f in dataclasses.fields(Settings) if f.name != "train"]
  return Settings(**_tuples({k: c[k] for k in names}), train=rd.train.TrainConfig(**c.train.to_dict()))


def arguments(c) -> dict:
  """Every experiment's arguments from config ``c``: ``settings``, ``families``, ``cor33``, ``birth``,
  ``jacobian``, ``limits``."""
  return dict(settings=settings(c), families=tuple(Family(**_tuples(dict(f))) for f in c.families),
              cor33=Cor33(**_tuples(c.cor33.to_dict())), birth=Birth(**_tuples(c.birth.to_dict())),
              jacobian=Jacobian(**_tuples(c.jacobian.to_dict())), limits=Limits(**_tuples(c.limits.to_dict())))


# ----------------------------------------------------------------------------- instances


KINDS = ("mem", "gen", "hybrid")


class Batch(NamedTuple):
  """Instances of one family (leading axis B), with their constructed minima."""
  X: np.ndarray  # (B, n, d)
  labels: np.ndarray  # (n,)
  owner: np.ndarray  # (p,) cluster owning each unit of W* (−1: zero column)
  W: np.ndarray  # (B, d, p) constructed minimum W*
  sigma: np.ndarray  # (B,)
  lam: np.ndarray  # (B,)
  lam_frac: np.ndarray  # (B,) nλ / smallest block Gram eigenvalue
  beta: np.ndarray  # (B,) requested β (mem: sample cosine; gen: mean cosine)
  alpha: np.ndarray  # (B,) requested α of the non-duplicated clusters
  gamma_default: np.ndarray  # (B,) γ_op of W* with Eq. (8)'s default equiangular O_k (mem: γ_op of W_mem)


@functools.cache
def _drawer(kind: str, d: int, counts: tuple, rank: int, decay: float):
  """One jitted data draw per family shape (β, α, norm traced)."""
  if kind == "mem":
    return jax.jit(lambda key, beta, alpha, norms: data.simplex_means(len(counts), d, beta=beta, key=key)
                   * norms[:, None])
  draw = functools.partial(data.separable_mixture_arrays, d=d, counts=counts, rank=min(rank, d), decay=decay)
  return jax.jit(lambda key, beta, alpha, norms: draw(key, alpha=alpha, beta=beta, norm=norms[0])[0])


@functools.cache
def _constructor(kind: str, counts: tuple, ps: tuple, pad: int):
  """One jitted W* constructor per family shape: Eq. (9) or the blocks of Eq. (8)."""
  n = sum(counts)
  if kind == "mem":
    return jax.jit(lambda X, s, l: minima.memorization(X, s, l, n + pad))
  edges = np.cumsum((0,) + counts)

  def build(X, s, l):
    return jnp.concatenate([minima.cluster_block(X[a:b], n, s, l, p)
                            for a, b, p in zip(edges[:-1], edges[1:], ps)], axis=1)
  return jax.jit(build)


def _block_floor(X: np.ndarray, counts: tuple, ps: tuple, kind: str) -> float:
  """The smallest eigenvalue Eq. (8)/(9) needs above nλ (host numpy)."""
  if kind == "mem":
    return float(np.min(np.sum(X**2, axis=1)))
  edges = np.cumsum((0,) + counts)
  return min(float(np.linalg.svd(X[a:b], compute_uv=False)[p - 1] ** 2)
             for a, b, p in zip(edges[:-1], edges[1:], ps))


def draw_batch(key, fam: Family, s: Settings, count: int, *, beta=None, alpha=None, sigma=None, lam_frac=None) -> Batch:
  """``count`` random instances of family ``fam``; any of β, α, σ/norm, nλ-fraction may be fixed."""
  counts, ps, K = tuple(fam.counts), tuple(fam.ps), len(fam.counts)
  n, kind = sum(counts), fam.kind
  if kind not in KINDS:
    raise ValueError(f"family {fam.name!r}: kind must be one of {KINDS}, got {kind!r}")
  if len(ps) != K or fam.dup > K or (kind == "mem" and set(counts) != {1}):
    raise ValueError(f"family {fam.name!r}: need one p_k per cluster, dup <= K and (mem) one sample per "
                     f"cluster, got counts={counts}, ps={ps}, dup={fam.dup}")
  rng = np.random.default_rng(np.asarray(jax.random.key_data(key)).ravel().tolist())
  lo = max(-1.0 / (K - 1), -0.6) if K > 1 else 0.0
  betas = rng.uniform(lo, s.beta_max, count) if beta is None else np.full(count, beta)
  alphas = rng.uniform(*s.alpha, count) if alpha is None else np.full(count, alpha)
  sigmas = s.norm * (np.exp(rng.uniform(*np.log(s.sigma), count)) if sigma is None else np.full(count, sigma))
  fracs = rng.uniform(0.0, s.lam_frac, count) if lam_frac is None else np.full(count, lam_frac)
  pad = s.mem_pad if kind == "mem" else 0  # zero columns of W_mem (Cor. 3.2's p > n)
  draw = _drawer(kind, fam.d, counts, s.rank, s.decay)
  build = _constructor(kind, counts, ps, pad)
  Xs, Ws, lams = [], [], []
  for b, k in enumerate(jax.random.split(key, count)):
    a = np.where(np.arange(K) < fam.dup, 0.0, alphas[b])
    norms = s.norm * (rng.uniform(0.6, 1.4, K) if kind == "mem" else np.ones(K))
    X = np.asarray(draw(k, betas[b], jnp.asarray(a), jnp.asarray(norms)), np.float64)
    lam = fracs[b] * _block_floor(X, counts, ps, kind) / n
    Xs.append(X)
    lams.append(lam)
    Ws.append(np.asarray(build(X, sigmas[b], lam)) if fracs[b] < 1 else np.full((fam.d, sum(ps) + pad), np.nan))
  labels = np.repeat(np.arange(K), counts)
  owner = np.concatenate([np.repeat(np.arange(K), ps), np.full(pad, -1)])
  Xs, Ws = np.stack(Xs), np.stack(Ws)
  live = owner >= 0
  if kind == "mem":  # one unit per sample: O(1) = {±1}, nothing to rotate
    gamma0 = np.asarray(theory.margin_batch(Xs, labels, Ws[:, :, live], owner[live]).gamma)
  else:  # Eq. (8) holds for any O_k: take the one that maximizes γ_op, block by block
    rot = theory.best_rotation_batch(Xs, labels, Ws, owner, key=jax.random.fold_in(key, 7),
                                     starts=s.rotation_starts, steps=s.rotation_steps)
    gamma0 = np.asarray(rot.gamma_given)
    Ws = np.where(np.isfinite(Ws), np.asarray(rot.W), Ws)
  return Batch(Xs, labels, owner, Ws, sigmas, np.array(lams), fracs, betas, alphas, gamma0)


# ----------------------------------------------------------------------------- measurements


def certify(batch: Batch, s: Settings) -> dict:
  """Certificates, margins and preconditions of each constructed minimum."""
  X, W, sig, lam = (jnp.asarray(v) for v in (batch.X, batch.W, batch.sigma, batch.lam))
  cert = theory.certify_batch({"W": W}, X, sig, lam)
  live = batch.owner >= 0
  m = theory.margin_batch(X, batch.labels, W[:, :, live], batch.owner[live])
  seps = [data.separability(x, batch.labels) for x in batch.X]
  paper = np.array([_paper_gamma(x, batch, float(sg), float(lm)) for x, sg, lm in zip(batch.X, batch.sigma, batch.lam)])
  beta_data = np.array([b for _, b in seps])
  gamma = np.asarray(m.gamma)
  max_eig = np.maximum(np.asarray(cert.max_hessian_eig), 1e-300)
  frozen_ok = ((np.asarray(cert.rel_grad_norm) <= s.grad_tol)
               & (np.asarray(cert.min_hessian_eig) >= -s.eig_tol * max_eig))
  birth_ok = unit_birth_ok(batch, s)
  cert_ok = frozen_ok & birth_ok
  return dict(rel_grad=np.asarray(cert.rel_grad_norm), min_eig=np.asarray(cert.min_hessian_eig), max_eig=max_eig,
              frozen_ok=frozen_ok, birth_ok=birth_ok, gamma_default=batch.gamma_default,
              flip_bound=np.asarray(cert.mask_flip_bound), frozen_loss=np.asarray(cert.loss),
              zero_modes=np.sum(np.abs(np.asarray(cert.hessian_eigs)) < 1e-9 * max_eig[:, None], axis=1),
              gamma_op=gamma, active_gap=np.asarray(m.active_gap), inactive_gap=np.asarray(m.inactive_gap),
              gamma_paper=paper, beta_data=beta_data, alpha_data=np.array([a for a, _ in seps]),
              pre_ok=(beta_data < 0) & (gamma > 0), cert_ok=cert_ok)


def unit_birth_ok(batch: Batch, s: Settings) -> np.ndarray:
  """The second-order test for a new unit (``relu_dae.unit_birth.passes``) at a zero-padded W_mem.

  ``True`` where W* has no zero column (p = n, and every gen/hybrid W*) or where the padded
  W_mem passes (λ above λ*(σ) of its data); ``False`` where growing a zero column lowers Eq. (6)
  at order ε² (a saddle the frozen-mask certificate cannot see) or W* was not built. ``(B,)``."""
  B = len(batch.sigma)
  if not np.any(batch.owner < 0):
    return np.ones(B, bool)
  out = np.zeros(B, bool)
  for b in range(B):
    if np.all(np.isfinite(batch.W[b])):
      out[b] = unit_birth.passes(batch.X[b], float(batch.sigma[b]), float(batch.lam[b]),
                                 jax.random.fold_in(jax.random.PRNGKey(s.seed), b), starts=s.birth_starts,
                                 steps=s.birth_steps)
  return out


def _paper_gamma(X, batch, sigma, lam) -> float:
  ps = [int(np.sum(batch.owner == k)) for k in range(batch.labels.max() + 1)]
  try:
    return float(theory.paper_margin(X, batch.labels, ps, sigma=sigma, lam=lam).gamma)
  except ValueError:  # a single-sample or duplicated cluster with p_k > rank
    return float("nan")


@functools.partial(jax.jit, static_argnames=("steps",))
def _refine_batch(W0, X, eps, sigma, lam, steps):
  return jax.vmap(lambda w, x, e, s, l: theory.refine({"W": w}, x, e, s, l, steps=steps))(W0, X, eps, sigma, lam)


def _noise(key, batch: Batch, s: Settings) -> jax.Array:
  B, n, d = batch.X.shape
  return jnp.stack([theory.moment_matched_noise(k, n, s.draws_per_dim * d, d) for k in jax.random.split(key, B)])


def _rel(W, W_star):
  return np.sum((W - W_star) ** 2, axis=(1, 2)) / np.sum(W_star**2, axis=(1, 2))


def _gram_rel(W, W_star):
  """``metrics.projector_error`` per instance: ``‖WWᵀ − W*W*ᵀ‖_F/‖W*W*ᵀ‖_F``, ``(B,)``."""
  return np.asarray(jax.vmap(rd.metrics.projector_error)(jnp.asarray(W), jnp.asarray(W_star)))


@jax.jit
def _mm_grads(W, X, eps, sigma, lam):
  """Gradients of the moment-matched Eq. (6), vmapped over instances: ``(B, d, p)``."""
  g = jax.grad(lambda w, x, e, s, l: theory.moment_matched_loss({"W": w}, x, e, s, l))
  return jax.vmap(g)(W, X, eps, sigma, lam)


@jax.jit
def _mm_losses(W, X, eps, sigma, lam):
  return jax.vmap(lambda w, x, e, s, l: theory.moment_matched_loss({"W": w}, x, e, s, l))(W, X, eps, sigma, lam)


def _hessian_pinv(batch: Batch, rcond: float = 1e-9) -> np.ndarray:
  """Pseudo-inverses of the frozen-mask Hessians at W* (host eigh; zero modes dropped)."""
  X, W, s, l = (jnp.asarray(v) for v in (batch.X, batch.W, batch.sigma, batch.lam))
  _, _, H = theory.frozen_derivatives_batch({"W": W}, X, s, l)
  evals, evecs = np.linalg.eigh(np.asarray(H))
  keep = evals > rcond * evals[:, -1:]
  inv = np.where(keep, 1.0 / np.where(keep, evals, 1.0), 0.0)
  return np.einsum("bij,bj,bkj->bik", evecs, inv, evecs)


def residual(key, batch: Batch, s: Settings) -> dict:
  """The minimum of Eq. (6) over moment-matched noise near W*: Thm 3.1's residual R.

  Chord (fixed-Hessian Newton) iterations ``W ← W − H*⁺ ∇L_mm(W)`` from W*, with H* the
  frozen-mask Hessian at W*: the moment-matched loss equals the frozen-mask loss except on
  draws that flip a mask, so ``∇L_mm(W*)`` is the residual's force and H* its stiffness
  (first-order perturbation theory, iterated to a fixed point). The block rotations (zero
  modes of H*) are a gauge of f and are left alone.
  """
  eps = _noise(key, batch, s)
  args = (jnp.asarray(batch.X), eps, jnp.asarray(batch.sigma), jnp.asarray(batch.lam))
  P = _hessian_pinv(batch)
  W = batch.W.copy()
  B = W.shape[0]
  loss = lambda W: np.asarray(_mm_losses(jnp.asarray(W), *args))
  current, step = loss(W), np.ones(B)
  for _ in range(s.chord_steps):  # monotone: a step that raises the loss is halved instead
    g = np.asarray(_mm_grads(jnp.asarray(W), *args)).reshape(B, -1)
    trial = W - (step[:, None] * np.einsum("bij,bj->bi", P, g)).reshape(W.shape)
    new = loss(trial)
    better = new <= current
    W = np.where(better[:, None, None], trial, W)
    current = np.where(better, new, current)
    step = np.where(better, np.minimum(1.0, 2 * step), step / 2)
  g = np.asarray(_mm_grads(jnp.asarray(W), *args)).reshape(B, -1)
  g_star = np.asarray(_mm_grads(jnp.asarray(batch.W), *args)).reshape(B, -1)
  return dict(W=W, dist2=_rel(W, batch.W), gram=_gram_rel(W, batch.W), loss=current, loss_star=loss(batch.W),
              grad=(np.linalg.norm(np.einsum("bij,bj->bi", P, g), axis=1)
                    / np.linalg.norm(batch.W.reshape(B, -1), axis=1)),
              force=np.linalg.norm(g_star, axis=1))


def basin(key, batch: Batch, s: Settings, delta: float, W_min: np.ndarray) -> np.ndarray:
  """Gram distance to the minimum ``W_min`` near W* (:func:`residual`, same noise key) after L-BFGS
  on the moment-matched Eq. (6) from W* perturbed by a relative δ."""
  k_eps, k_pert = jax.random.split(key)
  eps = _noise(k_eps, batch, s)
  G = np.asarray(jax.random.normal(k_pert, batch.W.shape, jnp.float64))
  W0 = batch.W + delta * G * (np.linalg.norm(batch.W, axis=(1, 2)) / np.linalg.norm(G, axis=(1, 2)))[:, None, None]
  out = _refine_batch(jnp.asarray(W0), jnp.asarray(batch.X), eps, jnp.asarray(batch.sigma), jnp.asarray(batch.lam),
                      s.refine_steps)
  return _gram_rel(np.asarray(out.params["W"]), W_min)


@functools.partial(jax.jit, static_argnames=("tc", "p"))
def _train_batch(X, keys, sigma, lam, tc, p):
  """Adam from a random init, vmapped over instances (one compile per shape and config)."""
  def one(x, k, s, l):
    k_init, k_train = jax.random.split(k)
    init = jax.tree.map(lambda w: w.astype(x.dtype), model.init(k_init, x.shape[1], p))
    params, hist = rd.train.train(init, x, k_train, tc, sigma=s, lam=l)
    return params["W"], hist.nonfinite_step
  return jax.vmap(one)(X, keys, sigma, lam)


def train_random(key, batch: Batch, s: Settings) -> dict:
  """Adam + Monte-Carlo noise from a random init: does training land at W*? (and how big is W?)"""
  tc = s.train
  W, bad = _train_batch(jnp.asarray(batch.X), jax.random.split(key, len(batch.sigma)), jnp.asarray(batch.sigma),
                        jnp.asarray(batch.lam), tc, batch.W.shape[2])
  W, ok = np.asarray(W), np.asarray(bad) < 0
  if not ok.all():
    logging.warning("%d of %d trainings became non-finite; reported as NaN", int((~ok).sum()), len(ok))
  frozen = jax.vmap(lambda w, x, s, l: losses.frozen_mask_loss({"W": w}, x, s, l))
  loss = np.asarray(frozen(jnp.asarray(W), jnp.asarray(batch.X), jnp.asarray(batch.sigma), jnp.asarray(batch.lam)))
  return dict(gram=np.where(ok, _gram_rel(W, batch.W), np.nan), frozen_loss=np.where(ok, loss, np.nan), ok=ok,
              norm2=np.where(ok, np.sum(W**2, axis=(1, 2)), np.nan))


def decomposition(batch: Batch, s: Settings, count: int = 8) -> np.ndarray:
  """Thm D.2 + Lemma D.1: frozen loss at W* minus Σ_k (n_k/n) min L_lin(X_k) (≈ 0 when masks are block-diagonal)."""
  K = batch.labels.max() + 1
  n = batch.X.shape[1]
  out = []
  for X, sig, l, W in zip(batch.X[:count], batch.sigma[:count], batch.lam[:count], batch.W[:count]):
    blocks = 0.0
    for k in range(K):
      Xk = X[batch.labels == k]
      p_k = int(np.sum(batch.owner == k))
      n_k = Xk.shape[0]
      blocks += n_k / n * float(theory.lemma_d1_min(Xk, sig, n * l / n_k, min(p_k, Xk.shape[1])))
    total = float(losses.frozen_mask_loss({"W": W}, X, sig, l))
    out.append((total - blocks) / total)
  return np.array(out)


def _head(batch: Batch, m: int) -> Batch:
  """The first ``m`` instances (labels and owner are shared, not per instance)."""
  return batch._replace(**{k: v[:m] for k, v in batch._asdict().items() if k not in ("labels", "owner")})


def measure_family(key, fam: Family, s: Settings) -> dict:
  """Every per-instance measurement of the instances of family ``fam``: certificates and margins
  (:func:`certify`), the residual, the basin, training from a random init and (gen, hybrid) the
  block decomposition; a dict of ``(count,)`` arrays (basin and training: their first instances)."""
  k_draw, k_res, _k_basin, k_train = jax.random.split(key, 4)
  batch = draw_batch(k_draw, fam, s, fam.count)
  out = {f"cert_{k}": v for k, v in certify(batch, s).items()}
  res = residual(k_res, batch, s)
  out.update({f"res_{k}": v for k, v in res.items() if k != "W"})
  out.update(sigma=batch.sigma, lam=batch.lam, lam_frac=batch.lam_frac, beta=batch.beta, alpha=batch.alpha)
  sub = _head(batch, s.basin_count)
  for i, delta in enumerate(s.basin_deltas):
    out[f"basin_{i}"] = basin(k_res, sub, s, delta, res["W"][:s.basin_count])
  sub = _head(batch, s.train_count)
  out.update({f"train_{k}": v for k, v in train_random(k_train, sub, s).items()})
  if fam.kind != "mem":
    out["decomp_rel"] = decomposition(batch, s)
  return out


# ----------------------------------------------------------------------------- Cor. 3.3 rate in n_k


def cor33_experiment(key, e: Cor33, norm: float, train: rd.train.TrainConfig) -> dict:
  """Finite-n_k W_gen vs the population limit and test loss of Cor. 3.3 (and the rate of Cor. D.5);
  means of norm ``norm``; the models trained at ``e.train_n_k`` use ``train`` at (e.sigma, e.lam)."""
  k_mean, k_basis, k_data = jax.random.split(key, 3)
  means = data.simplex_means(e.K, e.d, beta=e.beta, norm=norm, key=k_mean)
  axes = e.spread * norm * e.decay ** jnp.arange(e.rank)
  factors = jnp.stack([data.random_orthogonal(k, e.d, e.rank) * axes for k in jax.random.split(k_basis, e.K)])
  spec = data.mixture_spec(means, factors)
  S = np.asarray(spec.second_moments)
  rho = np.full(e.K, 1.0 / e.K)
  limit = np.stack([np.asarray(theory.cor33_limit(S[k], e.lam, rho[k], e.sigma, e.p_k)) for k in range(e.K)])
  pop = theory.cor33_test_loss(S, e.sigma, e.p_k, lam=e.lam, rho=rho)
  X_test, test_labels = data.sample_mixture_counts(jax.random.fold_in(k_data, 10**6), spec, [e.test] * e.K)
  # the limit denoiser D_k on its own mode's test points, exact in ε: ‖D_k x − x‖² + σ²‖D_k‖_F²
  # (equal counts per mode, so the mean over modes is the mean over test points)
  eye = jnp.eye(e.d, dtype=X_test.dtype)
  limit_test = float(np.mean([losses.linear_ae_loss(jnp.asarray(limit[k]), eye, X_test[test_labels == k], e.sigma, 0.0)
                              for k in range(e.K)]))
  dev = np.full((e.seeds, len(e.n_k)), np.nan)
  test = np.full_like(dev, np.nan)
  test_mc = np.full_like(dev, np.nan)
  train_test = np.full((e.seeds, len(e.train_n_k)), np.nan)
  tc = dataclasses.replace(train, sigma=e.sigma, lam=e.lam)
  for s in range(e.seeds):
    for j, n_k in enumerate(e.n_k):
      X, labels = data.sample_mixture_counts(jax.random.fold_in(k_data, s * 1000 + j), spec, [n_k] * e.K)
      W = minima.generalization(X, labels, e.sigma, e.lam, e.p_k)
      blocks = np.split(np.asarray(W), e.K, axis=1)
      dev[s, j] = np.mean([float(rd.metrics.gram_distance(Bk, limit[k])) for k, Bk in enumerate(blocks)])
      test[s, j] = float(losses.frozen_mask_loss({"W": W}, X_test, e.sigma, 0.0))
      test_mc[s, j] = float(losses.dae_loss({"W": W}, X_test, jax.random.PRNGKey(s), e.sigma, 0.0, num_noise=16))
      if n_k in e.train_n_k:
        init = jax.tree.map(lambda w: w.astype(jnp.float64), model.init(jax.random.fold_in(key, s), e.d, e.p_k * e.K))
        params, hist = rd.train.train(init, X, jax.random.fold_in(key, 7 + s), tc)
        if int(hist.nonfinite_step) < 0:
          train_test[s, list(e.train_n_k).index(n_k)] = float(
              losses.dae_loss(params, X_test, jax.random.PRNGKey(s), e.sigma, 0.0, num_noise=16))
  return dict(n_k=np.array(e.n_k), dev=dev, test=test, test_mc=test_mc, pop_risk=float(pop.wiener_risk),
              limit_test=limit_test, pop_bias=float(pop.bias_only), train_n_k=np.array(e.train_n_k),
              train_test=train_test)


# ----------------------------------------------------------------------------- unit birth: λ*(σ)


def birth_experiment(key, e: Birth, families, norm: float, starts: int, steps: int) -> dict:
  """λ*(σ) (``unit_birth.threshold``) of the zero-padded W_mem, per ``mem`` family of ``families``, on samples
  of norm ``norm`` with pairwise cosine β (``data.simplex_means``), for each β and σ/norm of
  ``e`` (``starts``, ``steps``: ``unit_birth.threshold``'s search). Returned as nλ*/min‖x_i‖² (the scale
  of ``lam_frac``), ``(families, β, σ)``."""
  fams = [f for f in families if f.kind == "mem"]
  out = np.full((len(fams), len(e.beta), len(e.sigma)), np.nan)
  for a, fam in enumerate(fams):
    n = len(fam.counts)
    for b, beta in enumerate(e.beta):
      beta = max(beta, -1.0 / (n - 1))  # the regular simplex is the most negative cosine possible
      X = np.asarray(data.simplex_means(n, fam.d, beta=beta, key=jax.random.fold_in(key, a)), np.float64) * norm
      floor = float(np.min(np.sum(X**2, axis=1)))
      for j, sig in enumerate(e.sigma):
        lam = unit_birth.threshold(X, sig * norm, jax.random.fold_in(key, 100 * a + 10 * b + j),
                                   starts=starts, steps=steps, iters=e.iters)
        out[a, b, j] = lam * n / floor
  return dict(lam_frac_star=out, beta=np.array(e.beta, float), sigma=np.array(e.sigma, float),
              n=np.array([len(f.counts) for f in fams]), d=np.array([f.d for f in fams]))


# ----------------------------------------------------------------------------- Jacobians (§3.7)


def jacobian_experiment(key, e: Jacobian, norm: float, rank: int, decay: float) -> dict:
  """Singular values of ∂f/∂x at training points of a memorizing and a generalizing trained model
  (data of norm ``norm``; the generalizing clusters with covariance ``rank`` and ``decay``)."""
  k1, k2, k3, k4 = jax.random.split(key, 4)
  X_mem = data.locally_sparse(k1, n=e.mem_n, d=e.d, norm=norm)
  counts = [e.gen_n_k] * e.gen_K
  X_gen, labels, _ = data.separable_mixture(k2, d=e.d, K=e.gen_K, n_per_cluster=counts, alpha=0.3, beta=-0.4,
                                            rank=rank, decay=decay, norm=norm)
  tc = rd.train.TrainConfig(steps=e.steps, sigma=e.sigma, lam=e.lam, learning_rate=e.learning_rate, schedule="cosine")
  out = {}
  for name, X, p, k in (("mem", X_mem, e.mem_p, k3), ("gen", X_gen, sum(e.gen_ps), k4)):
    params, _ = rd.train.fit(model.init(k, e.d, p), X, k, tc, progress=False)
    J = np.asarray(model.jacobian(params, X), np.float64)
    out[f"{name}_sv"] = np.linalg.svd(J, compute_uv=False)  # (n, d)
    W_star = (minima.memorization(X, e.sigma, e.lam, p) if name == "mem"
              else minima.generalization(X, labels, e.sigma, e.lam, list(e.gen_ps)))
    out[f"{name}_sv_star"] = np.linalg.svd(np.asarray(model.jacobian({"W": W_star}, X), np.float64), compute_uv=False)
    if name == "gen":
      out["gen_units"] = rd.metrics.unit_allocation(params, X, labels)[1]  # the trained p_k
  out["gen_labels"] = np.asarray(labels)
  out["gen_ps"] = np.array(e.gen_ps)
  return out


# ----------------------------------------------------------------------------- breaking points


LIMIT_AXES = ("beta", "alpha", "sigma", "lam_frac")


def limits_experiment(key, e: Limits, base_gen: Family, base_mem: Family, s: Settings, *,
                      progress: bool = False) -> dict:
  """One parameter at a time beyond the theorems' premises (β ≥ 0, large α, σ ≫ γ, nλ → λ_min):
  instances of ``base_gen`` (β, α, σ) and ``base_mem`` (nλ), measured with ``s``."""
  fixed = dict(beta=-0.4, alpha=0.2, sigma=0.1, lam_frac=0.1)
  out = {}
  for axis in LIMIT_AXES:
    fam = base_mem if axis == "lam_frac" else base_gen
    rows = []
    for i, v in enumerate(tqdm(getattr(e, axis), desc=f"limits {axis}", disable=not progress, leave=False)):
      kw = {**fixed, axis: v}
      if fam.kind == "mem":
        kw["beta"] = -1.0 / (len(fam.counts) - 1)  # the regular simplex: the most negative cosine possible
      batch = draw_batch(jax.random.fold_in(key, 100 * LIMIT_AXES.index(axis) + i), fam, s, e.count, **kw)
      rows.append(_limit_point(jax.random.fold_in(key, 7 + i), batch, s))
    out.update({f"{axis}_{k}": np.stack([r[k] for r in rows]) for k in rows[0]})
    out[f"{axis}_values"] = np.array(getattr(e, axis), float)
  return out


def _limit_point(key, batch: Batch, s: Settings) -> dict:
  tr = train_random(key, batch, s)
  nan = np.full(len(batch.sigma), np.nan)
  if not np.all(np.isfinite(batch.W)):  # nλ ≥ the smallest eigenvalue: Eq. (9) has no real solution
    return dict(pre_ok=np.zeros(len(nan), bool), cert_ok=np.zeros(len(nan), bool), gamma_op=nan, residual=nan,
                train_gram=nan, trained_norm2=tr["norm2"], star_norm2=nan)
  cert = certify(batch, s)
  res = residual(key, batch, s)
  pre = cert["pre_ok"]
  return dict(pre_ok=pre, cert_ok=cert["cert_ok"], gamma_op=cert["gamma_op"],
              residual=np.where(pre, res["dist2"], np.nan), train_gram=np.where(pre, tr["gram"], np.nan),
              trained_norm2=tr["norm2"], star_norm2=np.sum(batch.W**2, axis=(1, 2)))


# ----------------------------------------------------------------------------- run and reload


_PREFIX = dict(cor33="cor33", jacobian="jac", limits="lim", birth="birth")  # the saved arrays' prefixes


def _owns(name: str, key: str) -> bool:
  """Whether the saved array ``key`` belongs to experiment ``name``."""
  if name == "families":
    return key.startswith("fam") and key[3:4].isdigit()
  return key.startswith(_PREFIX[name] + "__")


def compute(c, stem: str, experiments=EXPERIMENTS, *, progress: bool = False) -> None:
  """Runs ``experiments`` (names of :data:`EXPERIMENTS`) of config ``c`` and saves them in
  ``<stem>.{npz,json}``. Each experiment keeps its PRNG key whatever else runs, so a selection
  reproduces the full run's numbers. A saved file of the same config keeps the experiments not
  rerun; one of another config is replaced."""
  args = arguments(c)
  s, families = args["settings"], args["families"]
  key = jax.random.PRNGKey(s.seed)
  arrays, timings, names = {}, {}, [f.name for f in families]
  old = _previous(c, stem)
  if old is not None:
    arrays = {k: v for k, v in old[0].items() if not any(_owns(e, k) for e in experiments)}
    timings = {k: v for k, v in old[1].get("timings", {}).items()}
  if "families" in experiments:
    for i, fam in enumerate(tqdm(families, desc="families", disable=not progress)):
      start = time.perf_counter()
      out = measure_family(jax.random.fold_in(key, i), fam, s)
      timings[fam.name] = time.perf_counter() - start
      logging.info("%s: %d instances in %.1fs, %d/%d preconditions, %d certified", fam.name, fam.count,
                   timings[fam.name], out["cert_pre_ok"].sum(), fam.count,
                   (out["cert_cert_ok"] & out["cert_pre_ok"]).sum())
      arrays.update({f"fam{i}__{k}": v for k, v in out.items()})
  base_gen = next(f for f in families if f.kind == "gen")  # the first family of each kind
  base_mem = next(f for f in families if f.kind == "mem")
  runs = dict(
      cor33=lambda k: cor33_experiment(k, args["cor33"], s.norm, s.train),
      jacobian=lambda k: jacobian_experiment(k, args["jacobian"], s.norm, s.rank, s.decay),
      limits=lambda k: limits_experiment(k, args["limits"], base_gen, base_mem, s, progress=progress),
      birth=lambda k: birth_experiment(k, args["birth"], families, s.norm, s.birth_starts, s.birth_steps))
  for j, name in enumerate(EXPERIMENTS[1:]):
    if name not in experiments:
      continue
    start = time.perf_counter()
    out = runs[name](jax.random.fold_in(key, 1000 + len(families) + j))
    arrays.update({f"{_PREFIX[name]}__{k}": v for k, v in out.items()})
    timings[name] = time.perf_counter() - start
    logging.info("%s in %.1fs", name, timings[name])
  done = [e for e in EXPERIMENTS if any(_owns(e, k) for k in arrays)]
  rd.results.save(stem, arrays, dict(families=names if "families" in done else [], experiments=done,
                                     timings=timings, config=c.to_dict()))


def _previous(c, stem: str):
  """The saved ``(arrays, meta)`` at ``stem`` when it was written with config ``c``, else ``None``."""
  import json
  import os
  if not (os.path.isfile(stem + ".npz") and os.path.isfile(stem + ".json")):
    return None
  arrays, meta = rd.results.load(stem)
  same = json.loads(json.dumps(rd.results._jsonable(c.to_dict()))) == meta.get("config")
  return (arrays, meta) if same else None


class Saved(NamedTuple):
  """A saved run (:func:`load`): per-family dicts ``res`` (``{"families": [names], name: {...}}``)
  and the experiments' dicts; an experiment that did not run is ``None``. ``config`` is the
  run's config as saved (JSON)."""
  res: dict | None
  cor33: dict | None
  jacobian: dict | None
  limits: dict | None
  birth: dict | None
  experiments: tuple
  config: dict


def load(stem: str) -> Saved:
  """Reads ``<stem>.{npz,json}`` written by :func:`compute` (or by the app before ``--experiments``)."""
  arrays, meta = rd.results.load(stem)
  part = lambda p: {k.split("__", 1)[1]: v for k, v in arrays.items() if k.startswith(p + "__")} or None
  done = tuple(meta.get("experiments") or [e for e in EXPERIMENTS if any(_owns(e, k) for k in arrays)])
  res = None
  if "families" in done:
    res = {"families": meta["families"]}
    for i, name in enumerate(meta["families"]):
      res[name] = {k.split("__", 1)[1]: v for k, v in arrays.items() if k.startswith(f"fam{i}__")}
  cor33 = part("cor33")
  if cor33 is not None:
    for k in ("pop_risk", "pop_bias", "limit_test"):
      cor33[k] = float(cor33[k])
  return Saved(res, cor33, part("jac"), part("lim"), part("birth"), done, meta.get("config", {}))
