"""Presets for ``python -m sims.diffusion_toy`` (ml_collections): ``--config=sims/configs/diffusion_toy.py[:<preset>]``.

``--config=sims/configs/diffusion_toy.py`` is ``default`` (the committed figures, a few minutes on
2 CPU cores); ``...diffusion_toy.py:paper`` is a larger GPU-size run (d = 256, n up to 4096, more
widths, seeds and steps); ``...:smoke`` is the seconds-long CI run. Override any field, e.g.
``--config.p='(16, 64)'``.

The diffusion settings are the official ones (THEORY.md §6): σ log-uniform on [0.02, 2] in the
loss, the VE ancestral sampler on a geometric 60-step grid from 2 to 0.02, no clamp on the
mixture. The mixture is the phase diagram's (K = 4, α = 1, β = −0.3, ‖μ‖ = 4, d = 64), so the
copy-rate transition compares with the single-σ DAE's n* on the same data.
"""

import ml_collections
from ml_collections import config_dict

from sims.configs import pow2


def get_config(preset: str = "default") -> ml_collections.ConfigDict:
  c = ml_collections.ConfigDict()
  c.preset = preset
  # Data: the (α, β)-separable mixture of sims/phase_diagram.py; every n is a prefix of one pool
  # whose rows are interleaved over clusters.
  c.d = 64
  c.K = 4
  c.alpha = 1.0
  c.beta = -0.3
  c.norm = 4.0
  c.decay = 0.8
  c.data_seed = 0
  c.n = pow2(2, 256)
  c.p = (4, 8, 16, 32)  # widths (the phase diagram's n × p sweep); one width-max(p) model, extra units zero
  c.seeds = (0, 1, 2)
  # "pow2": each n trains on the pool truncated to the next power of two >= n (one compile per
  # bucket, relu_dae.sweep.bucket_size); "single": every n padded to the whole pool (one compile).
  c.buckets = "pow2"
  # The multi-σ model (relu_dae.diffusion): full batch, σ log-uniform on [sigma_min, sigma_max].
  c.hidden = 32  # conditioning MLP width
  c.train = ml_collections.ConfigDict(dict(steps=3000, learning_rate=2e-2, schedule="cosine", optimizer="adam",
                                           num_noise=1, lam=0.0, batch_size=config_dict.placeholder(int),
                                           chunk_size=500))
  c.min_noisy_batch = 64  # noisy inputs per step at least (more (σ, ε) draws per sample for small n)
  c.sigma_min = 0.02
  c.sigma_max = 2.0
  # Sampler (diffusion.sample): the official VE ancestral sampler.
  c.sampler = ml_collections.ConfigDict(dict(num_samples=256, num_steps=60, clamp=config_dict.placeholder(float)))
  # The single-σ DAE of Eq. (5) used as a sampler at every σ (trained by relu_dae.sweep, as in
  # the phase diagram's n × p sweep).
  c.dae = ml_collections.ConfigDict(dict(sigma=0.2, lam=1e-3, steps=1500, learning_rate=2e-2, schedule="cosine",
                                         optimizer="adam", chunk_size=250))
  c.copy_threshold = 1 / 3  # d1/d2 below this = a copy (the field's standard)
  c.level = 0.5  # the critical n is where the copy rate crosses this
  c.bootstrap = 1000  # hierarchical bootstrap replicates (seeds, then samples)
  c.show_samples = 64  # generated samples kept per configuration for the figures
  c.measure_batch = 128  # configurations sampled per vmap (sweep.measure)
  # Digits (centred, as every digits experiment here): memorizing vs generalizing model.
  c.digits = ml_collections.ConfigDict(dict(n_mem=10, n_gen=1024, p=64, steps=3000, learning_rate=1e-2,
                                            num_samples=256, show=6, clamp=config_dict.placeholder(float), seed=0))
  if preset == "smoke":
    c.n = (2, 8, 32)
    c.p = (4, 16)
    c.seeds = (0, 1)
    c.buckets = "single"
    c.train.update(dict(steps=150, chunk_size=50))
    c.dae.update(dict(steps=100, chunk_size=50))
    c.sampler.update(dict(num_samples=32, num_steps=20))
    c.bootstrap = 100
    c.show_samples = 16
    c.digits.update(dict(n_mem=10, n_gen=128, p=16, steps=100, num_samples=16, show=4))
  elif preset == "paper":
    c.d = 256
    c.n = pow2(2, 4096)
    c.p = (8, 16, 32, 64, 128, 256)
    c.min_noisy_batch = 512
    c.seeds = tuple(range(5))
    c.train.update(dict(steps=20000, learning_rate=1e-2, batch_size=512))
    c.dae.update(dict(steps=4000, learning_rate=1e-2))
    c.sampler.num_samples = 1024
    c.bootstrap = 2000
    c.digits.update(dict(n_gen=1797, p=256, steps=20000))
  elif preset != "default":
    raise ValueError("preset must be 'default', 'smoke' or 'paper' (there is no 'quick': it is 'default'), "
                     f"got {preset!r}")
  return c
