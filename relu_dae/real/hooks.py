r"""Forward hooks on a PyTorch diffusion network: read (:func:`capture`) and edit (:func:`steer`) named
intermediate activations, and pool them (:func:`pool`).

**Module paths.** A layer is a dotted path from the model, as ``model.get_submodule`` takes it, where an
integer may be negative to count from the end of a ``ModuleList``: ``"up_blocks.0.resnets.-1"`` is the
last ResNet block of diffusers' first up block (:func:`find`).

**Modules called several times per forward.** A module may run more than once in one model forward —
diffusers' ``ResnetBlock2D`` calls its shared ``nonlinearity`` (SiLU) three times: after ``norm1``, on the
time embedding, after ``norm2``. :func:`capture` keeps *every* call of one forward (calls are counted
from a pre-hook on the model, so they restart with each model forward) and returns the call ``call``
(default ``-1``, the last, which for a ResNet block's ``nonlinearity`` is ``SiLU(norm2(h))`` — what
the official code's hook dict keeps, since each call overwrites the previous one; THEORY.md §4.2).
:func:`steer` acts on the calls ``call`` selects (``None`` = every call, an integer ``k ≥ 0`` = the
k-th call of each forward): steer at a module called once per forward (a ResNet or transformer block)
or name the call.

**Timesteps.** The pre-hook on the model also reads the forward's ``timestep`` (the second positional
argument or the ``timestep`` keyword, as diffusers' UNets and DiT take it), so steering can act only on
a set of timesteps — a window of sampler steps (:func:`window_timesteps`).

Every function takes the ``torch.nn.Module``; nothing here depends on a pipeline.

Examples:
  >>> import torch
  >>> from relu_dae.real import hooks
  >>> net = torch.nn.Sequential(torch.nn.Linear(3, 4), torch.nn.ReLU(), torch.nn.Linear(4, 2))
  >>> with hooks.capture(net, ["1"]) as got:
  ...   _ = net(torch.ones(5, 3))
  >>> got["1"].shape
  torch.Size([5, 4])
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterable, Iterator, Sequence

import torch

__all__ = ["POOLINGS", "Captured", "capture", "find", "pool", "steer", "window_timesteps"]

POOLINGS = ("max", "mean", "none")


def find(model: torch.nn.Module, path: str) -> torch.nn.Module:
  """The submodule at a dotted ``path``; integers index ``ModuleList``/``Sequential`` and may be negative.

  >>> import torch
  >>> from relu_dae.real import hooks
  >>> net = torch.nn.Sequential(torch.nn.Linear(1, 1), torch.nn.ReLU())
  >>> type(hooks.find(net, "-1")).__name__
  'ReLU'
  """
  if not isinstance(model, torch.nn.Module):
    raise TypeError(f"model must be a torch.nn.Module, got {type(model).__name__}")
  if not isinstance(path, str) or not path:
    raise TypeError(f"path must be a non-empty dotted module path, got {path!r}")
  m = model
  for i, part in enumerate(path.split(".")):
    where = ".".join(path.split(".")[:i]) or "the model"
    if part.lstrip("-").isdigit() and isinstance(m, (torch.nn.ModuleList, torch.nn.Sequential)):
      k = int(part)
      if not -len(m) <= k < len(m):
        raise ValueError(f"path {path!r}: index {k} is out of range for {where} ({len(m)} modules)")
      m = m[k]
    elif part in dict(m.named_children()):
      m = getattr(m, part)
    else:
      children = ", ".join(list(dict(m.named_children()))[:12]) or "none"
      raise ValueError(f"path {path!r}: {where} has no submodule {part!r} (its children: {children})")
  return m


def _timestep(args, kwargs):
  t = kwargs.get("timestep", args[1] if len(args) > 1 else None)
  if t is None:
    return None
  return float(torch.as_tensor(t).flatten()[0]) if torch.as_tensor(t).numel() else None


class _Forward:
  """Per-forward state shared by the hooks: the call count of each module and the forward's timestep."""

  def __init__(self):
    self.calls: dict[str, int] = {}
    self.timestep: float | None = None

  def reset(self, module, args, kwargs):
    self.calls = {}
    self.timestep = _timestep(args, kwargs)

  def count(self, name: str) -> int:
    k = self.calls.get(name, 0)
    self.calls[name] = k + 1
    return k


