"""Presets of ``python -m sims.regimes`` (ml_collections).

Use ``--config=sims/configs/regimes.py`` (``default``: the committed figures) or
``...regimes.py:smoke`` (the CI run, called ``quick`` before the app took the flax-examples
shape), and override any field, e.g. ``--config.gen.train.sigma=0.5``.
"""

import ml_collections
from ml_collections import config_dict


def _train(steps, lr, sigma, lam, batch_size=None):
  return ml_collections.ConfigDict(dict(steps=steps, learning_rate=lr, sigma=sigma, lam=lam,
                                        batch_size=config_dict.placeholder(int) if batch_size is None else batch_size,
                                        optimizer="adam"))


def get_config(preset: str = "default") -> ml_collections.ConfigDict:
  """``default``: the committed figures, ~1 min on 2 CPU cores; ``smoke``: a short run for tests."""
  c = ml_collections.ConfigDict()
  c.preset = preset  # named in the figures' titles unless "default"
  c.seed = 0
  c.d = 64  # every dataset is 8×8 so weights draw as images
  # Memorization (Cor. 3.2): locally sparse samples, pairwise cosine −1/(n−1), p ≥ n.
  c.mem = ml_collections.ConfigDict(dict(n=8, p=16, norm=4.0, train=_train(4000, 1e-2, 0.2, 1e-3)))
  # Generalization (Cor. 3.3): K separable low-rank clusters, n ≫ p.
  c.gen = ml_collections.ConfigDict(dict(K=3, n_per_cluster=300, rank=4, decay=0.7, alpha=0.3, beta=-0.5, norm=4.0,
                                         p=12, train=_train(4000, 3e-3, 0.3, 1e-3)))
  # Hybrid (Cor. 3.4): duplicated clusters (α_k = 0) next to abundant ones.
  c.hybrid = ml_collections.ConfigDict(dict(n_duplicated=2, copies=10, n_abundant=2, n_per_cluster=300,
                                            rank=4, decay=0.7, alpha=0.3, norm=4.0, p=12,
                                            train=_train(4000, 3e-3, 0.3, 1e-3)))
  # scikit-learn digits (centred): n = 5 most anti-correlated images vs all 1797.
  c.digits = ml_collections.ConfigDict(dict(n_mem=5, p=16, train_mem=_train(4000, 1e-2, 0.2, 1e-3),
                                            train_gen=_train(4000, 3e-3, 0.2, 1e-3, batch_size=256)))
  c.num_hist_inputs = 300  # noisy training inputs per model for the spikiness histograms
  if preset == "smoke":
    c.gen.train.steps = c.hybrid.train.steps = c.digits.train_gen.steps = 300
    c.mem.train.steps = c.digits.train_mem.steps = 1500  # small n: cheap steps
    c.gen.n_per_cluster = c.hybrid.n_per_cluster = 40
    c.num_hist_inputs = 50
  elif preset != "default":
    raise ValueError(f"preset must be 'default' or 'smoke', got {preset!r}")
  return c
