r"""The three regimes of the ReLU DAE: memorization, generalization, hybrid (Cor. 3.2–3.4).

Trains five models — locally sparse synthetic data (memorization), separable
low-rank clusters with n ≫ p (generalization), duplicated + abundant clusters
(hybrid), and scikit-learn digits with n = 5 vs n = 1797 — and compares each with
its analytic minimum. Writes

* ``regimes_weights.png`` into ``--figdir`` (default ``<workdir>/figures``;
  ``--figdir=figures`` rewrites the committed figures): learned weight columns under the
  training samples or the analytic blocks they match (the analogue of the paper's Fig. 3 and Fig. 6);
* ``regimes_representations.png`` there too: spiky vs balanced representations (Fig. 4);
* ``<workdir>/regimes.npz`` + ``.json``: weights, data and every number quoted.

Every model's settings and both directories are checked before the first model trains (a
``ValueError`` naming the override, e.g. ``--config.mem.p=4: ...``).

Usage::

  python -m sims.regimes                                  # default preset, ~1 min on 2 cores
  python -m sims.regimes --figdir=figures                 # the same, regenerating the committed figures
  python -m sims.regimes --config=sims/configs/regimes.py:quick --figdir=/tmp/figs
  python -m sims.regimes --config.gen.train.sigma=0.5
"""

from __future__ import annotations

import os
import time

from absl import app
from absl import logging
import jax
import jax.numpy as jnp
import numpy as np

import relu_dae as rd
from relu_dae import plotting
from sims import _flags

_FLAGS = {}  # absl flag holders, defined only when the module runs as the app


def define_flags() -> dict:
  """Defines this app's absl flags (at ``__main__`` only, so apps can be imported together)."""
  _FLAGS.update(_flags.define("regimes.py", "results/regimes"))
  return _FLAGS


def _train_config(tc) -> rd.train.TrainConfig:
  return rd.train.TrainConfig(steps=tc.steps, sigma=tc.sigma, lam=tc.lam, optimizer=tc.optimizer,
                              learning_rate=tc.learning_rate, batch_size=tc.batch_size, chunk_size=500)


def _fit(X, key, tc, p, *, desc):
  k_init, k_train = jax.random.split(key)
  params, hist = rd.train.fit(rd.model.init(k_init, X.shape[1], p), X, k_train, _train_config(tc), desc=desc)
  return params["W"], hist


NUM_DIGITS = 1797  # scikit-learn's digits


def validate_config(c) -> None:
  """Checks every model's settings before the first one trains (``ValueError`` naming the
  override, e.g. ``--config.mem.p=4: ...``)."""
  _flags.seed(c, "seed")
  if _flags.integer(c, "d") != 64:
    _flags.fail("d", c.d, "must be 64: every dataset is drawn as 8×8 images, like the digits")
  n = _flags.integer(c, "mem.n", 2, c.d, hi_name="d")
  _flags.integer(c, "mem.p", n, lo_name="mem.n")  # Cor. 3.2: a column per sample
  _flags.real(c, "mem.norm", 0.0, closed=(False, True))
  K = _flags.integer(c, "gen.K", 2, c.d, hi_name="d")
  _flags.real(c, "gen.beta", -1.0 / (K - 1), 1.0, closed=(True, False))
  _validate_clusters(c, "gen")
  for name in ("n_duplicated", "n_abundant", "copies"):
    _flags.integer(c, f"hybrid.{name}")
  if c.hybrid.n_duplicated + c.hybrid.n_abundant > c.d:
    _flags.fail("hybrid.n_abundant", c.hybrid.n_abundant, f"n_duplicated + n_abundant must be <= d={c.d}")
  _validate_clusters(c, "hybrid")
  n_mem = _flags.integer(c, "digits.n_mem", 2, NUM_DIGITS, hi_name="the number of digits")
  _flags.integer(c, "digits.p", n_mem, lo_name="digits.n_mem")
  _flags.integer(c, "num_hist_inputs")
  for path in ("mem.train", "gen.train", "hybrid.train", "digits.train_mem", "digits.train_gen"):
    _flags.real(c, f"{path}.sigma", 0.0, closed=(False, True))
    with _flags.section(path):
      _train_config(_flags.get(c, path))
  if c.mem.n * c.mem.train.lam >= c.mem.norm**2:  # Eq. (9) needs nλ < min ‖x_i‖² = norm²
    _flags.fail("mem.train.lam", c.mem.train.lam, f"mem.n * lam must be < mem.norm**2={c.mem.norm**2:g} (Eq. 9)")


