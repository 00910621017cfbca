"""Results on disk: arrays as ``.npz`` plus metadata as ``.json``, written atomically.

Never pickled: arrays load with ``allow_pickle=False`` and metadata is plain JSON.
Each write goes to a temporary file in the target directory, then ``os.replace``
renames it, so a killed run leaves either the old file or the new one, never half.

Example:
  >>> import numpy as np, tempfile, os, relu_dae as rd
  >>> d = tempfile.mkdtemp()
  >>> _ = rd.results.save(os.path.join(d, "run"), {"x": np.arange(3)}, {"sigma": 0.2})
  >>> arrays, meta = rd.results.load(os.path.join(d, "run"))
  >>> arrays["x"].tolist(), meta["sigma"]
  ([0, 1, 2], 0.2)
"""

from __future__ import annotations

import datetime
import json
import math
import os
import platform
import tempfile
from typing import Any, Mapping

import numpy as np


def versions() -> dict[str, str]:
  """Versions of the packages that determine a result."""
  import jax
  import optax
  import relu_dae
  return {"relu_dae": relu_dae.__version__, "jax": jax.__version__, "optax": optax.__version__,
          "numpy": np.__version__, "python": platform.python_version(),
          "backend": jax.default_backend()}


def _atomic_write(path: str, write) -> None:
  directory = os.path.dirname(os.path.abspath(path))
  os.makedirs(directory, exist_ok=True)
  fd, tmp = tempfile.mkstemp(dir=directory, prefix=".tmp-", suffix=os.path.basename(path))
  try:
    with os.fdopen(fd, "wb") as f:
      write(f)
      f.flush()
      os.fsync(f.fileno())
    os.replace(tmp, path)
  except BaseException:
    if os.path.exists(tmp):
      os.remove(tmp)
    raise


def _jsonable(x: Any) -> Any:
  """Converts numpy scalars/arrays and non-finite floats (→ ``None``) to strict JSON."""
  if isinstance(x, Mapping):
    return {str(k): _jsonable(v) for k, v in x.items()}
  if isinstance(x, (list, tuple)):
    return [_jsonable(v) for v in x]
  if isinstance(x, np.ndarray) or (hasattr(x, "__array__") and not isinstance(x, (str, bytes))):
    arr = np.asarray(x)
    return _jsonable(arr.tolist()) if arr.ndim else _jsonable(arr.item())
  if isinstance(x, float) and not math.isfinite(x):
    return None
  if isinstance(x, (bool, int, float, str)) or x is None:
    return x
  if callable(x) and hasattr(x, "__qualname__"):  # a function: its name, never its address
    return f"{getattr(x, '__module__', '')}.{x.__qualname__}"
  return str(x)


def save_json(path: str, obj: Mapping[str, Any]) -> str:
  """Atomically writes strict JSON (non-finite numbers become ``null``)."""
  text = json.dumps(_jsonable(obj), indent=2, sort_keys=True, allow_nan=False)
  _atomic_write(path, lambda f: f.write(text.encode()))
  return path


def save(stem: str, arrays: Mapping[str, Any], meta: Mapping[str, Any]) -> str:
  """Writes ``stem.npz`` (arrays) and ``stem.json`` (meta + versions + time), atomically.

  Non-finite arrays are written as they are (NaN marks a failed run in an array
  result); flag such runs in ``meta`` as well. Returns ``stem``.
  """
  arrays = {k: np.asarray(v) for k, v in arrays.items()}
  for k, v in arrays.items():
    if v.dtype == object:
      raise ValueError(f"arrays[{k!r}] has dtype object; results are never pickled")
  _atomic_write(stem + ".npz", lambda f: np.savez(f, **arrays))
  info = {"meta": dict(meta), "versions": versions(),
          "written": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")}
  save_json(stem + ".json", info)
  return stem


def load(stem: str) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
  """Loads what :func:`save` wrote: ``(arrays, meta)``; never unpickles."""
  with np.load(stem + ".npz", allow_pickle=False) as f:
    arrays = {k: f[k] for k in f.files}
  with open(stem + ".json") as f:
    meta = json.load(f)["meta"]
  return arrays, meta