def _layers(layers) -> list[str]:
  if isinstance(layers, str) or not isinstance(layers, Iterable):
    raise TypeError(f"layers must be a sequence of module paths, got {layers!r}")
  layers = list(layers)
  if not layers or len(set(layers)) != len(layers):
    raise ValueError(f"layers must be distinct module paths, at least one, got {layers}")
  return layers


class Captured(dict):
  """``{layer: tensor}`` of the last model forward (the call :func:`capture` selects), filled by the hooks;
  ``calls[layer]`` lists every call's output of that forward."""

  def __init__(self):
    super().__init__()
    self.calls: dict[str, list[torch.Tensor]] = {}

  def __missing__(self, layer):
    n = len(self.calls.get(layer, ()))
    raise KeyError(f"{layer!r} has no output for the selected call: the last forward called it {n} time(s)"
                   if layer in self.calls else f"{layer!r} is not a captured layer (captured: {sorted(self.calls)})")


@contextlib.contextmanager
def capture(model: torch.nn.Module, layers: Sequence[str], *, call: int = -1) -> Iterator[Captured]:
  """Records the outputs of ``layers`` (module paths, :func:`find`) while the block runs; yields a
  :class:`Captured` dict ``{layer: output of call number `call` of the last model forward}`` (detached).

  A module called several times in one forward keeps every call (``captured.calls[layer]``); ``call``
  picks one (``-1``, the last, by default). The hooks are removed on exit, also after an exception.
  """
  layers = _layers(layers)
  if not isinstance(call, int) or isinstance(call, bool):
    raise TypeError(f"call must be an integer index of a module's calls in one forward, got {call!r}")
  modules = {name: find(model, name) for name in layers}
  out, state = Captured(), _Forward()
  handles = []

  def reset(module, args, kwargs):
    state.reset(module, args, kwargs)
    out.clear()  # nothing of an earlier forward survives
    out.calls = {name: [] for name in layers}

  def recorder(name):
    def hook(module, args, output):
      if not torch.is_tensor(output):
        raise TypeError(f"layer {name!r} returned {type(output).__name__}, not a tensor: hook a module that "
                        "returns one (e.g. a block's nonlinearity or the block itself)")
      out.calls.setdefault(name, []).append(output.detach())
      got = out.calls[name]
      if -len(got) <= call < len(got):
        out[name] = got[call]
    return hook

  try:
    handles.append(model.register_forward_pre_hook(reset, with_kwargs=True))
    handles += [m.register_forward_hook(recorder(name)) for name, m in modules.items()]
    yield out
  finally:
    for h in handles:
      h.remove()


def pool(h: torch.Tensor, pooling: str = "max") -> torch.Tensor:
  """Pools an activation to one vector per example: ``(B, C, H, W)`` (a conv feature map) over the
  spatial axes, ``(B, N, C)`` (transformer tokens) over the tokens; ``"none"`` flattens everything but
  the batch. ``(B, C)`` is returned as is for ``"max"``/``"mean"``.

  >>> import torch
  >>> from relu_dae.real import hooks
  >>> hooks.pool(torch.arange(8.0).reshape(1, 2, 2, 2), "max").tolist()
  [[3.0, 7.0]]
  """
  if not torch.is_tensor(h):
    raise TypeError(f"h must be a torch tensor, got {type(h).__name__}")
  if pooling not in POOLINGS:
    raise ValueError(f"pooling must be one of {POOLINGS}, got {pooling!r}")
  if h.ndim not in (2, 3, 4):
    raise ValueError(f"h must be (B, C), (B, N, C) tokens or (B, C, H, W) maps, got shape {tuple(h.shape)}")
  if pooling == "none":
    return h.flatten(1)
  if h.ndim == 2:
    return h
  axes = (2, 3) if h.ndim == 4 else (1,)
  return h.amax(dim=axes) if pooling == "max" else h.mean(dim=axes)


