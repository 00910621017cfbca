"""Tests for relu_dae.unet: the EDM-preconditioned UNet, its representations, loss, trainer and sampler adapter."""

import itertools

import numpy as np
import pytest

import flax.linen as nn
import jax
import jax.numpy as jnp

from relu_dae import data
from relu_dae import detection
from relu_dae import diffusion
from relu_dae import train as train_lib
from relu_dae import unet
from _bad_inputs import case, check, check_coverage, ids
from _compile import cache_growth

KEY = jax.random.PRNGKey(0)
CFG = unet.UNetConfig(image_size=8, channels=(8, 16), num_res_blocks=1, embed_dim=16, groups=4)
P = unet.init(KEY, CFG)
IMG = jax.random.uniform(jax.random.PRNGKey(1), (3, 8, 8, 1), minval=-1.0, maxval=1.0)
# One TrainConfig and one (one-level) UNetConfig for every training test: they share one compile of unet._train.
TC = train_lib.TrainConfig(steps=150, chunk_size=50, learning_rate=2e-3)
CFG1 = unet.UNetConfig(image_size=8, channels=(8,), num_res_blocks=1, embed_dim=16, groups=4)
P1 = unet.init(KEY, CFG1)




def _hand_count(cfg):
  """Parameters of the architecture in the module docstring, counted from its channel flow."""
  conv3 = lambda a, b: 9 * a * b + b
  conv1 = lambda a, b: a * b + b
  gn = lambda c: 2 * c
  dense = lambda a, b: a * b + b
  E, C, ch, r = cfg.embed_dim, cfg.in_channels, cfg.channels, cfg.num_res_blocks
  res = lambda a, b: gn(a) + conv3(a, b) + dense(E, b) + gn(b) + conv3(b, b) + (conv1(a, b) if a != b else 0)
  total = 2 * dense(E, E) + conv3(C, ch[0])
  h, skips = ch[0], [ch[0]]
  for i, c in enumerate(ch):
    for _ in range(r):
      total, h = total + res(h, c), c
      skips.append(c)
    if i < len(ch) - 1:
      skips.append(c)
  for _ in range(2):
    total, h = total + res(h, ch[-1]), ch[-1]
  for u in range(len(ch)):
    i = len(ch) - 1 - u
    for _ in range(r + 1):
      total, h = total + res(h + skips.pop(), ch[i]), ch[i]
    if i > 0:
      total += conv3(ch[i], ch[i])
  assert not skips
  return total + gn(ch[0]) + conv3(ch[0], C)


# ----------------------------------------------------------------------------- steering and the Jacobian


V_STEER = {"up.0": jnp.linspace(-1.0, 1.0, 16), "up.1.0": jnp.linspace(0.5, -0.5, 8),
           "mid.0": jnp.reshape(jnp.linspace(-0.3, 0.3, 4 * 4 * 16), (4, 4, 16))}  # a whole activation map


def _intercepted_denoise(a, blocks, y, sigma):
  """D(y; σ) with a·v added to the conv2 input of each steered block by flax's method interception
  (an independent route to the same edit as ``unet.steered_denoiser``)."""
  x = jnp.reshape(y, (-1, 8, 8, 1))
  c = unet.preconditioning(jnp.full((x.shape[0],), sigma), CFG.sigma_data)
  names = {"up.0": "up_0_1", "up.1.0": "up_1_0", "mid.0": "mid_0"}  # flax module names, written out by hand
  shift = {names[layer]: v for layer, v in blocks.items()}

  def interceptor(next_fun, args, kwargs, context):
    m = context.module
    if m.name == "conv2" and m.parent.name in shift and context.method_name == "__call__":
      args = (args[0] + a * shift[m.parent.name],) + args[1:]
    return next_fun(*args, **kwargs)

  with nn.intercept_methods(interceptor):
    F = unet._UNet(CFG).apply({"params": P}, c.c_in[:, None, None, None] * x, c.c_noise)
  D = c.c_skip[:, None, None, None] * x + c.c_out[:, None, None, None] * F
  return jnp.reshape(D, y.shape)


