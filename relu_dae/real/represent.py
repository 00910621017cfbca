r"""Prompt-free representations of a real diffusion network (Algorithm 1), their scores, and steering vectors.

Supported families (diffusers models; :func:`family_of`):

* ``"unet2d_condition"`` — ``UNet2DConditionModel`` (Stable Diffusion 1.x): ``model(x_t, t,
  encoder_hidden_states=c)``; the empty condition is the empty prompt's text embedding, given by the
  caller (:func:`relu_dae.real.pipelines.empty_prompt_embedding` computes it from a pipeline, a test passes
  any tensor ``(1, L, D)``), so no tokenizer is needed here;
* ``"unet2d"`` — ``UNet2DModel`` (DDPM-style, unconditional): ``model(x_t, t)``;
* ``"dit"`` — ``DiTTransformer2DModel`` (class-conditional): ``model(x_t, timestep=t, class_labels=y)``; the
  empty condition is the null class, ``num_embeds_ada_norm`` (the label the classifier-free guidance of
  diffusers' DiT pipeline uses).

Default layers (:func:`default_layers`; docs/theory_choices.md §26 records the choice):

* detection in a UNet: the ``nonlinearity`` of every ResNet block of ``up_blocks.0`` and of
  ``up_blocks.1.resnets.0`` — for SD1.4 exactly the official notebook's four hooks — read at its last call
  per forward, ``SiLU(norm2(h))`` (:mod:`relu_dae.real.hooks`);
* steering in a UNet: the ResNet blocks themselves, every one of ``up_blocks.0`` and all but the last of
  ``up_blocks.1`` (SD1.4: the official five);
* DiT (both): the middle transformer block and the last one (the paper's DiT layers are not recovered).

:func:`represent` is Algorithm 1 batched: ``x_t = scheduler.add_noise(x0, ε, t)`` with seeded noise, one
forward with the empty condition under ``torch.no_grad``, each layer captured and pooled (spatial max by
default), returned as float32 numpy ``(n, C)``. :func:`scores` applies :data:`relu_dae.detection.SCORES`
(std, ‖h‖₄/‖h‖₂, max/mean, top-1 share, −participation ratio) to the positive part of each pooled vector,
as :mod:`sims.deep_diffusion` does (the SiLU features can be negative).

Examples:
  >>> import torch
  >>> from diffusers import DDPMScheduler, UNet2DModel
  >>> from relu_dae.real import represent
  >>> unet = UNet2DModel(sample_size=8, in_channels=1, out_channels=1, block_out_channels=(8, 16),
  ...                    layers_per_block=1, norm_num_groups=4, down_block_types=("DownBlock2D",) * 2,
  ...                    up_block_types=("UpBlock2D",) * 2)
  >>> represent.default_layers(unet)
  ('up_blocks.0.resnets.0.nonlinearity', 'up_blocks.0.resnets.1.nonlinearity', 'up_blocks.1.resnets.0.nonlinearity')
  >>> reps = represent.represent(unet, DDPMScheduler(), torch.zeros(3, 1, 8, 8), 10)
  >>> {k: v.shape for k, v in reps.items()}["up_blocks.0.resnets.0.nonlinearity"]
  (3, 16)
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch

from relu_dae import detection
from relu_dae.real import hooks

__all__ = ["FAMILIES", "condition", "default_layers", "denoise", "family_of", "represent", "scores",
           "steering_vectors"]

FAMILIES = ("unet2d_condition", "unet2d", "dit")


def family_of(model: torch.nn.Module) -> str:
  """The family of a diffusers network (:data:`FAMILIES`); ``TypeError`` for any other module."""
  from diffusers import DiTTransformer2DModel, UNet2DConditionModel, UNet2DModel
  for cls, name in ((UNet2DConditionModel, "unet2d_condition"), (UNet2DModel, "unet2d"),
                    (DiTTransformer2DModel, "dit")):
    if isinstance(model, cls):
      return name
  raise TypeError(f"model must be a diffusers UNet2DConditionModel, UNet2DModel or DiTTransformer2DModel, got "
                  f"{type(model).__name__}")


def default_layers(model: torch.nn.Module, purpose: str = "detect") -> tuple[str, ...]:
  """The default module paths of ``model`` for ``purpose`` ``"detect"`` or ``"steer"`` (module docstring)."""
  if purpose not in ("detect", "steer"):
    raise ValueError(f"purpose must be 'detect' or 'steer', got {purpose!r}")
  family = family_of(model)
  if family == "dit":
    n = len(model.transformer_blocks)
    return tuple(dict.fromkeys((f"transformer_blocks.{n // 2}", f"transformer_blocks.{n - 1}")))
  up0, up1 = (len(model.up_blocks[i].resnets) for i in (0, 1))
  if purpose == "detect":
    return tuple(f"up_blocks.0.resnets.{j}.nonlinearity" for j in range(up0)) + ("up_blocks.1.resnets.0.nonlinearity",)
  return (tuple(f"up_blocks.0.resnets.{j}" for j in range(up0))
          + tuple(f"up_blocks.1.resnets.{j}" for j in range(max(up1 - 1, 1))))


def condition(model: torch.nn.Module, batch: int, cond=None):
  """The condition of a forward on ``batch`` examples: the empty one when ``cond`` is ``None`` (the null
  class for DiT, nothing for ``UNet2DModel``; a ``UNet2DConditionModel`` needs the empty prompt's
  embedding, so ``cond`` is required there), else ``cond`` broadcast to the batch."""
  family = family_of(model)
  if family == "unet2d":
    if cond is not None:
      raise ValueError("cond must be None for an unconditional UNet2DModel")
    return None
  if family == "dit":
    if cond is None:
      return torch.full((batch,), int(model.config.num_embeds_ada_norm), dtype=torch.long)
    y = torch.as_tensor(cond, dtype=torch.long).flatten()
    return y.expand(batch) if y.numel() == 1 else y
  if cond is None:
    raise ValueError("cond is required for a UNet2DConditionModel: the empty prompt's text embedding (1, L, D), "
                     "e.g. relu_dae.real.pipelines.empty_prompt_embedding(pipe)")
  if not torch.is_tensor(cond) or cond.ndim != 3:
    raise ValueError(f"cond must be a text embedding tensor (1 or batch, L, D), got {getattr(cond, 'shape', cond)}")
  return cond.expand(batch, -1, -1) if cond.shape[0] == 1 else cond


def denoise(model: torch.nn.Module, x_t: torch.Tensor, t, cond=None) -> torch.Tensor:
  """One forward of the network on ``x_t`` at timestep ``t`` with the condition of :func:`condition`;
  returns its ``.sample`` (noise prediction, or more channels for a DiT that learns σ)."""
  family = family_of(model)
  c = condition(model, x_t.shape[0], cond)
  t = torch.as_tensor(t, device=x_t.device)
  if family == "unet2d":
    return model(x_t, t).sample
  if family == "unet2d_condition":
    return model(x_t, t, encoder_hidden_states=c.to(device=x_t.device, dtype=x_t.dtype)).sample
  return model(x_t, timestep=t.expand(x_t.shape[0]), class_labels=c.to(x_t.device)).sample


def _check_batch(x0, batch_size):
  if not torch.is_tensor(x0) or x0.ndim != 4:
    raise ValueError(f"x0 must be a tensor of images or latents (n, C, H, W), got {getattr(x0, 'shape', x0)}")
  if not torch.isfinite(x0).all():
    raise ValueError("x0 must be finite")
  if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
    raise ValueError(f"batch_size must be a positive integer, got {batch_size!r}")


def represent(model: torch.nn.Module, scheduler, x0: torch.Tensor, timestep: int,
              layers: Sequence[str] | None = None, *, pooling: str = "max", cond=None, seed: int = 0,
              batch_size: int = 32, call: int = -1) -> dict:
  """Algorithm 1's representations of clean images or latents ``x0 (n, C, H, W)``: re-noise at
  ``timestep`` with ``scheduler.add_noise`` (noise of example ``i`` from ``torch.Generator`` seeded
  ``seed + i``, so a batch split does not change it), one forward with the empty condition (or ``cond``),
  capture ``layers`` (default :func:`default_layers`) at call ``call``, pool with ``pooling``.

  Runs on the model's device and dtype (fp16 on a GPU when the model is). Returns ``{layer: (n, C)
  float32 numpy}`` (``(n, C·H·W)`` with ``pooling="none"``).
  """
  layers = tuple(default_layers(model) if layers is None else layers)
  _check_batch(x0, batch_size)
  if pooling not in hooks.POOLINGS:
    raise ValueError(f"pooling must be one of {hooks.POOLINGS}, got {pooling!r}")
  if isinstance(timestep, bool) or not isinstance(timestep, int) or timestep < 0:
    raise ValueError(f"timestep must be a nonnegative integer of the scheduler's training schedule, got {timestep!r}")
  num_train = int(getattr(getattr(scheduler, "config", None), "num_train_timesteps", len(scheduler.alphas_cumprod)))
  if timestep >= num_train:
    raise ValueError(f"timestep must be below the scheduler's num_train_timesteps = {num_train}, got {timestep}")
  p = next(model.parameters())
  out = {name: [] for name in layers}
  t = torch.tensor([timestep], dtype=torch.long)
  with torch.no_grad(), hooks.capture(model, layers, call=call) as got:
    for start in range(0, len(x0), batch_size):
      xb = x0[start:start + batch_size].to("cpu", torch.float32)  # noised on the CPU (the noise is), then moved
      noise = torch.stack([torch.randn(xb.shape[1:], generator=torch.Generator().manual_seed(seed + start + i))
                           for i in range(len(xb))])
      x_t = scheduler.add_noise(xb, noise, t.expand(len(xb)))
      denoise(model, x_t.to(device=p.device, dtype=p.dtype), t.to(p.device), cond)
      for name in layers:
        out[name].append(hooks.pool(got[name], pooling).float().cpu().numpy())
  return {name: np.concatenate(v) for name, v in out.items()}


def scores(reps: dict, names: Sequence[str] | None = None) -> dict:
  """``{layer: {score: (n,)}}``: each :data:`relu_dae.detection.SCORES` entry (or those in ``names``) of
  the positive part ``[h]₊`` of every pooled representation ``(n, C)`` of ``reps``."""
  import jax.numpy as jnp
  names = tuple(detection.SCORES) if names is None else tuple(names)
  unknown = [n for n in names if n not in detection.SCORES]
  if unknown:
    raise ValueError(f"names must be scores of relu_dae.detection.SCORES {tuple(detection.SCORES)}, got {unknown}")
  out = {}
  for layer, h in reps.items():
    h = np.asarray(h, np.float64)
    if h.ndim != 2:
      raise ValueError(f"reps[{layer!r}] must be pooled representations (n, C), got shape {h.shape}")
    hp = jnp.maximum(jnp.asarray(h), 0.0)
    out[layer] = {n: np.asarray(detection.SCORES[n](hp), np.float64) for n in names}
  return out


def steering_vectors(target: dict, other: dict | None = None) -> dict:
  """Eq. (11)'s ``v_ℓ``: the mean of the target set's representations per layer (``{layer: (n, ...)}``
  from :func:`represent`, pooled or not), or with ``other`` the contrastive difference
  ``mean(target) − mean(other)`` (what the official steering notebook appears to use; THEORY.md §4.3).
  Returns ``{layer: float32 torch tensor}`` for :func:`relu_dae.real.hooks.steer`."""
  if not isinstance(target, dict) or not target:
    raise TypeError("target must be a non-empty dict {layer: representations (n, ...)}")
  if other is not None and set(other) != set(target):
    raise ValueError(f"other must have the same layers as target: {sorted(target)} vs {sorted(other)}")
  out = {}
  for layer, h in target.items():
    v = np.mean(np.asarray(h, np.float64), axis=0)
    if other is not None:
      v = v - np.mean(np.asarray(other[layer], np.float64), axis=0)
    out[layer] = torch.as_tensor(v, dtype=torch.float32)
  return out
