"""How many configurations one sweep chunk holds: from device memory, or from the CPU's cache.

A sweep (:func:`relu_dae.sweep.run`) trains its configurations in chunks, one ``vmap`` per
chunk sharded over the devices. :class:`relu_dae.sweep.SweepConfig` sets a chunk's size
from ``memory_budget_mb`` (what one chunk may use, divided by the trainer's per-configuration
estimate) and rounds it to a multiple of ``chunk_multiple``. Left at ``None`` both come from
the devices, through :func:`resolve`:

* **accelerators** (GPU, TPU): ``ACCELERATOR_FRACTION`` of the smallest free device memory
  (``bytes_limit − bytes_in_use`` of ``Device.memory_stats()``) times the number of devices,
  so the same command fills a 16 GB and a 140 GB GPU. The rest is left to XLA's temporaries,
  which the trainer's estimate does not count.
* **CPU**: ``CACHE_FRACTION`` of the last-level cache. On CPU a chunk that outgrows the
  cache runs at memory speed: measured on 2 cores (AMD EPYC, 32 MiB L3, ``BENCHMARKS.md``),
  at d = 1024, p = 100 a chunk of 2 configurations per core is 1.4× the throughput of one
  chunk of all 16, while at d = 64, p = 16 (100 KiB a configuration) one large chunk is
  fastest. Half the cache reproduces both choices.
* ``chunk_multiple``: the number of devices, so no device trains padding.

A sweep resolves these once, at its first run, and records them in its ``spec.json``; a
resumed sweep reuses them on any machine, so its chunk plan (and every finished chunk)
stays valid.

Examples:
  >>> import jax
  >>> from relu_dae import budget
  >>> settings = budget.resolve(None, None, jax.local_devices())
  >>> sorted(settings), settings["chunk_multiple"] == jax.local_device_count()
  (['chunk_multiple', 'memory_budget_mb'], True)
  >>> budget.resolve(512.0, 1, jax.local_devices())   # explicit values are kept
  {'memory_budget_mb': 512.0, 'chunk_multiple': 1}
"""

from __future__ import annotations

import functools
import glob
import os
from collections.abc import Sequence

import jax

from relu_dae import _checks

__all__ = ["ACCELERATOR_FRACTION", "CACHE_FRACTION", "DEFAULT_CACHE_BYTES", "check_devices", "device_memory_bytes",
           "cache_bytes",
           "auto_memory_budget_mb", "resolve"]

ACCELERATOR_FRACTION = 0.5
CACHE_FRACTION = 0.5
DEFAULT_CACHE_BYTES = 32 * 2**20  # used where the OS does not report the cache sizes


def check_devices(devices) -> list:
  """A non-empty sequence of ``jax.Device``, as a list; ``TypeError`` / ``ValueError`` naming ``devices``."""
  if isinstance(devices, (str, bytes, dict)) or not hasattr(devices, "__iter__"):
    raise TypeError(f"devices must be a sequence of jax devices, got {type(devices).__name__}")
  devices = list(devices)
  if not devices:
    raise ValueError("devices must not be empty")
  bad = [d for d in devices if not isinstance(d, jax.Device)]
  if bad:
    raise TypeError(f"devices must be jax devices (e.g. jax.local_devices()), got {bad[0]!r}")
  return devices


def device_memory_bytes(device: jax.Device) -> int | None:
  """Free memory of an accelerator in bytes (``bytes_limit − bytes_in_use``); ``None`` on CPU.

  ``None`` too where the runtime reports no memory statistics.

  Examples:
    >>> import jax
    >>> device_memory_bytes(jax.devices("cpu")[0]) is None
    True
  """
  if not isinstance(device, jax.Device):
    raise TypeError(f"device must be a jax device (e.g. jax.devices()[0]), got {type(device).__name__}")
  if device.platform == "cpu":
    return None
  try:
    stats = device.memory_stats()
  except Exception:  # some runtimes do not implement it
    return None
  if not stats or "bytes_limit" not in stats:
    return None
  return int(stats["bytes_limit"]) - int(stats.get("bytes_in_use", 0))


@functools.cache
def cache_bytes(root: str = "/sys/devices/system/cpu") -> int:
  """The CPU's last-level cache in bytes, summed over its instances (Linux ``sysfs``).

  Each distinct instance (one ``shared_cpu_list``) of the highest cache level counts once:
  two cores with 1 MiB of L2 each and one shared 32 MiB L3 give 32 MiB. Where ``root`` has
  no cache entries (not Linux, a restricted container) it is ``DEFAULT_CACHE_BYTES``.

  Examples:
    >>> cache_bytes() > 0
    True
    >>> cache_bytes("/nonexistent") == DEFAULT_CACHE_BYTES
    True
  """
  root = _checks.path("root", root)
  instances = {}
  for entry in glob.glob(os.path.join(root, "cpu[0-9]*", "cache", "index[0-9]*")):
    try:
      fields = {f: open(os.path.join(entry, f)).read().strip() for f in ("level", "size", "type", "shared_cpu_list")}
    except OSError:
      continue
    if fields["type"] == "Instruction":
      continue
    instances[(int(fields["level"]), fields["shared_cpu_list"])] = _size_bytes(fields["size"])
  if not instances:
    return DEFAULT_CACHE_BYTES
  top = max(level for level, _ in instances)
  return sum(size for (level, _), size in instances.items() if level == top)


def _size_bytes(text: str) -> int:
  """``"32768K"`` / ``"2M"`` / ``"512"`` (sysfs) in bytes."""
  units = {"K": 2**10, "M": 2**20, "G": 2**30}
  return int(text[:-1]) * units[text[-1].upper()] if text[-1].upper() in units else int(text)


def auto_memory_budget_mb(devices: Sequence[jax.Device]) -> float:
  """The memory one chunk may use on ``devices``, in MiB (the module docstring's rule).

  Examples:
    >>> import jax
    >>> auto_memory_budget_mb(jax.devices("cpu")) == CACHE_FRACTION * cache_bytes() / 2**20
    True
  """
  devices = check_devices(devices)
  free = [device_memory_bytes(d) for d in devices]
  if all(f is not None for f in free):
    return ACCELERATOR_FRACTION * min(free) * len(devices) / 2**20
  return CACHE_FRACTION * cache_bytes() / 2**20


def resolve(memory_budget_mb: float | None, chunk_multiple: int | None,
            devices: Sequence[jax.Device]) -> dict:
  """``{"memory_budget_mb", "chunk_multiple"}`` with each ``None`` replaced by the devices' value.

  Args:
    memory_budget_mb: MiB one chunk may use, or ``None`` for :func:`auto_memory_budget_mb`.
    chunk_multiple: chunk sizes are multiples of it, or ``None`` for ``len(devices)``.
    devices: the devices a chunk is sharded over.
  """
  devices = check_devices(devices)
  if memory_budget_mb is not None:
    _checks.scalar_positive("memory_budget_mb", memory_budget_mb)
  if chunk_multiple is not None:
    chunk_multiple = _checks.positive_int("chunk_multiple", chunk_multiple)
  return {"memory_budget_mb": float(auto_memory_budget_mb(devices) if memory_budget_mb is None else memory_budget_mb),
          "chunk_multiple": int(len(devices) if chunk_multiple is None else chunk_multiple)}
