"""Statistics of ``sims.deep_diffusion``'s measurements, every estimate with a 95 % interval: the copy
rate against n and where it crosses ½ (:func:`copy_rate_summary`), the hybrid model's copy labels
(:func:`hybrid_labels`), detection per layer, pooling and score (:func:`detection_rows`), the steering
response (:func:`steering_summary`) and the Jacobians' effective ranks (:func:`jacobian_summary`)."""

from __future__ import annotations

import jax
import numpy as np

import relu_dae as rd
from relu_dae import detection
from sims import _response
from sims.deep_diffusion.experiments import GROUPS, effective_rank

__all__ = ["copy_rate_summary", "detection_rows", "family_rates", "hybrid_labels", "jacobian_summary", "mean_ci",
           "steering_summary"]


def mean_ci(rng: np.random.Generator, x, num: int, level: float = 0.95) -> dict:
  """``{"value": mean, "ci": percentile-bootstrap interval, "n"}`` of the entries of ``x`` (NaN if empty)."""
  x = np.asarray(x, np.float64).ravel()
  if x.size == 0:
    return dict(value=float("nan"), ci=(float("nan"), float("nan")), n=0)
  boots = x[rng.integers(0, x.size, (num, x.size))].mean(axis=1)
  lo, hi = np.quantile(boots, [(1 - level) / 2, (1 + level) / 2])
  return dict(value=float(x.mean()), ci=(float(lo), float(hi)), n=int(x.size))


def _rate_with_ci(x: np.ndarray, rng: np.random.Generator, num: int) -> dict:
  """The mean of a 0/1 array ``(S, m)`` (NaN rows: failed runs) with its hierarchical-bootstrap interval."""
  boots = rd.stats.hierarchical_bootstrap(x, rng, num)
  with np.errstate(invalid="ignore"):
    value = float(np.nanmean(x)) if np.isfinite(x).any() else float("nan")
  lo, hi = np.quantile(boots, [0.025, 0.975]) if np.isfinite(boots).all() else (np.nan, np.nan)
  return dict(value=value, ci=(float(lo), float(hi)))


def family_rates(sweep: dict, j: int, valid_distance: float, rng: np.random.Generator, num: int) -> dict:
  """For a pool with a known family (the bars), at grid index ``j``: the median RMS distance of the
  generations to the family, the *valid* rate (distance ≤ ``valid_distance``) and the *novel valid* rate
  (valid and not a copy: what generalization means), each with its hierarchical-bootstrap interval.
  Empty for digits (no family)."""
  dist, copy = sweep["family_distance"][:, j], sweep["copy"][:, j].astype(np.float64)
  if not np.isfinite(dist).any():
    return {}
  valid = np.where(np.isfinite(dist), dist <= valid_distance, np.nan)
  return dict(median_family_distance=float(np.nanmedian(dist)), valid_distance=float(valid_distance),
              valid_rate=_rate_with_ci(valid, rng, num), novel_valid_rate=_rate_with_ci(valid * (1 - copy), rng, num))


def copy_rate_summary(sweep: dict, n_values, rng: np.random.Generator, num: int, *,
                      valid_distance: float | None = None) -> dict:
  """Per n: the copy rate over seeds × generations with a hierarchical-bootstrap interval (seeds, then
  generations), each seed's rate with its Wilson interval, the median NN distances and norm ratio (and
  for the bars, :func:`family_rates` at ``valid_distance``); and ``n_half``, where the rate first falls
  through ½ (log-n interpolation, :func:`relu_dae.stats.bootstrap_crossing`)."""
  copy = sweep["copy"].astype(np.float64)  # (S, L, m); NaN for a diverged model
  S, L, m = copy.shape
  boots = np.stack([rd.stats.hierarchical_bootstrap(copy[:, j], rng, num) for j in range(L)], axis=1)  # (num, L)
  with np.errstate(invalid="ignore"):
    rate = np.nanmean(copy, axis=(0, 2))
  rows = []
  for j, n in enumerate(n_values):
    lo, hi = np.quantile(boots[:, j], [0.025, 0.975])
    per_seed = [dict(rate=float(copy[s, j].mean()),
                     wilson=rd.stats.wilson_interval(int(copy[s, j].sum()), m) if np.isfinite(copy[s, j]).all()
                     else (float("nan"), float("nan"))) for s in range(S)]
    rows.append(dict(n=int(n), copy_rate=float(rate[j]), ci=(float(lo), float(hi)), per_seed=per_seed,
                     median_d1=float(np.nanmedian(sweep["d1"][:, j])),
                     median_d2=float(np.nanmedian(sweep["d2"][:, j])),
                     median_ratio=float(np.nanmedian(sweep["ratio"][:, j])),
                     median_norm_ratio=float(np.nanmedian(sweep["norm_ratio"][:, j])),
                     diverged_seeds=[s for s in range(S) if not np.isfinite(copy[s, j]).all()],
                     final_loss=[float(v) for v in sweep["final_loss"][:, j]],
                     max_abs_loss_drift=float(np.max(np.abs(sweep["loss_drift"][:, j]))),
                     **(family_rates(sweep, j, valid_distance, rng, num) if valid_distance is not None else {})))
  est = rd.stats.bootstrap_crossing(np.asarray(n_values, np.float64), rate, boots, 0.5)
  n_half = dict(value=est.n_c, ci=tuple(float(v) for v in est.n_c_ci), where=est.n_c_where,
                replicates_crossed=est.n_c_boot_crossed, score="copy rate (NN ratio < 1/3) = 1/2")
  return dict(rows=rows, n_half=n_half, seeds=S, generations_per_model=m)


