"""Presets for ``python -m sims.detect_steer`` (ml_collections): ``--config=sims/configs/detect_steer.py[:<preset>]``.

``--config=sims/configs/detect_steer.py`` is ``default`` (the committed figures, under 5 minutes on
2 CPU cores); ``...detect_steer.py:smoke`` is the seconds-long CI run; ``...:paper`` is a larger
run (more generated samples, longer training, 1000 bootstrap replicates). Override any field,
e.g. ``--config.steer.a_max=3.0``.
"""

import ml_collections


def _train(steps, lr, batch_size=256, lam=0.0):
  return ml_collections.ConfigDict(dict(steps=steps, learning_rate=lr, batch_size=batch_size, lam=lam,
                                        optimizer="adam", chunk_size=500))


def get_config(preset: str = "default") -> ml_collections.ConfigDict:
  c = ml_collections.ConfigDict()
  c.preset = preset
  c.seed = 0
  c.num_steps = 60  # ancestral VE sampler steps, σ from 2 to 0.02 (official grid)
  c.num_samples = 1000  # generated samples per hybrid model
  c.copy_threshold = 1 / 3  # NN ratio d1/d2 below which a generated sample copies a training sample
  # Detection (Algorithm 1): re-noise each generated sample at σ and score h.
  c.score_sigmas = (0.02, 0.1, 0.5)
  c.roc_sigma = 0.1  # the σ of the ROC curves in the figure
  c.score_noise = 4  # noise draws per generated sample (score = mean)
  c.num_bootstrap = 100
  # Hybrid synthetic mixture (Cor. 3.4): duplicated points (α_k = 0) next to abundant clusters.
  c.synthetic = ml_collections.ConfigDict(dict(
      d=32, n_duplicated=5, copies=60, n_abundant=3, n_per_cluster=300, n_test_per_cluster=100,
      alpha=0.5, rank=8, decay=0.9, norm=4.0, p=32, train=_train(6000, 3e-3)))
  # Hybrid digits: a few images duplicated many times next to a random subset of the other (centred)
  # digits (n_abundant; None = all). With all 1592 others, or p ≥ 32, the sampler generated no copies
  # at all (docs/theory_choices.md §19), hence the heavy duplication.
  c.digits = ml_collections.ConfigDict(dict(
      n_duplicated=5, copies=150, n_abundant=300, n_test=200, p=16, train=_train(6000, 3e-3)))
  # Steering (Eq. 11): v = mean h of the target set at σ_ref; a on a grid; one step at σ_onestep;
  # steered sampling on the steps [window_first, num_steps - window_skip_last) (official: the last
  # half of the steps except the last two).
  c.steer = ml_collections.ConfigDict(dict(
      target_class=0, sigma_ref=0.1, num_noise_ref=4, a_max=2.0, a_max_sampling=0.5, num_a=21, onestep_sigma=0.1,
      num_inputs=100, window_first_frac=0.5, window_skip_last=2, num_seeds=600, grid_rows=4, grid_cols=7))
  if preset == "smoke":
    c.num_steps = 15
    c.num_samples = 200
    c.score_sigmas = (0.1,)
    c.score_noise = 1
    c.num_bootstrap = 10
    c.synthetic.update(d=16, n_duplicated=3, copies=40, n_abundant=2, n_per_cluster=40, n_test_per_cluster=20,
                       rank=3, p=12)
    c.synthetic.train.update(steps=500, learning_rate=1e-2)
    c.digits.update(n_duplicated=3, copies=60, n_abundant=60, n_test=60, p=8)
    c.digits.train.update(steps=500, learning_rate=1e-2)
    c.steer.update(num_a=5, num_inputs=12, num_seeds=100, grid_rows=2, grid_cols=3)
  elif preset == "paper":
    c.num_samples = 5000
    c.score_sigmas = (0.02, 0.05, 0.1, 0.2, 0.5)
    c.score_noise = 16
    c.num_bootstrap = 1000
    c.synthetic.train.steps = c.digits.train.steps = 30000
    c.steer.update(num_inputs=400, num_seeds=3000, num_a=41)
  elif preset != "default":
    raise ValueError("preset must be 'default', 'smoke' or 'paper' (there is no 'quick': it is 'default'), "
                     f"got {preset!r}")
  return c
