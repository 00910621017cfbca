"""A small time-conditioned UNet with EDM preconditioning, its loss, trainer, sampler adapter and named
representations (THEORY.md §4: the deep diffusion networks whose representations the paper's detector reads).

The network ``F_θ(x; c_noise)`` is a DDPM-style UNet (flax ``linen``) on images ``(n, H, W, C)`` (NHWC,
``H = W = config.image_size``, ``C = config.in_channels``):

* time embedding: the positional (sinusoidal) embedding of ``c_noise`` (EDM's ``PositionalEmbedding``,
  ``max_positions = 10⁴``: ``[cos(c·f_k), sin(c·f_k)]``, ``f_k = 10⁻⁴ᵏ/ᴷ``, ``K = embed_dim/2``), then
  ``Dense → SiLU → Dense → SiLU``;
* ResNet block (diffusers' ``ResnetBlock2D`` without dropout):
  ``h = conv1(SiLU(GN₁(x))) + Dense(emb)``, ``a = SiLU(GN₂(h))``, ``out = skip(x) + conv2(a)``
  (``skip`` a 1×1 conv when the channel count changes, else the identity);
* ``conv_in`` (3×3 to ``channels[0]``); down level i: ``num_res_blocks`` blocks at ``channels[i]``,
  then a 2×2 average pool (not after the last level); mid: two blocks; up level u (coarsest first, as
  diffusers' ``up_blocks``; it mirrors down level ``i = L−1−u``, ``L = len(channels)``):
  ``num_res_blocks + 1`` blocks at ``channels[i]``, each on the concatenation of the running features
  with one skip from the down path, then nearest-neighbour ×2 upsampling and a 3×3 conv (not after the
  last level); ``GN → SiLU → conv_out`` (3×3 back to ``C``).

GN is GroupNorm with ``config.groups`` groups and ε = 1e-5. The 3×3 convolutions carry a custom reverse
rule (:func:`_conv`: XLA:CPU runs autodiff's kernel-gradient convolution ~50x slower inside the training
``lax.scan``, jax-ml/jax#12868), so differentiate the network in reverse mode (``jax.grad``, ``jax.jacrev``);
forward mode (``jax.jvp``, ``jax.jacfwd``) raises.

The denoiser is EDM's preconditioning (Karras et al. 2022, Eq. (7) and Table 1) of ``F``:

    D(x; σ) = c_skip(σ) x + c_out(σ) F(c_in(σ) x; c_noise(σ)),
    c_skip = σ_d² / (σ² + σ_d²),  c_out = σ σ_d / √(σ² + σ_d²),  c_in = 1 / √(σ² + σ_d²),
    c_noise = log(σ) / 4,

with ``σ_d = config.sigma_data`` (0.5 by default, EDM's value for images in [−1, 1]; the bundled
digits of :func:`relu_dae.data.load_digits` are in [−1, 1], per-pixel std ≈ 0.6). ``D`` predicts the
clean image ``x0`` from ``x = x0 + σε`` (variance exploding), as :mod:`relu_dae.diffusion` does.

Representations (:func:`represent`, names from :func:`layer_names`): the activation
``a = SiLU(GN₂(h))`` inside a ResNet block — what the paper's detector hooks in diffusers
(``up_blocks.*.resnets.*.nonlinearity``, whose last call is this one; THEORY.md §4.2) — of

* ``"down.i.j"``, ``"mid.j"``, ``"up.u.j"``: block j of down level i / of the mid block / of up level u;
* ``"down.i"``, ``"mid"``, ``"up.u"``: the *last* block of that level (``"up.u"`` is
  ``"up.u.{num_res_blocks}"``; ``"up.0"`` is diffusers' ``up_blocks.0.resnets.-1`` analogue).

Spatial size: ``H / 2^i`` at down level i, ``H / 2^(L−1)`` at the mid block, ``H / 2^(L−1−u)`` at up level u.

Parameters are flax's ``params`` dict (a pytree of float32 arrays) from :func:`init`; every function
takes the :class:`UNetConfig` they were made with (a static, hashable argument: equal configs share
one compiled program).

Examples:
  >>> import jax, jax.numpy as jnp
  >>> from relu_dae import unet
  >>> cfg = unet.UNetConfig(image_size=8, channels=(8,), embed_dim=8, groups=4)  # one level: compiles fast
  >>> params = unet.init(jax.random.PRNGKey(0), cfg)
  >>> unet.apply(params, jnp.zeros((2, 8, 8, 1)), 0.5, cfg).shape
  (2, 8, 8, 1)
  >>> unet.represent(params, jnp.zeros((2, 8, 8, 1)), 0.5, cfg, layer="up.0").shape
  (2, 8)
  >>> unet.layer_names(unet.UNetConfig(channels=(8, 16), groups=4))
  ('down.0', 'down.1', 'mid', 'up.0', 'up.1')
"""

from __future__ import annotations

import dataclasses
import functools
import math
from collections.abc import Callable
from typing import NamedTuple

import numpy as np

import flax.linen as nn
import jax
import jax.numpy as jnp
from jax.tree_util import Partial
from jaxtyping import Array, ArrayLike, Float, PyTree, Real

from relu_dae import _checks
from relu_dae import diffusion
from relu_dae import steering
from relu_dae import train as train_lib

__all__ = ["SIGMA_DATA", "POOLINGS", "WEIGHTINGS", "UNetConfig", "Preconditioning", "preconditioning",
           "layer_names", "init", "num_params", "network", "apply", "represent", "represent_fn", "denoiser",
           "steered_denoiser", "jacobian", "loss", "train"]

SIGMA_DATA = 0.5
POOLINGS = ("max", "mean", "none")
WEIGHTINGS = ("edm", "x0")


# ----------------------------------------------------------------------------- config


