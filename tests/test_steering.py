"""steering: Eq. (11) identities (a = 0, affine in a, direction toward g(v)), contrastive vector,
response curves with the nearest-mean classifier, smoothness of hand-made curves."""

import numpy as np
import jax
import jax.numpy as jnp
import pytest

from relu_dae import model
from relu_dae import steering


@pytest.fixture
def params(key):
  return model.init(key, d=16, p=24)


def test_steer_with_zero_strength_is_the_model(params, key):
  y = jax.random.normal(key, (5, 16))
  v = jax.random.uniform(key, (24,))
  np.testing.assert_allclose(steering.steer(params, y, v, 0.0), model.apply(params, y), rtol=1e-6)


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
  # Per-input steps at different a average into a ramp; per_sample keeps each step.
  steps = np.tril(np.ones((5, 4)), -1)  # column j jumps 0 -> 1 between a_j and a_{j+1}
  assert steering.smoothness(steps)["max_jump"] == pytest.approx(0.25)
  np.testing.assert_allclose(steering.smoothness(steps, per_sample=True)["max_jump"], np.ones(4))


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
