r"""Configuration-steps per second: PyTorch eager loop vs JAX scan loop vs vmapped sweep.

One training problem — the tied ReLU DAE ``f(x) = W [Wᵀx]₊``, ``W (d, p) ~ N(0, 1/d)``,
loss Eq. (6) (``mean_i ‖f(x_i + σε_i) − x_i‖² + λ·2‖W‖_F²``, fresh noise every step),
full-batch Adam with learning rate 1e-3 — over ``K`` configurations that differ in σ
(log-spaced 0.05…1) and seed, timed as

  (a) PyTorch eager, one configuration after another, in the official notebooks' style
      (``nn.Parameter``, ``torch.optim.Adam``, ``zero_grad / backward / step``), float32,
      at ``--torch_threads`` threads and at 1 thread;
  (b) JAX: ``relu_dae.train.train`` called once per configuration in a Python loop;
  (c) JAX: ``jit(vmap(train))`` over all ``K`` configurations at once, on one device;
      (c2) the same with the configurations sharded over ``--cpu_devices`` CPU devices;
      (c3) sharded, each device running its configurations ``--group`` at a time
      (``shard_map`` of ``lax.map(batch_size=group)``);
  (d) ``relu_dae.sweep.run`` end to end (chunk-file I/O and assembly included) on one
      device, and (d2) on all CPU devices (its default), each timed on a run in a fresh
      workdir after a first run that compiled.

Compilation is excluded from every rate and reported separately. Rates are
configuration-steps per second (``K · steps / seconds``), best of ``--repeats``; the
methods are interleaved within each repeat, so a burst of load from other processes
hits them alike. Ratios are to (a) at ``--torch_threads`` threads and to the faster (a).

Then variants of (c) (scan chunk size, matmul precision, PRNG implementation and
lowering, batching layout, sharding) and a profile (time per step against ``K``,
ablations of the step, the top XLA ops of one run from ``jax.profiler``).

Writes ``--json`` atomically (``relu_dae.results.save_json``) and, for a full run or
when ``--out`` is given, the generated block of ``--out`` (BENCHMARKS.md) between the
``bench_sweep`` markers; text outside the markers is kept.

Usage::

  python -m benchmarks.bench_sweep            # full run, ~6 min on 2 cores
  python -m benchmarks.bench_sweep --quick    # smoke run (< 1 min); BENCHMARKS.md untouched
"""

from __future__ import annotations

import collections
import contextlib
import dataclasses
import datetime
import glob
import gzip
import json
import os
import re
import tempfile
import time
from typing import NamedTuple
from collections.abc import Callable

from absl import app
from absl import flags
import jax
import jax.numpy as jnp
from jax.sharding import Mesh, NamedSharding, PartitionSpec
import numpy as np
import optax

import relu_dae as rd
from benchmarks._common import LAM, LEARNING_RATE, machine, timed, torch_loop, write_markdown

try:
  from relu_dae import sweep as rd_sweep
except ImportError:  # the sweep engine is optional for this benchmark
  rd_sweep = None

_QUICK = flags.DEFINE_bool("quick", False, "Smoke run: few configurations and steps, one repeat.")
_OUT = flags.DEFINE_string("out", "BENCHMARKS.md", "Markdown file whose generated block is rewritten "
                           "(a --quick run writes it only when --out is given).")
_JSON = flags.DEFINE_string("json", None, "Results JSON (default benchmarks/results/bench_sweep.json, "
                            "or bench_sweep_quick.json with --quick).")
_REPEATS = flags.DEFINE_integer("repeats", None, "Timed repeats per method (default 3; 1 with --quick).")
_TORCH_THREADS = flags.DEFINE_integer("torch_threads", os.cpu_count(), "torch.set_num_threads for (a).")
_CPU_DEVICES = flags.DEFINE_integer("cpu_devices", os.cpu_count(), "jax_num_cpu_devices, the devices "
                                    "rows (c2), (c3), (d2) shard the configurations over.")
_GROUP = flags.DEFINE_integer("group", 2, "Configurations each device trains at once in row (c3).")
_VARIANTS = flags.DEFINE_bool("variants", True, "Time the variants of (c) and the profile.")

BEGIN, END = "<!-- bench_sweep:begin -->", "<!-- bench_sweep:end -->"