def _validate_clusters(c, name: str) -> None:
  """The mixture fields shared by the ``gen`` and ``hybrid`` datasets."""
  _flags.integer(c, f"{name}.n_per_cluster")
  _flags.integer(c, f"{name}.rank", 1, c.d, hi_name="d")
  _flags.integer(c, f"{name}.p")
  _flags.real(c, f"{name}.alpha", 0.0)
  for field in ("decay", "norm"):
    _flags.real(c, f"{name}.{field}", 0.0, closed=(False, True))


def _loss(W, X, sigma, lam, key):
  return float(rd.losses.dae_loss({"W": W}, X, key, sigma, lam, num_noise=20))


def _noisy_representations(W, X, sigma, key, m):
  idx = jax.random.randint(key, (m,), 0, X.shape[0])
  Y = X[idx] + sigma * jax.random.normal(jax.random.fold_in(key, 1), (m, X.shape[1]))
  return rd.model.represent({"W": W}, Y)


def _memorization(X, W, sigma, lam, key, name):
  """Samples vs the learned columns matched to them; metrics against W_mem (Eq. 9)."""
  W_mem = rd.minima.memorization(X, sigma, lam, W.shape[1])
  perm, cos = rd.metrics.match_columns(W, X.T)
  summary = dict(min_cosine_sample_column=float(cos.min()), mean_cosine=float(cos.mean()),
                 stored_fraction=float(rd.metrics.stored_fraction(W, X)),
                 projector_error_vs_W_mem=float(rd.metrics.projector_error(W, W_mem)),
                 loss=_loss(W, X, sigma, lam, key), loss_W_mem=_loss(W_mem, X, sigma, lam, key),
                 cor32_loss_lambda0=float(rd.minima.memorization_loss(X, sigma)))
  panel = dict(title=name, ref=np.asarray(X.T), learned=np.asarray(W[:, perm]), cos=cos,
               ref_label="training\nsamples", learned_label="learned\ncolumns")
  return summary, panel


def _blocks(X, labels, W, sigma, lam, key, name, *, hybrid=False):
  """Analytic blocks (Eq. 8, learned allocation, Procrustes-aligned) vs learned blocks."""
  owner, counts = rd.metrics.unit_allocation({"W": W}, X, labels)
  labels_np = np.asarray(labels)
  refs, learned, errs, coss = [], [], [], []
  for k, p_k in enumerate(counts.tolist()):
    if p_k == 0:
      continue
    Xk, Wk = X[labels_np == k], W[:, owner == k]
    rank = int(np.linalg.matrix_rank(np.asarray(Xk), tol=1e-4 * float(jnp.linalg.norm(Xk))))
    block = rd.minima.cluster_block(Xk, X.shape[0], sigma, lam, min(p_k, rank))
    errs.append(float(rd.metrics.projector_error(Wk, block)))
    if p_k <= rank:  # Eq. (8) holds up to the rotation O_k: align it to the learned block
      ref = rd.metrics.procrustes_align(block, Wk)
    else:  # more units than directions (e.g. a duplicated cluster split over two units)
      ref = block[:, np.asarray(jnp.argmax(rd.metrics.column_cosines(block, Wk.T), axis=1))]
    refs.append(np.asarray(ref))
    learned.append(np.asarray(Wk))
    coss.append(np.asarray(jnp.diagonal(rd.metrics.column_cosines(Wk, ref.T))))
  W_an = (rd.minima.hybrid if hybrid else rd.minima.generalization)(X, labels, sigma, lam, counts.tolist())
  best = rd.metrics.best_column_cosine(W, X)  # do columns store samples? (they should not)
  summary = dict(allocation=counts.tolist(), dead_units=int(np.sum(owner < 0)), block_projector_errors=errs,
                 stored_fraction=float(rd.metrics.stored_fraction(W, X)),
                 max_cosine_sample_column=float(best.max()),
                 loss=_loss(W, X, sigma, lam, key), loss_analytic=_loss(W_an, X, sigma, lam, key))
  panel = dict(title=name, ref=np.concatenate(refs, 1), learned=np.concatenate(learned, 1),
               cos=np.concatenate(coss), ref_label="analytic\nblocks (8)", learned_label="learned\ncolumns")
  return summary, panel


