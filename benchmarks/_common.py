"""What the benchmarks share: the PyTorch eager baseline, the machine record, the BENCHMARKS.md writer."""

from __future__ import annotations

import contextlib
import math
import os
import platform
import tempfile
import time
from collections.abc import Callable

import jax
import numpy as np
import optax

LEARNING_RATE = 1e-3
LAM = 0.0


def timed(fn: Callable[[], object]) -> float:
  """Wall seconds of ``fn()``, with its JAX outputs ready."""
  start = time.perf_counter()
  jax.block_until_ready(fn())
  return time.perf_counter() - start


def torch_loop(X: np.ndarray, configs, p: int, steps: int, device: str = "cpu") -> float:
  """The official notebooks' loop: a fresh parameter and optimizer per configuration, on ``device``."""
  import torch  # pylint: disable=g-import-not-at-top
  Xt = torch.tensor(X, device=device)
  d = Xt.shape[1]
  loss = None
  for sigma, seed in configs:
    torch.manual_seed(seed)
    W = torch.nn.Parameter(torch.randn(d, p, device=device) / math.sqrt(d))
    opt = torch.optim.Adam([W], lr=LEARNING_RATE)
    for _ in range(steps):
      noise = torch.randn_like(Xt)
      out = torch.relu((Xt + sigma * noise) @ W) @ W.T
      loss = ((out - Xt) ** 2).sum(dim=1).mean() + LAM * 2 * (W ** 2).sum()
      opt.zero_grad()
      loss.backward()
      opt.step()
  return float(loss.detach())


def _jaxlib_version() -> str | None:
  try:
    import jaxlib  # pylint: disable=g-import-not-at-top
    return jaxlib.__version__
  except (ImportError, AttributeError):
    return None


def _cpuinfo(key: str) -> str:
  with contextlib.suppress(OSError), open("/proc/cpuinfo") as f:
    return next((l.split(":", 1)[1].strip() for l in f if l.startswith(key)), "")
  return ""


def machine(torch_threads: int | None = None) -> dict:
  """CPU model, cores, RAM, load and package versions (``torch``: None when it is not installed)."""
  try:
    import torch  # pylint: disable=g-import-not-at-top
    torch_version = torch.__version__
  except ImportError:
    torch_version = None
  mem_gib = None
  with contextlib.suppress(OSError, StopIteration), open("/proc/meminfo") as f:
    mem_gib = int(next(l for l in f if l.startswith("MemTotal")).split()[1]) / 2**20
  isa = [x for x in ("avx2", "avx512f", "avx512_bf16", "amx_tile") if x in _cpuinfo("flags").split()]
  return {"cpu": _cpuinfo("model name") or platform.processor(), "cores": os.cpu_count(),
          "ram_gib": mem_gib, "isa": isa, "platform": platform.platform(),
          "python": platform.python_version(), "jax": jax.__version__, "jaxlib": _jaxlib_version(),
          "backend": jax.default_backend(), "cpu_devices": len(jax.devices()),
          "torch": torch_version, "torch_threads": torch_threads, "numpy": np.__version__,
          "optax": optax.__version__, "xla_flags": os.environ.get("XLA_FLAGS", ""),
          "loadavg_start": os.getloadavg()}


def write_markdown(path: str, block: str, begin: str, end: str) -> None:
  """Replaces the block of ``path`` between ``begin`` and ``end`` (or appends it), keeping the rest; atomic."""
  text = open(path).read() if os.path.exists(path) else "# Benchmarks\n\n"
  if begin in text and end in text:
    head, rest = text.split(begin, 1)
    text = head + block + rest.split(end, 1)[1]
  else:
    text = text.rstrip("\n") + "\n\n" + block + "\n"
  directory = os.path.dirname(os.path.abspath(path))
  fd, tmp = tempfile.mkstemp(dir=directory, prefix=".tmp-", suffix=".md")
  with os.fdopen(fd, "w") as f:
    f.write(text)
  os.replace(tmp, path)
