"""steering: Eq. (11) identities (a = 0, affine in a, direction toward g(v)), contrastive vector,
response curves with the nearest-mean classifier, smoothness of hand-made curves, and the steered
denoiser / steered sampling on a window of noise levels."""

import numpy as np
import jax
import jax.numpy as jnp
import pytest

from relu_dae import model
from relu_dae import steering


@pytest.fixture
def params(key):
  return model.init(key, d=16, p=24)


@pytest.mark.slow
def test_steer_with_zero_strength_is_the_model(params, key):
  y = jax.random.normal(key, (5, 16))
  v = jax.random.uniform(key, (24,))
  np.testing.assert_allclose(steering.steer(params, y, v, 0.0), model.apply(params, y), rtol=1e-6)


@pytest.mark.slow
def test_steer_is_affine_in_a_and_vmaps(params, key):
  y = jax.random.normal(key, (3, 16))
  v = steering.steering_vector(params, jax.random.normal(jax.random.PRNGKey(2), (4, 16)), 0.1, key)
  a = jnp.array([-1.0, 0.0, 0.5, 2.0])
  grid = steering.steer(params, y, v, a[:, None])
  assert grid.shape == (4, 3, 16)
  expected = model.apply(params, y) + a[:, None, None] * model.decode(params, v)
  np.testing.assert_allclose(grid, expected, rtol=1e-5, atol=1e-6)
  mapped = jax.jit(jax.vmap(lambda s: steering.steer(params, y, v, s)))(a)
  np.testing.assert_allclose(mapped, grid, rtol=1e-5, atol=1e-6)


@pytest.mark.slow
def test_large_a_moves_output_toward_decoded_target(params, key):
  x_t = jax.random.normal(jax.random.PRNGKey(3), (16,))
  v = model.represent(params, x_t)
  target = model.decode(params, v)
  cos = lambda u: jnp.dot(u, target) / (jnp.linalg.norm(u) * jnp.linalg.norm(target))
  y = jax.random.normal(key, (16,))
  a = jnp.linspace(0.0, 20.0, 21)
  c = jax.vmap(lambda s: cos(steering.steer(params, y, v, s)))(a)
  assert np.all(np.diff(np.asarray(c)) > 0)
  assert c[-1] > 0.99


@pytest.mark.slow
def test_steering_vector_is_mean_representation(params, key):
  X = jax.random.normal(key, (6, 16))
  np.testing.assert_allclose(steering.steering_vector(params, X, 0.0, key),
                             model.represent(params, X).mean(axis=0), rtol=1e-6)
  noisy = steering.steering_vector(params, X, 0.3, key, num_noise=4)
  eps = jax.random.normal(key, (4, 6, 16))
  np.testing.assert_allclose(noisy, model.represent(params, X + 0.3 * eps).mean(axis=(0, 1)), rtol=1e-5)


def test_contrastive_vector_is_difference_of_steering_vectors_with_same_noise(params, key):
  Xt = jax.random.normal(jax.random.PRNGKey(4), (5, 16))
  Xs = jax.random.normal(jax.random.PRNGKey(5), (5, 16))
  diff = steering.steering_vector(params, Xt, 0.2, key, num_noise=2) - steering.steering_vector(
      params, Xs, 0.2, key, num_noise=2)
  np.testing.assert_allclose(steering.contrastive_vector(params, Xt, Xs, 0.2, key, num_noise=2), diff,
                             rtol=1e-6)


def test_smoothness_of_hand_made_curves():
  step = steering.smoothness(np.r_[np.zeros(5), np.ones(5)])
  assert step == {"total_variation": 1.0, "max_jump": 1.0}
  ramp = steering.smoothness(np.linspace(0.0, 1.0, 11))
  assert ramp["max_jump"] == pytest.approx(1 / 10) and ramp["total_variation"] == pytest.approx(1.0)
  wiggle = steering.smoothness(np.array([0.0, 1.0, 0.0, 1.0]))
  assert wiggle["total_variation"] == pytest.approx(3.0)
  # Per-input steps at different a average into a ramp; smoothness_per_sample keeps each step.
  steps = np.tril(np.ones((5, 4)), -1)  # column j jumps 0 -> 1 between a_j and a_{j+1}
  assert steering.smoothness(steps)["max_jump"] == pytest.approx(0.25)
  per = steering.smoothness_per_sample(steps)
  np.testing.assert_allclose(per["max_jump"], np.ones(4))
  np.testing.assert_allclose(per["total_variation"], np.ones(4))
  # Each column of a wiggly (A, m) curve, by hand: Σ|Δc| and max|Δc|.
  wig = np.array([[0.0, 1.0], [0.5, 0.0], [0.2, 0.0], [1.0, 0.25]])
  per = steering.smoothness_per_sample(wig)
  np.testing.assert_allclose(per["total_variation"], [0.5 + 0.3 + 0.8, 1.0 + 0.0 + 0.25])
  np.testing.assert_allclose(per["max_jump"], [0.8, 1.0])


