"""Tests for relu_dae.diffusion: the time-conditioned model, its loss, training and samplers."""

import itertools

import numpy as np
import pytest

import jax
import jax.numpy as jnp

from relu_dae import diffusion
from relu_dae import metrics
from relu_dae import model
from relu_dae import train as train_lib


@pytest.mark.slow
def test_init_shapes_and_zero_conditioning(key):
  params = diffusion.init(key, d=6, p=5, hidden=7)
  assert params["W"].shape == (6, 5)
  assert params["time"]["w1"].shape == (7,) and params["time"]["w2"].shape == (7, 5)
  assert float(params["skip"]) == 0.0
  bound = np.sqrt(6 / 6)
  assert np.all(np.abs(params["W"]) <= bound)
  np.testing.assert_array_equal(diffusion.log_scale(params, jnp.array([0.02, 0.3, 2.0])), 0.0)


@pytest.mark.slow
def test_zero_init_conditioning_is_tied_dae_plus_skip(key):
  params = diffusion.init(key, d=8, p=12)
  params = dict(params, skip=jnp.array(0.3))
  y = jax.random.normal(jax.random.PRNGKey(1), (4, 8))
  want = model.apply({"W": params["W"]}, y) + 0.3 * y
  for sigma in (0.02, 0.5, jnp.array([0.1, 0.2, 1.0, 2.0])):
    np.testing.assert_allclose(diffusion.apply(params, y, sigma), want, rtol=1e-6, atol=1e-6)
  np.testing.assert_allclose(diffusion.represent(params, y), model.represent({"W": params["W"]}, y))


def test_conditioning_multiplies_hidden_units(key):
  params = diffusion.init(key, d=5, p=4, hidden=3)
  params["time"] = dict(params["time"], b2=jnp.log(jnp.array([1.0, 2.0, 0.5, 3.0])))
  y = jax.random.normal(key, (3, 5))
  h = diffusion.represent(params, y)
  np.testing.assert_allclose(diffusion.represent(params, y, 0.3, scaled=True), h * jnp.array([1.0, 2.0, 0.5, 3.0]),
                             rtol=1e-6)
  want = (h * jnp.array([1.0, 2.0, 0.5, 3.0])) @ params["W"].T
  np.testing.assert_allclose(diffusion.apply(params, y, 0.3), want, rtol=1e-5, atol=1e-6)
  np.testing.assert_allclose(diffusion.decode(params, h, 0.3), want, rtol=1e-5, atol=1e-6)


@pytest.mark.slow
def test_loss_matches_numpy_with_same_noise(key):
  params = diffusion.init(key, d=6, p=9)
  params["time"] = jax.tree.map(lambda w: w + 0.1, params["time"])  # make the conditioning active
  params["skip"] = jnp.array(0.2)
  X = jax.random.normal(jax.random.PRNGKey(3), (7, 6))
  k = jax.random.PRNGKey(4)
  sigma, eps = diffusion.draw_noise(k, 7, 3, 6, sigma_min=0.05, sigma_max=1.5)
  sigma, eps = np.asarray(sigma, np.float64), np.asarray(eps, np.float64)
  assert sigma.shape == (3, 7) and np.all((sigma >= 0.05) & (sigma <= 1.5))
  P = jax.tree.map(lambda a: np.asarray(a, np.float64), params)
  Xn = np.asarray(X, np.float64)
  t = P["time"]
  Y = Xn + sigma[..., None] * eps
  m = np.maximum(np.log(sigma)[..., None] * t["w1"] + t["b1"], 0) @ t["w2"] + t["b2"]
  f = (np.maximum(Y @ P["W"], 0) * np.exp(m)) @ P["W"].T + P["skip"] * Y
  err = ((f - Xn) ** 2).sum(-1)
  lam = 0.01
  want = err.mean() + 2 * lam * (P["W"] ** 2).sum()
  got = diffusion.loss(params, X, k, sigma_min=0.05, sigma_max=1.5, num_noise=3, lam=lam)
  np.testing.assert_allclose(got, want, rtol=1e-5)
  w = np.array([1.0, 0, 2, 1, 0, 1, 1])
  got_w = diffusion.loss(params, X, k, sigma_min=0.05, sigma_max=1.5, num_noise=3, weights=jnp.array(w))
  np.testing.assert_allclose(got_w, (err * w).sum() / (3 * w.sum()), rtol=1e-5)


