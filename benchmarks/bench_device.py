r"""Device benchmark at the paper's shape (d = 1024, p = 100): what one accelerator (or CPU) sustains.

Measures, for K configurations trained by ``relu_dae.sweep.run`` with its defaults (chunks sized
from the device by ``relu_dae.budget``) at per-step batches b ∈ {8, 64, 512} (the paper preset
trains full batch below 512 rows and minibatches of 512 above):

* configuration-steps per second (best of the repeats, compilation excluded: a first run in
  another workdir compiles);
* achieved FLOP/s, counting the five ``b × d × p`` matmuls of one step (forward ``XW`` and
  ``HWᵀ``; backward ``∂H``, and ``∂W`` from each use: 10·b·d·p FLOPs), against the device's
  fp32 peak (``--peak_tflops``; on CPU a measured 2048³ sgemm);
* memory per configuration: the trainer's estimate, and on accelerators the runtime's
  ``peak_bytes_in_use`` over K;
* the PyTorch eager loop of the official notebooks on the same device (``torch.cuda`` when
  jax runs on a GPU and torch sees one), per configuration-step;
* the paper-size phase diagram's training time, *estimated*: the ``--dry_run`` plan's budgeted
  configuration-steps of each bucket over the measured rate at its batch (log-log
  interpolation in b). An upper bound on training (the convergence rule stops most runs
  early); measurement stages are not included;
* on CPU, ``sweep.run`` in 2 processes of 1 core each (``jax.distributed``, gloo) against 1
  process on 1 core, same sweep, wall time of the call.

Writes ``benchmarks/results/bench_device_<backend>.json`` and, unless ``--quick``, the block of
BENCHMARKS.md between the ``bench_device`` markers. A CPU run lists accelerator rows as not yet
measured.

Usage::

  python -m benchmarks.bench_device            # CPU: K = 16, ~5 min on 2 cores; GPU: K = 256
  python -m benchmarks.bench_device --quick    # smoke run; BENCHMARKS.md untouched
"""

from __future__ import annotations

import datetime
import math
import os
import subprocess
import sys
import tempfile
import textwrap
import time

from absl import app
from absl import flags
import jax
import numpy as np

import relu_dae as rd
from benchmarks._common import LEARNING_RATE, machine, timed, torch_loop, write_markdown

_QUICK = flags.DEFINE_bool("quick", False, "Smoke run: K = 4, few steps, one repeat, no multi-process row.")
_K = flags.DEFINE_integer("K", None, "Configurations (default 256 on an accelerator, 16 on CPU).")
_STEPS = flags.DEFINE_integer("steps", None, "Training steps per configuration (default 200; 20 with --quick).")
_BATCHES = flags.DEFINE_list("batches", ["8", "64", "512"], "Per-step batch sizes b (training rows).")
_PEAK = flags.DEFINE_float("peak_tflops", None, "The device's fp32 peak in TFLOP/s (default: a table of known "
                           "GPUs; on CPU a measured sgemm).")
_REPEATS = flags.DEFINE_integer("repeats", None, "Timed repeats (default 3; 1 with --quick).")
_PROCESSES = flags.DEFINE_bool("processes", True, "On CPU, time 2 processes of 1 core against 1.")
_OUT = flags.DEFINE_string("out", "BENCHMARKS.md", "Markdown whose bench_device block is rewritten.")

BEGIN, END = "<!-- bench_device:begin -->", "<!-- bench_device:end -->"
D, P = 1024, 100
PAPER_BATCH = 512
# fp32 (non-tensor-core) peaks from the vendors' data sheets, TFLOP/s.
PEAKS = {"H100 80GB HBM3": 67.0, "H100 PCIe": 51.0, "H200": 67.0, "A100": 19.5, "L4": 30.3, "A10G": 31.2,
         "V100": 15.7, "T4": 8.1}


def flops_per_config_step(b: int, d: int = D, p: int = P) -> int:
  """The five ``b × d × p`` matmuls of a tied-DAE step, 2 FLOPs per multiply-add."""
  return 10 * b * d * p


