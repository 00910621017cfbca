"""train: the optimizer step against hand-computed updates; trained weights against Cor. 3.2/3.3."""

import dataclasses

import numpy as np
import jax
import jax.numpy as jnp
import pytest

from relu_dae import data
from relu_dae import losses
from relu_dae import metrics
from relu_dae import minima
from relu_dae import model
from relu_dae import train as tr


@pytest.mark.slow
def test_same_key_same_params_different_key_different_params(key):
  X = data.locally_sparse(key, n=4, d=8)
  cfg = tr.TrainConfig(steps=50, sigma=0.2, batch_size=3, chunk_size=20)
  p0 = model.init(key, 8, 6)
  a, ha = tr.train(p0, X, jax.random.PRNGKey(1), cfg)
  b, hb = tr.train(p0, X, jax.random.PRNGKey(1), cfg)
  c, _ = tr.train(p0, X, jax.random.PRNGKey(2), cfg)
  np.testing.assert_array_equal(a["W"], b["W"])
  np.testing.assert_array_equal(ha.loss, hb.loss)
  assert not np.array_equal(a["W"], c["W"])


@pytest.mark.slow
def test_one_sgd_step_is_coupled_gradient_of_eq6(x64):
  """σ = 0, full batch: W' = W − η ∇[mean‖W[Wᵀx]₊ − x‖² + 2λ‖W‖²] (tied counts W twice)."""
  X = jax.random.normal(jax.random.PRNGKey(0), (5, 4))
  W = model.init(jax.random.PRNGKey(1), 4, 3)["W"]
  lam, eta = 0.3, 0.01
  ref = lambda w: jnp.mean(jnp.sum((jnp.maximum(X @ w, 0) @ w.T - X) ** 2, 1)) + 2 * lam * jnp.sum(w**2)
  cfg = tr.TrainConfig(steps=1, sigma=0.0, lam=lam, optimizer="sgd", learning_rate=eta)
  out, _ = tr.train({"W": W}, X, jax.random.PRNGKey(2), cfg)
  np.testing.assert_allclose(out["W"], W - eta * jax.grad(ref)(W), rtol=1e-12)
  # Decoupled decay: W' = W − η (∇data + wd·W), λ = 0.
  cfg = tr.TrainConfig(steps=1, sigma=0.0, optimizer="sgd", learning_rate=eta, decoupled_weight_decay=0.5)
  out, _ = tr.train({"W": W}, X, jax.random.PRNGKey(2), cfg)
  data_grad = jax.grad(lambda w: ref(w) - 2 * lam * jnp.sum(w**2))(W)
  np.testing.assert_allclose(out["W"], W - eta * (data_grad + 0.5 * W), rtol=1e-12)


@pytest.mark.slow
def test_adam_rmsprop_first_step_magnitude(x64):
  """Adam's and bias-free RMSprop's first step move every weight with a nonzero gradient by lr (resp. lr/√(1−0.99))."""
  X = jax.random.normal(jax.random.PRNGKey(0), (5, 4))
  W = model.init(jax.random.PRNGKey(1), 4, 3)["W"]
  g = jax.grad(lambda w: losses.dae_loss({"W": w}, X, jax.random.PRNGKey(0), 0.0, 0.0))(W)
  for name, step in [("adam", 1e-3), ("rmsprop", 1e-3 / np.sqrt(0.01))]:
    out, _ = tr.train({"W": W}, X, jax.random.PRNGKey(2), tr.TrainConfig(steps=1, sigma=0.0, optimizer=name))
    moved = np.abs(np.asarray(out["W"] - W))[np.abs(np.asarray(g)) > 1e-6]
    np.testing.assert_allclose(moved, step, rtol=1e-4)


@pytest.mark.slow
def test_weights_mask_equals_training_on_the_subset(key):
  X = jax.random.normal(key, (8, 6))
  mask = jnp.array([1, 1, 0, 1, 0, 0, 1, 0], jnp.float32)
  cfg = tr.TrainConfig(steps=30, sigma=0.0, lam=0.01, learning_rate=1e-2)
  p0 = model.init(jax.random.PRNGKey(3), 6, 5)
  a, _ = tr.train(p0, X, key, cfg, weights=mask)
  b, _ = tr.train(p0, X[np.asarray(mask, bool)], key, cfg)
  np.testing.assert_allclose(a["W"], b["W"], rtol=1e-5, atol=1e-6)