@dataclasses.dataclass(frozen=True)
class UNetConfig:
  """Static architecture of the UNet (hashable: a ``jit`` static argument, one compile per config).

  Attributes:
    image_size: height = width ``H`` of the images; divisible by ``2^(len(channels) − 1)``.
    in_channels: image channels ``C`` (1 for gray digits).
    channels: feature channels per resolution level, finest first (a list is stored as a tuple).
    num_res_blocks: ResNet blocks per down level (up levels have one more, as in DDPM / diffusers).
    embed_dim: width of the time embedding (even).
    groups: GroupNorm groups; divides every entry of ``channels``.
    sigma_data: σ_d of the EDM preconditioning (> 0; EDM's 0.5 by default).
  """
  image_size: int = 8
  in_channels: int = 1
  channels: tuple[int, ...] = (32, 64)
  num_res_blocks: int = 1
  embed_dim: int = 64
  groups: int = 8
  sigma_data: float = SIGMA_DATA

  def __post_init__(self):
    _checks.positive_int("image_size", self.image_size)
    _checks.positive_int("in_channels", self.in_channels)
    channels = self.channels
    if isinstance(channels, list):
      channels = tuple(channels)
      object.__setattr__(self, "channels", channels)
    if not isinstance(channels, tuple):
      raise TypeError(f"channels must be a tuple of positive integers, got {type(channels).__name__}")
    if not channels:
      raise ValueError("channels must name at least one level, got ()")
    for c in channels:
      _checks.positive_int("channels", c)
    object.__setattr__(self, "channels", tuple(int(c) for c in channels))
    _checks.positive_int("num_res_blocks", self.num_res_blocks)
    _checks.positive_int("embed_dim", self.embed_dim)
    if self.embed_dim % 2:
      raise ValueError(f"embed_dim must be even (cosines and sines), got {self.embed_dim}")
    _checks.positive_int("groups", self.groups)
    if any(c % self.groups for c in self.channels):
      raise ValueError(f"groups={self.groups} must divide every entry of channels={self.channels}")
    scale = 2 ** (len(self.channels) - 1)
    if self.image_size % scale:
      raise ValueError(f"image_size={self.image_size} must be divisible by 2^(len(channels) - 1) = {scale} "
                       f"(one 2x2 pooling per level after the first, channels={self.channels})")
    _checks.scalar_positive("sigma_data", self.sigma_data)
    train_lib._hashable(self)

  @property
  def d(self) -> int:
    """Flattened image dimension ``d = H · W · C`` (what :mod:`relu_dae.diffusion`'s samplers call d)."""
    return self.image_size * self.image_size * self.in_channels

  @property
  def image_shape(self) -> tuple[int, int, int]:
    """``(H, W, C)``."""
    return (self.image_size, self.image_size, self.in_channels)


def _check_config(config, name: str = "config") -> UNetConfig:
  if not isinstance(config, UNetConfig):
    raise TypeError(f"{name} must be a UNetConfig, got {type(config).__name__}")
  return config


# ----------------------------------------------------------------------------- preconditioning


class Preconditioning(NamedTuple):
  """EDM's coefficients at σ (each of σ's shape)."""
  c_skip: jax.Array
  c_out: jax.Array
  c_in: jax.Array
  c_noise: jax.Array


def _preconditioning(sigma, sigma_data) -> Preconditioning:
  s2, d2 = sigma * sigma, sigma_data * sigma_data
  root = jnp.sqrt(s2 + d2)
  return Preconditioning(d2 / (s2 + d2), sigma * sigma_data / root, 1.0 / root, jnp.log(sigma) / 4.0)


def preconditioning(sigma: Real[ArrayLike, "*batch"], sigma_data=SIGMA_DATA) -> Preconditioning:
  """EDM's preconditioning (Karras et al. 2022, Table 1) at noise level(s) σ > 0:

      c_skip = σ_d²/(σ² + σ_d²),  c_out = σ σ_d/√(σ² + σ_d²),  c_in = 1/√(σ² + σ_d²),  c_noise = log(σ)/4.

  Args:
    sigma: σ > 0, any shape.
    sigma_data: σ_d > 0.

  Examples:
    >>> c = preconditioning(0.5, 0.5)
    >>> [round(float(v), 4) for v in c]
    [0.5, 0.3536, 1.4142, -0.1733]
  """
  sigma = _checks.array("sigma", sigma)
  _checks.positive("sigma", sigma)
  _checks.scalar_positive("sigma_data", sigma_data)
  return _preconditioning(jnp.asarray(sigma), sigma_data)


# ----------------------------------------------------------------------------- network


def _positional(c_noise, dim: int, max_positions: float = 10_000.0):
  """EDM's ``PositionalEmbedding``: ``[cos(c f), sin(c f)]``, ``f_k = (1/max_positions)^(k/K)``; ``(n,) → (n, dim)``."""
  half = dim // 2
  freqs = (1.0 / max_positions) ** (jnp.arange(half, dtype=c_noise.dtype) / half)
  angles = c_noise[:, None] * freqs
  return jnp.concatenate([jnp.cos(angles), jnp.sin(angles)], axis=-1)


_DN = ("NHWC", "HWIO", "NHWC")


def _conv_same(x, kernel):
  return jax.lax.conv_general_dilated(x, kernel, (1, 1), "SAME", dimension_numbers=_DN)


@jax.custom_vjp
def _conv(x, kernel):
  """``SAME`` stride-1 convolution, NHWC × HWIO (odd kernel size), with a loop-friendly reverse rule.

  XLA:CPU runs the kernel-gradient convolution that autodiff emits ~50x slower inside a loop body
  (jax-ml/jax#12868) — and :func:`relu_dae.train.minimize` puts every training step in a ``lax.scan``.
  The reverse rule writes both gradients as plain NHWC × HWIO convolutions instead (exactly equal):
  ``∂x = conv(g, flip(K)ᵀ)`` and ``∂K = conv(xᵀ, gᵀ)`` with the batch as the contracted channel.
  Reverse mode only (``jax.grad``, ``jax.jacrev``); ``jax.jvp`` / ``jacfwd`` through it raise.
  """
  return _conv_same(x, kernel)


def _conv_fwd(x, kernel):
  return _conv_same(x, kernel), (x, kernel)


def _conv_bwd(res, g):
  x, kernel = res
  k = kernel.shape[0]
  lo, hi = (k - 1) // 2, k - 1 - (k - 1) // 2
  dx = _conv_same(g, jnp.swapaxes(jnp.flip(kernel, (0, 1)), 2, 3))
  # ∂K[a, b, i, o] = Σ_{n,h,w} x_pad[n, h+a, w+b, i] g[n, h, w, o]: x as (C_in, H, W, n), g as (H, W, n, C_out).
  dk = jax.lax.conv_general_dilated(jnp.transpose(x, (3, 1, 2, 0)), jnp.transpose(g, (1, 2, 0, 3)), (1, 1),
                                    ((lo, hi), (lo, hi)), dimension_numbers=_DN)  # (C_in, k, k, C_out)
  return dx, jnp.transpose(dk, (1, 2, 0, 3)).astype(kernel.dtype)


_conv.defvjp(_conv_fwd, _conv_bwd)


