r"""Phase diagrams of memorization / hybrid / generalization over sample count n.

What it shows: where a two-layer ReLU DAE trained on n samples stops storing them in its weight
columns (Cor. 3.2: memorization needs p ≥ n) and starts matching the Cor. 3.3 blocks, over n × σ
(three data families), n × width p, n × fraction of duplicated clusters (the hybrid regime of
Cor. 3.4) and n × (α, K); and the critical n* of each transition score with seed-bootstrap
intervals and power-law fits against p, K and α.

Layout (flax examples): :mod:`.experiments` (data families, sweeps, metrics, refinement),
:mod:`.analysis` (n* and fits), :mod:`.plots` (figures), :mod:`.validate` (config and flag
checks), :mod:`.main` (absl flags). Run it with ``python -m sims.phase_diagram``::

  python -m sims.phase_diagram                          # default preset (~8 min on 2 CPU cores) into runs/phase_diagram
  python -m sims.phase_diagram --figdir=figures         # the same, rewriting the committed figures
  python -m sims.phase_diagram --experiments=n_sigma,n_p
  python -m sims.phase_diagram --config=sims/configs/phase_diagram.py:paper   # GPU size
  python -m sims.phase_diagram --plot_only --figdir=figures                   # redraw from runs/phase_diagram

Writes ``<workdir>/<experiment>.{npz,json}`` (+ ``critical_summary.json`` once all four exist)
and ``phase_n_sigma.png``, ``phase_n_p.png``, ``phase_hybrid.png``, ``critical_n.png`` into the
figure directory (default ``<workdir>/figures``).
"""

from __future__ import annotations

from sims import _flags
from sims.phase_diagram.experiments import (
    EXPERIMENTS, Family, Metrics, cluster_spectra, families, grid, measure, mixture_family, num_families, premises,
    refinement, run_experiment, sparse_family, train_config)
from sims.phase_diagram.validate import validate_config, validate_experiments

__all__ = ["EXPERIMENTS", "Family", "Metrics", "cluster_spectra", "families", "grid", "measure", "mixture_family",
           "num_families", "premises", "refinement", "run", "run_experiment", "sparse_family", "train_config",
           "validate_config", "validate_experiments"]

APP = "phase_diagram"


def run(c, workdir: str, figdir: str | None = None, *, experiments=(), plot_only: bool = False,
        progress: bool = True, overwrite: bool = False) -> list[str]:
  """Runs (or with ``plot_only`` only redraws) the ``experiments`` (all when empty); returns the figure paths.

  Everything is checked before the first sweep trains: the whole config (every experiment,
  :func:`validate_config`), the names, ``figdir`` (default ``<workdir>/figures``) and
  ``workdir``, which must be new, empty, or hold a run of this config
  (``sims._flags.prepare_workdir``; ``overwrite`` replaces a run with other settings). With
  ``plot_only`` the saved results of the chosen experiments must exist; nothing trains.
  """
  chosen = validate_experiments(experiments)
  if plot_only:
    _flags.saved_results(workdir, list(chosen))
    figdir = _flags.writable_dir("figdir", _flags.figdir_for(workdir, figdir))
  else:
    validate_config(c)
    workdir, figdir = _flags.prepare_dirs(workdir, figdir, APP, c.to_dict(), overwrite=overwrite)
    for experiment in chosen:
      run_experiment(c, experiment, workdir, progress=progress)
  from sims.phase_diagram import plots  # matplotlib only when drawing
  return plots.draw_all(workdir, figdir, chosen)