@pytest.mark.slow
def test_unit_mask_equals_training_the_narrower_model(key):
  """Masked units get no gradient: masked width-8 training = width-5 training on the kept columns
  (same noise, since the draws depend only on X's shape); the masked columns come back as zeros."""
  X = data.locally_sparse(key, n=4, d=8)
  cfg = tr.TrainConfig(steps=60, sigma=0.2, lam=0.01, learning_rate=1e-2)
  p0 = model.init(jax.random.PRNGKey(3), 8, 8)
  keep = np.array([1, 0, 1, 1, 0, 1, 0, 1], bool)
  masked, _ = tr.train(p0, X, key, cfg, unit_mask=jnp.asarray(keep, jnp.float32))
  narrow, _ = tr.train({"W": p0["W"][:, keep]}, X, key, cfg)
  np.testing.assert_allclose(masked["W"][:, keep], narrow["W"], rtol=1e-5, atol=1e-6)
  np.testing.assert_array_equal(masked["W"][:, ~keep], 0.0)


@pytest.mark.slow
def test_traced_sigma_under_vmap_equals_separate_runs(key):
  X = data.locally_sparse(key, n=4, d=8)
  cfg = tr.TrainConfig(steps=40, learning_rate=1e-2, chunk_size=40)
  p0 = model.init(key, 8, 6)
  sigmas = jnp.array([0.1, 0.5])
  batched, _ = jax.vmap(lambda s: tr.train(p0, X, key, cfg, sigma=s))(sigmas)
  for i, s in enumerate([0.1, 0.5]):
    single, _ = tr.train(p0, X, key, tr.TrainConfig(steps=40, learning_rate=1e-2, chunk_size=40, sigma=s))
    np.testing.assert_allclose(batched["W"][i], single["W"], rtol=1e-5, atol=1e-6)


@pytest.mark.slow
def test_chunks_cover_all_steps_and_report_progress(key):
  X = data.locally_sparse(key, n=3, d=5)
  seen = []
  cfg = tr.TrainConfig(steps=250, chunk_size=100)
  _, hist = tr.train(model.init(key, 5, 4), X, key, cfg, callback=lambda s, l: seen.append(int(s)))
  jax.effects_barrier()
  assert hist.loss.shape == (250,) and sorted(seen) == [100, 200, 250]
  # The last reported loss is the history's last entry, and loss decreases overall.
  assert float(hist.loss[-20:].mean()) < float(hist.loss[:20].mean())


@pytest.mark.slow
def test_nonfinite_loss_is_detected_and_params_stay_finite(key):
  X = 10.0 * jax.random.normal(key, (6, 4))
  cfg = tr.TrainConfig(steps=100, sigma=0.1, optimizer="sgd", learning_rate=10.0, chunk_size=50)
  params, hist = tr.train(model.init(key, 4, 3, scale=1.0), X, key, cfg)
  step = int(hist.nonfinite_step)
  assert 0 <= step < 100
  assert np.all(np.isnan(np.asarray(hist.loss[step:]))) and np.all(np.isfinite(np.asarray(hist.loss[:step])))
  assert np.all(np.isfinite(np.asarray(params["W"])))
  with pytest.raises(FloatingPointError, match=f"step {step}"):
    tr.raise_if_nonfinite(hist)


@pytest.mark.slow
def test_a_nonfinite_chunk_is_discarded_and_the_step_does_not_depend_on_chunking(key):
  X = 10.0 * jax.random.normal(key, (6, 4))
  init = model.init(key, 4, 3, scale=1.0)
  one_chunk = tr.TrainConfig(steps=40, sigma=0.1, optimizer="sgd", learning_rate=10.0, chunk_size=40)
  params, hist = tr.train(init, X, key, one_chunk)
  np.testing.assert_array_equal(params["W"], init["W"])  # the only chunk went bad: nothing kept
  _, hist_small = tr.train(init, X, key, dataclasses.replace(one_chunk, chunk_size=7))
  assert 0 <= int(hist.nonfinite_step) == int(hist_small.nonfinite_step)
  np.testing.assert_array_equal(np.isnan(hist.loss), np.isnan(hist_small.loss))