@pytest.mark.slow
def test_sigma_is_log_uniform(key):
  sigma, _ = diffusion.draw_noise(key, 4000, 1, 2, sigma_min=0.02, sigma_max=2.0)
  u = (np.log(np.asarray(sigma)) - np.log(0.02)) / (np.log(2.0) - np.log(0.02))
  assert 0 <= u.min() and u.max() <= 1
  assert abs(u.mean() - 0.5) < 4 * np.sqrt(1 / 12 / 4000)
  assert abs(np.mean(u < 0.25) - 0.25) < 0.03


@pytest.mark.slow
def test_short_training_decreases_loss(key):
  X = jax.random.normal(jax.random.PRNGKey(2), (4, 8))
  params = diffusion.init(key, d=8, p=16, hidden=8)
  cfg = train_lib.TrainConfig(steps=400, learning_rate=1e-2, num_noise=4, chunk_size=100)
  trained, hist = diffusion.train(params, X, key, cfg, sigma_min=0.02, sigma_max=2.0)
  assert hist.loss.shape == (400,) and int(hist.nonfinite_step) == -1
  k = jax.random.PRNGKey(9)
  before = diffusion.loss(params, X, k, num_noise=64)
  after = diffusion.loss(trained, X, k, num_noise=64)
  assert float(after) < 0.7 * float(before)
  assert float(jnp.mean(hist.loss[-50:])) < float(jnp.mean(hist.loss[:50]))
  # The conditioning has left its zero init.
  assert float(jnp.abs(trained["time"]["w2"]).max()) > 0


@pytest.mark.slow
def test_training_flags_nonfinite(key):
  X = jax.random.normal(key, (4, 5))
  cfg = train_lib.TrainConfig(steps=40, learning_rate=1e14, optimizer="sgd", chunk_size=10)
  params = diffusion.init(key, 5, 6)
  trained, hist = diffusion.train(params, X, key, cfg)
  assert int(hist.nonfinite_step) >= 0
  assert all(bool(jnp.all(jnp.isfinite(w))) for w in jax.tree.leaves(trained))


def test_sigma_grid():
  g = np.asarray(diffusion.sigma_grid())
  assert g.shape == (61,) and g[-1] == 0
  np.testing.assert_allclose(g[[0, 59]], [2.0, 0.02], rtol=1e-6)
  np.testing.assert_allclose(g[1:60] / g[:59], (0.01) ** (1 / 59), rtol=1e-5)
  np.testing.assert_allclose(diffusion.sigma_grid(1, 1.0, 0.1), [1.0, 0.0])


@pytest.mark.slow
def test_empirical_denoiser_sampling_copies_training_points():
  X = jax.random.normal(jax.random.PRNGKey(5), (6, 8))
  out = diffusion.sample(diffusion.empirical_denoiser(X), jax.random.PRNGKey(6), 64, 8, sigma_min=0.01)
  ratio = metrics.nn_ratio(out, X, jnp.ones(6))
  assert float(jnp.mean(ratio < 1 / 3)) >= 0.9
  d1 = jnp.min(jnp.linalg.norm(out[:, None] - X[None], axis=-1), axis=1)
  assert float(jnp.median(d1)) < 0.05
  # Deterministic sampler copies too.
  out = diffusion.sample(diffusion.empirical_denoiser(X), jax.random.PRNGKey(6), 64, 8, sigma_min=0.01,
                         deterministic=True)
  assert float(jnp.mean(metrics.nn_ratio(out, X, jnp.ones(6)) < 1 / 3)) >= 0.9


def _discretized_moments(s2, sigmas, deterministic=False):
  """Exact (mean factor, variance per coordinate) after the sampler for N(μ, s²I), exact denoiser.

  Both updates are linear in x for this denoiser: x − μ ← c_i (x − μ) (+ noise), so from
  x_0 = σ_max z the output has mean μ (1 − Π c_i) and variance given by the recursion. Π c_i is
  not 0 because x_0 ~ N(0, σ_max²I) rather than the true N(μ, (s² + σ_max²)I), as in the
  official sampler.
  """
  v, factor = float(sigmas[0]) ** 2, 1.0
  for a, b in zip(np.asarray(sigmas[:-1], np.float64), np.asarray(sigmas[1:], np.float64)):
    g = s2 / (s2 + a * a)
    if deterministic:
      c = 1 - (a - b) / a * (1 - g)
      v = c**2 * v
    else:
      c = 1 - (a * a - b * b) / (a * a) * (1 - g)
      v = c**2 * v + (a * a - b * b)
    factor *= c
  return factor, v


