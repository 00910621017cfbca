"""Presets for ``python -m sims.margin_check`` (ml_collections): ``--config=sims/configs/margin_check.py[:<preset>]``.

* ``default``: the committed run (``results/margin_check``, ``results/theory_verdicts.json``,
  ``figures/``): 1,024 random instances in 8 families, about 11 minutes on 2 shared CPU cores.
* ``smoke``: a run of a few minutes on 2 CPU cores for the tests (3 families of 8 instances, fewer steps,
  seeds and grid points); its figures say "smoke preset" in their titles.

There is no ``quick`` preset (it was this ``smoke``). Override any field, e.g.
``--config=sims/configs/margin_check.py:smoke --config.refine_steps=400``.
"""

import ml_collections


def _family(name, kind, d, counts, ps, count, dup=0):
  """``counts``: samples per cluster (mem: one per sample); ``ps``: units per cluster; the first
  ``dup`` clusters are exact duplicates (Cor. 3.4)."""
  return ml_collections.ConfigDict(dict(name=name, kind=kind, d=d, counts=tuple(counts), ps=tuple(ps),
                                        count=count, dup=dup))


def get_config(preset: str = "default") -> ml_collections.ConfigDict:
  c = ml_collections.ConfigDict()
  c.preset = preset
  c.seed = 0
  c.norm = 2.0  # ‖x̄_k‖ (gen, hybrid) and mean ‖x_i‖ (mem)
  c.rank = 4  # within-cluster covariance rank
  c.decay = 0.7  # within-cluster spectrum decay (distinct principal components)
  # Ranges the random instances are drawn from (uniform; σ log-uniform), in units of `norm`.
  c.beta_max = 0.1  # β up to this: a slice of instances breaks β < 0 on purpose
  c.alpha = (0.05, 0.5)
  c.sigma = (0.005, 0.5)  # σ / norm, log-uniform
  c.lam_frac = 0.9  # nλ drawn uniformly in [0, lam_frac · smallest block eigenvalue)
  c.mem_pad = 2  # zero columns appended to W_mem (Cor. 3.2's p > n)
  c.rotation_starts = 8  # random O_k per block (besides 4 informed ones) when maximizing γ_op (theory.best_rotation)
  c.rotation_steps = 200  # Adam steps per start
  c.birth_starts = 8  # unit_birth.passes at a padded W_mem: random starts (besides the informed ones)
  c.birth_steps = 300  # and descent steps per start
  c.draws_per_dim = 4  # moment-matched noise draws per sample = draws_per_dim · d (≥ 2)
  c.chord_steps = 12  # fixed-Hessian Newton steps for the residual (each one gradient)
  c.refine_steps = 80  # L-BFGS steps in the basin test
  c.basin_deltas = (0.01, 0.1, 0.3)  # relative perturbations of W* before refining
  c.basin_count = 8  # instances per family in the basin test
  c.train = ml_collections.ConfigDict(dict(steps=1500, learning_rate=1e-2, schedule="cosine", optimizer="adam",
                                           chunk_size=500))
  c.train_count = 32  # instances per family trained from a random init
  c.grad_tol = 1e-6  # certificate: relative gradient norm
  c.eig_tol = 1e-8  # certificate: min Hessian eigenvalue ≥ −eig_tol · max eigenvalue
  count = 128
  c.families = [
      _family("mem n=4 d=16", "mem", 16, [1] * 4, [1] * 4, count),
      _family("mem n=8 d=16", "mem", 16, [1] * 8, [1] * 8, count),
      _family("mem n=6 d=32", "mem", 32, [1] * 6, [1] * 6, count),
      _family("gen K=2 n_k=16 d=16", "gen", 16, [16, 16], [2, 2], count),
      _family("gen K=3 n_k=24 d=16", "gen", 16, [24, 24, 24], [1, 2, 3], count),
      _family("gen K=4 n_k=12..48 d=16", "gen", 16, [12, 24, 36, 48], [2, 2, 2, 2], count),
      _family("hybrid 1 dup + 2 gen d=16", "hybrid", 16, [6, 24, 24], [1, 2, 2], count, dup=1),
      _family("hybrid 2 dup + 2 gen d=32", "hybrid", 32, [4, 8, 32, 32], [1, 1, 2, 3], count, dup=2),
  ]
  # Cor. 3.3 (and D.5) as n_k grows: i.i.d. draws from one fixed mixture.
  c.cor33 = ml_collections.ConfigDict(dict(d=32, K=3, beta=-0.45, rank=6, decay=0.6, spread=0.15,
                                           n_k=(8, 16, 32, 64, 128, 256, 512), p_k=2, sigma=0.3, lam=1e-4,
                                           seeds=6, test=1000, train_n_k=(16, 64, 256)))
  # λ*(σ) of the zero-padded W_mem (unit_birth.threshold) per mem family: σ/norm and the samples' cosine β.
  c.birth = ml_collections.ConfigDict(dict(sigma=(0.005, 0.02, 0.05, 0.1, 0.2, 0.5), beta=(-0.6, -0.1, -0.02),
                                           iters=30))
  # Jacobians at training points (§3.7): a memorizing and a generalizing trained model.
  c.jacobian = ml_collections.ConfigDict(dict(d=32, mem_n=8, mem_p=12, gen_K=3, gen_n_k=96, gen_ps=(2, 3, 4),
                                              sigma=0.2, lam=1e-4, steps=3000, learning_rate=1e-2))
  # Breaking points: one parameter at a time away from the theorems' premises.
  c.limits = ml_collections.ConfigDict(dict(
      count=24,
      beta=(-0.45, -0.3, -0.15, -0.05, 0.05, 0.15, 0.3, 0.45),
      alpha=(0.05, 0.1, 0.2, 0.4, 0.7, 1.0, 1.5, 2.0),
      sigma=(0.02, 0.05, 0.1, 0.2, 0.4, 0.8, 1.6),
      lam_frac=(0.0, 0.25, 0.5, 0.75, 0.9, 0.99, 1.2, 2.0)))
  if preset == "smoke":
    c.families = [_family(f.name, f.kind, f.d, f.counts, f.ps, 8, f.dup)
                  for f in (c.families[0], c.families[4], c.families[6])]
    c.refine_steps = 40
    c.basin_count = 8  # = count: the basin and training runs reuse the main batch's compiles
    c.basin_deltas = (0.01, 0.3)
    c.train_count = 8
    c.train.steps = 200
    c.cor33.n_k = (8, 32, 128)
    c.cor33.seeds = 2
    c.cor33.test = 200
    c.cor33.train_n_k = (32,)  # one of n_k: the others are never trained
    c.jacobian.steps = 200
    c.jacobian.gen_n_k = 32
    c.limits.count = 8
    c.limits.beta = (-0.3, 0.3)
    c.limits.alpha = (0.1, 1.5)
    c.limits.sigma = (0.05, 1.6)
    c.limits.lam_frac = (0.5, 1.2)
    c.birth.sigma = (0.05, 0.5)
    c.birth.beta = (-0.6,)
    c.birth.iters = 10
  elif preset != "default":
    raise ValueError(f"unknown preset {preset!r}; use 'default' or 'smoke'")
  return c
