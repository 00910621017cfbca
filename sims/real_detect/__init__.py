r"""Table 1 on a real pretrained diffusion model: the prompt-free detector of :mod:`relu_dae.real` on
memorized vs ordinary generations (an optional extra: torch, diffusers).

For each memorized and each ordinary prompt (or class id; or each PNG of ``--config.images``): generate
one image with its own seed and store it as a PNG, read it back, re-encode it (the VAE, for latent
pipelines), re-noise it at ``timestep``, run one forward with the empty condition, capture the layers
(default: the official four up-block hooks), pool, and score with every :data:`relu_dae.detection.SCORES`
entry. Each image's scores are one line of ``<workdir>/scores.jsonl``, appended and flushed as soon as
they exist, so a killed run resumes at the first image without a line (a torn last line is dropped) and
gives the same numbers; a resumed run whose conditions differ from the stored ones is refused. A
generation that is not finite (a diverged sampler) is recorded as ``diverged`` and left out of the
statistics, with its count in ``summary.json``. Generation, VAE re-encoding and re-noising draw from
three seed streams (:func:`seeds`).

Then per layer and score: AUROC and TPR at 1 % FPR (memorized = positives) with 95 % stratified-bootstrap
intervals (:func:`relu_dae.detection.bootstrap_ci`), into ``summary.json`` and ``table.md``, and the
ROC curves of the std score per layer into ``real_detection_roc.png`` (``--figdir``, default
``<workdir>/figures``). Rows on fewer than 30 positives are marked ``too_few_positives`` and not drawn.

The paper's numbers to compare with (Table 1, "Ours"): AUROC 0.987 / TPR@1%FPR 0.961 on SD1.4–LAION,
0.995 / 0.912 on DiT–ImageNet, 0.998 / 0.984 on EDM–CIFAR10. docs/real_models.md says how to run it,
where the memorized prompts come from and how good their labels are.

Usage::

  python -m sims.real_detect --config.memorized=sdv1_500_memorized.txt --config.ordinary=ordinary.txt
  python -m sims.real_detect --config=sims/configs/real_detect.py:dit --config.memorized=... --config.ordinary=...
  python -m sims.real_detect --config=sims/configs/real_detect.py:ddpm --config.images=dir_with_memorized_and_ordinary
"""

from __future__ import annotations

import json
import os
import time

import numpy as np

from sims import _flags

__all__ = ["GROUPS", "append_line", "check_resume", "conditions", "main_body", "read_scores", "run", "seeds",
           "summarize", "validate_common", "validate_config"]

GROUPS = ("memorized", "ordinary")
SCORES_FILE = "scores.jsonl"


def validate_config(c) -> None:
  """Checks the config before any model loads (:class:`sims._flags.FlagError` naming the override)."""
  if not isinstance(c.model, str) or not c.model:
    _flags.fail("model", c.model, "must be a hub id in the local cache or a directory saved by save_pretrained")
  if c.images:
    for g in GROUPS:
      if not os.path.isdir(os.path.join(c.images, g)):
        _flags.fail("images", c.images, f"must be a directory with {GROUPS[0]}/ and {GROUPS[1]}/ PNGs (no {g}/)")
    if c.memorized or c.ordinary:
      _flags.fail("images", c.images, "reads images instead of generating them: leave memorized and ordinary empty")
  else:
    for g in GROUPS:
      if not c[g] or not os.path.isfile(c[g]):
        _flags.fail(g, c[g], "must be a file of prompts or class ids, one per line (or set --config.images)")
  _flags.integer(c, "num_per_group", 2)
  _flags.integer(c, "num_steps", 1)
  validate_common(c, poolings=("max", "mean"), example="up_blocks.0.resnets.-1.nonlinearity")