def window_timesteps(timesteps: Sequence, first: int, last: int) -> frozenset:
  """The timesteps of sampler steps ``first ≤ i < last`` (``timesteps``: the scheduler's, after
  ``set_timesteps``; negative indices count from the end), as floats for :func:`steer`.

  The official protocol — the last 20 of 40 steps except the last 2 — is ``first = 20, last = 38``.

  >>> from relu_dae.real import hooks
  >>> sorted(hooks.window_timesteps([999, 749, 499, 249], 1, -1))
  [499.0, 749.0]
  """
  ts = [float(t) for t in torch.as_tensor(timesteps).flatten().tolist()]
  for name, v in (("first", first), ("last", last)):
    if not isinstance(v, int) or isinstance(v, bool):
      raise TypeError(f"{name} must be an integer step index, got {v!r}")
  chosen = ts[slice(first, last)]
  if not chosen:
    raise ValueError(f"steps [{first}, {last}) select no step of {len(ts)} timesteps")
  return frozenset(chosen)


def _broadcast(v: torch.Tensor, out: torch.Tensor, name: str) -> torch.Tensor:
  v = v.to(dtype=out.dtype, device=out.device)
  if v.shape == out.shape[1:]:
    return v[None]
  if v.ndim == 1 and v.numel() == out[0].numel() and v.numel() != out.shape[1]:
    return v.reshape(out.shape[1:])[None]  # a flattened whole map (pooling "none")
  if v.ndim == 1 and out.ndim == 4 and v.shape[0] == out.shape[1]:
    return v[None, :, None, None]  # a channel vector, added at every position (the official code)
  if v.ndim == 1 and out.ndim == 3 and v.shape[0] == out.shape[2]:
    return v[None, None, :]  # a token-channel vector, added at every token
  raise ValueError(f"steering vector for {name!r} has shape {tuple(v.shape)}, which fits neither the output "
                   f"{tuple(out.shape[1:])} nor its channels")


@contextlib.contextmanager
def steer(model: torch.nn.Module, vectors: dict, a: float, *, timesteps: Iterable | None = None,
          call: int | None = None) -> Iterator[None]:
  """Adds ``a · v_ℓ`` to the output of each layer ``ℓ`` of ``vectors`` (``{path: tensor}``) while the block
  runs — Eq. (11), ``g(h + a·v)``, with ``h`` the layer's output.

  ``v_ℓ`` is the layer's whole output shape (one example's, or flattened), or its channels (added at every position or
  token, as the official code does). Only forwards whose timestep is in ``timesteps`` are edited
  (``None``: all; see :func:`window_timesteps`): a forward's timestep matches a window value within 0.5,
  so a cast to fp16 does not switch steering off, and a forward without a timestep raises. Of a module
  called several times per forward only call ``call`` is edited (``None``: every call). With ``a = 0`` no
  output is touched, so the run is bitwise the unsteered one. With classifier-free guidance both halves of
  the batch (unconditional and conditional) are edited, as the official hooks do.

  Hook order: a :func:`capture` entered *inside* this block records the steered output; one entered
  before it records the unsteered output.
  """
  if not isinstance(vectors, dict) or not vectors:
    raise TypeError(f"vectors must be a non-empty dict {{module path: tensor}}, got {type(vectors).__name__}")
  if isinstance(a, bool) or not isinstance(a, (int, float)) or a != a or abs(a) == float("inf"):
    raise ValueError(f"a must be a finite real number, got {a!r}")
  if call is not None and (not isinstance(call, int) or isinstance(call, bool) or call < 0):
    raise ValueError(f"call must be None or a call index k >= 0, got {call!r}")
  window = None if timesteps is None else frozenset(float(t) for t in timesteps)
  if window is not None and not window:
    raise ValueError("timesteps must select at least one timestep (or be None for all)")
  modules = {name: find(model, name) for name in _layers(vectors)}
  for name, v in vectors.items():
    if not torch.is_tensor(v) or not torch.isfinite(v).all():
      raise ValueError(f"vectors[{name!r}] must be a finite torch tensor")
  state = _Forward()
  handles = []

  def editor(name):
    v = vectors[name]

    def hook(module, args, output):
      k = state.count(name)
      if a == 0 or (call is not None and k != call):
        return None
      if window is not None:
        if state.timestep is None:
          raise RuntimeError("steering on a window of timesteps needs the model's timestep argument (the second "
                             "positional one or timestep=); this forward had none")
        if not any(abs(state.timestep - t) <= 0.5 for t in window):  # tolerant to a dtype cast of t
          return None
      return output + a * _broadcast(v, output, name)
    return hook

  try:
    handles.append(model.register_forward_pre_hook(state.reset, with_kwargs=True))
    handles += [m.register_forward_hook(editor(name)) for name, m in modules.items()]
    yield
  finally:
    for h in handles:
      h.remove()