def test_smoothness_per_sample_keyword_is_deprecated_and_still_works():
  steps = np.tril(np.ones((5, 4)), -1)
  with pytest.warns(DeprecationWarning, match="smoothness_per_sample"):
    old = steering.smoothness(steps, per_sample=True)
  np.testing.assert_array_equal(old["max_jump"], steering.smoothness_per_sample(steps)["max_jump"])
  with pytest.warns(DeprecationWarning, match="smoothness_per_sample"):
    assert steering.smoothness(steps, per_sample=False) == steering.smoothness(steps)
  with pytest.warns(DeprecationWarning):  # a 1-D curve has one input: the summary, as before
    assert steering.smoothness(np.array([0.0, 1.0]), per_sample=True) == {"total_variation": 1.0, "max_jump": 1.0}


@pytest.mark.slow
def test_response_curve_with_nearest_mean_classifier(key):
  params = {"W": jnp.eye(2)}
  clf = steering.nearest_mean_classifier(jnp.array([[1.0, 0.0], [0.0, 1.0]]), tau=0.1)
  Y = jnp.array([[1.0, 0.0], [2.0, 0.0]])
  v = steering.steering_vector(params, jnp.array([[0.0, 1.0]]), 0.0, key)
  a = jnp.linspace(0.0, 3.0, 7)
  hard = steering.response_curve(params, Y, v, a, clf.predict)
  soft = steering.response_curve(params, Y, v, a, clf.proba)
  assert hard.shape == (7, 2) and soft.shape == (7, 2, 2)
  np.testing.assert_array_equal(hard[:, 0], (a > 1.0).astype(int))  # equidistant at a = 1
  p_target = soft[..., 1]
  assert np.all(np.diff(np.asarray(p_target), axis=0) > 0)
  np.testing.assert_allclose(soft.sum(-1), 1.0, rtol=1e-6)


@pytest.mark.parametrize("call, match", [
    (lambda p, k: steering.steer(p, jnp.ones((2, 16)), jnp.ones(3), 1.0), "v"),
    (lambda p, k: steering.steering_vector(p, jnp.ones((0, 16)), 0.1, k), "X_target"),
    (lambda p, k: steering.steering_vector(p, jnp.ones((2, 16)), -0.1, k), "sigma"),
    (lambda p, k: steering.contrastive_vector(p, jnp.ones((2, 16)), jnp.ones((2, 5)), 0.1, k), "X_source"),
    (lambda p, k: steering.response_curve(p, jnp.ones((2, 16)), jnp.ones(24), jnp.ones((2, 2)), len),
     "a_values"),
    (lambda p, k: steering.smoothness(np.ones(1)), "curve"),
    (lambda p, k: steering.nearest_mean_classifier(jnp.ones((1, 16))), "means"),
    (lambda p, k: steering.nearest_mean_classifier(jnp.ones((2, 16)), tau=0.0), "tau"),
])
def test_bad_arguments_raise(params, key, call, match):
  with pytest.raises(ValueError, match=match):
    call(params, key)


# --- steered denoiser and steered sampling ------------------------------------------------------

from relu_dae import diffusion  # noqa: E402


@pytest.fixture
def diff_params(key):
  params = diffusion.init(key, d=6, p=10, hidden=5)
  params["time"] = jax.tree.map(lambda w: w + 0.2, params["time"])  # an active σ-conditioning
  params["skip"] = jnp.array(0.1)
  return params


def test_steered_denoiser_is_eq11_inside_the_window_and_the_model_outside(diff_params, params, key):
  y = jax.random.normal(key, (4, 6))
  v = jax.random.uniform(jax.random.PRNGKey(7), (10,))
  f = steering.steered_denoiser(diff_params, v, 1.5, sigma_window=(0.1, 0.5))
  for sigma in (0.1, 0.3, 0.5):  # inside, edges included: W(e^m ⊙ ([Wᵀy]₊ + a v)) + s y, by hand
    h = np.maximum(np.asarray(y) @ np.asarray(diff_params["W"]), 0) + 1.5 * np.asarray(v)
    scale = np.exp(np.asarray(diffusion.log_scale(diff_params, sigma)))
    want = (h * scale) @ np.asarray(diff_params["W"]).T + 0.1 * np.asarray(y)
    np.testing.assert_allclose(f(y, sigma), want, rtol=1e-5, atol=1e-5)
  for sigma in (0.05, 0.6, 2.0):
    np.testing.assert_array_equal(f(y, sigma), diffusion.apply(diff_params, y, sigma))
  # Single-σ DAE: steer() inside, model.apply() outside.
  y16 = jax.random.normal(key, (3, 16))
  v24 = jax.random.uniform(key, (24,))
  g = steering.steered_denoiser(params, v24, 0.7, sigma_window=(0.2, 1.0))
  np.testing.assert_allclose(g(y16, 0.5), steering.steer(params, y16, v24, 0.7), rtol=1e-6)
  np.testing.assert_array_equal(g(y16, 1.5), model.apply(params, y16))


