"""The official notebooks' aliased tied-weight training, reproduced step for step (issue 14, items 6–8).

`decoder.weight = Parameter(encoder.weight.t())` makes two parameters that alias one tensor: each
use of W gets its own optimizer state and its own coupled decay, and PyTorch's per-parameter loop
updates the encoder first, so the decoder's decay sees the already-updated W. The references
below re-implement that update in numpy from its definition (RMSprop and Adam as documented by
PyTorch), with the package's noise draws as inputs only.
"""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import relu_dae as rd

N, D, P, SIGMA, LAM, LR = 5, 12, 6, 0.3, 0.02, 1e-2


def _data():
  rng = np.random.default_rng(0)
  return rng.standard_normal((N, D)), 0.3 * rng.standard_normal((D, P))


def _noise(key, steps):
  keys = jax.random.split(key, steps)
  return np.stack([np.asarray(rd.losses.sample_noise(k, N, 1, D, jnp.float64)[0]) for k in keys])


def _use_grads(W, X, Y):
  """Gradients of (1/n) Σ ‖W2 [W1ᵀ y_i]₊ − x_i‖² w.r.t. the encoder use W1 and the decoder use W2 at W1 = W2 = W."""
  H = Y @ W
  A = np.maximum(H, 0.0)
  R = A @ W.T - X
  return (2.0 / N) * Y.T @ ((R @ W) * (H > 0)), (2.0 / N) * R.T @ A


def _reference(X, W, noise, optimizer, eps, lam=LAM, lr=LR):
  states = [dict(m=np.zeros_like(W), v=np.zeros_like(W)) for _ in range(2)]
  for t, e in enumerate(noise):
    grads = _use_grads(W, X, X + SIGMA * e)
    for g, s in zip(grads, states):  # encoder first, then decoder: each sees the W the other left
      g = g + 2.0 * lam * W
      if optimizer == "rmsprop":
        s["v"] = 0.99 * s["v"] + 0.01 * g * g
        W = W - lr * g / (np.sqrt(s["v"]) + eps)
      else:
        s["m"] = 0.9 * s["m"] + 0.1 * g
        s["v"] = 0.999 * s["v"] + 0.001 * g * g
        m_hat, v_hat = s["m"] / (1 - 0.9 ** (t + 1)), s["v"] / (1 - 0.999 ** (t + 1))
        W = W - lr * m_hat / (np.sqrt(v_hat) + eps)
  return W


def _train(X, W0, key, optimizer, eps, steps, lam=LAM):
  cfg = rd.train.TrainConfig(steps=steps, sigma=SIGMA, lam=lam, optimizer=optimizer, learning_rate=LR,
                             eps=eps, tying="aliased", chunk_size=steps, blowup=None)
  params, hist = rd.train.train({"W": jnp.asarray(W0)}, jnp.asarray(X), key, cfg)
  return np.asarray(params["W"]), hist


@pytest.mark.slow
@pytest.mark.parametrize("optimizer", ["rmsprop", "adam"])
def test_aliased_tying_matches_the_numpy_reference_step_for_step(x64, optimizer):
  X, W0 = _data()
  key = jax.random.PRNGKey(3)
  W, _ = _train(X, W0, key, optimizer, 1e-8, 600)
  ref = _reference(X, W0, _noise(key, 600), optimizer, 1e-8)
  assert np.max(np.abs(W - ref)) < 1e-10 * np.max(np.abs(ref))


@pytest.mark.slow
def test_aliased_differs_from_the_exact_tied_gradient(x64):
  X, W0 = _data()
  key = jax.random.PRNGKey(3)
  W, _ = _train(X, W0, key, "rmsprop", 1e-8, 200)
  cfg = rd.train.TrainConfig(steps=200, sigma=SIGMA, lam=LAM, optimizer="rmsprop", learning_rate=LR,
                             chunk_size=200, blowup=None)
  exact = np.asarray(rd.train.train({"W": jnp.asarray(W0)}, jnp.asarray(X), key, cfg)[0]["W"])
  assert np.max(np.abs(W - exact)) > 1e-3 * np.max(np.abs(exact))


