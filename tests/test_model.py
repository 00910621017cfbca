"""model: Eq. (5) against numpy and autodiff."""

import numpy as np
import jax
import jax.numpy as jnp
import pytest

from relu_dae import model


def _numpy_forward(W1, W2, x):
  h = np.maximum(np.einsum("dp,...d->...p", W1, x), 0.0)
  return h, np.einsum("dp,...p->...d", W2, h)


@pytest.mark.slow
@pytest.mark.parametrize("tied", [True, False])
def test_apply_and_represent_match_numpy(key, tied):
  params = model.init(key, d=5, p=7, tied=tied)
  x = jax.random.normal(jax.random.PRNGKey(1), (2, 3, 5))  # two leading batch axes
  W1, W2 = (np.asarray(params["W"]),) * 2 if tied else (np.asarray(params["W1"]), np.asarray(params["W2"]))
  h_np, f_np = _numpy_forward(W1, W2, np.asarray(x))
  np.testing.assert_allclose(model.represent(params, x), h_np, rtol=1e-5, atol=1e-6)
  np.testing.assert_allclose(model.apply(params, x), f_np, rtol=1e-5, atol=1e-6)
  np.testing.assert_allclose(model.decode(params, model.represent(params, x)), f_np, rtol=1e-5, atol=1e-6)


@pytest.mark.slow
@pytest.mark.parametrize("tied", [True, False])
def test_jacobian_matches_autodiff(key, tied):
  params = model.init(key, d=4, p=6, tied=tied)
  xs = jax.random.normal(jax.random.PRNGKey(2), (3, 4))
  J = model.jacobian(params, xs)
  J_ad = jax.vmap(jax.jacfwd(lambda x: model.apply(params, x)))(xs)
  assert J.shape == (3, 4, 4)
  np.testing.assert_allclose(J, J_ad, rtol=1e-5, atol=1e-6)


def test_init_shapes_scale_and_determinism(key):
  tied = model.init(key, d=64, p=32)
  untied = model.init(key, d=64, p=32, tied=False)
  assert set(tied) == {"W"} and tied["W"].shape == (64, 32)
  assert set(untied) == {"W1", "W2"} and untied["W2"].shape == (64, 32)
  # Default scale 1/sqrt(d): empirical std of 2048 N(0, 1/64) entries within 10 %.
  assert abs(float(jnp.std(tied["W"])) - 1 / 8) < 0.1 / 8
  np.testing.assert_array_equal(model.init(key, 64, 32)["W"], tied["W"])
  assert not np.array_equal(model.init(jax.random.PRNGKey(9), 64, 32)["W"], tied["W"])


def test_bfloat16_matmuls_round_the_inputs_and_accumulate_in_float32():
  """Independent computation: inputs rounded to bfloat16 by ml_dtypes, products in float64."""
  import ml_dtypes
  key1, key2 = jax.random.split(jax.random.PRNGKey(7))
  params = {"W1": jax.random.normal(key1, (64, 16)) / 8, "W2": jax.random.normal(key2, (64, 16)) / 8}
  x = np.asarray(jax.random.normal(jax.random.PRNGKey(8), (5, 64)))
  bf = lambda a: np.asarray(a).astype(ml_dtypes.bfloat16).astype(np.float64)
  h = np.maximum(bf(x) @ bf(params["W1"]), 0.0)
  want = bf(h.astype(np.float32)) @ bf(params["W2"]).T
  got = model.apply(params, x, matmul_dtype="bfloat16")
  assert got.dtype == jnp.float32
  np.testing.assert_allclose(np.asarray(got), want, rtol=1e-5, atol=1e-5)
  # ... and differs from the float32 model by about bfloat16's rounding (2^-8 relative), not more.
  full = np.asarray(model.apply(params, x))
  gap = np.abs(np.asarray(got) - full).max() / np.abs(full).max()
  assert 1e-5 < gap < 2e-2, gap
  assert np.array_equal(np.asarray(model.apply(params, x, matmul_dtype="float32")), full)
