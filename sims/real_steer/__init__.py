r"""Fig. 7 on a real pretrained diffusion model: steering ``g(h + a·v)`` (Eq. 11) of memorized and ordinary
generations over a grid of ``a`` (an optional extra: torch, diffusers).

1. Reference set: one image per ``target`` prompt (or class id), and per ``other`` one when given, each
   with its own seed, stored as PNGs; their representations at the steered blocks (default: the official
   five up blocks), read at ``timestep`` with their own condition and pooled (spatial mean by default),
   give ``v_ℓ = mean(target)`` or, with ``other``, ``mean(target) − mean(other)``.
2. Each input (``num_inputs`` memorized and ordinary prompts) is generated at every ``a`` with the same
   seed, ``a·v`` added at the blocks on the sampler steps ``[window_first, num_steps − window_skip_last)``
   only (:func:`relu_dae.real.hooks.window_timesteps`); ``a = 0`` is the unsteered generation, bitwise.
3. Response: how far the generation moved toward the target along ``v``, read prompt-free from the
   generated image at ``timestep`` — ``r(a) = ⟨h(x_a) − h(x_0), v⟩ / ⟨m_T − h(x_0), v⟩`` per block (``m_T``
   the target set's mean representation), averaged over blocks: 0 at ``a = 0``, 1 when the generation's
   representation reaches the target's mean along ``v``. There is no attribute classifier offline (CLIP
   needs weights), so this representation-space response stands in for one (docs/theory_choices.md §26).
   Per group the mean curve with its band and the smoothness statistics (total variation, largest jump)
   with bootstrap intervals over inputs (:func:`sims._response.bootstrap_curves`): the paper's claim is
   smooth edits for ordinary and threshold-like ones for memorized generations.

Every stored image is one JSON line of ``<workdir>/steer.jsonl`` (flushed as written: a killed run
resumes), then ``summary.json``, and ``real_steering.png`` (the image grid and the curves) in
``--figdir``.

Usage::

  python -m sims.real_steer --config.target=oil.txt --config.other=photo.txt --config.memorized=mem.txt \
      --config.ordinary=ord.txt
"""

from __future__ import annotations

import os
import time

import numpy as np

from sims import _flags
from sims.real_detect import _load_png, _read_conditions, _save_png, append_line, read_scores, seeds, validate_common

__all__ = ["GROUPS", "response", "run", "validate_config"]

GROUPS = ("memorized", "ordinary")
LINES_FILE = "steer.jsonl"


def validate_config(c) -> None:
  """Checks the config before any model loads (:class:`sims._flags.FlagError` naming the override)."""
  if not isinstance(c.model, str) or not c.model:
    _flags.fail("model", c.model, "must be a hub id in the local cache or a directory saved by save_pretrained")
  for name in ("target", "memorized", "ordinary") + (("other",) if c.other else ()):
    if not c[name] or not os.path.isfile(c[name]):
      _flags.fail(name, c[name], "must be a file of prompts or class ids, one per line")
  _flags.integer(c, "num_reference", 1)
  _flags.integer(c, "num_inputs", 2)
  a = _flags.reals(c, "a", 0.0, distinct=True)
  if len(a) < 2 or a[0] != 0 or list(a) != sorted(a):
    _flags.fail("a", c.a, "must increase from 0 (a = 0 is the unsteered generation), at least two values")
  steps = _flags.integer(c, "num_steps", 2)
  first = _flags.integer(c, "window_first", 0, steps - 1, hi_name="num_steps - 1")
  _flags.integer(c, "window_skip_last", 0, steps - first - 1, hi_name="num_steps - window_first - 1")
  validate_common(c, poolings=("max", "mean", "none"), example="up_blocks.0.resnets.0")


def response(h_a: dict, h_0: dict, target_mean: dict, v: dict) -> float:
  """``mean_ℓ ⟨h_a − h_0, v_ℓ⟩ / ⟨m_T − h_0, v_ℓ⟩`` over the blocks (module docstring); NaN where the
  denominator vanishes."""
  r = []
  for layer, vl in v.items():
    vl = np.asarray(vl, np.float64).ravel()
    den = float(np.dot(np.ravel(target_mean[layer]) - np.ravel(h_0[layer]), vl))
    r.append(float(np.dot(np.ravel(h_a[layer]) - np.ravel(h_0[layer]), vl)) / den if den else float("nan"))
  return float(np.mean(r))