@pytest.mark.slow
def test_steered_denoiser_adds_a_v_at_the_named_blocks_as_a_flax_interceptor_does():
  y = jnp.reshape(IMG, (3, -1))
  got = unet.steered_denoiser(P, CFG, V_STEER, 0.7)(y, 0.3)
  want = _intercepted_denoise(0.7, V_STEER, y, 0.3)
  np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5)
  assert float(jnp.max(jnp.abs(got - unet.denoiser(P, CFG)(y, 0.3)))) > 1e-2  # the edit does something


@pytest.mark.slow
def test_steering_with_a_zero_or_outside_its_window_is_bitwise_the_unsteered_sampler():
  plain = diffusion.sample(unet.denoiser(P, CFG), KEY, 6, CFG.d, num_steps=6)
  zero = diffusion.sample(unet.steered_denoiser(P, CFG, V_STEER, 0.0), KEY, 6, CFG.d, num_steps=6)
  assert np.array_equal(np.asarray(plain), np.asarray(zero))
  lo, hi = 1e-6, 1e-5  # no σ of the grid
  off = diffusion.sample(unet.steered_denoiser(P, CFG, V_STEER, 3.0, sigma_window=(lo, hi)), KEY, 6, CFG.d,
                         num_steps=6)
  assert np.array_equal(np.asarray(plain), np.asarray(off))
  on = diffusion.sample(unet.steered_denoiser(P, CFG, V_STEER, 3.0), KEY, 6, CFG.d, num_steps=6)
  assert not np.allclose(np.asarray(plain), np.asarray(on), atol=1e-3)


def test_steering_window_selects_the_noise_levels():
  den = unet.steered_denoiser(P, CFG, V_STEER, 2.0, sigma_window=(0.2, 0.6))
  y = jnp.reshape(IMG, (3, -1))
  sig = jnp.array([0.1, 0.4, 0.9])
  got, plain = den(y, sig), unet.denoiser(P, CFG)(y, sig)
  assert np.array_equal(np.asarray(got[0]), np.asarray(plain[0]))
  assert np.array_equal(np.asarray(got[2]), np.asarray(plain[2]))
  assert not np.allclose(got[1], plain[1], atol=1e-3)


@pytest.mark.slow
def test_steered_sampling_compiles_once_for_every_strength_and_window():
  def run(a, window):
    diffusion.sample(unet.steered_denoiser(P, CFG, V_STEER, a, sigma_window=window), KEY, 2, CFG.d, num_steps=4)

  run(0.0, None)
  before = diffusion._sample._cache_size()
  for a, window in ((0.5, (0.1, 1.0)), (1.5, (0.0, np.inf)), (-2.0, (0.3, 0.3))):
    run(a, window)
  assert diffusion._sample._cache_size() == before


@pytest.mark.slow
def test_jacobian_matches_central_differences():
  J = np.asarray(unet.jacobian(P, IMG[:2], jnp.array([0.3, 1.0]), CFG), np.float64)
  assert J.shape == (2, 64, 64)
  u = np.asarray(jax.random.normal(jax.random.PRNGKey(5), (2, 64)))
  eps = 1e-2
  for i, s in enumerate((0.3, 1.0)):
    f = lambda z, s=s: np.asarray(unet.apply(P, jnp.reshape(z, (1, 8, 8, 1)), s, CFG), np.float64).ravel()
    x = np.asarray(IMG[i], np.float64).ravel()
    fd = (f(x + eps * u[i]) - f(x - eps * u[i])) / (2 * eps)
    np.testing.assert_allclose(J[i] @ u[i], fd, rtol=2e-2, atol=2e-3)


# ----------------------------------------------------------------------------- config, init, building blocks


def test_config_is_hashable_and_stores_channels_as_a_tuple():
  cfg = unet.UNetConfig(channels=[8, 16], groups=4)
  assert cfg.channels == (8, 16) and hash(cfg) == hash(unet.UNetConfig(channels=(8, 16), groups=4))
  assert cfg.d == 64 and cfg.image_shape == (8, 8, 1)
  assert unet.UNetConfig(image_size=16, in_channels=3).d == 16 * 16 * 3


@pytest.mark.parametrize("cfg", [CFG, unet.UNetConfig(), unet.UNetConfig(image_size=16, in_channels=3,
                                                                       channels=(8, 8, 16), num_res_blocks=2,
                                                                       embed_dim=8, groups=2)])
def test_parameter_count_matches_hand_count(cfg):
  assert unet.num_params(jax.eval_shape(lambda: unet._init(KEY, cfg))) == _hand_count(cfg)


