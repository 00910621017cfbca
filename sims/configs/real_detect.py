"""Presets for ``python -m sims.real_detect`` (ml_collections): ``--config=sims/configs/real_detect.py[:<preset>]``.

``sd14`` (default) is the paper's Table 1 setting on Stable Diffusion 1.4 (THEORY.md §4.2: 50 DDIM steps,
guidance 7.5, re-encode, re-noise at timestep 10, the empty prompt, max pooling at the official four
up-block hooks); ``dit`` a class-conditional DiT (conditions are class ids; timestep 50, the paper's
Fig. 5 caption); ``ddpm`` an unconditional pixel-space UNet, which reads images (``--config.images``)
since it has no prompts. Every preset needs the weights on this machine and, unless ``allow_cpu``, a GPU.

Conditions: ``memorized`` and ``ordinary`` are files with one prompt (or class id) per line, or JSON
lines with a ``prompt``, ``caption`` or ``text`` field; ``images`` is instead a directory with
``memorized/`` and ``ordinary/`` PNGs, scored as they are (no generation).
"""

import ml_collections


def get_config(preset: str = "sd14") -> ml_collections.ConfigDict:
  c = ml_collections.ConfigDict()
  c.preset = preset
  c.model = "CompVis/stable-diffusion-v1-4"  # a hub id in the local cache, or a directory saved by save_pretrained
  c.memorized = ""  # file of memorized prompts (e.g. the 500 of Webster 2023 / Wen et al. 2024)
  c.ordinary = ""  # file of ordinary prompts
  c.images = ""  # or: a directory with memorized/ and ordinary/ PNGs (no generation)
  c.num_per_group = 500
  c.num_steps = 50  # DDIM steps of the generation
  c.guidance = 7.5
  c.timestep = 10  # the re-noising timestep of Algorithm 1 (the official ExtractConfig default)
  c.pooling = "max"
  c.layers = ()  # empty = relu_dae.real.represent.default_layers
  c.seed = 0  # image k (memorized first, then ordinary) uses seed + k for generation, VAE and noise
  c.num_bootstrap = 1000
  c.allow_cpu = False  # run without a GPU (hours for SD1.4; for tiny models and tests)
  if preset == "dit":
    c.model = "facebook/DiT-XL-2-256"
    c.guidance = 4.0
    c.timestep = 50
  elif preset == "ddpm":
    c.model = "google/ddpm-cifar10-32"
    c.num_per_group = 100
  elif preset != "sd14":
    raise ValueError(f"preset must be 'sd14', 'dit' or 'ddpm', got {preset!r}")
  return c