def run(c, workdir: str, figdir: str | None = None, *, progress=print) -> dict:
  """Runs (or resumes) the steering grid; returns ``{"summary", "figure", "new", "seconds"}``. Refuses
  (:class:`relu_dae.real.pipelines.UnavailableError`) before any work without the weights or a GPU."""
  validate_config(c)
  figdir = _flags.checked_dirs(workdir, figdir)
  from relu_dae.real import hooks, pipelines, represent
  start = time.perf_counter()
  refs = {g: _read_conditions(c[g])[:c.num_reference] for g in ("target", "other") if c[g]}
  inputs = [(g, i, p) for g in GROUPS for i, p in enumerate(_read_conditions(c[g])[:c.num_inputs])]
  for g, ps in list(refs.items()) + [(g, [x for x in inputs if x[0] == g]) for g in GROUPS]:
    if len(ps) < (1 if g in refs else 2):
      raise _flags.FlagError(f"--config.{g}={c[g]!r}: {len(ps)} entries; at least {1 if g in refs else 2} needed")
  device = pipelines.require_gpu(c.allow_cpu)
  pipe = pipelines.load(c.model, device=device)
  pipe.set_progress_bar_config(disable=True)
  net = pipelines.network(pipe)
  layers = tuple(c.layers) or represent.default_layers(net, "steer")
  empty = pipelines.prompt_free_condition(pipe)
  path = os.path.join(workdir, LINES_FILE)
  done = {(d["kind"], d["group"], d["index"], d.get("a")): d for d in read_scores(path)}
  import torch
  os.makedirs(os.path.join(workdir, "images"), exist_ok=True)
  new = 0

  def reps_of(image_path, sd, cond):
    x = pipelines.model_input(pipe, _load_png(image_path), seed=sd["vae"])
    return represent.represent(net, pipe.scheduler, x, c.timestep, layers, pooling=c.pooling, cond=cond,
                               seed=sd["noise"])

  def generated(kind, g, i, a, cond, seed, image):
    """Generates (unless stored) and returns whether a finite image is stored at ``image``."""
    nonlocal new
    d = done.get((kind, g, i, a))
    if d is not None:
      if d["condition"] != str(cond):
        raise _flags.FlagError(f"--workdir: {path} was written for other conditions ({kind} {g} {i}: "
                               f"{d['condition']!r} there, {str(cond)!r} now); pass --overwrite or a new --workdir")
      return not d.get("diverged")
    x = pipelines.generate(pipe, cond, seed, num_steps=c.num_steps, guidance=c.guidance)
    ok = bool(torch.isfinite(x).all())  # a diverged sample (large a, fp16) is recorded, never stored as an image
    if ok:
      _save_png(x, image)
    append_line(f, dict(kind=kind, group=g, index=i, a=a, condition=str(cond), image=image if ok else None, seed=seed,
                    diverged=not ok))
    new += 1
    return ok

  with open(path, "a", encoding="utf-8") as f:
    own, prompt_free = {}, {}
    for k, (g, i, cond) in enumerate((g, i, p) for g, ps in refs.items() for i, p in enumerate(ps)):
      sd = seeds(c.seed + 10_000_000 * 3, k)  # the references' own streams, apart from the inputs'
      image = os.path.join(workdir, "images", f"reference_{g}_{i:04d}.png")
      if generated("reference", g, i, None, cond, sd["generate"], image):
        own.setdefault(g, []).append(reps_of(image, sd, pipelines.condition_of(pipe, cond)))
        prompt_free.setdefault(g, []).append(reps_of(image, sd, empty))
    if "target" not in own or (c.other and "other" not in own):
      raise RuntimeError("every reference generation diverged: no steering vector can be formed")
    stack = lambda rs: {layer: np.concatenate([r[layer] for r in rs]) for layer in layers}
    v = represent.steering_vectors(stack(own["target"]), stack(own["other"]) if c.other else None)  # Eq. (11), c̄
    # the response reads every image prompt-free, so the target's mean is read prompt-free too
    target_mean = {layer: h.mean(axis=0) for layer, h in stack(prompt_free["target"]).items()}
    pipe.scheduler.set_timesteps(c.num_steps)
    window = hooks.window_timesteps(pipe.scheduler.timesteps, c.window_first, c.num_steps - c.window_skip_last)
    for k, (g, i, cond) in enumerate(inputs):
      sd = seeds(c.seed, k)
      for a in c.a:
        a = float(a)
        with hooks.steer(net, v, a, timesteps=window):
          generated("input", g, i, a, cond, sd["generate"], os.path.join(workdir, "images", f"{g}_{i:04d}_a{a:g}.png"))
      if progress:
        progress(f"steered input {k + 1} of {len(inputs)}")
  lines = read_scores(path)
  summary = _summarize(lines, c, reps_of, empty, target_mean, v)
  summary.update(layers=list(layers), window_timesteps=sorted(window), contrastive=bool(c.other),
                 v_norms={k: float(t.norm()) for k, t in v.items()}, config=c.to_dict())
  from relu_dae import results
  results.save_json(os.path.join(workdir, "summary.json"), summary)
  os.makedirs(figdir, exist_ok=True)
  fig = _plot(lines, summary, c, os.path.join(figdir, "real_steering.png"))
  return dict(summary=summary, figure=fig, new=new, seconds=time.perf_counter() - start)


