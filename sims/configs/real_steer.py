"""Presets for ``python -m sims.real_steer`` (ml_collections): ``--config=sims/configs/real_steer.py[:<preset>]``.

``sd14`` (default) is the official steering notebook's setting (THEORY.md §4.3): 40 DDIM steps, guidance 7.5,
``a ∈ {0, 0.1, …, 0.5}`` added at the five official up blocks during the last 20 steps except the last 2,
``v`` the spatial-mean representation at timestep 10 of 50 reference images of the target attribute (minus
50 of its opposite, with ``other``: contrastive). ``dit``: the same on a class-conditional DiT (class ids).

Files hold one prompt (or class id) per line, or JSON lines with a ``prompt``, ``caption`` or ``text`` field:
``target`` (the attribute, e.g. "an oil painting of ..."), ``other`` (optional, its opposite), and the
inputs to steer, ``memorized`` and ``ordinary`` prompts.
"""

import ml_collections


def get_config(preset: str = "sd14") -> ml_collections.ConfigDict:
  c = ml_collections.ConfigDict()
  c.preset = preset
  c.model = "CompVis/stable-diffusion-v1-4"
  c.target = ""
  c.other = ""  # empty: v = mean(target); else mean(target) - mean(other)
  c.memorized = ""
  c.ordinary = ""
  c.num_reference = 50
  c.num_inputs = 8  # per group
  c.a = (0.0, 0.1, 0.2, 0.3, 0.4, 0.5)
  c.num_steps = 40
  c.window_first = 20  # steer on steps [window_first, num_steps - window_skip_last)
  c.window_skip_last = 2
  c.guidance = 7.5
  c.timestep = 10  # where the reference representations are read
  c.pooling = "mean"  # the official "recommended for steering"
  c.layers = ()  # empty = relu_dae.real.represent.default_layers(net, "steer")
  c.seed = 0
  c.num_bootstrap = 1000
  c.allow_cpu = False
  if preset == "dit":
    c.model = "facebook/DiT-XL-2-256"
    c.guidance = 4.0
  elif preset != "sd14":
    raise ValueError(f"preset must be 'sd14' or 'dit', got {preset!r}")
  return c
