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

__all__ = ["UnavailableError", "empty_prompt_embedding", "encode_images", "load", "require_gpu"]


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


def load(source: str, *, device: str = "cpu", dtype: torch.dtype | None = None):
  """``DiffusionPipeline.from_pretrained(source, local_files_only=True)`` on ``device``, in ``dtype``
  (default float16 on CUDA, float32 on the CPU); SD's safety checker is off, as in the official code."""
  if not isinstance(source, str) or not source:
    raise TypeError(f"source must be a local directory or a hub id, got {source!r}")
  from diffusers import DiffusionPipeline
  dtype = dtype or (torch.float16 if device.startswith("cuda") else torch.float32)
  looks_local = os.path.sep in source and not os.path.isdir(source)
  try:
    if looks_local:
      raise FileNotFoundError(source)
    kw = dict(safety_checker=None, requires_safety_checker=False) if "stable-diffusion" in source.lower() else {}
    pipe = DiffusionPipeline.from_pretrained(source, local_files_only=True, dtype=dtype, **kw)
  except (OSError, FileNotFoundError, ValueError) as e:
    raise UnavailableError(f"the weights of {source!r} are not on this machine: download them where there is a network "
                      f"(huggingface-cli download {source}) or pass a local directory saved by save_pretrained "
                      f"({type(e).__name__}: {str(e)[:200]})") from e
  return pipe.to(device)


def empty_prompt_embedding(pipe) -> torch.Tensor:
  """The text encoder's embedding ``(1, L, D)`` of the empty prompt: the prompt-free condition of SD."""
  tok = pipe.tokenizer([""], padding="max_length", max_length=pipe.tokenizer.model_max_length, truncation=True,
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
