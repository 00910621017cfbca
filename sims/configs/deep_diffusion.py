"""Presets for ``python -m sims.deep_diffusion`` (ml_collections):
``--config=sims/configs/deep_diffusion.py[:<preset>]``.

``default`` is the committed run (8×8 digits, a two-level UNet, ≤ 15 minutes on 2 CPU cores);
``smoke`` is the CI run (well under a minute of training); ``gpu`` upsamples the digits to 16×16 and
trains a wider, three-level UNet longer, with more generations and bootstrap replicates (an
accelerator run). Override any field, e.g. ``--config.sweep.n_values=2,16,1797``, or ``--config.data=bars``
for the synthetic family with a known truth.
"""

import ml_collections


def get_config(preset: str = "default") -> ml_collections.ConfigDict:
  c = ml_collections.ConfigDict()
  c.preset = preset
  c.seed = 0
  # The pool of 1797 images: scikit-learn's digits, or "bars" (relu_dae.bars: oriented Gaussian bars, ten
  # orientations, a known family). For the bars, a generation is *valid* when its RMS distance per pixel to the
  # family is at most valid_distance (images in [-1, 1]; docs/theory_choices.md §25).
  c.data = "digits"
  c.valid_distance = 0.1
  # The UNet of relu_dae.unet; images are the bundled digits in [-1, 1], upsampled (nearest) to image_size.
  c.unet = ml_collections.ConfigDict(dict(image_size=8, channels=(16, 32), num_res_blocks=1, embed_dim=32, groups=4))
  # Adam on the EDM-weighted multi-σ loss, σ log-uniform on [0.02, 2] (relu_dae.diffusion's range).
  c.train = ml_collections.ConfigDict(dict(steps=3000, learning_rate=3e-3, batch_size=64, chunk_size=500))
  c.num_steps = 40  # ancestral VE sampler steps, σ from 2 to 0.02
  c.num_samples = 300  # generations per model
  c.copy_threshold = 1 / 3  # a generation copies a training image when d1/d2 < 1/3 (Euclidean)
  c.num_bootstrap = 200
  # Copy rate against the training-set size n (the deep analogue of the phase diagram): one model per
  # (seed, n), trained on the first n images of a seeded permutation of the 1797 digits.
  c.sweep = ml_collections.ConfigDict(dict(n_values=(2, 16, 64, 256, 1797), seeds=2))
  # One hybrid model: n_duplicated images (not of target_class) repeated `copies` times inside all the others
  # (training weights, the same distribution as repeated rows), as duplicated captions in LAION.
  c.hybrid = ml_collections.ConfigDict(dict(n_duplicated=10, copies=100, target_class=0))
  # Table 1's protocol: re-noise each generation at σ (the paper's small timestep), score every layer.
  c.detect = ml_collections.ConfigDict(dict(sigma=0.1, score_noise=4, poolings=("max", "mean")))
  # Steering (Eq. 11): v_ℓ = mean representation of num_reference target-class images at σ_ref — the whole
  # activation map ("map") or its max-pooled channels ("channel") — added at the blocks of the up path ("up") or
  # of its coarser half ("coarse_up") on the sampler steps [window_first_frac·N, N − window_skip_last). The
  # official protocol (channel vectors, the last half of the steps) does not move this model's digit class:
  # docs/theory_choices.md §25.
  c.steer = ml_collections.ConfigDict(dict(sigma_ref=0.1, num_reference=50, vector="map", blocks="up", a_max=1.0,
                                           num_a=11, num_seeds=300, num_inputs=40, window_first_frac=0.0,
                                           window_skip_last=2, grid_rows=3, grid_cols=6))
  # Jacobian spectra of the denoiser at re-noised memorized and generalized generations.
  c.jacobian = ml_collections.ConfigDict(dict(sigmas=(0.1, 0.5), num_points=20))
  if preset == "smoke":
    c.unet.update(channels=(8, 16), embed_dim=16)
    c.train.update(steps=800, learning_rate=1e-2, chunk_size=400)
    c.num_steps = 12
    c.num_samples = 40
    c.num_bootstrap = 20
    c.sweep.update(n_values=(2, 1797), seeds=1)  # the test: 2 images are copied, all digits are not
    c.hybrid.update(n_duplicated=2, copies=1000)
    c.detect.update(score_noise=1, poolings=("max",))
    c.steer.update(num_reference=10, num_a=3, num_seeds=40, num_inputs=6, grid_rows=2, grid_cols=3)
    c.jacobian.update(sigmas=(0.1,), num_points=4)
  elif preset == "gpu":
    c.unet.update(image_size=16, channels=(32, 64, 128), embed_dim=64, groups=8)
    c.train.update(steps=20000, learning_rate=2e-3, batch_size=128, chunk_size=1000)
    c.num_steps = 60
    c.num_samples = 2000
    c.num_bootstrap = 1000
    c.sweep.update(n_values=(2, 4, 8, 16, 32, 64, 128, 256, 512, 1024, 1797), seeds=4)
    c.steer.update(num_seeds=1000, num_inputs=200, num_a=21)
    c.jacobian.update(sigmas=(0.05, 0.1, 0.5), num_points=50)
  elif preset != "default":
    raise ValueError(f"preset must be 'default', 'smoke' or 'gpu', got {preset!r}")
  return c