def test_init_is_lecun_normal_zero_biases_unit_scales():
  leaves = {jax.tree_util.keystr(p): np.asarray(w) for p, w in jax.tree_util.tree_leaves_with_path(P)}
  kernels = [np.ravel(w) * np.sqrt(np.prod(w.shape[:-1])) for k, w in leaves.items() if k.endswith("['kernel']")]
  z = np.concatenate(kernels)  # standardized: i.i.d. N(0, 1)
  assert abs(z.mean()) < 0.02 and abs(z.std() - 1.0) < 0.02
  assert all(np.all(w == 0) for k, w in leaves.items() if k.endswith("['bias']"))
  assert all(np.all(w == 1) for k, w in leaves.items() if k.endswith("['scale']"))
  other = unet.init(jax.random.PRNGKey(7), CFG)
  assert not np.allclose(other["conv_in"]["kernel"], P["conv_in"]["kernel"])


@pytest.mark.slow
def test_conv_and_its_reverse_rule_match_lax_conv():
  x = jax.random.normal(jax.random.PRNGKey(2), (2, 6, 6, 3))
  k = jax.random.normal(jax.random.PRNGKey(3), (3, 3, 3, 5))
  ref = lambda x, k: jax.lax.conv_general_dilated(x, k, (1, 1), "SAME", dimension_numbers=("NHWC", "HWIO", "NHWC"))
  w = jax.random.normal(jax.random.PRNGKey(4), (2, 6, 6, 5))
  value_and_grads = lambda f: lambda x, k: (f(x, k), jax.grad(lambda x, k: jnp.sum(jnp.sin(f(x, k)) * w), (0, 1))(x, k))
  both = jax.jit(lambda x, k: (value_and_grads(unet._conv)(x, k), value_and_grads(ref)(x, k)))
  (out, got), (out_ref, want) = both(x, k)
  np.testing.assert_allclose(out, out_ref, rtol=1e-5, atol=1e-5)
  for g, r in zip(got, want):
    np.testing.assert_allclose(g, r, rtol=1e-4, atol=1e-4)


@pytest.mark.slow
def test_group_norm_matches_flax():
  x = 3.0 + 2.0 * jax.random.normal(jax.random.PRNGKey(5), (2, 4, 4, 8))
  params = {"params": {"scale": jnp.linspace(0.5, 2.0, 8), "bias": jnp.linspace(-1.0, 1.0, 8)}}
  ours, ref = jax.jit(lambda p, x: (unet._GroupNorm(4).apply(p, x),
                                    nn.GroupNorm(num_groups=4, epsilon=1e-5).apply(p, x)))(params, x)
  np.testing.assert_allclose(ours, ref, rtol=1e-4, atol=1e-4)


@pytest.mark.slow
def test_layer_names_and_representation_shapes():
  assert unet.layer_names(CFG) == ("down.0", "down.1", "mid", "up.0", "up.1")
  assert unet.layer_names(CFG, blocks=True) == ("down.0.0", "down.1.0", "mid.0", "mid.1", "up.0.0", "up.0.1",
                                                "up.1.0", "up.1.1")
  want = {"down.0": (8, 8, 8), "down.1": (4, 4, 16), "mid": (4, 4, 16), "up.0": (4, 4, 16), "up.1": (8, 8, 8)}
  for layer in unet.layer_names(CFG) + unet.layer_names(CFG, blocks=True):
    h = unet.represent(P, IMG, 0.3, CFG, layer=layer, pooling="none")
    level = "mid" if layer.startswith("mid") else ".".join(layer.split(".")[:2])
    assert h.shape == (3, *want[level]), layer
    assert unet.represent(P, IMG, 0.3, CFG, layer=layer).shape == (3, h.shape[-1])


# ----------------------------------------------------------------------------- preconditioning and apply