def device_peak_tflops(device) -> tuple[float | None, str]:
  """fp32 peak of ``device``: the flag, a data-sheet value, or (CPU) a measured sgemm."""
  if _PEAK.value:
    return _PEAK.value, "--peak_tflops"
  if device.platform == "cpu":
    a = jax.random.normal(jax.random.PRNGKey(0), (2048, 2048))
    mm = jax.jit(lambda x: x @ x)
    mm(a).block_until_ready()
    best = min(timed(lambda: mm(a)) for _ in range(5))
    return 2 * 2048**3 / best / 1e12, "measured 2048³ sgemm, best of 5"
  kind = device.device_kind
  for name, peak in PEAKS.items():
    if name in kind:
      return peak, f"data sheet ({name})"
  return None, f"unknown device kind {kind!r}: pass --peak_tflops"


def _grid_config(K: int, b: int, steps: int):
  sigmas = tuple(float(s) for s in np.geomspace(0.05, 1.6, K))
  grid = rd.sweep.Grid(n=(b,), sigma=sigmas, lam=(1e-3,), seed=(0,))
  train = rd.train.TrainConfig(steps=steps, learning_rate=LEARNING_RATE, chunk_size=min(steps, 100))
  return grid, rd.sweep.SweepConfig(train=train, p_max=P)


def sweep_rate(K: int, b: int, steps: int, repeats: int) -> dict:
  """``sweep.run`` with the defaults on K configurations with b training rows."""
  X = np.asarray(rd.data.locally_sparse(jax.random.PRNGKey(0), n=b, d=D))
  grid, config = _grid_config(K, b, steps)

  def call():
    with tempfile.TemporaryDirectory() as work:
      stem = rd.sweep.run(grid, config, work, pool=X, progress=False)
      return rd.sweep.load(stem)

  first = timed(call)
  seconds = [timed(call) for _ in range(repeats)]
  res = call()
  device = jax.local_devices()[0]
  stats = device.memory_stats() if device.platform != "cpu" else None
  rate = K * steps / min(seconds)
  return {"b": b, "K": K, "steps": steps, "config_steps_per_s": rate, "seconds": seconds,
          "compile_s": first - min(seconds), "buckets": res.meta["buckets"],
          "resolved": {k: res.meta["config"][k] for k in ("memory_budget_mb", "chunk_multiple")},
          "achieved_tflops": rate * flops_per_config_step(b) / 1e12,
          "estimate_bytes_per_config": config.resolved_trainer.memory_bytes(b, D),
          "peak_bytes_per_config": None if not stats else stats.get("peak_bytes_in_use", 0) / K}


def torch_rate(b: int, steps: int, configs: int) -> dict:
  """The PyTorch eager loop on the device jax uses, if torch sees it (else CPU)."""
  import torch  # pylint: disable=g-import-not-at-top
  device = "cuda" if jax.default_backend() == "gpu" and torch.cuda.is_available() else "cpu"
  X = np.asarray(rd.data.locally_sparse(jax.random.PRNGKey(0), n=b, d=D), np.float32)
  pairs = [(float(s), 0) for s in np.geomspace(0.05, 1.6, configs)]
  torch_loop(X, pairs[:1], P, 5, device)
  sync = torch.cuda.synchronize if device == "cuda" else (lambda: None)
  start = time.perf_counter()
  torch_loop(X, pairs, P, steps, device)
  sync()
  return {"b": b, "device": device, "config_steps_per_s": configs * steps / (time.perf_counter() - start),
          "configs": configs, "steps": steps, "threads": torch.get_num_threads()}