class Problem(NamedTuple):
  """One benchmark size; ``K = num_sigma · num_seeds`` configurations."""
  name: str
  d: int
  p: int
  n: int
  num_sigma: int
  num_seeds: int
  steps: int
  torch_configs: int  # (a) times this many configurations ...
  torch_steps: int  # ... of this many steps each and reports the per-step rate

  @property
  def K(self) -> int:  # noqa: N802  (the paper's K, configurations per chunk)
    return self.num_sigma * self.num_seeds

  def configs(self) -> list[tuple[float, int]]:
    """``(sigma, seed)`` pairs, σ-major (the order of ``relu_dae.sweep``)."""
    sigmas = np.geomspace(0.05, 1.0, self.num_sigma).astype(np.float32)
    return [(float(s), seed) for s in sigmas for seed in range(self.num_seeds)]


FULL = (Problem("d=64, p=16, n=32", 64, 16, 32, 16, 4, 500, 4, 200),
        Problem("d=1024, p=100, n=5", 1024, 100, 5, 8, 2, 300, 4, 100))
QUICK = (Problem("d=64, p=16, n=32", 64, 16, 32, 4, 2, 50, 1, 20),
         Problem("d=1024, p=100, n=5", 1024, 100, 5, 2, 2, 30, 1, 20))


def data(problem: Problem) -> jax.Array:
  """Training data ``(n, d)``: locally sparse (equal negative pairwise cosine), seed 0."""
  return rd.data.locally_sparse(jax.random.PRNGKey(0), n=problem.n, d=problem.d)


def train_config(problem: Problem, **kw) -> rd.train.TrainConfig:
  kw = {"steps": problem.steps, **kw}
  return rd.train.TrainConfig(lam=LAM, optimizer="adam", learning_rate=LEARNING_RATE, **kw)


# ---------------------------------------------------------------------------- timing


@dataclasses.dataclass
class Timing:
  """One method: the configuration-steps per call, each call's seconds, compile seconds."""
  config_steps: int
  note: str = ""
  compile_s: float | None = None
  seconds: list = dataclasses.field(default_factory=list)

  @property
  def rate(self) -> float:
    """Configuration-steps per second, best call."""
    return self.config_steps / min(self.seconds)

  def summary(self) -> dict:
    return {"config_steps_per_s": self.rate, "config_steps_per_call": self.config_steps,
            "seconds": self.seconds, "compile_s": self.compile_s, "note": self.note}


def interleave(methods: dict, timings: dict, repeats: int) -> None:
  """Calls every method once per repeat, in turn, appending to its timing."""
  for _ in range(repeats):
    for name, call in methods.items():
      timings[name].seconds.append(timed(call))


# ---------------------------------------------------------------------------- (a) torch


def torch_method(problem: Problem, X: jax.Array, threads: int) -> Callable[[], object]:
  """(a) at ``threads`` torch threads; returns the timed call (after a warm-up)."""
  import torch  # pylint: disable=g-import-not-at-top
  Xn = np.asarray(X, np.float32)
  configs = problem.configs()[:problem.torch_configs]

  def call():
    torch.set_num_threads(threads)
    return torch_loop(Xn, configs, problem.p, problem.torch_steps)

  torch.set_num_threads(threads)
  torch_loop(Xn, configs[:1], problem.p, 5)
  return call


# ---------------------------------------------------------------------------- (b), (c) jax


def one_config(cfg: rd.train.TrainConfig, d: int, p: int):
  """``(k_init, k_train, sigma, X) -> (params, history)`` for one configuration."""
  def one(k_init, k_train, sigma, X):
    return rd.train.train(rd.model.init(k_init, d, p), X, k_train, cfg, sigma=sigma)
  return one


def config_args(problem: Problem) -> tuple[jax.Array, jax.Array, jax.Array]:
  """``(k_init, k_train, sigma)``, each ``(K, ...)``; keys as ``relu_dae.sweep`` derives them."""
  configs = problem.configs()
  pairs = [jax.random.split(jax.random.PRNGKey(seed)) for _, seed in configs]
  return (jnp.stack([k[0] for k in pairs]), jnp.stack([k[1] for k in pairs]),
          jnp.asarray([s for s, _ in configs], jnp.float32))


def compiled(fn, *args) -> tuple[Callable[[], object], float]:
  """``jit(fn)`` compiled ahead of time for ``args``; returns ``(call, compile_s)``."""
  start = time.perf_counter()
  exe = jax.jit(fn).lower(*args).compile()
  return (lambda: exe(*args)), time.perf_counter() - start


def jax_loop_method(problem: Problem, X: jax.Array) -> tuple[Callable[[], object], float]:
  """(b): ``train`` per configuration in a Python loop; returns ``(call, compile_s)``."""
  cfg = train_config(problem)
  k_init, k_train, sigmas = config_args(problem)
  start = time.perf_counter()
  params0 = rd.model.init(k_init[0], problem.d, problem.p)
  jax.block_until_ready(rd.train.train(params0, X, k_train[0], cfg, sigma=sigmas[0]))  # compiles (and runs once)
  compile_s = time.perf_counter() - start

  def call():
    out = None
    for i in range(problem.K):
      out = rd.train.train(rd.model.init(k_init[i], problem.d, problem.p), X, k_train[i], cfg,
                           sigma=sigmas[i])
      jax.block_until_ready(out)
    return out

  return call, compile_s