@pytest.mark.parametrize("sigma_data", [0.5, 1.3])
def test_preconditioning_against_hand_formulas(sigma_data):
  s = np.array([1e-3, 0.02, 0.5, 2.0, 80.0])
  c = unet.preconditioning(s, sigma_data)
  np.testing.assert_allclose(c.c_skip, sigma_data**2 / (s**2 + sigma_data**2), rtol=1e-6)
  np.testing.assert_allclose(c.c_out, s * sigma_data / np.sqrt(s**2 + sigma_data**2), rtol=1e-6)
  np.testing.assert_allclose(c.c_in, 1 / np.sqrt(s**2 + sigma_data**2), rtol=1e-6)
  np.testing.assert_allclose(c.c_noise, np.log(s) / 4, rtol=1e-6)
  # EDM's unit-variance conditions: Var(c_in y) = 1 and Var of the target (x − c_skip y)/c_out = 1.
  np.testing.assert_allclose(c.c_in**2 * (sigma_data**2 + s**2), 1.0, rtol=1e-5)
  np.testing.assert_allclose(((1 - c.c_skip) ** 2 * sigma_data**2 + c.c_skip**2 * s**2) / c.c_out**2, 1.0, rtol=1e-4)


@pytest.mark.slow
def test_apply_is_the_preconditioned_network():
  sigma = np.array([0.05, 0.4, 1.7], np.float32)
  sd = CFG.sigma_data
  c_skip, c_out = sd**2 / (sigma**2 + sd**2), sigma * sd / np.sqrt(sigma**2 + sd**2)
  c_in = 1 / np.sqrt(sigma**2 + sd**2)
  b = lambda v: v[:, None, None, None]
  F = unet.network(P, b(c_in) * IMG, np.log(sigma) / 4, CFG)
  np.testing.assert_allclose(unet.apply(P, IMG, sigma, CFG), b(c_skip) * IMG + b(c_out) * F, rtol=1e-5, atol=1e-5)
  # a vector σ is the per-sample σ: sample i of a batch at σ_i everywhere (no cross-sample coupling)
  for i in range(3):
    np.testing.assert_allclose(unet.apply(P, IMG, np.full(3, sigma[i]), CFG)[i],
                               unet.apply(P, IMG, sigma, CFG)[i], rtol=1e-5, atol=1e-5)


def test_time_conditioning_changes_the_network():
  F1 = unet.network(P, IMG, -1.0, CFG)
  F2 = unet.network(P, IMG, 0.2, CFG)
  assert float(jnp.max(jnp.abs(F1 - F2))) > 1e-2
  h1 = unet.represent(P, IMG, 0.05, CFG, layer="up.0")
  h2 = unet.represent(P, IMG, 1.5, CFG, layer="up.0")
  assert not np.allclose(h1, h2, atol=1e-3)


@pytest.mark.slow
def test_shapes_at_16_and_32():
  cfg = unet.UNetConfig(image_size=16, in_channels=3, channels=(8, 16), embed_dim=8, groups=4)
  params = unet.init(KEY, cfg)
  x = jnp.ones((2, 16, 16, 3))
  out = unet.apply(params, x, jnp.array([0.1, 1.0]), cfg)
  assert out.shape == (2, 16, 16, 3) and np.all(np.isfinite(out))
  assert unet.represent(params, x, 0.2, cfg, layer="up.0", pooling="none").shape == (2, 8, 8, 16)
  assert unet.represent(params, x, 0.2, cfg, layer="up.1").shape == (2, 8)
  # 32×32 with three levels: shapes by tracing (no compile)
  cfg = unet.UNetConfig(image_size=32, channels=(8, 8, 16), embed_dim=8, groups=4)
  params = jax.eval_shape(lambda: unet._init(KEY, cfg))
  x = jax.ShapeDtypeStruct((2, 32, 32, 1), jnp.float32)
  assert jax.eval_shape(lambda p, x: unet._apply(p, x, 0.5, cfg), params, x).shape == (2, 32, 32, 1)
  acts = jax.eval_shape(lambda p, x: unet._activations(p, x, 0.5, cfg), params, x)
  assert acts["mid.1"].shape == (2, 8, 8, 16) and acts["up.2.1"].shape == (2, 32, 32, 8)
  assert acts["down.1.0"].shape == (2, 16, 16, 8)


# ----------------------------------------------------------------------------- representations


def test_pooling_equals_manual_reduction_of_the_full_map():
  for layer in unet.layer_names(CFG):
    full = np.asarray(unet.represent(P, IMG, 0.3, CFG, layer=layer, pooling="none"))
    np.testing.assert_allclose(unet.represent(P, IMG, 0.3, CFG, layer=layer, pooling="max"), full.max(axis=(1, 2)),
                               rtol=1e-6)
    np.testing.assert_allclose(unet.represent(P, IMG, 0.3, CFG, layer=layer, pooling="mean"),
                               full.mean(axis=(1, 2)), rtol=1e-5, atol=1e-6)


