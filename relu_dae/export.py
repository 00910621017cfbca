"""A sweep's results as a pandas table or an xarray dataset, in one call.

:func:`to_dataframe` gives one row per configuration: the grid axes (:data:`relu_dae.sweep.AXES`),
the run's bookkeeping (``ok``, ``converged``, ``status`` by name, ``steps_run``, ``nonfinite_step``)
and every per-configuration scalar output. :func:`to_dataset` keeps the grid's shape: one dimension
per axis with the axis values as coordinates, every output (scalars and arrays such as
``loss_curve`` or ``params``) as a variable. Both take a :class:`relu_dae.sweep.SweepResult` or
the stem :func:`relu_dae.sweep.run` returned. Failed runs stay NaN, as in the result itself.

pandas and xarray are the optional ``export`` extra (``pip install -e ".[export]"``); the
rest of the package does not import them.

Examples:
  >>> import numpy as np, relu_dae as rd
  >>> res = rd.sweep.SweepResult(
  ...     configs={"n": np.array([2, 2, 4, 4]), "sigma": np.array([0.1, 0.2, 0.1, 0.2]),
  ...              **{a: np.zeros(4) for a in ("lam", "p", "seed", "duplicated", "data")}},
  ...     grid_shape=(2, 2, 1, 1, 1, 1, 1),
  ...     outputs={"final_loss": np.array([0.1, 0.2, 0.3, np.nan])},
  ...     ok=np.array([True, True, True, False]), meta={}, steps_run=np.array([9, 9, 9, 3]),
  ...     status=np.array([1, 1, 2, 5]), converged=np.array([True, True, False, False]),
  ...     nonfinite_step=np.array([-1, -1, -1, 3]))
  >>> to_dataframe(res)[["n", "sigma", "status", "final_loss"]]
     n  sigma     status  final_loss
  0  2    0.1  converged         0.1
  1  2    0.2  converged         0.2
  2  4    0.1  max_steps         0.3
  3  4    0.2  nonfinite         NaN
  >>> to_dataset(res)["final_loss"].sel(n=4, sigma=0.1).item()
  0.3
"""

from __future__ import annotations

import os

import numpy as np

from relu_dae import convergence
from relu_dae import sweep

__all__ = ["to_dataframe", "to_dataset"]

_BOOKKEEPING = ("ok", "converged", "status", "steps_run", "nonfinite_step")


def _result(result) -> sweep.SweepResult:
  """``result`` itself, or the sweep stored at that stem."""
  if isinstance(result, sweep.SweepResult):
    return result
  if isinstance(result, (str, os.PathLike)):
    return sweep.load(result)
  raise TypeError(f"result must be a sweep.SweepResult or the stem sweep.run returned, got {type(result).__name__}")


def _optional(module: str):
  import importlib
  try:
    return importlib.import_module(module)
  except ImportError:
    raise ImportError(f"relu_dae.export needs {module}: pip install -e \".[export]\"") from None


def _status_names(status: np.ndarray) -> np.ndarray:
  names = np.asarray(convergence.STATUS_NAMES, dtype=object)
  codes = np.asarray(status, dtype=int)
  valid = (codes >= 0) & (codes < len(names))
  return np.where(valid, names[np.clip(codes, 0, len(names) - 1)], "unknown")


def _columns(res: sweep.SweepResult) -> dict:
  """Axis values and bookkeeping per configuration, ``{name: (C,)}``."""
  cols = {a: np.asarray(res.configs[a]) for a in sweep.AXES}
  cols.update(ok=np.asarray(res.ok, bool), converged=np.asarray(res.converged, bool),
              status=_status_names(res.status), steps_run=np.asarray(res.steps_run),
              nonfinite_step=np.asarray(res.nonfinite_step))
  return cols


