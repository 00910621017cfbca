r"""The five trained models of the regimes app, one function per experiment.

* :func:`memorization` — locally sparse samples, n ≤ p (Cor. 3.2);
* :func:`generalization` — K separable low-rank clusters, n ≫ p (Cor. 3.3);
* :func:`hybrid` — duplicated clusters (α_k = 0) next to abundant ones (Cor. 3.4);
* :func:`digits` — scikit-learn digits: the n most anti-correlated images (memorized) and all
  1797 (generalized).

Each takes its PRNG key, the data dimension and its own block of the config (``c.mem``,
``c.gen``, ``c.hybrid``, ``c.digits`` of ``sims/configs/regimes.py``), and returns
:class:`Trained` models; nothing here reads absl flags.
"""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

import relu_dae as rd

__all__ = ["EXPERIMENTS", "KEYS", "Trained", "digits", "experiment_keys", "generalization", "hybrid", "memorization",
           "train_config"]

EXPERIMENTS = ("memorization", "generalization", "hybrid", "digits")
KEYS = ("mem", "gen", "hyb", "dmem", "dgen", "eval")  # jax.random.split(PRNGKey(seed), 6), in this order


class Trained(NamedTuple):
  """One trained model and the training set it saw (rows of ``X`` are samples)."""
  name: str  # e.g. "synthetic memorization"
  X: jax.Array  # (n, d)
  labels: jax.Array | None  # (n,) cluster ids, None where every sample is its own
  W: jax.Array  # (d, p) tied weights
  sigma: float
  lam: float


def experiment_keys(seed: int) -> dict:
  """The PRNG key of each experiment (and ``"eval"``, shared by every evaluation), as :data:`KEYS`."""
  return dict(zip(KEYS, jax.random.split(jax.random.PRNGKey(seed), len(KEYS))))


def train_config(tc) -> rd.train.TrainConfig:
  """The :class:`relu_dae.train.TrainConfig` of a ``train`` block of the config."""
  return rd.train.TrainConfig(steps=tc.steps, sigma=tc.sigma, lam=tc.lam, optimizer=tc.optimizer,
                              learning_rate=tc.learning_rate, batch_size=tc.batch_size, chunk_size=500)


def _fit(X, key, tc, p, *, desc, progress):
  k_init, k_train = jax.random.split(key)
  params, _ = rd.train.fit(rd.model.init(k_init, X.shape[1], p), X, k_train, train_config(tc), desc=desc,
                           progress=progress)
  return params["W"]


def memorization(key, d: int, c, *, progress: bool = True) -> Trained:
  """Locally sparse data (``c.n`` samples of norm ``c.norm``) and a width-``c.p`` model."""
  X = rd.data.locally_sparse(key, n=c.n, d=d, norm=c.norm)
  W = _fit(X, key, c.train, c.p, desc="memorization", progress=progress)
  return Trained("synthetic memorization", X, None, W, c.train.sigma, c.train.lam)


def generalization(key, d: int, c, *, progress: bool = True) -> tuple[Trained, dict]:
  """``c.K`` separable clusters of ``c.n_per_cluster`` samples; returns the model and the measured
  ``{"alpha", "beta"}`` of Def. 3.1."""
  X, labels, spec = rd.data.separable_mixture(key, d=d, K=c.K, n_per_cluster=c.n_per_cluster, alpha=c.alpha,
                                              beta=c.beta, rank=c.rank, norm=c.norm, decay=c.decay)
  W = _fit(X, key, c.train, c.p, desc="generalization", progress=progress)
  return Trained("synthetic generalization", X, labels, W, c.train.sigma, c.train.lam), dict(alpha=spec.alpha,
                                                                                              beta=spec.beta)


def hybrid(key, d: int, c, *, progress: bool = True) -> tuple[Trained, np.ndarray]:
  """``c.n_duplicated`` clusters of ``c.copies`` copies of one sample, then ``c.n_abundant``
  clusters of ``c.n_per_cluster`` samples; returns the model and the duplicated rows' indices."""
  K = c.n_duplicated + c.n_abundant
  counts = [c.copies] * c.n_duplicated + [c.n_per_cluster] * c.n_abundant
  alphas = [0.0] * c.n_duplicated + [c.alpha] * c.n_abundant
  X, labels, _ = rd.data.separable_mixture(key, d=d, K=K, n_per_cluster=counts, alpha=alphas, beta=-1.0 / (K - 1),
                                           rank=c.rank, norm=c.norm, decay=c.decay)
  W = _fit(X, key, c.train, c.p, desc="hybrid", progress=progress)
  return Trained("synthetic hybrid", X, labels, W, c.train.sigma, c.train.lam), np.cumsum([0] + counts)[:c.n_duplicated]


def digits(keys, c, *, progress: bool = True) -> tuple[Trained, Trained, np.ndarray, float]:
  """The ``c.n_mem`` most anti-correlated centred digits (memorized) and all of them (generalized);
  returns both models, the memorized images' indices and their largest pairwise cosine β₁."""
  X_all, _ = rd.data.load_digits(center=True)
  idx, beta1 = rd.data.negatively_correlated_subset(X_all, c.n_mem)
  X = jnp.asarray(X_all[idx])
  W = _fit(X, keys["dmem"], c.train_mem, c.p, desc=f"digits n={c.n_mem}", progress=progress)
  mem = Trained(f"digits n={c.n_mem}", X, None, W, c.train_mem.sigma, c.train_mem.lam)
  X = jnp.asarray(X_all)
  W = _fit(X, keys["dgen"], c.train_gen, c.p, desc="digits n=all", progress=progress)
  gen = Trained(f"digits n={X.shape[0]}", X, None, W, c.train_gen.sigma, c.train_gen.lam)
  return mem, gen, idx, beta1