def validate_common(c, *, poolings, example: str) -> None:
  """The fields both real-model apps share: guidance, timestep, pooling, layers, seed, bootstrap, allow_cpu."""
  _flags.real(c, "guidance", 0.0)
  _flags.integer(c, "timestep", 0)
  _flags.choice(c, "pooling", poolings)
  if isinstance(c.layers, str) or not all(isinstance(x, str) and x for x in c.layers):
    _flags.fail("layers", c.layers, f"must be module paths, e.g. {example} (empty = defaults)")
  _flags.seed(c, "seed")
  _flags.integer(c, "num_bootstrap", 2)
  if not isinstance(c.allow_cpu, bool):
    _flags.fail("allow_cpu", c.allow_cpu, "must be true or false")


def main_body(app_name: str, c, workdir: str, figdir: str, overwrite: bool, run_fn, validate_fn) -> dict:
  """What both apps' ``main`` do after parsing flags: check the config, that the extra is installed,
  claim the workdir, run; a missing extra, weights or GPU ends the app with its message (exit status 1)."""
  import sys
  validate_fn(c)
  try:
    from relu_dae.real import pipelines
  except ImportError as err:
    sys.exit(f"error: {err}")
  _flags.prepare_workdir(workdir, app_name, json.loads(json.dumps(c.to_dict(), default=list)), overwrite=overwrite)
  try:
    return run_fn(c, workdir, figdir)
  except pipelines.UnavailableError as err:
    sys.exit(f"error: {err}")


def _read_conditions(path: str) -> list:
  out = []
  with open(path, encoding="utf-8") as f:
    for line in f:
      line = line.strip()
      if not line:
        continue
      if line.startswith("{"):
        d = json.loads(line)
        line = next((d[k] for k in ("prompt", "caption", "text") if k in d), None)
        if line is None:
          raise _flags.FlagError(f"{path}: a JSON line has none of the fields prompt, caption, text")
      out.append(str(line))  # kept as text: a DiT class id is parsed where it is used, a prompt "1984" stays text
  return out


def conditions(c) -> list[tuple[str, int, object]]:
  """``(group, index, condition)`` of every image, memorized first: a prompt, a class id, or (with
  ``c.images``) a PNG path; at most ``num_per_group`` per group."""
  items = []
  for g in GROUPS:
    if c.images:
      d = os.path.join(c.images, g)
      src = [os.path.join(d, f) for f in sorted(os.listdir(d)) if f.lower().endswith(".png")]
    else:
      src = _read_conditions(c[g])
    if len(src) < 2:
      raise _flags.FlagError(f"--config.{'images' if c.images else g}: {g} has {len(src)} entries; at least 2 needed")
    items += [(g, i, s) for i, s in enumerate(src[:c.num_per_group])]
  return items


def read_scores(path: str) -> list[dict]:
  """The lines of a JSONL results file. Only the last line can be torn (a run killed while writing it;
  every earlier line was flushed whole): it is dropped from the file. A bad line before the last one
  means the file was changed by something else, and raises ``ValueError``."""
  if not os.path.isfile(path):
    return []
  with open(path, encoding="utf-8") as f:
    text = f.read()
  lines = text.split("\n")
  good = []
  for j, line in enumerate(lines):
    if not line:
      continue
    try:
      good.append(json.loads(line))
    except json.JSONDecodeError:
      if j < len(lines) - 1 and any(lines[j + 1:]):
        raise ValueError(f"{path}: line {j + 1} is not JSON and is not the last line; the file was not written "
                         "by this app alone (move it away to start over)") from None
      with open(path + ".tmp", "w", encoding="utf-8") as f:  # drop the torn last line
        f.write("".join(ln + "\n" for ln in lines[:j]))
      os.replace(path + ".tmp", path)
  return good


def append_line(f, record: dict) -> None:
  """Appends one JSON line and makes it durable (flush + fsync) before the next image starts, so a kill
  leaves at most a torn last line (:func:`read_scores`)."""
  f.write(json.dumps(record, sort_keys=True) + "\n")
  f.flush()
  os.fsync(f.fileno())


def seeds(seed: int, k: int) -> dict:
  """Independent seed streams of image ``k``: its generation, its VAE re-encoding, its re-noising."""
  base = seed + k
  return dict(generate=base, vae=base + 10_000_000, noise=base + 20_000_000)