class _GroupNorm(nn.Module):
  """GroupNorm (Wu & He 2018) over ``(H, W, C/G)`` per sample and group, ε = 1e-5, learnable ``scale``/``bias``
  ``(C,)`` (diffusers' ``GroupNorm`` semantics; written out to keep the compiled program small)."""
  groups: int
  eps: float = 1e-5

  @nn.compact
  def __call__(self, x):
    C = x.shape[-1]
    scale = self.param("scale", nn.initializers.ones, (C,))
    bias = self.param("bias", nn.initializers.zeros, (C,))
    xg = jnp.reshape(x, (*x.shape[:-1], self.groups, C // self.groups))
    mean = jnp.mean(xg, axis=(-4, -3, -1), keepdims=True)
    centered = xg - mean
    var = jnp.mean(centered * centered, axis=(-4, -3, -1), keepdims=True)
    return jnp.reshape(centered * jax.lax.rsqrt(var + self.eps), x.shape) * scale + bias


class _Conv(nn.Module):
  """A stride-1 ``SAME`` convolution, ``kernel (k, k, C_in, C_out)`` + ``bias`` as ``nn.Conv``'s (k odd),
  computed by :func:`_conv` (1×1: a matmul)."""
  features: int
  size: int = 3

  @nn.compact
  def __call__(self, x):
    k, cin = self.size, x.shape[-1]
    kernel = self.param("kernel", nn.initializers.lecun_normal(), (k, k, cin, self.features))
    bias = self.param("bias", nn.initializers.zeros, (self.features,))
    if k == 1:
      return x @ kernel[0, 0] + bias
    return _conv(x, kernel.astype(x.dtype)) + bias


class _ResBlock(nn.Module):
  """``skip(x) + conv2(SiLU(GN₂(conv1(SiLU(GN₁(x))) + Dense(emb))) [+ shift])``; sows the conv2 input as ``act``."""
  features: int
  groups: int

  @nn.compact
  def __call__(self, x, emb, shift=None):
    h = nn.silu(_GroupNorm(self.groups, name="norm1")(x))
    h = _Conv(self.features, name="conv1")(h)
    h = h + nn.Dense(self.features, name="emb")(emb)[:, None, None, :]
    a = nn.silu(_GroupNorm(self.groups, name="norm2")(h))
    if shift is not None:  # steering (Eq. 11): a + a_s·v, v per channel (every position) or a whole map
      a = a + (shift[:, None, None, :] if shift.ndim == 2 else shift)
    self.sow("intermediates", "act", a)
    h = _Conv(self.features, name="conv2")(a)
    skip = x if x.shape[-1] == self.features else _Conv(self.features, 1, name="skip")(x)
    return skip + h


class _UNet(nn.Module):
  """The raw network ``F(x; c_noise)``: ``x (n, H, W, C)``, ``c_noise (n,)`` → ``(n, H, W, C)``.

  ``shifts`` maps block names (``"up.0.1"``) to ``(n, c)`` or ``(n, h, w, c)`` shifts of that block's activation."""
  config: UNetConfig

  @nn.compact
  def __call__(self, x, c_noise, shifts=None):
    shifts = shifts or {}
    cfg = self.config
    L, g = len(cfg.channels), cfg.groups
    emb = _positional(c_noise, cfg.embed_dim)
    emb = nn.silu(nn.Dense(cfg.embed_dim, name="map0")(emb))
    emb = nn.silu(nn.Dense(cfg.embed_dim, name="map1")(emb))
    h = _Conv(cfg.channels[0], name="conv_in")(x)
    skips = [h]
    for i, c in enumerate(cfg.channels):
      for j in range(cfg.num_res_blocks):
        h = _ResBlock(c, g, name=_module_name(f"down.{i}.{j}"))(h, emb, shifts.get(f"down.{i}.{j}"))
        skips.append(h)
      if i < L - 1:
        h = nn.avg_pool(h, (2, 2), strides=(2, 2))
        skips.append(h)
    for j in range(2):
      h = _ResBlock(cfg.channels[-1], g, name=_module_name(f"mid.{j}"))(h, emb, shifts.get(f"mid.{j}"))
    for u in range(L):
      i = L - 1 - u
      for j in range(cfg.num_res_blocks + 1):
        h = _ResBlock(cfg.channels[i], g, name=_module_name(f"up.{u}.{j}"))(
            jnp.concatenate([h, skips.pop()], axis=-1), emb, shifts.get(f"up.{u}.{j}"))
      if i > 0:
        h = jnp.repeat(jnp.repeat(h, 2, axis=1), 2, axis=2)
        h = _Conv(cfg.channels[i], name=f"upsample_{u}")(h)
    h = nn.silu(_GroupNorm(g, name="norm_out")(h))
    return _Conv(cfg.in_channels, name="conv_out")(h)


def _module_name(block: str) -> str:
  """Flax module name of a block: ``"up.0.1"`` → ``"up_0_1"``."""
  return block.replace(".", "_")


def _blocks(config: UNetConfig) -> tuple[str, ...]:
  L, r = len(config.channels), config.num_res_blocks
  return (tuple(f"down.{i}.{j}" for i in range(L) for j in range(r)) + ("mid.0", "mid.1")
          + tuple(f"up.{u}.{j}" for u in range(L) for j in range(r + 1)))


def _resolve(config: UNetConfig, layer: str) -> str:
  """The block a layer denotes: ``down.i`` → ``down.i.{r-1}``, ``mid`` → ``mid.1``, ``up.u`` → ``up.u.{r}``."""
  if layer == "mid":
    return "mid.1"
  parts = layer.split(".")
  if len(parts) == 2 and parts[0] in ("down", "up"):
    return f"{layer}.{config.num_res_blocks - (parts[0] == 'down')}"
  return layer


def layer_names(config: UNetConfig, *, blocks: bool = False) -> tuple[str, ...]:
  """Names :func:`represent` accepts, in forward order.

  ``blocks=False``: one per level, its last ResNet block: ``down.0 … down.{L−1}, mid, up.0 … up.{L−1}``.
  ``blocks=True``: every block: ``down.i.j`` (j < num_res_blocks), ``mid.0, mid.1``,
  ``up.u.j`` (j ≤ num_res_blocks). Up level 0 is the coarsest (diffusers' ``up_blocks.0``).

  Examples:
    >>> layer_names(UNetConfig(channels=(8, 16), groups=4), blocks=True)
    ('down.0.0', 'down.1.0', 'mid.0', 'mid.1', 'up.0.0', 'up.0.1', 'up.1.0', 'up.1.1')
  """
  _check_config(config)
  _checks.boolean("blocks", blocks)
  if blocks:
    return _blocks(config)
  L = len(config.channels)
  return tuple(f"down.{i}" for i in range(L)) + ("mid",) + tuple(f"up.{u}" for u in range(L))


def _block_level(config: UNetConfig, block: str) -> int:
  """The resolution level i of a block (``down.i``; the mid block at ``L − 1``; ``up.u`` mirrors ``L − 1 − u``)."""
  kind, level = block.split(".")[:2]
  L = len(config.channels)
  return L - 1 if kind == "mid" else int(level) if kind == "down" else L - 1 - int(level)


def _layer_channels(config: UNetConfig, block: str) -> int:
  return config.channels[_block_level(config, block)]


def _block_size(config: UNetConfig, block: str) -> int:
  """Height = width of a block's activation, ``H / 2^i`` at level i (module docstring)."""
  return config.image_size // 2 ** _block_level(config, block)


def _shapes(config: UNetConfig):
  """The parameter pytree of ``config`` as ``ShapeDtypeStruct`` leaves (traced, not run)."""
  x = jax.ShapeDtypeStruct((1, *config.image_shape), jnp.float32)
  c = jax.ShapeDtypeStruct((1,), jnp.float32)
  return jax.eval_shape(lambda x, c: _UNet(config).init(jax.random.PRNGKey(0), x, c)["params"], x, c)


@functools.partial(jax.jit, static_argnums=(1,))
def _init(key, config):
  shapes = _shapes(config)
  paths = jax.tree_util.tree_leaves_with_path(shapes)
  is_kernel = [jax.tree_util.keystr(p).endswith("['kernel']") for p, _ in paths]
  sizes = [math.prod(s.shape) for _, s in paths]
  z = jax.random.normal(key, (sum(sz for sz, k in zip(sizes, is_kernel) if k),), jnp.float32)
  leaves, at = [], 0
  for (path, s), size, kernel in zip(paths, sizes, is_kernel):
    if kernel:  # LeCun normal: N(0, 1/fan_in), fan_in = every axis but the output one
      leaves.append(jnp.reshape(z[at:at + size], s.shape) / math.sqrt(math.prod(s.shape[:-1])))
      at += size
    else:  # GroupNorm scales 1, biases 0
      leaves.append(jnp.full(s.shape, 1.0 if jax.tree_util.keystr(path).endswith("['scale']") else 0.0, s.dtype))
  return jax.tree.unflatten(jax.tree.structure(shapes), leaves)


def init(key: jax.Array, config: UNetConfig) -> PyTree:
  """Initial parameters: kernels LeCun normal ``N(0, 1/fan_in)`` (``fan_in`` = every kernel axis but the
  last; all drawn by one ``jax.random.normal(key, ·)``, in the pytree's leaf order), biases 0, GroupNorm
  scales 1. A nested dict of float32 arrays keyed by module name (``conv_in``, ``map0``, ``down_0_0``,
  …, ``up_1_1``, ``upsample_0``, ``norm_out``, ``conv_out``); 3×3 kernels are ``(3, 3, C_in, C_out)``.

  The default :class:`UNetConfig` has 585,985 parameters (``tests/test_unet.py`` counts them by hand).

  Examples:
    >>> import jax
    >>> num_params(init(jax.random.PRNGKey(0), UNetConfig(image_size=8, channels=(8,), embed_dim=8, groups=4)))
    8129
  """
  _checks.key("key", key)
  return _init(key, _check_config(config))


def num_params(params: PyTree) -> int:
  """Total number of scalars in a parameter pytree (``TypeError`` unless its leaves are real arrays)."""
  leaves = jax.tree_util.tree_leaves_with_path(params)
  if not leaves:
    raise TypeError(f"params must be a pytree of arrays, got {type(params).__name__} {params!r}")
  for path, w in leaves:
    _checks.real_kind(f"params{jax.tree_util.keystr(path)}", w)
  return int(sum(np.size(w) for _, w in leaves))


@functools.lru_cache(maxsize=64)
def _param_shapes(config: UNetConfig) -> dict:
  shapes = _shapes(config)
  return {jax.tree_util.keystr(p): tuple(s.shape) for p, s in jax.tree_util.tree_leaves_with_path(shapes)}


def _check_params(params, config: UNetConfig, name: str = "params", *, values: bool = False) -> None:
  """Keys and shapes of :func:`init`'s pytree for ``config`` (static), real dtypes, finite with ``values``."""
  if not hasattr(params, "keys"):
    raise TypeError(f"{name} must be the dict of unet.init(key, config), got {type(params).__name__}")
  want = _param_shapes(config)
  leaves = jax.tree_util.tree_leaves_with_path(params)
  got = {jax.tree_util.keystr(p): w for p, w in leaves}
  if set(got) != set(want):
    missing, extra = sorted(set(want) - set(got)), sorted(set(got) - set(want))
    raise ValueError(f"{name} does not fit config (made with another UNetConfig?): missing {missing[:4]}"
                     f"{' …' if len(missing) > 4 else ''}, unexpected {extra[:4]}{' …' if len(extra) > 4 else ''}")
  for path, w in got.items():
    _checks.real_kind(f"{name}{path}", w)
    if tuple(jnp.shape(w)) != want[path]:
      raise ValueError(f"{name}{path} must have shape {want[path]} for this config, got {tuple(jnp.shape(w))}")
    if values:
      _checks.finite(f"{name}{path}", w)


def _check_images(name: str, x, config: UNetConfig):
  """A real, finite ``(n, H, W, C)`` batch for ``config``; returns it (integers as float32)."""
  x = _checks.array(name, x)
  H, W, C = config.image_shape
  if jnp.ndim(x) != 4:
    raise ValueError(f"{name} must be a 4-D image batch (n, H, W, C)=(n, {H}, {W}, {C}), got shape {jnp.shape(x)}")
  if tuple(jnp.shape(x)[1:]) != (H, W, C):
    raise ValueError(f"{name} must have shape (n, H, W, C)=(n, {H}, {W}, {C}) for config (image_size, "
                     f"in_channels), got shape {jnp.shape(x)}")
  if jnp.shape(x)[0] == 0:
    raise ValueError(f"{name} must contain at least one image")
  return x


def _check_sigma(sigma, n: int, name: str = "sigma"):
  """σ > 0, a scalar or ``(n,)``; returns it as an array."""
  sigma = _checks.array(name, sigma)
  if jnp.shape(sigma) not in ((), (n,)):
    raise ValueError(f"{name} must be a scalar or have shape (n,)=({n},), got shape {jnp.shape(sigma)}")
  _checks.positive(name, sigma)
  return sigma


def _network(params, x, c_noise, config, *, capture: bool = False, shifts=None):
  """``F(x; c_noise)`` (and the sown activations with ``capture``): the one forward pass."""
  if capture:
    return _UNet(config).apply({"params": params}, x, c_noise, shifts, mutable=["intermediates"])
  return _UNet(config).apply({"params": params}, x, c_noise, shifts)


def _apply(params, x, sigma, config, *, capture: bool = False, shifts=None):
  """``D(x; σ)`` for ``x (n, H, W, C)``, σ broadcastable to ``(n,)``; with ``capture`` also the activations;
  ``shifts`` (block → ``(n, c)``) are added to those blocks' activations (steering)."""
  sigma = jnp.broadcast_to(jnp.asarray(sigma, x.dtype), x.shape[:1])
  c = _preconditioning(sigma, config.sigma_data)
  b = lambda v: v[:, None, None, None]
  out = _network(params, b(c.c_in) * x, c.c_noise, config, capture=capture, shifts=shifts)
  F, state = out if capture else (out, None)
  D = b(c.c_skip) * x + b(c.c_out) * F
  return (D, state["intermediates"]) if capture else D


_apply_jit = jax.jit(_apply, static_argnames=("config", "capture"))
_network_jit = jax.jit(_network, static_argnames=("config", "capture"))


def network(params: PyTree, x: Real[ArrayLike, "n H W C"], c_noise: Real[ArrayLike, ""] | Real[ArrayLike, " n"],
            config: UNetConfig) -> Float[Array, "n H W C"]:
  """The raw UNet ``F(x; c_noise)`` without preconditioning (``x`` is already ``c_in x``).

  Args:
    params: from :func:`init` with ``config``.
    x: network inputs ``(n, H, W, C)``.
    c_noise: conditioning ``(n,)`` or a scalar (any real value; :func:`apply` passes ``log(σ)/4``).
    config: the :class:`UNetConfig`.
  """
  _check_config(config)
  _check_params(params, config)
  x = _check_images("x", x, config)
  c_noise = _checks.array("c_noise", c_noise)
  n = jnp.shape(x)[0]
  if jnp.shape(c_noise) not in ((), (n,)):
    raise ValueError(f"c_noise must be a scalar or have shape (n,)=({n},), got shape {jnp.shape(c_noise)}")
  return _network_jit(params, x, jnp.broadcast_to(jnp.asarray(c_noise, x.dtype), (n,)), config)


def apply(params: PyTree, x: Real[ArrayLike, "n H W C"], sigma, config: UNetConfig) -> Float[Array, "n H W C"]:
  """The EDM-preconditioned denoiser ``D(x; σ) = c_skip x + c_out F(c_in x; c_noise)`` (x0 prediction).

  Args:
    params: from :func:`init` with ``config``.
    x: noisy images ``x0 + σε``, ``(n, H, W, C)``.
    sigma: noise level(s) σ > 0: a scalar or ``(n,)``.
    config: the :class:`UNetConfig`.

  Returns:
    ``x0_hat (n, H, W, C)``.

  Examples:
    >>> import jax, jax.numpy as jnp
    >>> cfg = UNetConfig(image_size=8, channels=(8,), embed_dim=8, groups=4)
    >>> x = jnp.ones((3, 8, 8, 1))
    >>> apply(init(jax.random.PRNGKey(0), cfg), x, jnp.array([0.1, 0.5, 1.0]), cfg).shape
    (3, 8, 8, 1)
  """
  _check_config(config)
  _check_params(params, config)
  x = _check_images("x", x, config)
  sigma = _check_sigma(sigma, jnp.shape(x)[0])
  return _apply_jit(params, x, sigma, config)


# ----------------------------------------------------------------------------- representations


def _pool(a, pooling: str):
  if pooling == "max":
    return jnp.max(a, axis=(-3, -2))
  if pooling == "mean":
    return jnp.mean(a, axis=(-3, -2))
  return a


def _activations(params, x, sigma, config):
  """``{block: SiLU(GN₂(·)) (n, h, w, c)}`` for every block of ``_blocks(config)``, from one forward pass."""
  _, acts = _apply(params, x, sigma, config, capture=True)
  return {block: acts[_module_name(block)]["act"][0] for block in _blocks(config)}


# One compile per config for every layer and pooling (the unused activations are dead code when traced inside
# another jit, e.g. the sampler or detection).
_activations_jit = jax.jit(_activations, static_argnames=("config",))


def _represent(params, x, sigma, config, block, pooling):
  return _pool(_activations_jit(params, x, sigma, config)[block], pooling)


def _check_layer(config: UNetConfig, layer, pooling=None) -> str:
  """The block ``layer`` names (and ``pooling`` checked, unless ``None``)."""
  if not isinstance(layer, str):
    raise TypeError(f"layer must be a string from layer_names(config), got {type(layer).__name__}")
  block = _resolve(config, layer)
  if block not in _blocks(config):
    raise ValueError(f"layer must be one of {layer_names(config)} or a block of "
                     f"layer_names(config, blocks=True), got {layer!r}")
  if pooling is not None:
    train_lib._choice("pooling", pooling, POOLINGS)
  return block


def represent(params: PyTree, x_t: Real[ArrayLike, "n H W C"], sigma, config: UNetConfig, *, layer: str,
              pooling: str = "max") -> Float[Array, "n c"] | Float[Array, "n h w c"]:
  """The activation ``SiLU(GN₂(·))`` of a ResNet block while denoising ``x_t`` at σ (module docstring).

  The network runs once, as in :func:`apply` (input ``c_in(σ) x_t``, conditioning ``log(σ)/4``);
  the block's activation is read with flax's ``sow``. ``layer="up.u"`` is the last block of up level u
  (the paper's detector hooks the up blocks, THEORY.md §4.2; ``up.0`` is the coarsest).

  Args:
    params: from :func:`init` with ``config``.
    x_t: noisy images ``(n, H, W, C)``.
    sigma: noise level(s) σ > 0, a scalar or ``(n,)``.
    config: the :class:`UNetConfig`.
    layer: a name from ``layer_names(config)`` or ``layer_names(config, blocks=True)``.
    pooling: ``"max"`` (spatial max per channel, the paper's ``amax``), ``"mean"``, or ``"none"``.

  Returns:
    ``(n, c)`` pooled features, or ``(n, h, w, c)`` with ``pooling="none"`` (``c`` the level's channels,
    ``h = w`` its resolution).

  Examples:
    >>> import jax, jax.numpy as jnp
    >>> cfg = UNetConfig(image_size=8, channels=(8,), embed_dim=8, groups=4)
    >>> params = init(jax.random.PRNGKey(0), cfg)
    >>> represent(params, jnp.ones((2, 8, 8, 1)), 0.2, cfg, layer="mid", pooling="none").shape
    (2, 8, 8, 8)
  """
  _check_config(config)
  _check_params(params, config)
  x_t = _check_images("x_t", x_t, config)
  sigma = _check_sigma(sigma, jnp.shape(x_t)[0])
  block = _check_layer(config, layer, pooling)
  return _represent(params, x_t, sigma, config, block, pooling)


@dataclasses.dataclass(frozen=True)
class _Represent:
  """``(σ, params, y (..., d)) ↦ represent`` on flat vectors (hashable, so equal settings share compiles)."""
  config: UNetConfig
  block: str
  pooling: str

  def __call__(self, sigma, params, y):
    cfg = self.config
    lead = jnp.shape(y)[:-1]
    x = jnp.reshape(y, (-1, *cfg.image_shape))
    h = _represent(params, x, sigma, cfg, self.block, self.pooling)
    return jnp.reshape(h, lead + h.shape[1:])


def represent_fn(config: UNetConfig, sigma, *, layer: str, pooling: str = "max") -> Partial:
  """:func:`represent` at a fixed σ as ``(params, y (..., d)) → h (..., c)`` on flat images ``d = H·W·C``.

  The ``represent=`` argument of :func:`relu_dae.detection.scores` (which re-noises flat samples
  ``(m, d)`` itself and passes ``y (num_noise, m, d)``); σ here is the network's conditioning level
  (the paper conditions on the re-noising level).
  """
  _check_config(config)
  _checks.scalar_positive("sigma", sigma)
  block = _check_layer(config, layer, pooling)
  return Partial(_Represent(config, block, pooling), jnp.asarray(sigma, jnp.float32))


# ----------------------------------------------------------------------------- sampler adapter


def _as_batch(config: UNetConfig, y, sigma):
  """Flat images ``y (..., d)`` and σ (scalar or ``y.shape[:-1]``) as a batch ``x (n, H, W, C)``, ``σ (n,)``."""
  x = jnp.reshape(y, (-1, *config.image_shape))
  return x, jnp.reshape(jnp.broadcast_to(jnp.asarray(sigma, y.dtype), jnp.shape(y)[:-1]), (-1,))


@dataclasses.dataclass(frozen=True)
class _Denoise:
  """``(params, y (..., d), σ) ↦ D`` on flat vectors (hashable, so equal configs share the sampler's compile)."""
  config: UNetConfig

  def __call__(self, params, y, sigma):
    x, s = _as_batch(self.config, y, sigma)
    return jnp.reshape(_apply_jit(params, x, s, self.config), jnp.shape(y))


def denoiser(params: PyTree, config: UNetConfig) -> Partial:
  """:func:`apply` as a denoiser ``denoise(y, σ) -> x0_hat`` on flat images ``y (..., d)``, ``d = H·W·C``.

  For :func:`relu_dae.diffusion.sample` / ``sample_trajectory`` (which call it per sample,
  ``y (d,)``, ``σ ()``, under ``vmap``): ``sample(denoiser(params, cfg), key, m, cfg.d)`` returns
  ``(m, d)``; reshape to ``(m, H, W, C)``. σ is a scalar or broadcastable to ``y.shape[:-1]``.
  A ``Partial`` whose leaves are the params, so new params reuse the compiled sampler.

  Examples:
    >>> import jax
    >>> cfg = UNetConfig(image_size=8, channels=(8,), embed_dim=8, groups=4)
    >>> den = denoiser(init(jax.random.PRNGKey(0), cfg), cfg)
    >>> diffusion.sample(den, jax.random.PRNGKey(1), 2, cfg.d, num_steps=3).shape
    (2, 64)
  """
  _check_config(config)
  _check_params(params, config, values=True)
  return Partial(_Denoise(config), params)


# ----------------------------------------------------------------------------- steering


@dataclasses.dataclass(frozen=True)
class _SteeredDenoise:
  """``(params, vs, a, lo, hi, y (..., d), σ) ↦ D`` with ``a·v_b`` added at ``blocks`` for ``lo ≤ σ ≤ hi``."""
  config: UNetConfig
  blocks: tuple[str, ...]

  def __call__(self, params, vs, a, lo, hi, y, sigma):
    x, s = _as_batch(self.config, y, sigma)
    a_eff = jnp.where((s >= lo) & (s <= hi), a, jnp.zeros_like(a))  # (n,)
    shifts = {b: jnp.reshape(a_eff, (-1,) + (1,) * v.ndim) * v[None] for b, v in zip(self.blocks, vs)}
    return jnp.reshape(_apply_jit(params, x, s, self.config, shifts=shifts), jnp.shape(y))


def _steering_vectors(config: UNetConfig, v) -> tuple[tuple[str, ...], tuple[jax.Array, ...]]:
  """``v`` (layer → ``(c,)`` or ``(h, w, c)``) as blocks in forward order and their vectors; each block once."""
  if not hasattr(v, "items") or isinstance(v, (str, bytes)):
    raise TypeError(f"v must map layer names to steering vectors (c,), got {type(v).__name__}")
  if not v:
    raise ValueError("v must name at least one layer to steer")
  chosen = {}
  for layer, vec in v.items():
    block = _check_layer(config, layer)
    if block in chosen:
      raise ValueError(f"v names block {block!r} twice (layer {layer!r}); give each block once")
    vec = _checks.array(f"v[{layer!r}]", vec)
    c, h = _layer_channels(config, block), _block_size(config, block)
    if jnp.shape(vec) not in ((c,), (h, h, c)):
      raise ValueError(f"v[{layer!r}] must have shape (c,)=({c},) (the block's channels, added at every position) "
                       f"or (h, w, c)=({h}, {h}, {c}) (a whole activation map), got {jnp.shape(vec)}")
    _checks.finite(f"v[{layer!r}]", vec)
    chosen[block] = jnp.asarray(vec, jnp.float32)
  blocks = tuple(b for b in _blocks(config) if b in chosen)
  return blocks, tuple(chosen[b] for b in blocks)


def steered_denoiser(params: PyTree, config: UNetConfig, v, a, *, sigma_window=None) -> Partial:
  """Eq. (11) in the UNet: the denoiser with ``a·v_ℓ`` added to the activation of every steered block ℓ.

  At each steered block the activation ``SiLU(GN₂(·))`` (what :func:`represent` reads) becomes
  ``SiLU(GN₂(·)) + a·v_ℓ`` — ``v_ℓ (c,)`` at every spatial position, or ``v_ℓ (h, w, c)`` as a whole map
  (the mean of ``represent(..., pooling="none")``) — for noise levels ``lo ≤ σ ≤ hi``; outside the
  window, or with ``a = 0``, it is :func:`denoiser`'s network (the official notebook adds ``a·v`` to the
  hooked ``up_blocks.*.resnets.*`` outputs, v the mean max-pooled representation of reference images:
  :func:`relu_dae.steering.steering_vector` with ``represent=represent_fn(config, σ, layer=ℓ)``).

  Args:
    params: from :func:`init` with ``config``.
    config: the :class:`UNetConfig`.
    v: ``{layer: (c,) or (h, w, c)}``, layers from :func:`layer_names` (``"up.0"`` is its last block) or
      its ``blocks=True`` names, each block once; ``c`` the block's channels, ``h = w`` its resolution.
    a: strength, a finite scalar.
    sigma_window: ``(lo, hi)``, ``0 ≤ lo ≤ hi`` (``hi`` may be ``inf``), or ``None`` for every σ;
      :func:`relu_dae.steering.step_window` gives the window of a range of sampler steps.

  Returns:
    ``denoise(y (..., d), σ)`` on flat images for :func:`relu_dae.diffusion.sample`; a ``Partial``
    whose leaves are ``params, v, a, lo, hi``, so every strength and window shares one compile.

  Examples:
    >>> import jax, jax.numpy as jnp
    >>> cfg = UNetConfig(image_size=8, channels=(8,), embed_dim=8, groups=4)
    >>> params = init(jax.random.PRNGKey(0), cfg)
    >>> den = steered_denoiser(params, cfg, {"up.0": jnp.ones(8)}, 0.0)
    >>> y = jnp.ones((2, 64))
    >>> bool(jnp.all(den(y, 0.5) == denoiser(params, cfg)(y, 0.5)))  # a = 0: the plain denoiser
    True
  """
  _check_config(config)
  _check_params(params, config, values=True)
  blocks, vs = _steering_vectors(config, v)
  _checks.number("a", a)
  _checks.finite("a", a)
  lo, hi = steering._window(sigma_window)
  return Partial(_SteeredDenoise(config, blocks), params, vs, jnp.asarray(a, jnp.float32),
                 jnp.asarray(lo, jnp.float32), jnp.asarray(hi, jnp.float32))


# ----------------------------------------------------------------------------- Jacobian


@functools.partial(jax.jit, static_argnames=("config",))
def _jacobian(params, x, sigma, config):
  y = jnp.reshape(x, (x.shape[0], -1))
  jac = jax.vmap(jax.jacrev(_Denoise(config), argnums=1), in_axes=(None, 0, 0))  # per image: (d,) -> (d, d)
  return jac(params, y, jnp.broadcast_to(sigma, y.shape[:1]))


def jacobian(params: PyTree, x: Real[ArrayLike, "n H W C"], sigma, config: UNetConfig) -> Float[Array, "n d d"]:
  """The denoiser's input Jacobian ``∂D(x; σ)/∂x`` per image, on flat pixels ``d = H·W·C`` (reverse mode).

  Near a memorized image the paper (App. B.3) finds it low-rank — the denoiser projects onto a few
  stored images — and near a generalized one higher-rank (the two-layer analogue:
  :func:`relu_dae.model.jacobian`). Row ``k`` of ``J[i]`` is ``∂D_k/∂x`` of image ``i``.

  Args:
    params: from :func:`init` with ``config``.
    x: noisy images ``(n, H, W, C)``.
    sigma: σ > 0, a scalar or ``(n,)``.
    config: the :class:`UNetConfig`.

  Returns:
    ``(n, d, d)``.

  Examples:
    >>> import jax, jax.numpy as jnp
    >>> cfg = UNetConfig(image_size=8, channels=(8,), embed_dim=8, groups=4)
    >>> jacobian(init(jax.random.PRNGKey(0), cfg), jnp.zeros((2, 8, 8, 1)), 0.5, cfg).shape
    (2, 64, 64)
  """
  _check_config(config)
  _check_params(params, config)
  x = _check_images("x", x, config)
  sigma = _check_sigma(sigma, jnp.shape(x)[0])
  return _jacobian(params, jnp.asarray(x, jnp.float32), jnp.asarray(sigma, jnp.float32), config)


# ----------------------------------------------------------------------------- loss


def _as_images(name: str, X, config: UNetConfig):
  """``X`` as ``(n, H, W, C)``: an image batch, or flat rows ``(n, d)`` with ``d = H·W·C`` (the package's layout)."""
  X = _checks.array(name, X)
  if jnp.ndim(X) == 2:
    if jnp.shape(X)[1] != config.d:
      raise ValueError(f"{name} as flat rows must have d = H·W·C = {config.d} columns for config, got shape "
                       f"{jnp.shape(X)}")
    if jnp.shape(X)[0] == 0:
      raise ValueError(f"{name} must contain at least one row")
    return jnp.reshape(X, (-1, *config.image_shape))
  return _check_images(name, X, config)


def _loss(params, X, key, config, *, sigma_min, sigma_max, num_noise, weights, weighting):
  n, d = X.shape[0], config.d
  sigma, eps = diffusion.draw_noise(key, n, num_noise, d, sigma_min=sigma_min, sigma_max=sigma_max,
                                    dtype=jnp.result_type(X))  # (N, n), (N, n, d)
  x0 = jnp.reshape(X, (1, n, d))
  y = x0 + sigma[..., None] * eps  # (N, n, d)
  s = jnp.reshape(sigma, (-1,))
  c = _preconditioning(s, config.sigma_data)
  b = lambda v: v[:, None, None, None]
  y_img = jnp.reshape(y, (-1, *config.image_shape))
  F = _network(params, b(c.c_in) * y_img, c.c_noise, config)
  if weighting == "edm":
    # λ(σ)‖D − x0‖² with λ = 1/c_out², written as ‖F − (x0 − c_skip y)/c_out‖² (no cancellation at small σ).
    target = (jnp.reshape(jnp.broadcast_to(x0, y.shape), y_img.shape) - b(c.c_skip) * y_img) / b(c.c_out)
    err = F - target
  else:
    err = b(c.c_skip) * y_img + b(c.c_out) * F - jnp.reshape(jnp.broadcast_to(x0, y.shape), y_img.shape)
  err = jnp.reshape(jnp.sum(err.reshape(err.shape[0], -1) ** 2, axis=-1), sigma.shape)  # (N, n)
  if weights is None:
    return jnp.mean(err)
  w = jnp.broadcast_to(weights, err.shape)
  return jnp.sum(err * w) / jnp.sum(w)


_loss_jit = jax.jit(_loss, static_argnames=("config", "num_noise", "weighting"))


def _check_loss_args(sigma_min, sigma_max, num_noise, weighting) -> int:
  diffusion._check_range(sigma_min, sigma_max)
  train_lib._choice("weighting", weighting, WEIGHTINGS)
  return _checks.positive_int("num_noise", num_noise)


def loss(params: PyTree, X: Real[ArrayLike, "n H W C"] | Real[ArrayLike, "n d"], key: jax.Array,
         config: UNetConfig, *, sigma_min=diffusion.SIGMA_MIN, sigma_max=diffusion.SIGMA_MAX, num_noise: int = 1,
         weights: Real[ArrayLike, " n"] | None = None, weighting: str = "edm") -> jax.Array:
  """Monte-Carlo multi-σ denoising loss of the preconditioned UNet (EDM, Karras et al. 2022, Eq. (8)).

      L = (1/n) Σ_i E_{σ, ε} λ(σ) ‖D(x_i + σε; σ) − x_i‖²,   log σ ~ U[log σ_min, log σ_max],  ε ~ N(0, I),

  * ``weighting="edm"`` (default): ``λ(σ) = (σ² + σ_d²)/(σ σ_d)² = 1/c_out²``, EDM's weighting, so that
    ``λ ‖D − x‖² = ‖F(c_in y; c_noise) − (x − c_skip y)/c_out‖²`` (computed in this form) has unit
    target variance at every σ; σ is log-uniform as in :func:`relu_dae.diffusion.loss`, not EDM's
    log-normal.
  * ``weighting="x0"``: ``λ = 1``, the plain x0-prediction error of :func:`relu_dae.diffusion.loss`.

  σ and ε come from :func:`relu_dae.diffusion.draw_noise` ``(key, n, num_noise, d)`` with the image
  flattened to ``d = H·W·C`` (row-major NHWC), so the same key gives the same noise as there. Squared
  error summed over pixels and channels, mean over samples and draws (Eq. (6)'s convention; a
  per-pixel MSE is this divided by d); with ``weights``, the weighted mean over samples.

  Args:
    params: from :func:`init` with ``config``.
    X: clean images ``(n, H, W, C)``, or flat rows ``(n, d)``.
    key: PRNG key for σ and ε.
    config: the :class:`UNetConfig` (its ``sigma_data`` is the σ_d of D and of λ).
    sigma_min, sigma_max: range of σ, 0 < σ_min < σ_max.
    num_noise: draws of (σ, ε) per sample.
    weights: optional nonnegative per-sample weights ``(n,)``.
    weighting: ``"edm"`` or ``"x0"``.

  Examples:
    >>> import jax
    >>> cfg = UNetConfig(image_size=8, channels=(8,), embed_dim=8, groups=4)
    >>> X = jax.random.uniform(jax.random.PRNGKey(1), (4, 64), minval=-1.0, maxval=1.0)
    >>> float(loss(init(jax.random.PRNGKey(0), cfg), X, jax.random.PRNGKey(2), cfg)) > 0
    True
  """
  _check_config(config)
  _check_params(params, config)
  X = _as_images("X", X, config)
  _checks.key("key", key)
  num_noise = _check_loss_args(sigma_min, sigma_max, num_noise, weighting)
  if weights is not None:
    _checks.sample_weights("weights", weights, jnp.shape(X)[0])
  return _loss_jit(params, X, key, config, sigma_min=sigma_min, sigma_max=sigma_max, num_noise=num_noise,
                   weights=weights, weighting=weighting)


# ----------------------------------------------------------------------------- training


def _check_train_config(train_config) -> None:
  if not isinstance(train_config, train_lib.TrainConfig):
    raise TypeError(f"train_config must be a relu_dae.train.TrainConfig, got {type(train_config).__name__}")
  if train_config.tying != "exact":
    raise ValueError(f"train_config.tying={train_config.tying!r}: the UNet has no tied weights; use 'exact'")
  if train_config.lam != 0:
    raise ValueError(f"train_config.lam={train_config.lam}: the UNet loss has no coupled penalty; use "
                     "decoupled_weight_decay (optimizer 'adamw') for weight decay")


def train(params: PyTree, X: Real[ArrayLike, "n H W C"] | Real[ArrayLike, "n d"], key: jax.Array,
          train_config: train_lib.TrainConfig, config: UNetConfig, *, sigma_min=diffusion.SIGMA_MIN,
          sigma_max=diffusion.SIGMA_MAX, weights: Real[ArrayLike, " n"] | None = None, weighting: str = "edm",
          callback: Callable[[int, float], None] | None = None) -> tuple[PyTree, train_lib.History]:
  """Minimizes :func:`loss` from ``params`` on ``X``; pure, one ``jit`` per (train_config, config, weighting).

  The loop is :func:`relu_dae.train.minimize` (``lax.scan`` in chunks, ``callback(step, loss)`` after
  each chunk, a non-finite chunk discarded: ``History.nonfinite_step``). ``train_config.num_noise``
  draws per sample and step; ``train_config.batch_size`` draws minibatches with replacement
  (∝ ``weights`` when given); ``train_config.sigma`` is ignored (σ is log-uniform on
  [sigma_min, sigma_max]); ``lam`` must be 0 (weight decay: ``decoupled_weight_decay``).
  ``sigma_min``/``sigma_max`` are traced: changing them does not recompile.

  Returns:
    Final params and a :class:`relu_dae.train.History` (per-step losses ``(steps,)``).

  Examples:
    >>> import jax
    >>> cfg = UNetConfig(image_size=8, channels=(8,), embed_dim=8, groups=4)
    >>> X = jax.random.uniform(jax.random.PRNGKey(1), (4, 8, 8, 1), minval=-1.0, maxval=1.0)
    >>> tc = train_lib.TrainConfig(steps=4, chunk_size=2, learning_rate=1e-3)
    >>> params, hist = train(init(jax.random.PRNGKey(0), cfg), X, jax.random.PRNGKey(2), tc, cfg)
    >>> hist.loss.shape, int(hist.nonfinite_step)
    ((4,), -1)
  """
  _check_train_config(train_config)
  _check_config(config)
  _check_params(params, config)
  params = train_lib._float_params("params", params)  # finite; integer leaves as float32
  X = _as_images("X", X, config)
  _checks.key("key", key)
  _check_loss_args(sigma_min, sigma_max, 1, weighting)
  if weights is not None:
    _checks.sample_weights("weights", weights, np.shape(X)[0])
  train_lib._check_callback(callback)
  return _train(params, X, key, train_config, config, sigma_min=sigma_min, sigma_max=sigma_max, weights=weights,
                weighting=weighting, callback=callback)


@functools.partial(jax.jit, static_argnames=("train_config", "config", "weighting", "callback"))
def _train(params, X, key, train_config, config, *, sigma_min, sigma_max, weights, weighting, callback):
  """The jitted core of :func:`train` (arguments already validated)."""
  n = X.shape[0]
  kw = dict(sigma_min=sigma_min, sigma_max=sigma_max, num_noise=train_config.num_noise, weighting=weighting)

  def loss_fn(p, k):
    if train_config.batch_size is None:
      return _loss(p, X, k, config, weights=weights, **kw)
    k_batch, k = jax.random.split(k)
    return _loss(p, X[train_lib.minibatch(k_batch, train_config.batch_size, n, weights)], k, config, weights=None,
                 **kw)

  return train_lib.minimize(loss_fn, params, key, train_config, callback=callback)

