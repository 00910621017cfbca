"""Loading a diffusers pipeline that is already on this machine, and what the detector needs from it.

Nothing here downloads: :func:`load` passes ``local_files_only=True``, so a hub id works only when its
weights are in the local Hugging Face cache (``huggingface-cli download <id>`` where there is a network),
and a local directory is read as it is. Missing weights or a missing GPU are refused with what is needed
(:class:`UnavailableError`), before anything heavy runs.

Examples:
  >>> from relu_dae.real import pipelines
  >>> try:
  ...   pipelines.load("/no/such/model")
  ... except pipelines.UnavailableError as e:
  ...   print(str(e).split(":")[0])
  the weights of '/no/such/model' are not on this machine
"""

from __future__ import annotations

import os

import torch

__all__ = ["UnavailableError", "empty_prompt_embedding", "encode_images", "generate", "load", "model_input", "network",
           "condition_of", "prompt_embedding", "prompt_free_condition", "require_gpu"]


class UnavailableError(RuntimeError):
  """What a run needs is not on this machine (weights, a GPU); the message says what to do."""


def require_gpu(allow_cpu: bool = False) -> str:
  """``"cuda"`` when a CUDA GPU is visible; ``"cpu"`` only with ``allow_cpu``; else :class:`UnavailableError`."""
  if torch.cuda.is_available():
    return "cuda"
  if allow_cpu:
    return "cpu"
  raise UnavailableError("no CUDA GPU is visible (torch.cuda.is_available() is False): real pipelines take hours per "
                    "hundred images on a CPU; run on a GPU machine, or pass allow_cpu (--allow_cpu) to run anyway")


def _is_path(source: str) -> bool:
  """A local directory (given or meant): absolute, relative with ``./``/``../``, or existing; else a hub id."""
  return os.path.isabs(source) or source.startswith(("./", "../", "~")) or os.path.exists(source)


def load(source: str, *, device: str = "cpu", dtype: torch.dtype | None = None, scheduler: str | None = "ddim"):
  """``DiffusionPipeline.from_pretrained(source, local_files_only=True)`` on ``device``, in ``dtype``
  (default float16 on CUDA, float32 on the CPU). ``source`` is a directory saved by ``save_pretrained`` or
  a hub id whose weights are in the local Hugging Face cache.

  ``scheduler="ddim"`` (default) replaces the pipeline's sampler by ``DDIMScheduler.from_config`` of its
  own, as the official code samples SD1.4 (its default is PNDM, whose step grid repeats a timestep);
  ``None`` keeps it. A safety checker, if the pipeline has one, is switched off, as in the official code.
  """
  if not isinstance(source, str) or not source:
    raise TypeError(f"source must be a local directory or a hub id, got {source!r}")
  if scheduler not in (None, "ddim"):
    raise ValueError(f"scheduler must be 'ddim' or None (keep the pipeline's), got {scheduler!r}")
  from diffusers import DDIMScheduler, DiffusionPipeline
  dtype = dtype or (torch.float16 if device.startswith("cuda") else torch.float32)
  try:
    if _is_path(source) and not os.path.isdir(os.path.expanduser(source)):
      raise FileNotFoundError(f"no directory {source}")
    pipe = DiffusionPipeline.from_pretrained(os.path.expanduser(source) if _is_path(source) else source,
                                             local_files_only=True, dtype=dtype)
  except (OSError, ValueError) as e:  # huggingface_hub's LocalEntryNotFoundError is both
    raise UnavailableError(f"the weights of {source!r} are not on this machine: download them where there is a network "
                           f"(huggingface-cli download {source}) or pass a local directory saved by save_pretrained "
                           f"({type(e).__name__}: {str(e)[:200]})") from e
  if getattr(pipe, "safety_checker", None) is not None:
    pipe.safety_checker = None
  if scheduler == "ddim" and not isinstance(pipe.scheduler, DDIMScheduler):
    pipe.scheduler = DDIMScheduler.from_config(pipe.scheduler.config)
  return pipe.to(device)


def empty_prompt_embedding(pipe) -> torch.Tensor:
  """The text encoder's embedding ``(1, L, D)`` of the empty prompt: the prompt-free condition of SD."""
  return prompt_embedding(pipe, "")


def prompt_embedding(pipe, prompt: str) -> torch.Tensor:
  """The text encoder's embedding ``(1, L, D)`` of ``prompt`` (padded to the tokenizer's length, as SD's
  pipeline pads it)."""
  if not isinstance(prompt, str):
    raise TypeError(f"prompt must be a string, got {prompt!r}")
  tok = pipe.tokenizer([prompt], padding="max_length", max_length=pipe.tokenizer.model_max_length, truncation=True,
                       return_tensors="pt")
  with torch.no_grad():
    return pipe.text_encoder(tok.input_ids.to(pipe.text_encoder.device))[0]