@pytest.mark.slow
def test_gaussian_oracle_sampling_recovers_mean_and_variance():
  d, s, m = 4, 0.5, 512
  mu = jnp.array([0.5, -1.0, 0.0, 1.5])
  den = diffusion.gaussian_mixture_denoiser(mu[None], (s**2 * jnp.eye(d))[None], jnp.ones(1))
  out = np.asarray(diffusion.sample(den, jax.random.PRNGKey(7), m, d), np.float64)
  factor, pred = _discretized_moments(s**2, diffusion.sigma_grid())
  # Monte Carlo: the mean of m samples has standard error s/√m ≈ 0.022 per coordinate. The start
  # x_0 ~ N(0, σ_max²I) leaves a bias −μ Π c_i ≈ −0.06 μ (s²/(s² + σ_max²) in the SDE limit):
  # within 4 SE of the predicted mean, and within 6 % |μ| + 4 SE of μ.
  se = s / np.sqrt(m)
  assert 0 < factor < 0.07
  np.testing.assert_allclose(out.mean(0), mu * (1 - factor), atol=4 * se)
  assert np.all(np.abs(out.mean(0) - mu) < 0.07 * np.abs(mu) + 4 * se)
  # The pooled variance (m·d values) has standard error ≈ s²√(2/(m d)) ≈ 0.008. The 60-step
  # Euler–Maruyama sampler is biased by +7 % at s = 0.5 (exact recursion below): it must match
  # that prediction within 5 SE and s² within 15 %.
  var = out.var(0, ddof=1).mean()
  assert abs(pred / s**2 - 1) < 0.1
  assert abs(var - pred) < 5 * s**2 * np.sqrt(2 / (m * d))
  assert abs(var / s**2 - 1) < 0.15


def test_gaussian_oracle_deterministic_matches_its_recursion():
  """The probability-flow sampler's mean is biased too (0.762 μ at s = 0.5, −23.8 %; variance −9.4 %)."""
  d, s, m = 4, 0.5, 512
  mu = jnp.array([0.5, -1.0, 0.0, 1.5])
  den = diffusion.gaussian_mixture_denoiser(mu[None], (s**2 * jnp.eye(d))[None], jnp.ones(1))
  out = np.asarray(diffusion.sample(den, jax.random.PRNGKey(8), m, d, deterministic=True), np.float64)
  factor, pred = _discretized_moments(s**2, diffusion.sigma_grid(), deterministic=True)
  assert abs((1 - factor) - 0.762) < 1e-3 and abs(pred / s**2 - 1 + 0.094) < 1e-3
  assert abs(out.var(0, ddof=1).mean() - pred) < 5 * pred * np.sqrt(2 / (m * d))
  np.testing.assert_allclose(out.mean(0), mu * (1 - factor), atol=4 * np.sqrt(pred / m))


@pytest.mark.slow
def test_supplied_noise_reproduces_the_drawn_noise_and_an_independent_recursion(x64):
  d, m, steps, s = 3, 4, 5, 0.7
  mu = np.array([0.3, -0.2, 1.0])
  den = diffusion.gaussian_mixture_denoiser(jnp.asarray(mu)[None], (s**2 * jnp.eye(d))[None], jnp.ones(1))
  key = jax.random.PRNGKey(4)
  sigmas = np.asarray(diffusion.sigma_grid(steps), np.float64)
  keys = [jax.random.fold_in(key, j) for j in range(m)]
  z = np.stack([[np.asarray(jax.random.normal(jax.random.fold_in(k, i), (d,), jnp.float64)) for k in keys]
                for i in range(steps)])  # what sample draws itself, as (N, m, d)
  x_init = np.asarray(jax.random.normal(jax.random.PRNGKey(9), (m, d), jnp.float64))
  drawn = np.asarray(diffusion.sample(den, key, m, d, num_steps=steps, x_init=x_init))
  given = np.asarray(diffusion.sample(den, key, m, d, num_steps=steps, x_init=x_init, noise=z))
  np.testing.assert_allclose(given, drawn, rtol=1e-14, atol=1e-15)  # equal up to fused rounding
  z2 = np.asarray(jax.random.normal(jax.random.PRNGKey(11), (steps, m, d), jnp.float64))
  out = np.asarray(diffusion.sample(den, jax.random.PRNGKey(0), m, d, num_steps=steps, x_init=x_init, noise=z2))
  x = x_init.copy()  # numpy: the exact posterior mean of N(μ, s²I) and the ancestral update
  for i, (a, b) in enumerate(itertools.pairwise(sigmas)):
    x_hat = mu + s**2 / (s**2 + a**2) * (x - mu)
    x = x + (a**2 - b**2) / a**2 * (x_hat - x) + (np.sqrt(a**2 - b**2) if b > 0 else 0.0) * z2[i]
  np.testing.assert_allclose(out, x, rtol=1e-10, atol=1e-12)
  with pytest.raises(ValueError, match="noise"):
    diffusion.sample(den, key, m, d, num_steps=steps, noise=z2[:-1])
  with pytest.raises(ValueError, match="noise"):
    diffusion.sample(den, key, m, d, num_steps=steps, noise=z2, deterministic=True)