@pytest.mark.slow
@pytest.mark.parametrize("use_dae", [False, True])
def test_zero_strength_or_empty_window_reproduces_the_unsteered_sampler(diff_params, params, key, use_dae):
  p_model, d, p = (params, 16, 24) if use_dae else (diff_params, 6, 10)
  v = jax.random.uniform(key, (p,))
  kw = dict(num_steps=12, key=jax.random.PRNGKey(3), num_samples=5, d=d)
  plain = diffusion.sample(p_model, **kw)
  zero = diffusion.sample(steering.steered_denoiser(p_model, v, 0.0), **kw)
  empty = diffusion.sample(steering.steered_denoiser(p_model, v, 3.0, sigma_window=(2.5, 4.0)), **kw)
  steered = diffusion.sample(steering.steered_denoiser(p_model, v, 3.0), **kw)
  np.testing.assert_array_equal(zero, plain)
  np.testing.assert_array_equal(empty, plain)
  assert float(jnp.max(jnp.abs(steered - plain))) > 0.1


@pytest.mark.slow
def test_steered_sampling_changes_only_the_window_steps(diff_params, key):
  """Ancestral update x' = x + Δ/σ² (x̂ − x) + √Δ z: with the same noise, steering at step i adds
  exactly Δ_i/σ_i² · a · decode(v, σ_i) to x_{i+1}; states up to the window's first step agree."""
  N, first, last, a = 10, 4, 7, 0.8
  v = jax.random.uniform(key, (10,))
  window = steering.step_window(N, first, last)
  kw = dict(key=jax.random.PRNGKey(5), num_samples=3, d=6, num_steps=N)
  plain = diffusion.sample_trajectory(diff_params, **kw)
  steered = diffusion.sample_trajectory(steering.steered_denoiser(diff_params, v, a, sigma_window=window), **kw)
  np.testing.assert_array_equal(steered[:first + 1], plain[:first + 1])
  sig = diffusion.sigma_grid(N)
  delta = sig[first] ** 2 - sig[first + 1] ** 2
  want = plain[first + 1] + delta / sig[first] ** 2 * a * diffusion.decode(diff_params, v, sig[first])
  np.testing.assert_allclose(steered[first + 1], want, rtol=1e-5, atol=1e-5)
  assert float(jnp.max(jnp.abs(steered[-1] - plain[-1]))) > 1e-3


@pytest.mark.parametrize("N, first, last", [(60, 30, 58), (40, 20, 38), (5, 0, 5), (1, 0, 1), (10, 9, 10)])
def test_step_window_holds_exactly_the_chosen_grid_levels(N, first, last):
  lo, hi = steering.step_window(N, first, last)
  levels = np.asarray(diffusion.sigma_grid(N))[:N]  # the σ the sampler passes to the denoiser
  inside = np.flatnonzero((levels >= np.float32(lo)) & (levels <= np.float32(hi)))
  np.testing.assert_array_equal(inside, np.arange(first, last))


@pytest.mark.parametrize("call, match", [
    (lambda p: steering.steered_denoiser(p, jnp.ones(10), 1.0, sigma_window=(0.5, 0.1)), "sigma_window"),
    (lambda p: steering.steered_denoiser(p, jnp.ones(10), 1.0, sigma_window=(-0.1, 0.5)), "sigma_window"),
    (lambda p: steering.steered_denoiser(p, jnp.ones(10), 1.0, sigma_window=(float("nan"), 0.5)), "sigma_window"),
    (lambda p: steering.steered_denoiser(p, jnp.ones(10), 1.0, sigma_window=(0.1,)), "sigma_window"),
    (lambda p: steering.steered_denoiser(p, jnp.ones(10), 1.0, sigma_window=0.3), "sigma_window"),
    (lambda p: steering.steered_denoiser(p, jnp.ones(9), 1.0), "v"),
    (lambda p: steering.steered_denoiser(p, jnp.ones(10), jnp.ones(2)), "a"),
    (lambda p: steering.steered_denoiser(p, jnp.ones(10), float("inf")), "a"),
    (lambda p: steering.steered_denoiser({"V": jnp.ones((6, 10))}, jnp.ones(10), 1.0), "params"),
    (lambda p: steering.step_window(10, 5, 5), "first"),
    (lambda p: steering.step_window(10, 2, 11), "first"),
    (lambda p: steering.step_window(10, -1, 3), "first"),
    (lambda p: steering.step_window(0, 0, 1), "num_steps"),
])
def test_bad_steered_sampling_arguments_raise(diff_params, call, match):
  with pytest.raises(ValueError, match=match):
    call(diff_params)