@pytest.mark.slow
def test_training_memorizes_locally_sparse_data():
  """Cor. 3.2 premise (pairwise cosine −1/7 < 0, p = 16 ≥ n = 8): every sample is stored in a
  column (cosine ≥ 0.95) and W Wᵀ is within 15 % of W_mem W_memᵀ (permutation/splitting-free)."""
  key = jax.random.PRNGKey(0)
  n, d, p, sigma = 8, 32, 16, 0.1
  X = data.locally_sparse(key, n=n, d=d)
  cfg = tr.TrainConfig(steps=3000, sigma=sigma, learning_rate=1e-2, chunk_size=1000)
  params, _ = tr.fit(model.init(jax.random.PRNGKey(1), d, p), X, key, cfg, progress=False)
  W = params["W"]
  assert float(jnp.min(metrics.best_column_cosine(W, X))) >= 0.95
  assert float(metrics.projector_error(W, minima.memorization(X, sigma, 0.0, p))) < 0.15


@pytest.mark.slow
def test_training_generalizes_to_cluster_blocks():
  """n = 900 ≫ p = 12, σ = 0.3, α = 0.3, β = −0.5: every unit is active on exactly one cluster and
  each cluster's learned block matches Eq. (8) for the *learned* allocation p_k (any allocation with
  Σ p_k = p is a minimum of Thm 3.1) within 10 %; the loss is within 2 % of W_gen's."""
  key = jax.random.PRNGKey(0)
  d, K, sigma, lam = 64, 3, 0.3, 1e-3
  X, labels, _ = data.separable_mixture(key, d=d, K=K, n_per_cluster=300, alpha=0.3, beta=-0.5, rank=4, norm=4.0)
  cfg = tr.TrainConfig(steps=4000, sigma=sigma, lam=lam, learning_rate=3e-3, chunk_size=1000)
  params, _ = tr.fit(model.init(jax.random.PRNGKey(1), d, 12), X, key, cfg, progress=False)
  owner, counts = metrics.unit_allocation(params, X, labels)
  print("learned allocation p_k =", counts.tolist())
  assert np.all(owner >= 0) and counts.sum() == 12
  active = np.asarray(model.represent(params, X)) > 0
  np.testing.assert_array_equal(active, owner[None, :] == np.asarray(labels)[:, None])
  W = params["W"]
  for k in range(K):
    block = minima.cluster_block(X[np.asarray(labels) == k], X.shape[0], sigma, lam, int(counts[k]))
    assert float(metrics.projector_error(W[:, owner == k], block)) < 0.1
  W_gen = minima.generalization(X, labels, sigma, lam, counts.tolist())
  ek = jax.random.PRNGKey(5)
  trained, analytic = (float(losses.dae_loss(P, X, ek, sigma, lam, num_noise=50)) for P in [params, {"W": W_gen}])
  assert abs(trained - analytic) < 0.02 * analytic


def test_cosine_schedule_scales_sgd_steps_by_the_cosine_formula():
  cfg = tr.TrainConfig(steps=10, optimizer="sgd", learning_rate=0.5, schedule="cosine")
  opt = tr.make_optimizer(cfg)
  g = {"W": jnp.ones((2, 2))}
  state = opt.init(g)
  for t in range(10):
    updates, state = opt.update(g, state, g)
    want = 0.5 * (0.01 + 0.99 * 0.5 * (1 + np.cos(np.pi * t / 10)))
    np.testing.assert_allclose(updates["W"], -want, rtol=1e-5)


# ----------------------------------------------------------------------------- validation before jit


def _bad_train_inputs():
  X = np.ones((4, 3), np.float32)
  W = {"W": np.ones((3, 2), np.float32)}
  key = jax.random.PRNGKey(0)
  cfg = tr.TrainConfig(steps=2, chunk_size=1)
  return [
      (dict(params=W, X=X, key=key, config=cfg, lam=-1.0), ValueError, "lam"),
      (dict(params=W, X=X, key=key, config=cfg, sigma=-1.0), ValueError, "sigma"),
      (dict(params=W, X=X, key=key, config=cfg, sigma="0.1"), TypeError, "sigma"),
      (dict(params=W, X=X, key=key, config=cfg, sigma=np.ones(2)), ValueError, "sigma"),
      (dict(params=W, X=X, key=key, config=cfg, weights=-np.ones(4)), ValueError, "weights"),
      (dict(params=W, X=X, key=key, config=cfg, weights=np.zeros(4)), ValueError, "weights"),
      (dict(params=W, X=X, key=key, config=cfg, weights=np.ones(3)), ValueError, "weights"),
      (dict(params=W, X=np.full((4, 3), np.nan, np.float32), key=key, config=cfg), ValueError, "X"),
      (dict(params=W, X=X.astype(np.complex64), key=key, config=cfg), TypeError, "X"),
      (dict(params=W, X=np.ones((4, 5), np.float32), key=key, config=cfg), ValueError, "X"),
      (dict(params={"W": np.full((3, 2), np.inf, np.float32)}, X=X, key=key, config=cfg), ValueError, "params"),
      (dict(params=W, X=X, key=key, config={"steps": 2}), TypeError, "config"),
      (dict(params=W, X=X, key=np.ones(3, np.uint32), config=cfg), ValueError, "key"),
  ]