def hybrid_labels(lab: dict, duplicated) -> dict:
  """Positives: copies of a duplicated image; negatives: copies of nothing; the rest copy an ordinary image."""
  dup = np.isin(lab["nearest"], duplicated)
  return dict(pos=lab["copy"] & dup, neg=~lab["copy"], copies_of_ordinary=lab["copy"] & ~dup)


def detection_rows(scores: dict, labels: dict, key, num: int) -> list:
  """AUROC and TPR@1%FPR with stratified bootstrap intervals (:func:`relu_dae.detection.bootstrap_ci`),
  and each group's mean score with its interval, per (layer, pooling) and score. Empty with < 2 of a group;
  rows on fewer than :data:`sims._response.MIN_POSITIVES` positives are marked ``too_few_positives``."""
  pos, neg = labels["pos"], labels["neg"]
  if pos.sum() < 2 or neg.sum() < 2:
    return []
  rng = np.random.default_rng(np.asarray(jax.random.key_data(key)).tolist())
  rows = []
  for i, ((layer, pooling), per_score) in enumerate(scores.items()):
    for j, (score, s) in enumerate(per_score.items()):
      r = detection.evaluate(s[pos], s[neg])
      ci = detection.bootstrap_ci(jax.random.fold_in(key, 100 * i + j), s[pos], s[neg], num=num)
      rows.append(dict(layer=layer, pooling=pooling, score=score, auroc=r.auroc, auroc_ci=ci.auroc,
                       tpr_at_1pct_fpr=r.tpr_at_1pct_fpr, tpr_at_1pct_fpr_ci=ci.tpr_at_1pct_fpr,
                       n_pos=int(pos.sum()), n_neg=int(neg.sum()),
                       too_few_positives=bool(pos.sum() < _response.MIN_POSITIVES),
                       mean_memorized=mean_ci(rng, s[pos], num), mean_generalized=mean_ci(rng, s[neg], num)))
  return rows


def steering_summary(st: dict, rng: np.random.Generator, num: int) -> dict:
  """Per group: the response ``P(target | a)`` averaged over inputs with its band, and the smoothness
  statistics (total variation, largest jump) with bootstrap intervals (:func:`sims._response.bootstrap_curves`)."""
  out = {}
  for g in GROUPS:
    idx = st["seeds"][g]
    out[g] = (_response.bootstrap_curves(rng, st["p"][:, idx], num) if len(idx) >= 2
              else dict(num_inputs=len(idx), note="fewer than 2 inputs"))
  return out


def jacobian_summary(spectra: dict, rng: np.random.Generator, num: int) -> list:
  """Per (group, σ): effective rank (Roy–Vetterli), stable rank ``Σs²/s₁²`` and ``s₁``, means with intervals."""
  rows = []
  for (g, sigma), sv in spectra.items():
    rows.append(dict(group=g, sigma=sigma, num_points=len(sv),
                     effective_rank=mean_ci(rng, effective_rank(sv), num),
                     stable_rank=mean_ci(rng, np.sum(sv**2, axis=1) / sv[:, 0] ** 2, num),
                     top_singular_value=mean_ci(rng, sv[:, 0], num)))
  return rows