@pytest.mark.slow
def test_up_representation_is_silu_of_norm2_from_flax_capture_intermediates():
  """Independent route: flax's capture_intermediates records every submodule's output; up.0 is
  SiLU(norm2) of up level 0's last block (up_0_1 at num_res_blocks=1)."""
  sigma = 0.3
  c_in = 1 / np.sqrt(sigma**2 + CFG.sigma_data**2)
  run = jax.jit(lambda p, x, c: unet._UNet(CFG).apply({"params": p}, x, c, capture_intermediates=True,
                                                      mutable=["intermediates"]))
  _, state = run(P, c_in * IMG, jnp.full((3,), np.log(sigma) / 4))
  inter = state["intermediates"]
  for layer, module in (("up.0", "up_0_1"), ("up.1", "up_1_1"), ("up.0.0", "up_0_0"), ("down.1", "down_1_0"),
                        ("mid", "mid_1")):
    want = jax.nn.silu(inter[module]["norm2"]["__call__"][0])
    np.testing.assert_allclose(unet.represent(P, IMG, sigma, CFG, layer=layer, pooling="none"), want, rtol=1e-5,
                               atol=1e-6, err_msg=layer)
  np.testing.assert_allclose(unet.represent(P, IMG, sigma, CFG, layer="up.0", pooling="none"),
                             unet.represent(P, IMG, sigma, CFG, layer="up.0.1", pooling="none"))


@pytest.mark.slow
def test_represent_fn_plugs_into_detection_scores():
  fn = unet.represent_fn(CFG, 0.3, layer="up.0")
  flat = np.asarray(IMG).reshape(3, -1)
  np.testing.assert_allclose(fn(P, flat), unet.represent(P, IMG, 0.3, CFG, layer="up.0"), rtol=1e-6)
  assert fn(P, flat[None]).shape == (1, 3, 16)
  s = detection.scores(P, flat, 0.1, KEY, names=["std", "top1_share"], represent=fn)
  assert set(s) == {"std", "top1_share"} and s["std"].shape == (3,) and np.all(np.isfinite(s["std"]))


# ----------------------------------------------------------------------------- loss


@pytest.mark.slow
def test_loss_matches_numpy_with_the_same_noise():
  """EDM weighting unweighted over samples, plain x0 weighting with sample weights; image and flat layouts."""
  X = np.asarray(jax.random.uniform(jax.random.PRNGKey(10), (5, 64), minval=-1.0, maxval=1.0))  # flat rows
  k = jax.random.PRNGKey(11)
  n, N = 5, 3
  sigma, eps = diffusion.draw_noise(k, n, N, 64, sigma_min=0.05, sigma_max=1.5)
  sigma, eps = np.asarray(sigma, np.float64), np.asarray(eps, np.float64)
  y = X[None] + sigma[..., None] * eps  # (N, n, d)
  D = np.asarray(unet.apply(P, y.reshape(N * n, 8, 8, 1).astype(np.float32), sigma.reshape(-1).astype(np.float32),
                            CFG), np.float64).reshape(N, n, 64)
  sd = CFG.sigma_data
  sq = np.sum((D - X[None]) ** 2, axis=-1)  # (N, n)
  edm = (sigma**2 + sd**2) / (sigma * sd) ** 2 * sq
  got = unet.loss(P, X, k, CFG, sigma_min=0.05, sigma_max=1.5, num_noise=N)  # weighting="edm" is the default
  np.testing.assert_allclose(float(got), edm.mean(), rtol=2e-4)
  w = np.array([1.0, 0.0, 2.0, 0.5, 3.0], np.float32)
  got_w = unet.loss(P, X.reshape(5, 8, 8, 1), k, CFG, sigma_min=0.05, sigma_max=1.5, num_noise=N, weights=w,
                    weighting="x0")  # image layout, same rows
  np.testing.assert_allclose(float(got_w), (sq * w).sum() / (N * w.sum()), rtol=2e-4)


# ----------------------------------------------------------------------------- sampling