def encode_images(vae, images: torch.Tensor, *, seed: int = 0, batch_size: int = 8) -> torch.Tensor:
  """Latents of images in [−1, 1] ``(n, 3, H, W)``: ``vae.encode(x).latent_dist.sample() · scaling_factor``
  (the official re-encoding of a generated image), seeded per batch."""
  if not torch.is_tensor(images) or images.ndim != 4:
    raise ValueError(f"images must be a tensor (n, 3, H, W) in [-1, 1], got {getattr(images, 'shape', images)}")
  p = next(vae.parameters())
  out = []
  with torch.no_grad():
    for start in range(0, len(images), batch_size):
      g = torch.Generator(device=p.device).manual_seed(seed + start)
      x = images[start:start + batch_size].to(device=p.device, dtype=p.dtype)
      out.append(vae.encode(x).latent_dist.sample(generator=g) * vae.config.scaling_factor)
  return torch.cat(out)


def _class_id(condition) -> int:
  """A DiT condition: an int, or a string of digits as read from a file of class ids."""
  if isinstance(condition, str) and condition.strip().isdigit():
    return int(condition)
  if isinstance(condition, bool) or not isinstance(condition, int):
    raise TypeError(f"condition must be a class id (int) for a DiT pipeline, got {condition!r}")
  return condition


def network(pipe) -> torch.nn.Module:
  """The denoising network of a pipeline: its ``unet`` or (DiT) its ``transformer``."""
  net = getattr(pipe, "unet", None) or getattr(pipe, "transformer", None)
  if not isinstance(net, torch.nn.Module):
    raise TypeError(f"pipe must be a diffusers pipeline with a unet or a transformer, got {type(pipe).__name__}")
  return net


def generate(pipe, condition, seed: int, *, num_steps: int = 50, guidance: float = 7.5) -> torch.Tensor:
  """One image ``(1, C, H, W)`` in [−1, 1] on the CPU (NaN where the sampler diverged: check before
  storing), from ``torch.Generator(device).manual_seed(seed)``:
  ``condition`` is the prompt (``UNet2DConditionModel`` pipelines), the class id (DiT) or ``None``
  (unconditional ``UNet2DModel`` pipelines; ``guidance`` is not used there). One image per call, so an
  image depends only on its own seed and a resumed run regenerates nothing else."""
  from relu_dae.real.represent import family_of
  family = family_of(network(pipe))
  if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
    raise ValueError(f"seed must be a nonnegative integer, got {seed!r}")
  if isinstance(num_steps, bool) or not isinstance(num_steps, int) or num_steps < 1:
    raise ValueError(f"num_steps must be a positive integer, got {num_steps!r}")
  g = torch.Generator(device=pipe.device).manual_seed(seed)
  kw = dict(generator=g, num_inference_steps=num_steps, output_type="np")
  if family == "unet2d_condition":
    if not isinstance(condition, str):
      raise TypeError(f"condition must be a prompt (str) for a text-to-image pipeline, got {condition!r}")
    images = pipe(prompt=condition, guidance_scale=guidance, **kw).images
  elif family == "dit":
    images = pipe(class_labels=[_class_id(condition)], guidance_scale=guidance, **kw).images
  else:
    if condition is not None:
      raise TypeError(f"condition must be None for an unconditional pipeline, got {condition!r}")
    images = pipe(batch_size=1, **kw).images
  return torch.as_tensor(images).permute(0, 3, 1, 2).float() * 2 - 1


def model_input(pipe, images: torch.Tensor, *, seed: int = 0) -> torch.Tensor:
  """What the network denoises for images in [−1, 1]: the VAE latents (:func:`encode_images`) for latent
  pipelines (SD, DiT), the pixels for pixel-space ones."""
  vae = getattr(pipe, "vae", None)
  if vae is None:
    if not torch.is_tensor(images) or images.ndim != 4:
      raise ValueError(f"images must be a tensor (n, C, H, W) in [-1, 1], got {getattr(images, 'shape', images)}")
    return images
  return encode_images(vae, images, seed=seed)


def condition_of(pipe, condition):
  """What :func:`relu_dae.real.represent.represent` takes as ``cond`` for a generation's own condition:
  the prompt's embedding (SD), the class id (DiT), ``None`` (unconditional)."""
  from relu_dae.real.represent import family_of
  family = family_of(network(pipe))
  if family == "unet2d_condition":
    return prompt_embedding(pipe, condition)
  if family == "dit":
    return _class_id(condition)
  if condition is not None:
    raise TypeError(f"condition must be None for an unconditional pipeline, got {condition!r}")
  return None


def prompt_free_condition(pipe):
  """The empty condition of Algorithm 1: the empty prompt's embedding for SD, ``None`` otherwise (the
  null class for DiT is :func:`relu_dae.real.represent.condition`'s default)."""
  from relu_dae.real.represent import family_of
  return empty_prompt_embedding(pipe) if family_of(network(pipe)) == "unet2d_condition" else None