def check_resume(done: dict, items, path: str) -> None:
  """A resumed run must be the same run: each stored line's condition is the one now at its place."""
  for group, i, src in items:
    d = done.get((group, i))
    if d is not None and d["condition"] != str(src):
      raise _flags.FlagError(f"--workdir: {path} was written for other conditions ({group} {i}: {d['condition']!r} "
                             f"there, {str(src)!r} now); pass --overwrite or choose a new --workdir")


def _load_png(path: str):
  import torch
  from PIL import Image
  a = np.asarray(Image.open(path).convert("RGB"), np.float32) / 127.5 - 1.0
  return torch.as_tensor(a).permute(2, 0, 1)[None]


def _save_png(image, path: str) -> None:
  from PIL import Image
  a = ((image[0].permute(1, 2, 0).clamp(-1, 1).numpy() + 1) * 127.5).round().astype(np.uint8)
  Image.fromarray(a).save(path + ".tmp.png")
  os.replace(path + ".tmp.png", path)


def summarize(lines: list[dict], *, num_bootstrap: int, seed: int) -> list[dict]:
  """Per (layer, score): AUROC and TPR@1%FPR of memorized (positives) against ordinary, with 95 %
  stratified-bootstrap intervals; rows on fewer than 30 positives are marked ``too_few_positives``."""
  import jax
  from relu_dae import detection
  from sims import _response
  pos = [d for d in lines if d["group"] == GROUPS[0]]
  neg = [d for d in lines if d["group"] == GROUPS[1]]
  if len(pos) < 2 or len(neg) < 2:
    return []
  rows, key = [], jax.random.PRNGKey(seed)
  for i, layer in enumerate(pos[0]["scores"]):
    for j, score in enumerate(pos[0]["scores"][layer]):
      sp = np.array([d["scores"][layer][score] for d in pos])
      sn = np.array([d["scores"][layer][score] for d in neg])
      r = detection.evaluate(sp, sn)
      ci = detection.bootstrap_ci(jax.random.fold_in(key, 100 * i + j), sp, sn, num=num_bootstrap)
      rows.append(dict(layer=layer, score=score, auroc=r.auroc, auroc_ci=ci.auroc, tpr_at_1pct_fpr=r.tpr_at_1pct_fpr,
                       tpr_at_1pct_fpr_ci=ci.tpr_at_1pct_fpr, n_pos=len(sp), n_neg=len(sn),
                       too_few_positives=len(sp) < _response.MIN_POSITIVES))
  return rows


def _table(rows: list[dict]) -> str:
  head = "| layer | score | AUROC [95 %] | TPR@1%FPR [95 %] | positives / negatives |\n|---|---|---|---|---|\n"
  return head + "".join(
      f"| `{r['layer']}` | {r['score']} | {r['auroc']:.3f} [{r['auroc_ci'][0]:.3f}, {r['auroc_ci'][1]:.3f}] | "
      f"{r['tpr_at_1pct_fpr']:.3f} [{r['tpr_at_1pct_fpr_ci'][0]:.3f}, {r['tpr_at_1pct_fpr_ci'][1]:.3f}] | "
      f"{r['n_pos']} / {r['n_neg']}{' (too few positives)' if r['too_few_positives'] else ''} |\n" for r in rows)


def _plot(lines, rows, path: str, model: str) -> str | None:
  import matplotlib
  matplotlib.use("Agg")
  import matplotlib.pyplot as plt
  from sklearn.metrics import roc_curve
  from relu_dae import plotting
  drawn = [r for r in rows if r["score"] == "std" and not r["too_few_positives"]]
  if not drawn:
    return None
  fig, ax = plt.subplots(figsize=(5.2, 4.6))
  for r in drawn:
    y = np.array([d["group"] == GROUPS[0] for d in lines])
    s = np.array([d["scores"][r["layer"]]["std"] for d in lines])
    fpr, tpr, _ = roc_curve(y, s)
    ax.plot(fpr, tpr, label=f"{r['layer']}: AUROC {r['auroc']:.3f}")
  ax.plot([0, 1], [0, 1], ls=":", color="0.6")
  ax.set(xlabel="false positive rate (ordinary)", ylabel="true positive rate (memorized)",
         title=f"prompt-free detection (std score) on {model}")
  ax.legend(fontsize=7)
  fig.tight_layout()
  return plotting.save(fig, path)