def test_eps_is_the_optimizers_epsilon(x64):
  """ε enters as g / (√v + ε): a huge ε turns RMSprop into SGD with step lr·g/ε, checked against numpy."""
  X, W0 = _data()
  key = jax.random.PRNGKey(3)
  W, _ = _train(X, W0, key, "rmsprop", 1e6, 3)
  assert np.allclose(W, _reference(X, W0, _noise(key, 3), "rmsprop", 1e6), rtol=1e-12, atol=1e-15)


def test_aliased_tying_refuses_what_it_cannot_reproduce():
  with pytest.raises(ValueError, match="tying"):
    rd.train.TrainConfig(tying="shared")
  with pytest.raises(ValueError, match="tying"):
    rd.train.TrainConfig(tying="aliased", optimizer="sgd")
  cfg = rd.train.TrainConfig(steps=4, tying="aliased", optimizer="rmsprop", chunk_size=4)
  X, W0 = _data()
  with pytest.raises(ValueError, match="tied"):
    rd.train.train({"W1": jnp.asarray(W0), "W2": jnp.asarray(W0)}, jnp.asarray(X), jax.random.PRNGKey(0), cfg)
  with pytest.raises(ValueError, match="tying"):
    rd.train.TrainConfig(tying="aliased", optimizer="adam", decoupled_weight_decay=1e-3)


@pytest.mark.slow
def test_aliased_tying_takes_a_traced_lam(x64):
  """lam as a per-call (vmapped) override gives the same runs as lam in the config."""
  X, W0 = _data()
  key = jax.random.PRNGKey(3)
  cfg = rd.train.TrainConfig(steps=50, sigma=SIGMA, optimizer="rmsprop", learning_rate=LR, tying="aliased",
                             chunk_size=50, blowup=None)
  run = jax.vmap(lambda lam: rd.train.train({"W": jnp.asarray(W0)}, jnp.asarray(X), key, cfg, lam=lam)[0]["W"])
  lams = jnp.array([0.0, LAM])
  Ws = np.asarray(run(lams))
  for W, lam in zip(Ws, np.asarray(lams)):
    assert np.allclose(W, _train(X, W0, key, "rmsprop", 1e-8, 50, lam=float(lam))[0], rtol=1e-12, atol=1e-14)


@pytest.mark.slow
@pytest.mark.parametrize("optimizer", ["rmsprop", "adam"])
def test_aliased_tying_matches_pytorch(x64, optimizer):
  """The official notebook's model and loop in PyTorch (optional; the numpy reference above is the CI check).

  PyTorch's MSELoss is the package's data term divided by d and its weight_decay wd is λ = d·wd/2,
  so the package's gradients are d times PyTorch's and its ε acts as ε/d there (issue 14, item 6).
  """
  torch = pytest.importorskip("torch")
  X, W0 = _data()
  key = jax.random.PRNGKey(3)
  steps, eps = 500, 1e-8
  noise = _noise(key, steps)
  W, _ = _train(X, W0, key, optimizer, eps, steps)
  enc = torch.nn.Linear(D, P, bias=False, dtype=torch.float64)  # no global default dtype: it would leak into
  dec = torch.nn.Linear(P, D, bias=False, dtype=torch.float64)  # every later torch test of this worker
  dec.weight = torch.nn.Parameter(enc.weight.t())
  with torch.no_grad():
    enc.weight.copy_(torch.tensor(W0.T))
  opt_cls = torch.optim.RMSprop if optimizer == "rmsprop" else torch.optim.Adam
  opt = opt_cls(list(enc.parameters()) + list(dec.parameters()), lr=LR, weight_decay=2 * LAM / D, eps=eps / D)
  Xt = torch.tensor(X)
  for e in noise:
    opt.zero_grad()
    torch.nn.functional.mse_loss(dec(torch.relu(enc(Xt + SIGMA * torch.tensor(e)))), Xt).backward()
    opt.step()
  W_torch = dec.weight.detach().numpy()
  assert np.max(np.abs(W - W_torch)) < 1e-9 * np.max(np.abs(W_torch))