def test_denoiser_on_flat_vectors_is_apply():
  """Batched here; per sample (the sampler's vmap) in the sampling tests below."""
  den = unet.denoiser(P, CFG)
  flat = IMG.reshape(3, -1)
  sigma = jnp.array([0.1, 0.5, 1.0])
  np.testing.assert_allclose(den(flat, sigma), unet.apply(P, IMG, sigma, CFG).reshape(3, -1), rtol=1e-5, atol=1e-5)
  assert den(flat, 0.5).shape == (3, CFG.d)


@pytest.mark.slow
def test_deterministic_sampling_with_diffusion_sample_matches_a_manual_loop():
  x0 = np.asarray(jax.random.normal(jax.random.PRNGKey(9), (3, CFG.d))) * 2.0
  sigmas = np.asarray(diffusion.sigma_grid(5, 2.0, 0.02))
  x = x0
  for s, s_next in itertools.pairwise(sigmas):  # Eq. (1)'s update, with batched apply
    D = np.asarray(unet.apply(P, x.reshape(3, 8, 8, 1).astype(np.float32), float(s), CFG)).reshape(3, -1)
    x = x + (s - s_next) / s * (D - x)
  got = diffusion.sample(unet.denoiser(P, CFG), KEY, 3, CFG.d, num_steps=5, sigma_max=2.0, sigma_min=0.02,
                         deterministic=True, x_init=x0)
  np.testing.assert_allclose(got, x, rtol=1e-4, atol=1e-4)


@pytest.mark.slow
def test_ancestral_sampling_returns_samples_and_compiles_once_for_new_params():
  keys = iter(jax.random.split(KEY, 4))
  out = []
  run = lambda: out.append(diffusion.sample(unet.denoiser(unet.init(next(keys), unet.UNetConfig(**vars(CFG))), CFG),
                                            KEY, 3, CFG.d, num_steps=5))
  assert cache_growth(diffusion._sample, run) == 0
  assert all(o.shape == (3, CFG.d) and np.all(np.isfinite(o)) for o in out)
  assert not np.allclose(out[0], out[1])  # other params, other samples


# ----------------------------------------------------------------------------- training


@pytest.mark.slow
def test_training_on_digits_reduces_the_loss():
  X = data.load_digits()[0][:16]
  k_eval = jax.random.PRNGKey(21)
  before = float(unet.loss(P1, X, k_eval, CFG1, num_noise=4))
  params, hist = unet.train(P1, X, jax.random.PRNGKey(22), TC, CFG1)
  assert hist.loss.shape == (150,) and int(hist.nonfinite_step) == -1
  after = float(unet.loss(params, X, k_eval, CFG1, num_noise=4))
  assert after < 0.7 * before, (before, after)
  assert float(np.mean(hist.loss[-30:])) < float(np.mean(hist.loss[:30]))


@pytest.mark.slow
def test_train_compiles_once_for_equal_configs_and_any_sigma_range():
  X = data.load_digits()[0][:16]
  ranges = itertools.cycle([(0.02, 2.0), (0.01, 1.0), (0.1, 3.0)])

  def run():
    lo, hi = next(ranges)
    tc = train_lib.TrainConfig(steps=150, chunk_size=50, learning_rate=2e-3)  # equal, not identical, configs
    cfg = unet.UNetConfig(image_size=8, channels=(8,), num_res_blocks=1, embed_dim=16, groups=4)
    return jax.block_until_ready(unet.train(P1, X, KEY, tc, cfg, sigma_min=lo, sigma_max=hi)[1].loss)

  assert cache_growth(unet._train, run) == 0


# ----------------------------------------------------------------------------- bad inputs

X_FLAT = np.zeros((4, 64), np.float32)
OTHER = unet.init(KEY, unet.UNetConfig(image_size=8, channels=(8,), embed_dim=16, groups=4))
apply = lambda **kw: unet.apply(**{**dict(params=P, x=IMG, sigma=0.5, config=CFG), **kw})
represent = lambda **kw: unet.represent(**{**dict(params=P, x_t=IMG, sigma=0.5, config=CFG, layer="up.0"), **kw})
network = lambda **kw: unet.network(**{**dict(params=P, x=IMG, c_noise=0.0, config=CFG), **kw})
loss = lambda **kw: unet.loss(**{**dict(params=P, X=X_FLAT, key=KEY, config=CFG), **kw})
train = lambda **kw: unet.train(**{**dict(params=P, X=X_FLAT, key=KEY, train_config=TC, config=CFG), **kw})
config = lambda **kw: unet.UNetConfig(**kw)
nan_params = jax.tree.map(lambda w: w * jnp.nan, P)