def _summarize(lines, c, reps_of, empty, target_mean, v) -> dict:
  from sims import _response
  a_grid = [float(a) for a in c.a]
  out, rng = {}, np.random.default_rng([c.seed, 3])
  for g in GROUPS:
    by_input = {}
    for d in lines:
      if d["kind"] == "input" and d["group"] == g:
        by_input.setdefault(d["index"], {})[d["a"]] = d
    curves, diverged = [], 0
    for _, row in sorted(by_input.items()):
      if set(a_grid) - set(row):
        continue
      if any(row[a].get("diverged") for a in a_grid):
        diverged += 1  # a failed run: left out of the curves, counted
        continue
      sd = seeds(c.seed, row[0.0]["seed"] - c.seed)  # the input's streams (its generation seed is c.seed + k)
      h = {a: reps_of(row[a]["image"], sd, empty) for a in a_grid}
      curves.append([response(h[a], h[0.0], target_mean, v) for a in a_grid])
    curves = np.asarray(curves, np.float64).T  # (A, inputs)
    out[g] = (_response.bootstrap_curves(rng, curves, c.num_bootstrap) if curves.ndim == 2 and curves.shape[1] >= 2
              else dict(num_inputs=int(curves.shape[-1]) if curves.size else 0, note="fewer than 2 inputs"))
    out[g].update(curves=curves, diverged_inputs=diverged)
  return dict(a=a_grid, groups=out)


def _plot(lines, summary, c, path: str) -> str:
  import matplotlib
  matplotlib.use("Agg")
  import matplotlib.pyplot as plt
  from PIL import Image
  from relu_dae import plotting
  a_grid = summary["a"]
  shown = [(g, i) for g in GROUPS for i in range(min(2, c.num_inputs))]
  fig = plt.figure(figsize=(1.3 * len(a_grid) + 3.6, 1.3 * len(shown) + 0.6))
  grid = fig.add_gridspec(len(shown), len(a_grid) + 3)
  by_key = {(d["group"], d["index"], d["a"]): d["image"] for d in lines if d["kind"] == "input"}
  for r, (g, i) in enumerate(shown):
    for col, a in enumerate(a_grid):
      ax = fig.add_subplot(grid[r, col])
      if (g, i, a) in by_key:
        ax.imshow(Image.open(by_key[(g, i, a)]))
      ax.set(xticks=[], yticks=[])
      if r == 0:
        ax.set_title(f"a={a:g}", fontsize=7)
      if col == 0:
        ax.set_ylabel(f"{g} {i}", fontsize=7)
  ax = fig.add_subplot(grid[:, len(a_grid) + 0:])
  for g, color in zip(GROUPS, ("tab:red", "tab:blue")):
    s = summary["groups"][g]
    if "mean_curve" in s:
      ax.plot(a_grid, s["mean_curve"], "o-", color=color, label=f"{g} ({s['num_inputs']} inputs)")
      ax.fill_between(a_grid, *s["band"], color=color, alpha=0.2)
  ax.set(xlabel="a", ylabel="response toward the target along v")
  ax.legend(fontsize=7)
  fig.suptitle(f"steering g(h + a v) on {c.model}", fontsize=9)
  fig.tight_layout()
  return plotting.save(fig, path)
