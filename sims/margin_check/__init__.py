r"""Numerical verification of Thm 3.1 / D.2, Lemma D.1 and Cor. 3.2–3.4 on random separable instances.

For every instance (a random (α, β)-separable dataset with random σ and λ, drawn per
*family* of one shape so that everything is ``vmap``-ed, in float64) the app

1. constructs the paper's minimum W* — ``W_mem`` (Eq. 9), ``W_gen`` (Eq. 8) or the hybrid of
   Cor. 3.4, each block rotated by the O_k that maximizes γ_op (``theory.best_rotation_batch``) —
   and certifies it: relative gradient and smallest Hessian eigenvalue of the exact frozen-mask
   loss (``theory.certify_batch``), for a zero-padded W_mem also the unit-birth test
   (``unit_birth.passes``), the operational margin γ_op (``theory.margin_batch``) and the paper's
   γ (``theory.paper_margin``); λ*(σ) of the padded W_mem (``unit_birth.threshold``);
2. measures Thm 3.1's residual: the minimum of Eq. (6) over moment-matched noise draws
   (``theory.refine``; exact in the frozen-mask part, so only mask flips move it) started at W*,
   its distance ``‖Ŵ − W*‖²/‖W*‖²`` against ``(γ_op/σ)²``: the slope of its logarithm by window
   of ``(γ_op/σ)²``, one fit of ``C e^{−cγ²/σ²}``, and the exact two-sample local slope;
3. the basin (Thm D.2): refining from ``W*`` perturbed by a relative δ; training from a random
   init (Adam, Monte-Carlo noise) and whether it lands at W*;
4. checks Thm D.2's block decomposition with Lemma D.1's per-block global minima;
5. compares Cor. 3.2's loss with the measured loss, and Cor. 3.3's limit and test loss with
   finite n_k (rates in n_k, Cor. D.5);
6. Jacobian spectra of trained memorizing vs generalizing models (§3.7);
7. breaking points: β → 0⁺, large α, σ ≫ γ, nλ → the smallest block eigenvalue.

The experiments (``--experiments=`` selects some; empty = all) are ``families`` (items 1–5 on
every family's instances), ``cor33`` (item 5's rates in n_k), ``jacobian`` (6), ``limits`` (7)
and ``birth`` (λ*(σ)). Each keeps its PRNG key whatever else runs, so a selection reproduces the
full run's numbers; a verdict whose experiment did not run says ``"not run"``.

Writes ``<workdir>/margin_check.{npz,json}``, the verdict table ``--verdicts`` (default
``<workdir>/theory_verdicts.json``; docs/theory_report.md discusses it) and ``margin_residual.png``,
``cor32_cor33.png``, ``jacobian_spectra.png``, ``separability_limits.png`` into ``--figdir``
(default ``<workdir>/figures``). The default ``--workdir`` is ``runs/margin_check``; the
committed run (``results/margin_check``, ``results/theory_verdicts.json``, ``figures/``) is only
rewritten on request. The whole config (every family and experiment), ``--experiments``, the
directories and the verdict path are checked before anything is computed (one line naming the
override, e.g. ``--config.cor33.K=1: ...``, and exit status 1).

Layout: :mod:`~sims.margin_check.experiments` (instances, measurements, experiments),
:mod:`~sims.margin_check.analysis` (one function per verdict), :mod:`~sims.margin_check.plots`,
:mod:`~sims.margin_check.validate`, :mod:`~sims.margin_check.main` (absl flags); presets in
``sims/configs/margin_check.py`` (``default``, ``smoke``).

Usage::

  python -m sims.margin_check                 # default preset into runs/margin_check, ~11 min on 2 cores
  python -m sims.margin_check --config=sims/configs/margin_check.py:smoke --workdir=/tmp/mc_smoke
  python -m sims.margin_check --experiments=cor33,jacobian     # only those two (and their verdicts)
  python -m sims.margin_check --plot_only     # redraw from the results in --workdir
  python -m sims.margin_check --workdir=results/margin_check --figdir=figures --verdicts=results/theory_verdicts.json
      # the committed run (add --plot_only to redraw the committed figures from it)
"""

from __future__ import annotations

import os

import relu_dae as rd
from sims import _flags
from sims.margin_check import analysis
from sims.margin_check import experiments as experiments_lib
from sims.margin_check.experiments import EXPERIMENTS
from sims.margin_check.validate import validate_config, validate_experiments

__all__ = ["EXPERIMENTS", "run", "validate_config"]


def run(c, workdir: str, figdir: str | None = None, verdict_path: str | None = None, *, experiments=None,
        plot_only: bool = False, progress: bool = True) -> list[str]:
  """Runs the selected experiments of config ``c`` (or reloads them), writes the verdicts, draws the figures.

  Args:
    c: the config (``sims/configs/margin_check.py``).
    workdir: where ``margin_check.{npz,json}`` go (a saved file of the same config keeps the
      experiments not rerun).
    figdir: where the figures go; ``None`` or empty = ``<workdir>/figures``.
    verdict_path: the verdict table; ``None`` = ``<workdir>/theory_verdicts.json``.
    experiments: names of :data:`EXPERIMENTS` to run; ``None`` or empty = all.
    plot_only: compute nothing; redraw and rewrite the verdicts from the saved results.
    progress: tqdm bars.

  Returns the figure paths. The config, the selection, the directories and the verdict path are
  checked before anything is computed (:class:`sims._flags.FlagError`).
  """
  figdir = _flags.figdir_for(workdir, figdir)
  verdict_path = verdict_path or os.path.join(workdir, "theory_verdicts.json")
  validate_config(c)
  selected = validate_experiments(experiments)
  _flags.writable_dir("workdir", workdir)
  _flags.writable_dir("figdir", figdir)
  if os.path.isdir(verdict_path):
    raise _flags.FlagError(f"--verdicts={verdict_path!r} is a directory; give the path of a .json file")
  _flags.writable_dir("verdicts", os.path.dirname(os.path.abspath(verdict_path)))
  stem = os.path.join(workdir, "margin_check")
  if plot_only:
    _flags.saved_results(workdir, ["margin_check"])
  else:
    experiments_lib.compute(c, stem, selected, progress=progress)
  saved = experiments_lib.load(stem)
  rd.results.save_json(verdict_path, analysis.verdicts(saved, experiments_lib.settings(c)))
  from sims.margin_check import plots  # matplotlib only when drawing
  return plots.draw_all(saved, figdir)