@pytest.mark.slow
def test_deterministic_sampler_depends_only_on_initial_noise(key):
  params = diffusion.init(key, d=6, p=10)
  x_init = 2.0 * jax.random.normal(jax.random.PRNGKey(1), (5, 6))
  a = diffusion.sample(params, jax.random.PRNGKey(2), 5, 6, deterministic=True, x_init=x_init)
  b = diffusion.sample(params, jax.random.PRNGKey(3), 5, 6, deterministic=True, x_init=x_init)
  np.testing.assert_array_equal(a, b)
  c = diffusion.sample(params, jax.random.PRNGKey(2), 5, 6, x_init=x_init)
  e = diffusion.sample(params, jax.random.PRNGKey(3), 5, 6, x_init=x_init)
  assert not np.allclose(c, e)
  # Same key → same samples, and the first samples do not depend on how many are drawn.
  f = diffusion.sample(params, jax.random.PRNGKey(2), 3, 6)
  g = diffusion.sample(params, jax.random.PRNGKey(2), 5, 6)
  np.testing.assert_allclose(f, g[:3], rtol=1e-6)


def test_single_step_update_formulas():
  # One step from σ_0 = σ_max to 0 returns the denoiser's output for both samplers.
  den = lambda y, sigma: 0.5 * y
  x_init = jnp.ones((2, 3))
  for det in (False, True):
    out = diffusion.sample(den, jax.random.PRNGKey(0), 2, 3, num_steps=1, x_init=x_init, deterministic=det)
    np.testing.assert_allclose(out, 0.5 * x_init)
  # Two deterministic steps 1 → 0.5 → 0 with x̂ = 0: x ← x·(σ_{i+1}/σ_i).
  traj = diffusion.sample_trajectory(lambda y, s: jnp.zeros_like(y), jax.random.PRNGKey(0), 2, 3, num_steps=2,
                                     sigma_max=1.0, sigma_min=0.5, x_init=x_init, deterministic=True)
  assert traj.shape == (3, 2, 3)
  np.testing.assert_allclose(traj[:, 0, 0], [1.0, 0.5, 0.0])


def test_sample_trajectory_ends_at_sample_and_the_old_keyword_warns(key):
  """The trajectory's states follow the ancestral recursion (numpy, given noise); its last is sample's."""
  den = lambda y, s: 0.5 * y
  N, m, d = 4, 3, 2
  x0 = jax.random.normal(key, (m, d))
  z = jax.random.normal(jax.random.PRNGKey(9), (N, m, d))
  kw = dict(num_steps=N, sigma_max=1.0, sigma_min=0.1, x_init=x0, noise=z)
  traj = diffusion.sample_trajectory(den, key, m, d, **kw)
  sig = np.asarray(diffusion.sigma_grid(N, 1.0, 0.1), np.float64)
  x = np.asarray(x0, np.float64)
  want = [x]
  for i in range(N):
    delta = sig[i] ** 2 - sig[i + 1] ** 2
    x = x + delta / sig[i] ** 2 * (0.5 * x - x) + (np.sqrt(delta) if sig[i + 1] > 0 else 0.0) * np.asarray(z[i])
    want.append(x)
  np.testing.assert_allclose(traj, np.stack(want), rtol=1e-5, atol=1e-6)
  np.testing.assert_array_equal(traj[-1], diffusion.sample(den, key, m, d, **kw))
  with pytest.warns(DeprecationWarning, match="sample_trajectory"):
    old = diffusion.sample(den, key, m, d, return_trajectory=True, **kw)
  np.testing.assert_array_equal(old, traj)
  with pytest.warns(DeprecationWarning, match="sample_trajectory"):
    np.testing.assert_array_equal(diffusion.sample(den, key, m, d, return_trajectory=False, **kw), traj[-1])