@pytest.mark.parametrize("kwargs, error, name", _bad_train_inputs())
def test_train_validates_concrete_inputs_before_jit(kwargs, error, name):
  with pytest.raises(error, match=name):
    tr.train(**kwargs)


def test_train_config_refuses_momentum_of_one_or_more():
  with pytest.raises(ValueError, match="momentum"):
    tr.TrainConfig(optimizer="sgd", momentum=1.5)


@pytest.mark.slow
def test_train_still_traces_under_vmap_over_sigma():
  X = jax.random.normal(jax.random.PRNGKey(1), (6, 3))
  W = {"W": 0.1 * jax.random.normal(jax.random.PRNGKey(2), (3, 2))}
  cfg = tr.TrainConfig(steps=4, chunk_size=2)
  many = jax.vmap(lambda s: tr.train(W, X, jax.random.PRNGKey(0), cfg, sigma=s)[0]["W"])(jnp.array([0.1, 0.3]))
  one = tr.train(W, X, jax.random.PRNGKey(0), cfg, sigma=0.3)[0]["W"]
  np.testing.assert_allclose(many[1], one, rtol=1e-5, atol=1e-6)


@pytest.mark.slow
def test_a_run_to_huge_finite_losses_is_a_failure_without_a_rule():
  """Adam at lr 1e6 sends the loss to ~1e20 and beyond without overflowing: LOSS_ROSE, not a result."""
  from relu_dae import convergence
  X = jax.random.normal(jax.random.PRNGKey(1), (8, 4))
  W = {"W": 0.5 * jax.random.normal(jax.random.PRNGKey(2), (4, 3))}
  wild = tr.TrainConfig(steps=40, learning_rate=1e6, chunk_size=10)
  _, hist = tr.train(W, X, jax.random.PRNGKey(0), wild)
  loss = np.asarray(hist.loss)
  if int(hist.nonfinite_step) < 0:  # finite but exploded: the blow-up rule, checked by hand
    assert loss[-10:].mean() > 1e3 * abs(loss[0]) and int(hist.status) == convergence.LOSS_ROSE
  else:
    assert int(hist.status) == convergence.NONFINITE
  calm = tr.TrainConfig(steps=40, learning_rate=1e-2, chunk_size=10)
  assert int(tr.train(W, X, jax.random.PRNGKey(0), calm)[1].status) == convergence.MAX_STEPS
  off = tr.TrainConfig(steps=40, learning_rate=1e6, chunk_size=10, blowup=None)
  assert int(tr.train(W, X, jax.random.PRNGKey(0), off)[1].status) in (convergence.MAX_STEPS, convergence.NONFINITE)
  with pytest.raises(ValueError, match="blowup"):
    tr.TrainConfig(blowup=0.5)


@pytest.mark.slow
def test_bfloat16_matmuls_train_to_the_float32_loss():
  """Mixed precision keeps float32 params and reaches the float32 run's final loss within bf16 noise."""
  X = data.locally_sparse(jax.random.PRNGKey(0), n=8, d=64)
  p0 = model.init(jax.random.PRNGKey(1), 64, 16)
  final = {}
  for dtype in ("float32", "bfloat16"):
    cfg = tr.TrainConfig(steps=300, learning_rate=1e-2, matmul_dtype=dtype)
    params, _ = tr.train(p0, X, jax.random.PRNGKey(2), cfg, sigma=0.2, lam=1e-3)
    assert params["W"].dtype == jnp.float32
    final[dtype] = float(losses.dae_loss(params, X, jax.random.PRNGKey(3), 0.2, 1e-3, num_noise=64))
  assert abs(final["bfloat16"] - final["float32"]) < 0.02 * final["float32"], final