def paper_estimate(rates: dict[int, float]) -> dict:
  """Budgeted training seconds of the paper preset's plan at the measured rates (log-log in b)."""
  from sims.configs import phase_diagram as cfg  # pylint: disable=g-import-not-at-top
  from sims.phase_diagram import experiments  # pylint: disable=g-import-not-at-top
  c = cfg.get_config("paper")
  bs = np.array(sorted(rates), float)
  log_rate = np.log([rates[int(b)] for b in bs])
  total_s, steps = 0.0, 0
  for e in experiments.EXPERIMENTS:
    for row in experiments.plan_experiment(c, e):
      b = min(row["rows"], PAPER_BATCH)
      rate = math.exp(np.interp(math.log(b), np.log(bs), log_rate))
      total_s += row["budget_config_steps"] / rate
      steps += row["budget_config_steps"]
  return {"budget_config_steps": steps, "training_s_upper_bound": total_s}


_WORKER = textwrap.dedent("""
    import sys, time, jax
    pid, nproc, port, work, warm = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3], sys.argv[4], sys.argv[5]
    jax.config.update("jax_cpu_collectives_implementation", "gloo")
    if nproc > 1:
      jax.distributed.initialize(coordinator_address=f"127.0.0.1:{port}", num_processes=nproc, process_id=pid)
    import numpy as np
    from benchmarks import bench_device as bd
    import relu_dae as rd
    X = np.asarray(rd.data.locally_sparse(jax.random.PRNGKey(0), n=8, d=bd.D))
    grid, config = bd._grid_config(16, 8, 2000)
    rd.sweep.run(grid, config, warm, pool=X, progress=False)  # compiles
    start = time.perf_counter()
    rd.sweep.run(grid, config, work, pool=X, progress=False)
    print("wall", time.perf_counter() - start)
""")