def run(config, workdir: str, figdir: str | None = None) -> dict:
  """Runs every experiment of ``config``; returns the summary written to ``regimes.json``.

  ``figdir`` defaults to ``<workdir>/figures``. The config and both directories are checked
  before the first model trains."""
  figdir = _flags.figdir_for(workdir, figdir)
  validate_config(config)
  _flags.writable_dir("workdir", workdir)
  _flags.writable_dir("figdir", figdir)
  start = time.time()
  key = jax.random.PRNGKey(config.seed)
  keys = dict(zip(["mem", "gen", "hyb", "dmem", "dgen", "eval"], jax.random.split(key, 6)))
  d, summary, panels, arrays, reps = config.d, {}, [], {}, {}

  # 1. Memorization: locally sparse data.
  c = config.mem
  X = rd.data.locally_sparse(keys["mem"], n=c.n, d=d, norm=c.norm)
  W, _ = _fit(X, keys["mem"], c.train, c.p, desc="memorization")
  summary["memorization"], panel = _memorization(X, W, c.train.sigma, c.train.lam, keys["eval"],
                                                 f"memorization: locally sparse, n={c.n} ≤ p={c.p}")
  panels.append(panel)
  arrays.update(mem_X=X, mem_W=W)
  reps["synthetic memorization"] = (W, X, c.train.sigma)

  # 2. Generalization: separable clusters, n ≫ p.
  c = config.gen
  X, labels, spec = rd.data.separable_mixture(keys["gen"], d=d, K=c.K, n_per_cluster=c.n_per_cluster,
                                              alpha=c.alpha, beta=c.beta, rank=c.rank, norm=c.norm,
                                              decay=c.decay)
  W, _ = _fit(X, keys["gen"], c.train, c.p, desc="generalization")
  summary["generalization"], panel = _blocks(X, labels, W, c.train.sigma, c.train.lam, keys["eval"],
                                             f"generalization: K={c.K} clusters, n={X.shape[0]} ≫ p={c.p}")
  summary["generalization"].update(alpha=spec.alpha, beta=spec.beta)
  panels.append(panel)
  arrays.update(gen_X=X, gen_labels=labels, gen_W=W)
  reps["synthetic generalization"] = (W, X, c.train.sigma)

  # 3. Hybrid: duplicated (α_k = 0) and abundant clusters.
  c = config.hybrid
  K = c.n_duplicated + c.n_abundant
  counts = [c.copies] * c.n_duplicated + [c.n_per_cluster] * c.n_abundant
  alphas = [0.0] * c.n_duplicated + [c.alpha] * c.n_abundant
  X, labels, spec = rd.data.separable_mixture(keys["hyb"], d=d, K=K, n_per_cluster=counts, alpha=alphas,
                                              beta=-1.0 / (K - 1), rank=c.rank, norm=c.norm, decay=c.decay)
  W, _ = _fit(X, keys["hyb"], c.train, c.p, desc="hybrid")
  summary["hybrid"], panel = _blocks(X, labels, W, c.train.sigma, c.train.lam, keys["eval"],
                                     f"hybrid: {c.n_duplicated} duplicated ×{c.copies} + {c.n_abundant} abundant clusters",
                                     hybrid=True)
  dup_rows = np.cumsum([0] + counts)[:c.n_duplicated]
  summary["hybrid"]["duplicate_best_cosine"] = np.asarray(rd.metrics.best_column_cosine(W, X[dup_rows])).tolist()
  panels.append(panel)
  arrays.update(hyb_X=X, hyb_labels=labels, hyb_W=W)

  # 4. Digits: n = 5 anti-correlated images vs all of them.
  c = config.digits
  X_all, y_all = rd.data.load_digits(center=True)
  idx, beta1 = rd.data.negatively_correlated_subset(X_all, c.n_mem)
  X = jnp.asarray(X_all[idx])
  W, _ = _fit(X, keys["dmem"], c.train_mem, c.p, desc="digits n=5")
  summary["digits_memorization"], panel = _memorization(X, W, c.train_mem.sigma, c.train_mem.lam, keys["eval"],
                                                        f"digits: n={c.n_mem} (β₁={beta1:.3f}) ≤ p={c.p}")
  summary["digits_memorization"]["beta1"] = beta1
  panels.append(panel)
  arrays.update(digits_mem_idx=idx, digits_mem_W=W)
  reps["digits n=5"] = (W, X, c.train_mem.sigma)
  X = jnp.asarray(X_all)
  W, _ = _fit(X, keys["dgen"], c.train_gen, c.p, desc="digits n=all")
  best_idx = np.asarray(jnp.argmax(rd.metrics.column_cosines(W, X), axis=0))
  cos = np.asarray(rd.metrics.column_cosines(W, X)).max(axis=0)
  summary["digits_generalization"] = dict(
      n=int(X.shape[0]), stored_fraction=float(rd.metrics.stored_fraction(W, X)),
      max_cosine_column_sample=float(cos.max()), median_cosine_column_sample=float(np.median(cos)),
      loss=_loss(W, X, c.train_gen.sigma, c.train_gen.lam, keys["eval"]))
  panels.append(dict(title=f"digits: n={X.shape[0]} ≫ p={c.p}", ref=np.asarray(X[best_idx].T), learned=np.asarray(W),
                     cos=cos, ref_label="nearest\nsample", learned_label="learned\ncolumns"))
  arrays.update(digits_gen_W=W)
  reps["digits n=1797"] = (W, X, c.train_gen.sigma)

  # Representations (Fig. 4 analogue).
  h = {name: np.asarray(_noisy_representations(W, X, s, keys["eval"], config.num_hist_inputs))
       for name, (W, X, s) in reps.items()}
  scores = {name: dict(median_std=float(np.median(rd.metrics.representation_std(v))),
                       median_top1_share=float(np.median(rd.metrics.top1_share(v))),
                       median_participation_ratio=float(np.median(rd.metrics.participation_ratio(v))))
            for name, v in h.items()}
  summary["representations"] = scores
  examples = [dict(title=f"{name}\nstd {rd.metrics.representation_std(v[0]):.2f}, "
                         f"top-1 share {rd.metrics.top1_share(v[0]):.2f}", h=v[0],
                   color="tab:red" if "memorization" in name or "n=5" in name else "tab:blue")
              for name, v in h.items()]
  hists = [dict(title=f"{kind}: memorized vs generalized", xlabel=xlabel,
                series=[(name, fn(h[name])) for name in names])
           for kind, names in [("synthetic", ["synthetic memorization", "synthetic generalization"]),
                               ("digits", ["digits n=5", "digits n=1797"])]
           for xlabel, fn in [("std of representation", rd.metrics.representation_std),
                              ("top-1 share of ‖h‖²", rd.metrics.top1_share)]]
  for name, v in h.items():
    arrays[f"h_{name.replace(' ', '_').replace('=', '')}"] = v

  plotting.save(plotting.weight_pairs(panels), os.path.join(figdir, "regimes_weights.png"))
  plotting.save(plotting.representations(examples, hists), os.path.join(figdir, "regimes_representations.png"))
  summary["seconds"] = time.time() - start
  rd.results.save(os.path.join(workdir, "regimes"), arrays, dict(config=config.to_dict(), summary=summary))
  return summary


def main(argv):
  if len(argv) > 1:
    raise app.UsageError(f"Unexpected arguments: {argv[1:]}")
  workdir = _FLAGS["workdir"].value
  figdir = _flags.figdir_for(workdir, _FLAGS["figdir"].value)
  summary = run(_FLAGS["config"].value, workdir, figdir)
  for name, s in summary.items():
    logging.info("%s: %s", name, s)
  print(f"wrote {figdir}/regimes_weights.png, {figdir}/regimes_representations.png, "
        f"{workdir}/regimes.npz/.json in {summary['seconds']:.0f} s")


if __name__ == "__main__":
  define_flags()
  app.run(_flags.exit_on_flag_error(main))