def vmap_method(problem: Problem, X: jax.Array, cfg: rd.train.TrainConfig | None = None):
  """(c): ``jit(vmap(train))`` over all configurations; returns ``(call, compile_s)``."""
  one = one_config(cfg or train_config(problem), problem.d, problem.p)
  return compiled(jax.vmap(one, in_axes=(0, 0, 0, None)), *config_args(problem), X)


def mesh() -> Mesh:
  return Mesh(np.array(jax.devices()), ("config",))


def sharded_method(problem: Problem, X: jax.Array, group: int | None = None):
  """(c2) ``group=None``: ``vmap`` with the configuration axis sharded over the devices;
  (c3): ``shard_map`` over the devices of ``lax.map(batch_size=group)``."""
  m = mesh()
  spec = NamedSharding(m, PartitionSpec("config"))
  args = [jax.device_put(a, spec) for a in config_args(problem)]
  X = jax.device_put(X, NamedSharding(m, PartitionSpec()))
  one = one_config(train_config(problem), problem.d, problem.p)
  if group is None:
    return compiled(jax.vmap(one, in_axes=(0, 0, 0, None)), *args, X)
  fn = lambda ki, kt, s, X: jax.lax.map(lambda a: one(*a, X), (ki, kt, s), batch_size=group)
  # check_vma=False: train()'s scan carry starts replicated (step counters) and turns varying.
  fn = jax.shard_map(fn, mesh=m, in_specs=(PartitionSpec("config"),) * 3 + (PartitionSpec(),),
                     out_specs=PartitionSpec("config"), check_vma=False)
  return compiled(fn, *args, X)


def grouped_method(problem: Problem, X: jax.Array, group: int):
  """(c) on one device, ``lax.map(batch_size=group)`` over the configurations."""
  one = one_config(train_config(problem), problem.d, problem.p)
  fn = lambda ki, kt, s, X: jax.lax.map(lambda a: one(*a, X), (ki, kt, s), batch_size=group)
  return compiled(fn, *config_args(problem), X)


# ---------------------------------------------------------------------------- (d) sweep


def sweep_method(problem: Problem, X: jax.Array, devices, max_chunk: int = 256):
  """(d): ``relu_dae.sweep.run`` in a fresh workdir per call; ``(call, first_run_s)``."""
  sigmas = tuple(sorted({s for s, _ in problem.configs()}))
  grid = rd_sweep.Grid(n=(problem.n,), sigma=sigmas, lam=(LAM,), seed=tuple(range(problem.num_seeds)))
  train = dataclasses.replace(train_config(problem), lam=rd.train.TrainConfig().lam)  # λ comes from the grid
  config = rd_sweep.SweepConfig(train=train, p_max=problem.p, max_chunk=max_chunk)
  pool = np.asarray(X)

  def call():
    with tempfile.TemporaryDirectory() as workdir:
      stem = rd_sweep.run(grid, config, workdir, pool=pool, progress=False, devices=devices)
      return rd_sweep.load(stem).params

  return call, timed(call)


# ---------------------------------------------------------------------------- main table