def process_scaling() -> dict:
  """Wall time of one sweep in 1 process on core 0 and in 2 processes on cores 0 and 1."""
  out = {}
  for nproc in (1, 2):
    with tempfile.TemporaryDirectory() as work, tempfile.TemporaryDirectory() as warm:
      port = str(20000 + os.getpid() % 10000)
      env = dict(os.environ, JAX_PLATFORMS="cpu", XLA_FLAGS="--xla_force_host_platform_device_count=1")
      procs = [subprocess.Popen(["taskset", "-c", str(i), sys.executable, "-c", _WORKER, str(i), str(nproc), port,
                                 work, warm], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
               for i in range(nproc)]
      walls = []
      for proc in procs:
        stdout, stderr = proc.communicate(timeout=900)
        if proc.returncode:
          raise RuntimeError(f"worker failed: {stderr[-2000:]}")
        walls.append(float(stdout.split("wall")[-1]))
      out[nproc] = max(walls)
  return {"one_process_s": out[1], "two_processes_s": out[2], "speedup": out[1] / out[2],
          "sweep": "K = 16 configurations, b = 8, d = 1024, p = 100, 2,000 steps; 1 CPU device per process"}


def markdown(report: dict) -> str:
  m, dev = report["machine"], report["device"]
  lines = [BEGIN, "", f"_Generated by `python -m benchmarks.bench_device` on {report['written']} in "
           f"{report['wall_s']:.0f} s; raw numbers in `{report['json']}`._", "",
           f"**Device.** {dev['kind']} ({dev['platform']}, {dev['count']} device(s)); host {m['cpu']}, {m['cores']} "
           f"cores; jax {m['jax']} / jaxlib {m['jaxlib']}; torch {m['torch']}. fp32 peak "
           f"{dev['peak_tflops'] or float('nan'):.3g} TFLOP/s ({dev['peak_source']}). Load average "
           f"{', '.join(f'{x:.1f}' for x in m['loadavg_start'])} at start.", "",
           "| device | b | K | chunk (configs) | config-steps/s | TFLOP/s | % of fp32 peak | PyTorch eager "
           "config-steps/s | vs eager | MiB per config (estimate / peak) |",
           "|---|---:|---:|---:|---:|---:|---:|---:|---:|---|"]
  torch_by_b = {t["b"]: t for t in report["torch"]}
  for r in report["sweep"]:
    t = torch_by_b.get(r["b"])
    chunk = ", ".join(str(v["chunk_size"]) for v in r["buckets"].values())
    peak = dev["peak_tflops"]
    share = f"{100 * r['achieved_tflops'] / peak:.1f} %" if peak else "–"
    mem = f"{r['estimate_bytes_per_config'] / 2**20:.2f} / " + (
        "–" if r["peak_bytes_per_config"] is None else f"{r['peak_bytes_per_config'] / 2**20:.2f}")
    lines.append(f"| {dev['kind']} | {r['b']} | {r['K']} | {chunk} | {r['config_steps_per_s']:,.0f} | "
                 f"{r['achieved_tflops']:.3g} | {share} | "
                 + (f"{t['config_steps_per_s']:,.0f} ({t['device']}) | "
                    f"{r['config_steps_per_s'] / t['config_steps_per_s']:.1f}× | " if t else "– | – | ") + f"{mem} |")
  if dev["platform"] == "cpu":
    for kind in ("NVIDIA H100 / H200 (GPU)", "TPU v4 / v5e"):
      lines.append(f"| {kind} | – | – | – | not yet measured | – | – | – | – | – |")
  e = report["paper"]
  lines += ["", f"**Paper-size diagram, training only (estimated).** The `--dry_run` plan of "
            f"`sims/configs/phase_diagram.py:paper` budgets {e['budget_config_steps']:.3g} configuration-steps; "
            f"at the rates above that is at most **{e['training_s_upper_bound'] / 3600:.2g} h** on this device "
            f"({e['training_s_upper_bound']:.0f} s; an upper bound: the convergence rule stops most runs before "
            "their budget; measurement stages not included). Not an end-to-end run."]
  if report.get("processes"):
    p = report["processes"]
    lines += ["", f"**Two processes of one core each** (`jax.distributed`, gloo; {p['sweep']}): "
              f"{p['one_process_s']:.1f} s in one process, {p['two_processes_s']:.1f} s in two: "
              f"**{p['speedup']:.2f}×**."]
  return "\n".join(lines + ["", END])


def main(argv):
  del argv
  quick = _QUICK.value
  start = time.perf_counter()
  jax.config.update("jax_num_cpu_devices", os.cpu_count() or 1)  # CPU: one device per core, as the apps
  device = jax.local_devices()[0]
  accelerator = device.platform != "cpu"
  K = _K.value or (4 if quick else 256 if accelerator else 16)
  steps = _STEPS.value or (20 if quick else 200)
  repeats = _REPEATS.value or (1 if quick else 3)
  batches = [int(b) for b in _BATCHES.value]
  peak, source = device_peak_tflops(device)
  report = {"machine": machine(None), "quick": quick,
            "device": {"kind": device.device_kind, "platform": device.platform, "count": jax.local_device_count(),
                       "peak_tflops": peak, "peak_source": source}}
  report["sweep"] = [sweep_rate(K, b, steps, repeats) for b in batches]
  for r in report["sweep"]:
    print(f"b={r['b']}: {r['config_steps_per_s']:,.0f} config-steps/s, {r['achieved_tflops']:.3g} TFLOP/s", flush=True)
  report["torch"] = [torch_rate(b, max(5, steps // 4), 1 if quick else 4) for b in batches]
  report["paper"] = paper_estimate({r["b"]: r["config_steps_per_s"] for r in report["sweep"]})
  if not accelerator and _PROCESSES.value and not quick and (os.cpu_count() or 1) >= 2:
    report["processes"] = process_scaling()
  report["loadavg_end"] = os.getloadavg()
  report["wall_s"] = time.perf_counter() - start
  report["written"] = datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")
  report["versions"] = rd.results.versions()
  name = f"bench_device_{device.platform}{'_quick' if quick else ''}.json"
  report["json"] = os.path.join("benchmarks", "results", name)
  rd.results.save_json(report["json"], report)
  block = markdown(report)
  print(block)
  if not quick:
    write_markdown(_OUT.value, block, BEGIN, END)


if __name__ == "__main__":
  app.run(main)