@pytest.mark.slow
def test_clamp_and_single_sigma_dae(key):
  dae = model.init(key, 4, 6)
  out = diffusion.sample(dae, key, 8, 4, num_steps=5, clamp=0.1)
  assert float(jnp.max(jnp.abs(out))) <= 0.1 + 1e-7
  np.testing.assert_allclose(out, diffusion.sample(diffusion.single_sigma_dae(dae), key, 8, 4, num_steps=5,
                                                   clamp=(-0.1, 0.1)))


@pytest.mark.parametrize("kwargs, name", [
    (dict(sigma_min=2.0, sigma_max=1.0), "sigma_min"),
    (dict(sigma_min=0.0), "sigma_min"),
    (dict(num_steps=0), "num_steps"),
    (dict(clamp=-1.0), "clamp"),
    (dict(x_init=jnp.zeros((2, 3))), "x_init"),
])
def test_sample_rejects_bad_input(key, kwargs, name):
  params = diffusion.init(key, 4, 5)
  with pytest.raises(ValueError, match=name):
    diffusion.sample(params, key, 3, 4, **kwargs)


def test_other_bad_inputs(key):
  params = diffusion.init(key, 4, 5)
  with pytest.raises(ValueError, match="y"):
    diffusion.apply(params, jnp.ones((2, 3)), 0.5)
  with pytest.raises(ValueError, match="sigma"):
    diffusion.apply(params, jnp.ones((2, 4)), -0.5)
  with pytest.raises(ValueError, match="sigma_min"):
    diffusion.loss(params, jnp.ones((2, 4)), key, sigma_min=1.0, sigma_max=0.5)
  with pytest.raises(ValueError, match="X"):
    diffusion.loss(params, jnp.ones((2, 3)), key)
  with pytest.raises(ValueError, match="params"):
    diffusion.apply({"W": params["W"]}, jnp.ones((2, 4)), 0.5)
  with pytest.raises(ValueError, match="covs"):
    diffusion.gaussian_mixture_denoiser(jnp.zeros((1, 2)), jnp.zeros((1, 3, 3)), jnp.ones(1))
  with pytest.raises(TypeError, match="params_or_denoiser"):  # not params, not a callable
    diffusion.sample(3, key, 2, 4)


@pytest.mark.parametrize("change, error, name", [
    (dict(weights=np.zeros(4)), ValueError, "weights"),
    (dict(X=np.full((4, 3), np.nan, np.float32)), ValueError, "X"),
    (dict(X=np.ones((4, 3), np.complex64)), TypeError, "X"),
    (dict(sigma_min=0.5, sigma_max=0.1), ValueError, "sigma_min"),
    (dict(config="fast"), TypeError, "config"),
])
def test_diffusion_train_validates_before_jit(change, error, name):
  kwargs = dict(params=diffusion.init(jax.random.PRNGKey(0), 3, 2, hidden=2), X=np.ones((4, 3), np.float32),
                key=jax.random.PRNGKey(1), config=train_lib.TrainConfig(steps=2, chunk_size=1))
  kwargs.update(change)
  with pytest.raises(error, match=name):
    diffusion.train(**kwargs)


@pytest.mark.slow
def test_lam_maps_to_the_official_weight_decay_as_d_wd_over_4(x64):
  """DAECond's coupled weight_decay wd adds wd·W to the gradient of the per-pixel MSELoss (= loss / d);
  here lam's penalty 2·lam·‖W‖² must add the same, times d: d·wd·W, so lam = d·wd/4 (theory_choices §14)."""
  key = jax.random.PRNGKey(0)
  d, wd = 6, 3e-3
  params = jax.tree.map(lambda a: jnp.asarray(a, jnp.float64), diffusion.init(key, d, 5))
  X = jax.random.normal(key, (4, d), jnp.float64)
  grad_W = lambda lam: jax.grad(lambda p: diffusion.loss(p, X, key, lam=lam))(params)["W"]
  decay_grad = np.asarray(grad_W(d * wd / 4) - grad_W(0.0))
  np.testing.assert_allclose(decay_grad, d * wd * np.asarray(params["W"]), rtol=1e-10, atol=1e-14)