def main_methods(problem: Problem, X: jax.Array, threads: int, group: int) -> dict:
  """Name → ``(call, Timing)`` for the rows of the main table (compiling as it goes)."""
  K, steps = problem.K, problem.steps
  torch_work = problem.torch_configs * problem.torch_steps
  out = {}
  for t in dict.fromkeys([threads, 1]):
    out[f"a_torch_{t}t"] = (torch_method(problem, X, t), Timing(
        torch_work, f"{problem.torch_configs} configs × {problem.torch_steps} steps, {t} thread(s)"))
  jax_rows = {"b_jax_loop": (lambda: jax_loop_method(problem, X), "one compile, reused"),
              "c_vmap": (lambda: vmap_method(problem, X), "one device")}
  ndev = len(jax.devices())
  if ndev > 1 and K % ndev == 0:
    jax_rows["c2_sharded"] = (lambda: sharded_method(problem, X), f"{ndev} CPU devices")
    if (K // ndev) % group == 0 and K // ndev > group:
      jax_rows["c3_sharded_grouped"] = (lambda: sharded_method(problem, X, group),
                                        f"{ndev} CPU devices, lax.map(batch_size={group}) each")
  if rd_sweep is not None:
    jax_rows["d_sweep"] = (lambda: sweep_method(problem, X, jax.devices()[:1]),
                           "one device; compile s = first run − best run")
    if ndev > 1:
      jax_rows["d2_sweep_sharded"] = (lambda: sweep_method(problem, X, None),
                                      f"{ndev} CPU devices; compile s = first run − best run")
      if K > group * ndev:
        jax_rows["d3_sweep_chunked"] = (lambda: sweep_method(problem, X, None, group * ndev),
                                        f"{ndev} CPU devices, max_chunk={group * ndev} "
                                        f"({K // (group * ndev)} chunks); compile s = first − best")
  for name, (build, note) in jax_rows.items():
    call, compile_s = build()
    out[name] = (call, Timing(K * steps, note, compile_s))
  return out


def measure(problem: Problem, repeats: int, threads: int, group: int, check: bool = True) -> dict:
  """Times the rows of the main table, interleaved per repeat."""
  X = data(problem)
  built = main_methods(problem, X, threads, group)
  timings = {name: t for name, (_, t) in built.items()}
  interleave({name: c for name, (c, _) in built.items()}, timings, repeats)
  # First run − best compiled run = the compile (and cache) cost of the sweep rows.
  for name in ("d_sweep", "d2_sweep_sharded", "d3_sweep_chunked"):
    if name in timings:
      timings[name].compile_s -= min(timings[name].seconds)
  base = timings[f"a_torch_{threads}t"].rate
  best_torch = max(t.rate for name, t in timings.items() if name.startswith("a_"))
  out = {name: {**t.summary(), "ratio_vs_a": t.rate / base, "ratio_vs_best_a": t.rate / best_torch}
         for name, t in timings.items()}
  return {"problem": problem._asdict(), "K": problem.K, "methods": out,
          "agreement": agreement(problem, X) if check else None}


def agreement(problem: Problem, X: jax.Array) -> float:
  """Max |W_(b) − W_(c)| for the first configuration after 20 steps: the same model."""
  one = one_config(train_config(problem, steps=20), problem.d, problem.p)
  k_init, k_train, sigmas = config_args(problem)
  W_b = one(k_init[0], k_train[0], sigmas[0], X)[0]["W"]
  W_c = jax.jit(jax.vmap(one, in_axes=(0, 0, 0, None)))(k_init, k_train, sigmas, X)[0]["W"][0]
  return float(jnp.max(jnp.abs(W_b - W_c)))


# ---------------------------------------------------------------------------- variants of (c)


@contextlib.contextmanager
def prng_impl(name: str):
  """Temporarily sets ``jax_default_prng_impl`` (keys are made inside the context)."""
  old = jax.config.jax_default_prng_impl
  jax.config.update("jax_default_prng_impl", name)
  try:
    yield
  finally:
    jax.config.update("jax_default_prng_impl", old)


@contextlib.contextmanager
def unrolled_threefry():
  """Lowers threefry2x32 on CPU with its 20 rounds unrolled, as on GPU (private JAX API).

  JAX's CPU lowering rolls the rounds into a 5-trip ``while`` loop (smaller programs,
  faster compiles); every trip is a separate XLA thunk, so noise generation runs as
  many small kernels.
  """
  from jax._src import prng  # pylint: disable=g-import-not-at-top
  from jax._src.interpreters import mlir  # pylint: disable=g-import-not-at-top
  mlir.register_lowering(prng.threefry2x32_p, prng._threefry2x32_lowering_rule, platform="cpu")
  try:
    yield
  finally:
    mlir.register_lowering(prng.threefry2x32_p, prng._threefry2x32_cpu_lowering_rule, platform="cpu")


def _inside(context: Callable, build: Callable):
  """Builds a method inside ``context()`` (compilation sees the context)."""
  with context():
    return build()


def variant_methods(problem: Problem, X: jax.Array) -> dict:
  """Name → (description, builder returning ``(call, compile_s)``) for the variants of (c)."""
  vm = lambda **kw: (lambda: vmap_method(problem, X, train_config(problem, **kw)))
  out = {"baseline": ("(c) jit(vmap(train)), one scan of all steps", vm())}
  for c in (10, 50):
    out[f"chunk_{c}"] = (f"scan chunk_size={c} (nested scans)", vm(chunk_size=c))
  for prec in ("highest", "bfloat16"):
    out[f"precision_{prec}"] = (f"jax.default_matmul_precision('{prec}')",
                                lambda prec=prec: _inside(lambda: jax.default_matmul_precision(prec), vm()))
  for impl in ("rbg", "unsafe_rbg"):
    out[f"prng_{impl}"] = (f"jax_default_prng_impl='{impl}' (keys and noise)",
                           lambda impl=impl: _inside(lambda: prng_impl(impl), vm()))
  out["threefry_unrolled"] = ("threefry rounds unrolled on CPU (private lowering)",
                              lambda: _inside(unrolled_threefry, vm()))
  for g in (2, 4, 8):
    if g < problem.K:
      out[f"lax_map_{g}"] = (f"lax.map(batch_size={g}) over configs, one device",
                             lambda g=g: grouped_method(problem, X, g))
  ndev = len(jax.devices())
  if ndev > 1 and problem.K % ndev == 0:
    out["sharded"] = (f"(c2) configs sharded over {ndev} CPU devices", lambda: sharded_method(problem, X))
    for g in (1, 2, 4, 8):
      if (problem.K // ndev) % g == 0 and problem.K // ndev > g:
        out[f"sharded_group_{g}"] = (f"sharded over {ndev} devices, lax.map(batch_size={g}) each",
                                     lambda g=g: sharded_method(problem, X, g))
    out["sharded_unrolled"] = (f"sharded over {ndev} devices + unrolled threefry",
                               lambda: _inside(unrolled_threefry, lambda: sharded_method(problem, X)))
  return out


def measure_variants(problem: Problem, repeats: int, only=None) -> dict:
  """Variants of (c) on ``problem``, interleaved per repeat (``only``: names to keep)."""
  X = data(problem)
  built, timings = {}, {}
  for name, (desc, build) in variant_methods(problem, X).items():
    if only is None or name in only:
      built[name], compile_s = build()
      timings[name] = Timing(problem.K * problem.steps, desc, compile_s)
  interleave(built, timings, repeats)
  base = timings["baseline"].rate
  return {"problem": problem._asdict(),
          "variants": {k: {**t.summary(), "vs_baseline": t.rate / base} for k, t in timings.items()}}


# ---------------------------------------------------------------------------- profile


def lean_trainer(d: int, p: int, steps: int, *, guard: bool, noise: str, penalty: bool = True):
  """A minimal scan trainer for ablations (not ``relu_dae.train``): Adam on Eq. (6).

  ``noise``: ``"rows"`` (per-row ``fold_in`` streams, as ``losses.sample_noise``),
  ``"matrix"`` (one ``jax.random.normal`` draw) or ``"none"`` (σε replaced by a constant;
  a lower bound, not a valid trainer). ``guard`` adds a non-finite check and freeze like
  ``train``'s; ``penalty`` computes the ``λ·2‖W‖²`` term (with λ = 0, as ``train`` does for a
  traced λ).
  """
  opt = optax.adam(LEARNING_RATE)

  def draw(k, X):
    if noise == "rows":
      return rd.losses.sample_noise(k, X.shape[0], 1, d)[0]
    if noise == "matrix":
      return jax.random.normal(k, X.shape)
    return jnp.full(X.shape, 0.5)

  def run(k_init, k_train, sigma, X):
    W = rd.model.init(k_init, d, p)["W"]
    lam = jnp.float32(LAM)

    def loss_fn(W, k):
      Y = X + sigma * draw(k, X)
      loss = jnp.mean(jnp.sum((jax.nn.relu(Y @ W) @ W.T - X) ** 2, -1))
      return loss + lam * 2 * jnp.sum(W ** 2) if penalty else loss

    def step(carry, k):
      W, state = carry
      loss, g = jax.value_and_grad(loss_fn)(W, k)
      updates, new_state = opt.update(g, state, W)
      new = (W + updates, new_state)
      if guard:
        ok = jnp.isfinite(loss) & jnp.all(jnp.isfinite(g))
        new = jax.tree.map(lambda a, b: jnp.where(ok, a, b), new, carry)
      return new, loss

    (W, _), losses = jax.lax.scan(step, (W, opt.init(W)), jax.random.split(k_train, steps))
    return W, losses
  return run


ABLATIONS = {"train() (row (c))": None,
             "lean: guard, penalty, row noise (≈ train)": dict(guard=True, noise="rows"),
             "lean: − guard": dict(guard=False, noise="rows"),
             "lean: − guard − penalty": dict(guard=False, noise="rows", penalty=False),
             "lean: − guard − penalty, one-draw noise": dict(guard=False, noise="matrix", penalty=False),
             "lean: − guard − penalty − noise (bound)": dict(guard=False, noise="none", penalty=False)}


def scaling(problem: Problem, Ks, repeats: int) -> dict:
  """Seconds per vmapped step of (c) against the number of configurations K (interleaved)."""
  X = data(problem)
  built, timings = {}, {}
  for K in Ks:
    built[str(K)], compile_s = vmap_method(problem._replace(num_sigma=K, num_seeds=1), X)
    timings[str(K)] = Timing(K * problem.steps, compile_s=compile_s)
  interleave(built, timings, repeats)
  out = {}
  for K, t in timings.items():
    best = min(t.seconds)
    out[K] = {"us_per_step": best / problem.steps * 1e6, "us_per_config_step": 1e6 / t.rate,
              "config_steps_per_s": t.rate, "compile_s": t.compile_s, "seconds": t.seconds}
  return out


def ablations(problem: Problem, repeats: int, names=None) -> dict:
  """Rates of (c) and of lean trainers with parts of the step removed (interleaved)."""
  X = data(problem)
  args = config_args(problem)
  built, timings = {}, {}
  for name, kw in ABLATIONS.items():
    if names is None or name in names:
      fn = (one_config(train_config(problem), problem.d, problem.p) if kw is None else
            lean_trainer(problem.d, problem.p, problem.steps, **kw))
      built[name], compile_s = compiled(jax.vmap(fn, in_axes=(0, 0, 0, None)), *args, X)
      timings[name] = Timing(problem.K * problem.steps, compile_s=compile_s)
  interleave(built, timings, repeats)
  return {name: {"config_steps_per_s": t.rate, "us_per_step": min(t.seconds) / problem.steps * 1e6,
                 "seconds": t.seconds} for name, t in timings.items()}


_WRAPPERS = ("ThunkExecutor", "$", "SlinkyThreadPool", "PjRt", "Pjit", "TfrtCpu", "CommonPjRt")


def self_times(events) -> tuple[collections.Counter, collections.Counter]:
  """Exclusive seconds and call counts per op name of complete trace events.

  An op nested in another on the same thread (a fusion inside a ``while``) is subtracted
  from its parent; host-side wrappers (:data:`_WRAPPERS`) are dropped.
  """
  total, calls = collections.Counter(), collections.Counter()
  by_thread = collections.defaultdict(list)
  for e in events:
    if e.get("ph") == "X" and "dur" in e:
      by_thread[(e.get("pid"), e.get("tid"))].append(e)
  for evs in by_thread.values():
    stack = []
    for e in sorted(evs, key=lambda e: (e["ts"], -e["dur"])):
      while stack and e["ts"] >= stack[-1]["ts"] + stack[-1]["dur"]:
        stack.pop()
      name = str(e.get("name", ""))
      if not name.startswith(_WRAPPERS):
        total[name] += e["dur"] * 1e-6
        calls[name] += 1
        parent = next((s for s in reversed(stack) if not str(s.get("name", "")).startswith(_WRAPPERS)), None)
        if parent is not None:
          total[str(parent["name"])] -= e["dur"] * 1e-6
      stack.append(e)
  return total, calls


def top_ops(problem: Problem, top: int = 10) -> dict:
  """The XLA ops of one run of (c) with the most (exclusive) time, from ``jax.profiler``."""
  X = data(problem)
  call, _ = vmap_method(problem, X)
  timed(call)
  with tempfile.TemporaryDirectory() as logdir:
    jax.profiler.start_trace(logdir)
    wall = timed(call)
    jax.profiler.stop_trace()
    files = glob.glob(os.path.join(logdir, "**", "*.trace.json.gz"), recursive=True)
    events = []
    if files:
      with gzip.open(files[0]) as f:
        events = json.load(f).get("traceEvents", [])
  total, calls = self_times(events)
  counts, origin = hlo_info(problem, X)
  ops = [{"op": k, "seconds": v, "share": v / wall, "calls": calls[k], "origin": origin.get(k, "")}
         for k, v in total.most_common(top)]
  return {"wall_s": wall, "ops": ops, "traced_s": sum(total.values()), "hlo": counts}


def hlo_info(problem: Problem, X: jax.Array) -> tuple[dict, dict]:
  """Counts of the optimized HLO of (c), and each instruction's JAX ``op_name`` (shortened)."""
  fn = jax.vmap(one_config(train_config(problem), problem.d, problem.p), in_axes=(0, 0, 0, None))
  text = jax.jit(fn).lower(*config_args(problem), X).compile().as_text()
  body = [l.strip() for l in text.splitlines() if " = " in l]
  counts = {"instructions": len(body), "fusions": sum(" fusion(" in l for l in body),
            "dots": sum(" dot(" in l for l in body), "whiles": sum(" while(" in l for l in body)}
  origin = {}
  for l in body:
    name, op = re.match(r"(?:ROOT )?%?([^ ]+) = ", l), re.search(r'op_name="([^"]*)"', l)
    if name and op:
      parts = [q for q in op.group(1).split("/") if q not in ("closed_call", "body", "vmap(vmap())")]
      origin[name.group(1)] = "/".join(parts[-3:])
  return counts, origin


def measure_profile(problem: Problem, repeats: int, Ks, names=None) -> dict:
  return {"problem": problem._asdict(), "scaling_K": scaling(problem, Ks, repeats),
          "ablations": ablations(problem, repeats, names), "trace": top_ops(problem)}


# ---------------------------------------------------------------------------- machine


# ---------------------------------------------------------------------------- report


def _fmt(x: float) -> str:
  return f"{x:,.0f}" if x >= 100 else f"{x:.3g}"


def _sec(x) -> str:
  return "–" if x is None else f"{x:.1f}"


LABELS = {"b_jax_loop": "(b) JAX `train` per config, Python loop",
          "c_vmap": "(c) JAX `jit(vmap(train))`",
          "c2_sharded": "(c2) (c), configs sharded over CPU devices",
          "c3_sharded_grouped": "(c3) sharded, `lax.map(batch_size=g)` per device",
          "d_sweep": "(d) `relu_dae.sweep.run` end to end",
          "d2_sweep_sharded": "(d2) `relu_dae.sweep.run`, all CPU devices",
          "d3_sweep_chunked": "(d3) (d2) with `SweepConfig(max_chunk=g·devices)`"}


def _label(name: str) -> str:
  if name.startswith("a_torch_"):
    return f"(a) PyTorch eager loop, {name[len('a_torch_'):-1]} thread(s)"
  return LABELS[name]


def main_table(res: dict) -> list[str]:
  pb = res["problem"]
  rows = [f"#### {pb['name']}: K = {res['K']} configurations ({pb['num_sigma']} σ × {pb['num_seeds']} "
          f"seeds), {pb['steps']} steps", "",
          "| method | config-steps/s | vs (a) | vs faster (a) | compile s | timed per call |",
          "|---|---:|---:|---:|---:|---|"]
  for name, m in res["methods"].items():
    rows.append(f"| {_label(name)} | {_fmt(m['config_steps_per_s'])} | {m['ratio_vs_a']:.1f}× | "
                f"{m['ratio_vs_best_a']:.1f}× | {_sec(m['compile_s'])} | "
                f"{m['config_steps_per_call']:,} config-steps; {m['note']} |")
  if "d_sweep" not in res["methods"]:
    rows.append("| (d) `relu_dae.sweep.run` | TODO: `relu_dae.sweep` is not importable in this checkout "
                "| | | | |")
  if res["agreement"] is not None:
    rows += ["", f"max \\|W(b) − W(c)\\| after 20 steps, first configuration: {res['agreement']:.1e}"]
  return rows + [""]


def variants_table(res: dict) -> list[str]:
  pb = res["problem"]
  rows = [f"#### Variants of (c) at {pb['name']}, K = {pb['num_sigma'] * pb['num_seeds']}, "
          f"{pb['steps']} steps", "", "| variant | config-steps/s | vs (c) | compile s |",
          "|---|---:|---:|---:|"]
  for v in res["variants"].values():
    rows.append(f"| {v['note']} | {_fmt(v['config_steps_per_s'])} | {v['vs_baseline']:.2f}× | "
                f"{_sec(v['compile_s'])} |")
  return rows + [""]


def profile_table(res: dict) -> list[str]:
  pb = res["problem"]
  K = pb["num_sigma"] * pb["num_seeds"]
  rows = [f"#### Profile of (c) at {pb['name']} ({pb['steps']} steps)", "",
          "| K | µs per vmapped step | µs per config-step | config-steps/s |", "|---:|---:|---:|---:|"]
  for k, s in res["scaling_K"].items():
    rows.append(f"| {k} | {s['us_per_step']:.0f} | {s['us_per_config_step']:.1f} | "
                f"{_fmt(s['config_steps_per_s'])} |")
  rows += ["", f"Ablations (K = {K}):", "", "| step | config-steps/s | µs per vmapped step |",
           "|---|---:|---:|"]
  for name, a in res["ablations"].items():
    rows.append(f"| {name} | {_fmt(a['config_steps_per_s'])} | {a['us_per_step']:.0f} |")
  tr = res["trace"]
  rows += ["", f"Top XLA ops of one run of (c) (K = {K}, `jax.profiler`, {tr['wall_s']:.2f} s wall, "
           f"exclusive times; all ops together {tr.get('traced_s', 0):.2f} s):", "",
           "| op | JAX origin (op_name) | calls | s | share of wall |", "|---|---|---:|---:|---:|"]
  for o in tr["ops"]:
    origin = f"`{o['origin']}`" if o.get("origin") else ""
    rows.append(f"| `{o['op']}` | {origin} | {o['calls']} | {o['seconds']:.3f} | {100 * o['share']:.0f} % |")
  if "hlo" in tr:
    h = tr["hlo"]
    rows += ["", f"Optimized HLO of (c): {h['instructions']} instructions, {h['fusions']} fusions, "
             f"{h['dots']} dots, {h['whiles']} while loops."]
  return rows + [""]


def markdown(report: dict) -> str:
  m = report["machine"]
  lines = [BEGIN, "", f"_Generated by `python -m benchmarks.bench_sweep` on {report['written']} "
           f"in {report['wall_s']:.0f} s; raw numbers in `{report['json']}`._", "",
           f"**Machine.** {m['cpu']}, {m['cores']} cores ({', '.join(m['isa'])}), {m['ram_gib']:.0f} GiB "
           f"RAM, no GPU; {m['platform']}; Python {m['python']}; jax {m['jax']} / jaxlib {m['jaxlib']} "
           f"({m['backend']}, {m['cpu_devices']} CPU devices via `jax_num_cpu_devices`); torch "
           f"{m['torch']} (`torch.set_num_threads({m['torch_threads']})`); numpy {m['numpy']}; optax "
           f"{m['optax']}; XLA_FLAGS `{m['xla_flags'] or '(unset)'}`. Load average (1, 5, 15 min): "
           f"{_load(m['loadavg_start'])} at start, {_load(report['loadavg_end'])} at end.", "",
           "Rates: best of the interleaved repeats; compile times excluded and listed. (a) times a "
           "subset of the configurations (last column) and is reported per configuration-step. "
           f"“vs (a)”: ratio to (a) at {m['torch_threads']} threads; “vs faster (a)”: to the faster of "
           "(a) at that many threads and at 1 thread.", ""]
  for res in report["main"]:
    lines += main_table(res)
  for res in report.get("variants", []):
    lines += variants_table(res)
  for res in report.get("profile", []):
    lines += profile_table(res)
  return "\n".join(lines + [END])


def _load(avg) -> str:
  return ", ".join(f"{x:.1f}" for x in avg)


# ---------------------------------------------------------------------------- main


def run_all(quick: bool, repeats: int, threads: int, group: int) -> dict:
  """Every measurement; prints each table as it is done."""
  problems = QUICK if quick else FULL
  report = {"main": [], "variants": [], "profile": []}
  for problem in problems:
    report["main"].append(measure(problem, repeats, threads, group, check=not quick))
    print("\n".join(main_table(report["main"][-1])), flush=True)
  if not _VARIANTS.value:
    return report
  only = ("baseline", "threefry_unrolled") if quick else None
  for problem in (problems[-1:] if quick else problems):
    report["variants"].append(measure_variants(problem._replace(steps=20 if quick else 100),
                                               repeats, only))
    print("\n".join(variants_table(report["variants"][-1])), flush=True)
  Ks = ((2,),) if quick else ((1, 4, 16, 64, 256), (1, 2, 4, 8, 16))
  for problem, ks in list(zip(problems, Ks))[:1 if quick else 2]:
    names = ("lean: − guard − penalty − noise (bound)",) if quick else None
    report["profile"].append(measure_profile(problem._replace(steps=20 if quick else 100),
                                             repeats, ks, names))
    print("\n".join(profile_table(report["profile"][-1])), flush=True)
  return report


def main(argv):
  del argv
  jax.config.update("jax_num_cpu_devices", _CPU_DEVICES.value)
  quick = _QUICK.value
  start = time.perf_counter()
  json_path = _JSON.value or os.path.join("benchmarks", "results",
                                          "bench_sweep_quick.json" if quick else "bench_sweep.json")
  report = {"machine": machine(_TORCH_THREADS.value), "quick": quick, "json": json_path}
  report.update(run_all(quick, _REPEATS.value or (1 if quick else 3), _TORCH_THREADS.value, _GROUP.value))
  report["loadavg_end"] = os.getloadavg()
  report["wall_s"] = time.perf_counter() - start
  report["written"] = datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")
  report["versions"] = rd.results.versions()
  rd.results.save_json(json_path, report)
  write_md = not quick or flags.FLAGS["out"].present
  if write_md:
    write_markdown(_OUT.value, markdown(report), BEGIN, END)
  print(f"wrote {json_path}" + (f" and {_OUT.value}" if write_md else "") + f" in {report['wall_s']:.0f} s")


if __name__ == "__main__":
  app.run(main)
