"""Presets of ``python -m sims.phase_diagram`` (ml_collections).

``--config=sims/configs/phase_diagram.py`` is ``default`` (the committed figures, about
8 minutes on 2 CPU cores; it was called ``quick`` before the app took the flax-examples shape);
``...phase_diagram.py:paper`` is the GPU-size run (d=1024, p=100, n up to 10,000);
``...:smoke`` is the CI run (under a minute). Override any field,
e.g. ``--config.n_sigma.sigma='(0.1, 0.3)'``.
"""

import ml_collections
from ml_collections import config_dict

from relu_dae.storage import STORAGE_THRESHOLD
from sims.configs import pow2


def get_config(preset: str = "default") -> ml_collections.ConfigDict:
  """The preset ``default``, ``smoke`` or ``paper`` (see the module docstring)."""
  c = ml_collections.ConfigDict()
  c.preset = preset
  c.d = 64
  c.p_max = 32
  c.pool = 256  # training rows per family (every n is a prefix)
  c.test = 128  # held-out rows per family
  c.norm = 4.0  # ‖x‖ of the cluster means (and of the locally sparse samples)
  c.decay = 0.8  # within-cluster spectrum decay (distinct principal components)
  c.beta = -0.3  # cosine between cluster means (Def. 3.1 needs β < 0)
  c.seeds = (0, 1, 2, 3, 4)
  c.data_seed = 0
  # True: every seed draws its own data pool (fold_in(data_seed, seed position)), so the seed
  # bootstrap behind each n* interval resamples data pools and initializations together.
  c.fresh_pools = False
  # Adam at lr 1e-2, lowered ×0.5 on each plateau of the fixed-noise monitor down to 1/64,
  # stopped on a plateau there (relu_dae.convergence); `steps` is the most a run may take.
  c.train = ml_collections.ConfigDict(dict(steps=10000, learning_rate=1e-2, schedule="constant",
                                           optimizer="adam", batch_size=config_dict.placeholder(int), chunk_size=100,
                                           matmul_dtype="float32"))
  c.convergence = ml_collections.ConfigDict(dict(patience=2, rtol=1e-3, factor=0.5, min_scale=1 / 64,
                                                 wtol=0.05, rise=2.0, norm_rise=10.0, monitor_draws=16))
  c.lam = 1e-3
  c.stored_threshold = STORAGE_THRESHOLD  # 0.9: best column cosine for a sample to count as stored (+ half-angle test)
  c.eval_noise = 4  # noise draws per sample for the denoising metrics
  # MiB one vmapped chunk may use, and the multiple its size is rounded to. Unset: from the
  # devices (relu_dae.budget: half an accelerator's free memory or half the CPU's last-level
  # cache; the device count), resolved at each sweep's first run and kept in its spec.json.
  c.memory_budget_mb = config_dict.placeholder(float)
  c.chunk_multiple = config_dict.placeholder(int)
  n = pow2(4, 256)
  # (a) n × σ at p = p_max, for the locally sparse family and a K-cluster mixture.
  # The third family, α = 0.3 with β = −0.3, lies inside the theorems' premises (Def. 3.1).
  c.n_sigma = ml_collections.ConfigDict(dict(n=n, sigma=(0.1, 0.2, 0.4, 0.8), K=4, alpha=1.0, premise_alpha=0.3))
  # (b) n × p at fixed σ.
  c.n_p = ml_collections.ConfigDict(dict(n=n, p=(4, 8, 16, 32), sigma=0.2, K=4, alpha=1.0))
  # (c) imbalance: fraction of clusters made of copies of one sample × n (Cor. 3.4).
  c.hybrid = ml_collections.ConfigDict(dict(n=n, duplicated=(0.0, 0.25, 0.5, 0.75), sigma=0.2, K=4,
                                            alpha=1.0))
  # (d) local sparsity α and cluster count K × n, for the scaling of n*.
  c.alpha_K = ml_collections.ConfigDict(dict(n=n, alpha=(0.25, 1.0, 2.0), K=(2, 4, 8), sigma=0.2))
  c.num_boot = 1000  # bootstrap replicates (over seeds) behind every n* interval
  # Adaptive n: after the coarse grid, up to `rounds` rounds add integer n inside every storage
  # crossing's bracket wider than max(1, rel·n*) (boundaries.refine_n; per_bracket=1 is bisection).
  c.refine = ml_collections.ConfigDict(dict(rounds=1, rel=0.1, per_bracket=1))
  # Configurations per vmapped chunk at most: a chunk runs until its slowest run stops, and the
  # grid order within a bucket groups one σ (or p, duplication) per chunk.
  c.max_chunk = 16
  if preset == "smoke":
    c.d, c.p_max, c.pool, c.test, c.seeds = 32, 8, 16, 16, (0, 1)
    c.train.update(dict(steps=200, chunk_size=20))
    c.num_boot = 50
    c.refine.rounds = 1
    n = (2, 8, 16)
    c.n_sigma.update(dict(n=n, sigma=(0.2, 0.8), K=2))
    c.n_p.update(dict(n=n, p=(4, 8), K=2))
    c.hybrid.update(dict(n=n, duplicated=(0.0, 0.5), K=2))
    c.alpha_K.update(dict(n=n, alpha=(0.5, 2.0), K=(2, 4)))
  elif preset == "paper":
    c.d, c.p_max, c.pool, c.test = 1024, 100, 16384, 1024
    c.seeds = (0, 1, 2)
    c.train.update(dict(steps=4000, learning_rate=1e-2, batch_size=512))
    n = pow2(4, 8192) + (10000,)
    c.n_sigma.update(dict(n=n, sigma=(0.05, 0.1, 0.2, 0.4, 0.8, 1.6)))
    c.n_p.update(dict(n=n, p=(10, 25, 50, 100)))
    c.hybrid.update(dict(n=n, duplicated=(0.0, 0.25, 0.5, 0.75, 1.0)))
    c.alpha_K.update(dict(n=n, alpha=(0.25, 0.5, 1.0, 2.0, 4.0), K=(2, 4, 5, 10)))
    # One chunk per bucket where the device memory allows: on an accelerator a chunk's step is a
    # few batched matmuls, and 16 configurations of d = 1024 cannot fill one (not yet measured).
    c.max_chunk = 256
  elif preset != "default":
    raise ValueError(f"preset must be 'default', 'smoke' or 'paper', got {preset!r}")
  return c
