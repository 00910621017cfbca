r"""What each trained model of the regimes app says, one function per claim checked.

* :func:`memorization_summary` — Cor. 3.2 / Eq. (9): every sample stored in a column, the
  weights at W_mem, the loss at its closed form;
* :func:`block_summary` — Cor. 3.3 / 3.4 and Eq. (8): units allocated per cluster, learned
  blocks at the analytic ones, no column storing a sample (but the duplicated ones, in the hybrid);
* :func:`digits_generalization_summary` — with all 1797 digits no column is a training image;
* :func:`representation_scores` — §4.1: spiky (memorized) vs balanced (generalized) representations.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

import relu_dae as rd

__all__ = ["block_summary", "blocks", "digits_generalization_summary", "memorization_summary",
           "noisy_representations", "representation_scores"]


def _loss(W, X, sigma, lam, key):
  return float(rd.losses.dae_loss({"W": W}, X, key, sigma, lam, num_noise=20))


def memorization_summary(m, key) -> dict:
  """Samples vs the learned columns matched to them; distance to W_mem (Eq. 9); losses (Cor. 3.2)."""
  X, W, sigma, lam = m.X, m.W, m.sigma, m.lam
  W_mem = rd.minima.memorization(X, sigma, lam, W.shape[1])
  _, cos = rd.metrics.match_columns(W, X.T)
  return dict(min_cosine_sample_column=float(cos.min()), mean_cosine=float(cos.mean()),
              stored_fraction=float(rd.storage.stored_fraction(W, X)),
              projector_error_vs_W_mem=float(rd.metrics.projector_error(W, W_mem)),
              loss=_loss(W, X, sigma, lam, key), loss_W_mem=_loss(W_mem, X, sigma, lam, key),
              cor32_loss_lambda0=float(rd.minima.memorization_loss(X, sigma)))


def blocks(m):
  """Per allocated cluster k: its learned columns, the analytic block of Eq. (8) aligned to them
  and their cosines. Returns ``(owner (p,), counts (K,), [(k, columns, ref, learned, cos, error)])``;
  ``columns`` are the indices into W's p columns owned by cluster k."""
  X, labels, W, sigma, lam = m.X, m.labels, m.W, m.sigma, m.lam
  owner, counts = rd.metrics.unit_allocation({"W": W}, X, labels)
  labels_np = np.asarray(labels)
  out = []
  for k, p_k in enumerate(counts.tolist()):
    if p_k == 0:
      continue
    Xk, Wk = X[labels_np == k], W[:, owner == k]
    rank = int(np.linalg.matrix_rank(np.asarray(Xk), tol=1e-4 * float(jnp.linalg.norm(Xk))))
    block = rd.minima.cluster_block(Xk, X.shape[0], sigma, lam, min(p_k, rank))
    err = float(rd.metrics.projector_error(Wk, block))
    if p_k <= rank:  # Eq. (8) holds up to the rotation O_k: align it to the learned block
      ref = rd.metrics.procrustes_align(block, Wk)
    else:  # more units than directions (e.g. a duplicated cluster split over two units)
      ref = block[:, np.asarray(jnp.argmax(rd.storage.column_cosines(block, Wk.T), axis=1))]
    cos = np.asarray(jnp.diagonal(rd.storage.column_cosines(Wk, ref.T)))
    out.append((k, np.flatnonzero(np.asarray(owner) == k), np.asarray(ref), np.asarray(Wk), cos, err))
  return np.asarray(owner), counts, out


def block_summary(m, key, *, hybrid: bool = False) -> dict:
  """Allocation, block errors (Eq. 8), stored fraction and losses against the analytic minimum
  (Cor. 3.3, or Cor. 3.4 with ``hybrid``)."""
  X, labels, W, sigma, lam = m.X, m.labels, m.W, m.sigma, m.lam
  owner, counts, per = blocks(m)
  W_an = (rd.minima.hybrid if hybrid else rd.minima.generalization)(X, labels, sigma, lam, counts.tolist())
  best = rd.storage.best_column_cosine(W, X)  # do columns store samples? (they should not)
  return dict(allocation=counts.tolist(), dead_units=int(np.sum(owner < 0)),
              block_projector_errors=[e for *_, e in per],
              stored_fraction=float(rd.storage.stored_fraction(W, X)), max_cosine_sample_column=float(best.max()),
              loss=_loss(W, X, sigma, lam, key), loss_analytic=_loss(W_an, X, sigma, lam, key))


def digits_generalization_summary(m, key) -> dict:
  """How close the columns of the all-digits model come to any training image."""
  X, W = m.X, m.W
  cos = np.asarray(rd.storage.column_cosines(W, X)).max(axis=0)
  return dict(n=int(X.shape[0]), stored_fraction=float(rd.storage.stored_fraction(W, X)),
              max_cosine_column_sample=float(cos.max()), median_cosine_column_sample=float(np.median(cos)),
              loss=_loss(W, X, m.sigma, m.lam, key))


def noisy_representations(m, key, num_inputs: int):
  """``h(x_i + σε)`` of ``num_inputs`` random training samples, ``(num_inputs, p)`` numpy."""
  idx = jax.random.randint(key, (num_inputs,), 0, m.X.shape[0])
  Y = m.X[idx] + m.sigma * jax.random.normal(jax.random.fold_in(key, 1), (num_inputs, m.X.shape[1]))
  return np.asarray(rd.model.represent({"W": m.W}, Y))


def representation_scores(h) -> dict:
  """Median spikiness scores of representations ``h (m, p)`` (std, top-1 share, participation ratio)."""
  return dict(median_std=float(np.median(rd.metrics.representation_std(h))),
              median_top1_share=float(np.median(rd.metrics.top1_share(h))),
              median_participation_ratio=float(np.median(rd.metrics.participation_ratio(h))))