def to_dataframe(result: sweep.SweepResult | str | os.PathLike):
  """One row per configuration: the axes, the bookkeeping and every scalar output, a ``pandas.DataFrame``.

  Columns: the seven :data:`relu_dae.sweep.AXES`, then ``ok``, ``converged``, ``status`` (the
  :data:`relu_dae.convergence.STATUS_NAMES` name), ``steps_run``, ``nonfinite_step``, then every
  output of shape ``(C,)`` under its flattened name (``"final_loss"``, ``"stored"``, ...). Outputs with
  more dimensions per configuration (curves, weights) are in :func:`to_dataset`.

  Examples:
    >>> import numpy as np, relu_dae as rd
    >>> res = rd.sweep.SweepResult({a: np.zeros(2) for a in rd.sweep.AXES}, (2,), {"x": np.ones((2, 3))},
    ...                            np.ones(2, bool), {}, np.zeros(2), np.ones(2), np.ones(2, bool), -np.ones(2))
    >>> list(to_dataframe(res).columns)[7:]  # the (2, 3) output "x" is not a column
    ['ok', 'converged', 'status', 'steps_run', 'nonfinite_step']
  """
  pd = _optional("pandas")
  res = _result(result)
  cols = _columns(res)
  for name, value in res.outputs.items():
    value = np.asarray(value)
    if value.ndim == 1 and name not in cols:
      cols[name] = value
  return pd.DataFrame(cols)


def _coordinates(res: sweep.SweepResult) -> dict | None:
  """``{axis: values}`` when the configurations fill ``grid_shape`` C-ordered over the axes, else None."""
  shape = tuple(res.grid_shape)
  if len(shape) != len(sweep.AXES) or int(np.prod(shape)) != len(res.ok):
    return None
  coords = {}
  for i, a in enumerate(sweep.AXES):
    grid = np.asarray(res.configs[a]).reshape(shape)
    line = np.moveaxis(grid, i, 0).reshape(shape[i], -1)
    if not np.all(line == line[:, :1]):
      return None
    coords[a] = line[:, 0]
  return coords


def to_dataset(result: sweep.SweepResult | str | os.PathLike):
  """The sweep as an ``xarray.Dataset`` over the grid: one dimension per axis, every output a variable.

  Dimensions are the :data:`relu_dae.sweep.AXES` with the axis values as coordinates, and each
  output keeps its trailing shape under dimensions ``<name>_0, <name>_1, ...`` (``loss_curve`` has
  ``loss_curve_0``; the default trainer's tied ``params`` has ``params_0`` (d) and ``params_1`` (p)).
  Nested output names are joined with ``_`` instead of ``.`` (xarray reads ``.`` as attribute
  access): an output ``"stats.mean"`` is the variable ``stats_mean``. A result that
  is not a full grid (its ``grid_shape`` does not lay the configurations out C-ordered over the
  axes; :func:`relu_dae.sweep.merge` of a refinement is the union grid, so it is one) has one dimension
  ``config`` instead, with the axes as coordinates along it. ``meta`` becomes the attribute ``meta``
  (JSON text), so the dataset writes to netCDF as it is.

  Examples:
    >>> import numpy as np, relu_dae as rd
    >>> res = rd.sweep.SweepResult({a: np.zeros(2) for a in rd.sweep.AXES}, (1,) * 7 + (2,), {},
    ...                            np.ones(2, bool), {}, np.zeros(2), np.ones(2), np.ones(2, bool), -np.ones(2))
    >>> dict(to_dataset(res).sizes)  # grid_shape does not match the axes: one "config" dimension
    {'config': 2}
  """
  import json
  xr = _optional("xarray")
  res = _result(result)
  coords = _coordinates(res)
  dims = tuple(sweep.AXES) if coords is not None else ("config",)
  shape = tuple(res.grid_shape) if coords is not None else (len(res.ok),)
  variables = {}
  values = {**{k: v for k, v in _columns(res).items() if k not in sweep.AXES}, **res.outputs}
  for name, value in values.items():
    name, value = name.replace(".", "_"), np.asarray(value)
    extra = tuple(f"{name}_{i}" for i in range(value.ndim - 1))
    variables[name] = (dims + extra, value.reshape(shape + value.shape[1:]))
  if coords is None:
    coords = {a: ("config", np.asarray(res.configs[a])) for a in sweep.AXES}
  return xr.Dataset(variables, coords=coords, attrs={"meta": json.dumps(res.meta, default=str)})