CASES = [
    case(unet.UNetConfig, ValueError, "groups", lambda: config(channels=(8, 12), groups=8)),
    case(unet.UNetConfig, ValueError, "embed_dim", lambda: config(embed_dim=15)),
    case(unet.UNetConfig, ValueError, "image_size", lambda: config(image_size=6, channels=(8, 8, 8), groups=4)),
    case(unet.UNetConfig, ValueError, "channels", lambda: config(channels=())),
    case(unet.UNetConfig, TypeError, "channels", lambda: config(channels=32)),
    case(unet.UNetConfig, ValueError, "sigma_data", lambda: config(sigma_data=-0.5)),
    case(unet.UNetConfig, ValueError, "in_channels", lambda: config(in_channels=0)),
    case(unet.preconditioning, ValueError, "sigma", lambda: unet.preconditioning(-0.1)),
    case(unet.preconditioning, TypeError, "sigma", lambda: unet.preconditioning("0.5")),
    case(unet.preconditioning, ValueError, "sigma_data", lambda: unet.preconditioning(0.5, 0.0)),
    case(unet.layer_names, TypeError, "config", lambda: unet.layer_names(None)),
    case(unet.layer_names, TypeError, "config", lambda: unet.layer_names(train_lib.TrainConfig())),
    case(unet.layer_names, TypeError, "blocks", lambda: unet.layer_names(CFG, blocks="yes")),
    case(unet.init, TypeError, "key", lambda: unet.init(None, CFG)),
    case(unet.init, ValueError, "key", lambda: unet.init(jax.random.split(KEY, 2), CFG)),
    case(unet.init, TypeError, "config", lambda: unet.init(KEY, {"channels": (8,)})),
    case(unet.num_params, TypeError, "params", lambda: unet.num_params(None)),
    case(unet.num_params, TypeError, "params", lambda: unet.num_params({})),
    case(unet.num_params, TypeError, "params", lambda: unet.num_params({"a": "w"})),
    case(unet.network, ValueError, r"\bx\b", lambda: network(x=IMG[0])),
    case(unet.network, ValueError, "c_noise", lambda: network(c_noise=jnp.zeros(2))),
    case(unet.network, ValueError, "params", lambda: network(params=OTHER)),
    case(unet.apply, ValueError, r"\bx\b", lambda: apply(x=IMG[..., 0])),  # wrong ndim
    case(unet.apply, ValueError, r"\bx\b", lambda: apply(x=jnp.ones((3, 16, 16, 1)))),  # wrong size
    case(unet.apply, ValueError, r"\bx\b", lambda: apply(x=jnp.ones((3, 8, 8, 3)))),  # wrong channels
    case(unet.apply, ValueError, r"\bx\b", lambda: apply(x=IMG.at[0, 0, 0, 0].set(jnp.nan))),
    case(unet.apply, ValueError, "sigma", lambda: apply(sigma=-0.5)),
    case(unet.apply, ValueError, "sigma", lambda: apply(sigma=jnp.ones(2))),
    case(unet.apply, TypeError, "config", lambda: apply(config=None)),
    case(unet.apply, ValueError, "params", lambda: apply(params=OTHER)),
    case(unet.apply, ValueError, r"params\['conv_in'\]\['kernel'\]",
         lambda: apply(params={**P, "conv_in": {**P["conv_in"], "kernel": jnp.zeros((3, 3, 1, 4))}})),
    case(unet.apply, TypeError, "params", lambda: apply(params=[P])),
    case(unet.represent, ValueError, "layer", lambda: represent(layer="up.2")),
    case(unet.represent, ValueError, "layer", lambda: represent(layer="up_blocks.0")),
    case(unet.represent, TypeError, "layer", lambda: represent(layer=0)),
    case(unet.represent, ValueError, "pooling", lambda: represent(pooling="sum")),
    case(unet.represent, ValueError, "x_t", lambda: represent(x_t=IMG.reshape(3, -1))),
    case(unet.represent, ValueError, "sigma", lambda: represent(sigma=0.0)),
    case(unet.represent_fn, ValueError, "sigma", lambda: unet.represent_fn(CFG, -1.0, layer="up.0")),
    case(unet.represent_fn, ValueError, "layer", lambda: unet.represent_fn(CFG, 0.3, layer="deep")),
    case(unet.represent_fn, ValueError, "pooling", lambda: unet.represent_fn(CFG, 0.3, layer="mid", pooling="p")),
    case(unet.represent_fn, TypeError, "config", lambda: unet.represent_fn("cfg", 0.3, layer="mid")),
    case(unet.denoiser, ValueError, "params", lambda: unet.denoiser(nan_params, CFG)),
    case(unet.denoiser, ValueError, "params", lambda: unet.denoiser(OTHER, CFG)),
    case(unet.denoiser, TypeError, "config", lambda: unet.denoiser(P, 8)),
    case(unet.loss, ValueError, r"\bX\b", lambda: loss(X=np.zeros((4, 63)))),
    case(unet.loss, ValueError, r"\bX\b", lambda: loss(X=np.zeros((4, 8, 8)))),
    case(unet.loss, ValueError, "sigma_min", lambda: loss(sigma_min=1.0, sigma_max=0.5)),
    case(unet.loss, ValueError, "sigma_min", lambda: loss(sigma_min=-0.1)),
    case(unet.loss, ValueError, "num_noise", lambda: loss(num_noise=0)),
    case(unet.loss, ValueError, "weighting", lambda: loss(weighting="vp")),
    case(unet.loss, ValueError, "weights", lambda: loss(weights=np.ones(3))),
    case(unet.loss, TypeError, "key", lambda: loss(key="k")),
    case(unet.train, TypeError, "train_config", lambda: train(train_config=CFG)),
    case(unet.train, ValueError, "lam", lambda: train(train_config=train_lib.TrainConfig(lam=0.1))),
    case(unet.train, ValueError, "tying", lambda: train(train_config=train_lib.TrainConfig(tying="aliased"))),
    case(unet.train, ValueError, r"\bX\b", lambda: train(X=np.zeros((4, 8, 8, 2)))),
    case(unet.train, ValueError, "params", lambda: train(params=nan_params)),
    case(unet.train, TypeError, "callback", lambda: train(callback=3)),
    case(unet.train, ValueError, "sigma_max", lambda: train(sigma_max=np.inf)),
    case(unet.steered_denoiser, ValueError, "layer", lambda: unet.steered_denoiser(P, CFG, {"up.9": jnp.ones(8)}, 1.0)),
    case(unet.steered_denoiser, ValueError, r"v\['up.0'\]", lambda: unet.steered_denoiser(P, CFG, {"up.0": jnp.ones(8)},
                                                                                              1.0)),  # up.0 has 16
    case(unet.steered_denoiser, ValueError, "twice", lambda: unet.steered_denoiser(
        P, CFG, {"up.0": jnp.ones(16), "up.0.1": jnp.ones(16)}, 1.0)),
    case(unet.steered_denoiser, TypeError, r"\bv\b", lambda: unet.steered_denoiser(P, CFG, jnp.ones(16), 1.0)),
    case(unet.steered_denoiser, ValueError, r"v\['mid'\]",
         lambda: unet.steered_denoiser(P, CFG, {"mid": jnp.ones((8, 8, 16))}, 1.0)),  # mid is 4x4
    case(unet.steered_denoiser, ValueError, r"\ba\b", lambda: unet.steered_denoiser(P, CFG, {"mid": jnp.ones(16)},
                                                                                       np.nan)),
    case(unet.steered_denoiser, ValueError, "sigma_window", lambda: unet.steered_denoiser(
        P, CFG, {"mid": jnp.ones(16)}, 1.0, sigma_window=(1.0, 0.5))),
    case(unet.jacobian, ValueError, r"\bx\b", lambda: unet.jacobian(P, IMG.reshape(3, -1), 0.5, CFG)),
    case(unet.jacobian, ValueError, "sigma", lambda: unet.jacobian(P, IMG, -0.5, CFG)),
    case(unet.jacobian, TypeError, "config", lambda: unet.jacobian(P, IMG, 0.5, None)),
]


@pytest.mark.parametrize("c", CASES, ids=ids(CASES))
def test_bad_input(c):
  check(c)


def test_every_public_callable_has_three_bad_inputs():
  check_coverage(unet, CASES, exempt={"Preconditioning": "a NamedTuple of arrays"})
