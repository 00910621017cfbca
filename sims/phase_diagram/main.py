"""absl entry point of the phase diagram: ``python -m sims.phase_diagram --help`` lists the flags.

Every flag, the whole config and both directories are checked before the first sweep trains; a
bad one ends the app with one line naming it (exit status 1).
"""

from __future__ import annotations

import os
import time

from absl import app
from absl import flags
from absl import logging
import jax
from ml_collections import config_flags

import sims.phase_diagram as phase_diagram
from sims import _flags
from sims.phase_diagram import experiments
from relu_dae import sweep

_CONFIG = config_flags.DEFINE_config_file(
    "config", os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "configs", "phase_diagram.py"),
    "Preset: sims/configs/phase_diagram.py[:<preset>] (presets: default, smoke, paper); "
    "override fields with --config.<field>=...")
_WORKDIR = flags.DEFINE_string("workdir", "runs/phase_diagram", "Where results (.npz, .json) and sweep chunks go.")
_FIGDIR = flags.DEFINE_string("figdir", "", "Where figures go; empty = <workdir>/figures. "
                              "--figdir=figures rewrites the committed figures.")
_EXPERIMENTS = flags.DEFINE_list("experiments", [], "Run only these experiments (names: "
                                 f"{', '.join(experiments.EXPERIMENTS)}); empty = all.")
_OVERWRITE = flags.DEFINE_bool("overwrite", False, "Replace a run with other settings in --workdir.")
_PLOT_ONLY = flags.DEFINE_bool("plot_only", False, "Redraw the figures from the saved results in --workdir.")
_DRY_RUN = flags.DEFINE_bool("dry_run", False, "Print what each experiment would train (buckets, chunks, memory "
                             "per chunk, budgeted configuration-steps) and exit; nothing is trained or written.")


def use_all_cpu_cores() -> None:
  """Exposes every CPU core as a JAX device, so ``sweep.run`` shards configurations over them.

  XLA runs one small configuration's step on one core; with one device per core the sweep
  is ~2× faster on 2 cores (BENCHMARKS.md, rows d vs d2). Must run before JAX starts its
  backend; a no-op on GPU, or when the backend is already up.
  """
  try:
    jax.config.update("jax_num_cpu_devices", os.cpu_count() or 1)
  except RuntimeError as err:  # the backend was initialized earlier
    logging.info("keeping the existing CPU devices: %s", err)


def dry_run(c, names) -> None:
  """Prints :func:`experiments.plan_experiment` for every selected experiment, after the config checks."""
  phase_diagram.validate_config(c)
  rows = [row for e in phase_diagram.validate_experiments(names) for row in experiments.plan_experiment(c, e)]
  print(_flags.summary_table(rows))
  total = sum(r["budget_config_steps"] for r in rows)
  settings = sweep.resolved_config(experiments.sweep_config(c))
  print(f"{sum(r['configs'] for r in rows)} configurations in {sum(r['chunks'] for r in rows)} chunks, "
        f"at most {total:.3g} configuration-steps before refinement; largest chunk "
        f"{max(r['chunk_mib'] for r in rows):.0f} MiB (memory_budget_mb={settings.memory_budget_mb:g}, "
        f"chunk_multiple={settings.chunk_multiple}, on {jax.local_device_count()} {jax.default_backend()} "
        "device(s); unset in the config, both come from these devices)")


@_flags.exit_on_flag_error
def main(argv):
  if len(argv) > 1:
    raise app.UsageError(f"Unexpected arguments: {argv[1:]}")
  _flags.quiet_logs()
  use_all_cpu_cores()  # before the dry run too: the device count sets the chunk multiple
  if _DRY_RUN.value:
    dry_run(_CONFIG.value, _EXPERIMENTS.value)
    return
  start = time.perf_counter()
  workdir = _WORKDIR.value
  paths = phase_diagram.run(_CONFIG.value, workdir, _FIGDIR.value, experiments=_EXPERIMENTS.value,
                            plot_only=_PLOT_ONLY.value, overwrite=_OVERWRITE.value)
  from sims.phase_diagram import analysis
  print(_flags.summary_table(analysis.run_table(workdir, phase_diagram.validate_experiments(_EXPERIMENTS.value))))
  print(f"wrote {', '.join(paths)} and {workdir}/*.npz/.json in {time.perf_counter() - start:.0f} s")


if __name__ == "__main__":
  app.run(main)