def run(c, workdir: str, figdir: str | None = None, *, progress=print) -> dict:
  """Scores every image not yet in ``<workdir>/scores.jsonl``, then summarizes; returns
  ``{"rows", "figure", "new", "seconds"}``. Refuses (:class:`relu_dae.real.pipelines.UnavailableError`)
  before any work when the weights or a GPU are missing."""
  validate_config(c)
  figdir = _flags.checked_dirs(workdir, figdir)
  import torch
  from relu_dae.real import pipelines
  from relu_dae.real import represent
  start = time.perf_counter()
  items = conditions(c)
  device = pipelines.require_gpu(c.allow_cpu)
  pipe = pipelines.load(c.model, device=device)
  pipe.set_progress_bar_config(disable=True)
  net = pipelines.network(pipe)
  layers = tuple(c.layers) or represent.default_layers(net)
  cond = pipelines.prompt_free_condition(pipe)
  path = os.path.join(workdir, SCORES_FILE)
  done = {(d["group"], d["index"]): d for d in read_scores(path)}
  check_resume(done, items, path)
  os.makedirs(os.path.join(workdir, "images"), exist_ok=True)
  new = 0
  with open(path, "a", encoding="utf-8") as f:
    for k, (group, i, src) in enumerate(items):
      if (group, i) in done:
        continue
      sd = seeds(c.seed, k)
      record = dict(group=group, index=i, condition=str(src), seed=sd["generate"])
      if c.images:
        image_path = src
      else:
        image_path = os.path.join(workdir, "images", f"{group}_{i:04d}.png")
        image = pipelines.generate(pipe, src, sd["generate"], num_steps=c.num_steps, guidance=c.guidance)
        if not torch.isfinite(image).all():  # a diverged sample is a failed run, never a score
          append_line(f, dict(record, image=None, diverged=True))
          new += 1
          continue
        _save_png(image, image_path)
      x = pipelines.model_input(pipe, _load_png(image_path), seed=sd["vae"])  # scored as stored: resumes are identical
      reps = represent.represent(net, pipe.scheduler, x, c.timestep, layers, pooling=c.pooling, cond=cond,
                                 seed=sd["noise"])
      scores = {layer: {s: float(v[0]) for s, v in per.items()} for layer, per in represent.scores(reps).items()}
      append_line(f, dict(record, image=image_path, scores=scores))
      new += 1
      if progress and new % 10 == 0:
        progress(f"scored {new} new images ({k + 1} of {len(items)})")
  stored = read_scores(path)
  lines = [d for d in stored if not d.get("diverged")]
  diverged = {g: sum(1 for d in stored if d.get("diverged") and d["group"] == g) for g in GROUPS}
  rows = summarize(lines, num_bootstrap=c.num_bootstrap, seed=c.seed)
  from relu_dae import results
  meta = dict(config=c.to_dict(), layers=list(layers), diverged=diverged, timestep=c.timestep, pooling=c.pooling,
              paper=dict(sd14_laion=(0.987, 0.961), dit_imagenet=(0.995, 0.912), edm_cifar10=(0.998, 0.984)))
  results.save_json(os.path.join(workdir, "summary.json"), dict(meta, rows=rows))
  with open(os.path.join(workdir, "table.md.tmp"), "w", encoding="utf-8") as t:
    t.write(_table(rows))
  os.replace(os.path.join(workdir, "table.md.tmp"), os.path.join(workdir, "table.md"))
  os.makedirs(figdir, exist_ok=True)
  fig = _plot(lines, rows, os.path.join(figdir, "real_detection_roc.png"), c.model)
  return dict(rows=rows, figure=fig, new=new, seconds=time.perf_counter() - start)
