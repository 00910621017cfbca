r"""Configuration-steps per second: PyTorch eager loop vs JAX scan loop vs vmapped sweep.

One training problem — the tied ReLU DAE ``f(x) = W [Wᵀx]₊``, ``W (d, p) ~ N(0, 1/d)``,
loss Eq. (6) (``mean_i ‖f(x_i + σε_i) − x_i‖² + λ·2‖W‖_F²``, fresh noise every step),
full-batch Adam with learning rate 1e-3 — over ``K`` configurations that differ in σ
(log-spaced 0.05…1) and seed, timed four ways:

  (a) PyTorch eager, one configuration after another, in the official notebooks' style
      (``nn.Parameter``, ``torch.optim.Adam``, ``zero_grad / backward / step``), float32;
  (b) JAX: ``relu_dae.train.train`` called once per configuration in a Python loop
      (one compile, excluded and reported separately);
  (c) JAX: ``jit(vmap(train))`` over all ``K`` configurations at once;
  (d) ``relu_dae.sweep.run`` end to end (chunk-file I/O and assembly included), timed
      on a second run in a fresh workdir so that compilation is excluded.

Rates are configuration-steps per second (``K · steps / seconds``), best of
``--repeats`` (the methods are interleaved within each repeat, so a burst of load from
other processes hits them alike). Ratios are to (a) at ``--torch_threads`` threads.
Then variants of (c) at the larger size (scan chunk size, matmul precision, PRNG,
batching layout) and a profile (time per step against ``K``; ablations of the step).

Writes ``--json`` atomically (``relu_dae.results.save_json``) and, for a full run or
when ``--out`` is given, the generated block of ``--out`` (BENCHMARKS.md) between the
``bench_sweep`` markers; text outside the markers is kept.

Usage::

  python -m benchmarks.bench_sweep            # full run, ~8 min on 2 cores
  python -m benchmarks.bench_sweep --quick    # ~30 s smoke run; BENCHMARKS.md untouched
"""

from __future__ import annotations

import contextlib
import dataclasses
import datetime
import math
import os
import platform
import tempfile
import time
from typing import Callable, NamedTuple

from absl import app
from absl import flags
import jax
import jax.numpy as jnp
import numpy as np
import optax

import relu_dae as rd

try:
  from relu_dae import sweep as rd_sweep
except ImportError:  # the sweep engine is optional for this benchmark
  rd_sweep = None

_QUICK = flags.DEFINE_bool("quick", False, "Smoke run (~30 s): few configurations and steps.")
_OUT = flags.DEFINE_string("out", "BENCHMARKS.md", "Markdown file whose generated block is rewritten "
                           "(a --quick run writes it only when --out is given).")
_JSON = flags.DEFINE_string("json", None, "Results JSON (default benchmarks/results/bench_sweep.json, "
                            "or bench_sweep_quick.json with --quick).")
_REPEATS = flags.DEFINE_integer("repeats", None, "Timed repeats per method (default 3; 1 with --quick).")
_TORCH_THREADS = flags.DEFINE_integer("torch_threads", os.cpu_count(), "torch.set_num_threads for (a).")
_VARIANTS = flags.DEFINE_bool("variants", True, "Time the variants of (c) and the profile.")

LEARNING_RATE = 1e-3
LAM = 0.0
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
  def K(self) -> int:
    return self.num_sigma * self.num_seeds

  def configs(self) -> list[tuple[float, int]]:
    """``(sigma, seed)`` pairs, σ-major (the order of ``relu_dae.sweep``)."""
    sigmas = np.geomspace(0.05, 1.0, self.num_sigma).astype(np.float32)
    return [(float(s), seed) for s in sigmas for seed in range(self.num_seeds)]


FULL = (Problem("d=64, p=16, n=32", 64, 16, 32, 16, 4, 500, 4, 200),
        Problem("d=1024, p=100, n=5", 1024, 100, 5, 8, 2, 300, 2, 100))
QUICK = (Problem("d=64, p=16, n=32", 64, 16, 32, 4, 2, 50, 1, 20),
         Problem("d=1024, p=100, n=5", 1024, 100, 5, 2, 2, 30, 1, 20))


def data(problem: Problem) -> jax.Array:
  """Training data ``(n, d)``: locally sparse (equal negative pairwise cosine), seed 0."""
  return rd.data.locally_sparse(jax.random.PRNGKey(0), n=problem.n, d=problem.d)


def train_config(problem: Problem, steps: int | None = None, **kw) -> rd.train.TrainConfig:
  return rd.train.TrainConfig(steps=steps or problem.steps, lam=LAM, optimizer="adam",
                              learning_rate=LEARNING_RATE, **kw)


# ---------------------------------------------------------------------------- timing


def timed(fn: Callable[[], object]) -> float:
  """Wall seconds of ``fn()``, with its JAX outputs ready."""
  start = time.perf_counter()
  jax.block_until_ready(fn())
  return time.perf_counter() - start


@dataclasses.dataclass
class Timing:
  """Timings of one method: the work per timed call and each call's seconds."""
  config_steps: int
  seconds: list = dataclasses.field(default_factory=list)
  compile_s: float | None = None
  note: str = ""

  @property
  def rate(self) -> float:
    """Configuration-steps per second, best call."""
    return self.config_steps / min(self.seconds)

  def summary(self) -> dict:
    return {"config_steps_per_s": self.rate, "config_steps_per_call": self.config_steps,
            "seconds": self.seconds, "compile_s": self.compile_s, "note": self.note}


# ---------------------------------------------------------------------------- (a) torch


def torch_loop(X: np.ndarray, configs, p: int, steps: int) -> float:
  """The official notebooks' loop: a fresh parameter and optimizer per configuration."""
  import torch  # pylint: disable=g-import-not-at-top
  Xt = torch.tensor(X)
  d = Xt.shape[1]
  loss = None
  for sigma, seed in configs:
    torch.manual_seed(seed)
    W = torch.nn.Parameter(torch.randn(d, p) / math.sqrt(d))
    opt = torch.optim.Adam([W], lr=LEARNING_RATE)
    for _ in range(steps):
      noise = torch.randn_like(Xt)
      out = torch.relu((Xt + sigma * noise) @ W) @ W.T
      loss = ((out - Xt) ** 2).sum(dim=1).mean() + LAM * 2 * (W ** 2).sum()
      opt.zero_grad()
      loss.backward()
      opt.step()
  return float(loss.detach())


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


def keys_for(configs) -> tuple[jax.Array, jax.Array]:
  """Per-configuration ``(k_init, k_train)`` exactly as ``relu_dae.sweep`` derives them."""
  pairs = [jax.random.split(jax.random.PRNGKey(seed)) for _, seed in configs]
  return jnp.stack([k[0] for k in pairs]), jnp.stack([k[1] for k in pairs])


def one_config(cfg: rd.train.TrainConfig, d: int, p: int):
  """``(k_init, k_train, sigma, X) -> (params, history)`` for one configuration."""
  def one(k_init, k_train, sigma, X):
    return rd.train.train(rd.model.init(k_init, d, p), X, k_train, cfg, sigma=sigma)
  return one


def jax_loop_method(problem: Problem, X: jax.Array) -> tuple[Callable[[], object], float]:
  """(b): ``train`` per configuration in a Python loop; returns ``(call, compile_s)``."""
  cfg = train_config(problem)
  configs = problem.configs()
  k_init, k_train = keys_for(configs)
  sigmas = [jnp.float32(s) for s, _ in configs]
  params0 = rd.model.init(k_init[0], problem.d, problem.p)
  start = time.perf_counter()
  rd.train.train.lower(params0, X, k_train[0], cfg, sigma=sigmas[0]).compile()
  compile_s = time.perf_counter() - start

  def call():
    out = None
    for i, s in enumerate(sigmas):
      out = rd.train.train(rd.model.init(k_init[i], problem.d, problem.p), X, k_train[i], cfg, sigma=s)
      jax.block_until_ready(out)
    return out

  return call, compile_s


def compiled(fn, *args) -> tuple[Callable[[], object], float]:
  """``jit(fn)`` compiled ahead of time for ``args``; returns ``(call, compile_s)``."""
  jitted = jax.jit(fn)
  start = time.perf_counter()
  exe = jitted.lower(*args).compile()
  return (lambda: exe(*args)), time.perf_counter() - start


def vmap_method(problem: Problem, X: jax.Array, cfg: rd.train.TrainConfig | None = None):
  """(c): ``jit(vmap(train))`` over all configurations; returns ``(call, compile_s)``."""
  cfg = cfg or train_config(problem)
  configs = problem.configs()
  k_init, k_train = keys_for(configs)
  sigmas = jnp.asarray([s for s, _ in configs], jnp.float32)
  fn = jax.vmap(one_config(cfg, problem.d, problem.p), in_axes=(0, 0, 0, None))
  return compiled(fn, k_init, k_train, sigmas, X)


# ---------------------------------------------------------------------------- (d) sweep


def sweep_method(problem: Problem, X: jax.Array) -> tuple[Callable[[], object], float]:
  """(d): ``relu_dae.sweep.run`` in a fresh workdir per call; ``(call, first_run_s)``."""
  sigmas = tuple(sorted({s for s, _ in problem.configs()}))
  grid = rd_sweep.Grid(n=(problem.n,), sigma=sigmas, lam=(LAM,), seed=tuple(range(problem.num_seeds)))
  config = rd_sweep.SweepConfig(train=train_config(problem), p_max=problem.p)
  pool = np.asarray(X)

  def call():
    with tempfile.TemporaryDirectory() as workdir:
      stem = rd_sweep.run(grid, config, workdir, pool=pool, progress=False)
      return rd_sweep.load(stem).params

  return call, timed(call)


# ---------------------------------------------------------------------------- main table


def measure(problem: Problem, repeats: int, threads: int) -> dict:
  """Times (a) at ``threads`` and 1 thread, (b), (c) and (d), interleaved per repeat."""
  X = data(problem)
  K, steps = problem.K, problem.steps
  torch_work = problem.torch_configs * problem.torch_steps
  methods, timings = {}, {}
  thread_list = [threads] + ([1] if threads != 1 else [])
  for t in thread_list:
    methods[f"a_torch_{t}t"] = torch_method(problem, X, t)
    timings[f"a_torch_{t}t"] = Timing(torch_work, note=f"torch eager, {t} thread(s), "
                                      f"{problem.torch_configs} configs x {problem.torch_steps} steps")
  methods["b_jax_loop"], compile_b = jax_loop_method(problem, X)
  timings["b_jax_loop"] = Timing(K * steps, compile_s=compile_b, note="train() per config, Python loop")
  methods["c_vmap"], compile_c = vmap_method(problem, X)
  timings["c_vmap"] = Timing(K * steps, compile_s=compile_c, note="jit(vmap(train)) over all configs")
  if rd_sweep is not None:
    methods["d_sweep"], first = sweep_method(problem, X)
    timings["d_sweep"] = Timing(K * steps, note="sweep.run end to end, fresh workdir, second run")
    timings["d_sweep"].compile_s = first
  for _ in range(repeats):
    for name, call in methods.items():
      timings[name].seconds.append(timed(call))
  if "d_sweep" in timings:  # first run minus a compiled run: the compile (and cache) cost
    timings["d_sweep"].compile_s -= min(timings["d_sweep"].seconds)
  base = timings[f"a_torch_{threads}t"].rate
  out = {name: {**t.summary(), "ratio_vs_a": t.rate / base} for name, t in timings.items()}
  return {"problem": problem._asdict(), "K": K, "methods": out,
          "agreement": agreement(problem, X)}


def agreement(problem: Problem, X: jax.Array) -> float:
  """Max |W_(b) − W_(c)| for the first configuration: (b) and (c) train the same model."""
  configs = problem.configs()
  k_init, k_train = keys_for(configs)
  one = one_config(train_config(problem, steps=20), problem.d, problem.p)
  sigmas = jnp.asarray([s for s, _ in configs], jnp.float32)
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


def grouped_method(problem: Problem, X: jax.Array, group: int, *, lax_map: bool):
  """(c) with the configurations in groups of ``group``: ``lax.map(batch_size=)`` inside
  one jit, or a Python loop over one ``jit(vmap)`` per group."""
  cfg = train_config(problem)
  configs = problem.configs()
  k_init, k_train = keys_for(configs)
  sigmas = jnp.asarray([s for s, _ in configs], jnp.float32)
  one = one_config(cfg, problem.d, problem.p)
  if lax_map:
    fn = lambda ki, kt, s, X: jax.lax.map(lambda a: one(*a, X), (ki, kt, s), batch_size=group)
    return compiled(fn, k_init, k_train, sigmas, X)
  vf = jax.jit(jax.vmap(one, in_axes=(0, 0, 0, None)))
  sl = [slice(i, i + group) for i in range(0, len(configs), group)]
  call = lambda: [jax.block_until_ready(vf(k_init[s], k_train[s], sigmas[s], X)) for s in sl]
  compile_s = timed(lambda: vf(k_init[sl[-1]], k_train[sl[-1]], sigmas[sl[-1]], X))
  return call, compile_s - min(timed(call) for _ in range(1)) / len(sl)


def variant_methods(problem: Problem, X: jax.Array) -> dict:
  """Name → (description, builder returning ``(call, compile_s)``) for the variants of (c)."""
  vm = lambda **kw: (lambda: vmap_method(problem, X, train_config(problem, **kw)))
  out = {"baseline": ("jit(vmap(train)), chunk_size = steps (one scan)", vm())}
  for c in (10, 50):
    out[f"chunk_{c}"] = (f"scan chunk_size={c} (nested scans)", vm(chunk_size=c))
  for prec in ("highest", "bfloat16"):
    out[f"precision_{prec}"] = (f"jax.default_matmul_precision('{prec}')",
                                lambda prec=prec: _with(lambda: jax.default_matmul_precision(prec), vm()))
  for impl in ("rbg", "unsafe_rbg"):
    out[f"prng_{impl}"] = (f"jax_default_prng_impl='{impl}' (keys and noise)",
                           lambda impl=impl: _with(lambda: prng_impl(impl), vm(), wrap_call=True))
  for g in (2, 4, 8):
    if g < problem.K:
      out[f"lax_map_{g}"] = (f"lax.map(batch_size={g}) over configs inside one jit",
                             lambda g=g: grouped_method(problem, X, g, lax_map=True))
  for g in (4,):
    if g < problem.K:
      out[f"python_groups_{g}"] = (f"Python loop over jit(vmap) groups of {g}",
                                   lambda g=g: grouped_method(problem, X, g, lax_map=False))
  return out


def _with(context, build, *, wrap_call: bool = False):
  """Builds (and, with ``wrap_call``, also calls) a method inside ``context()``."""
  with context():
    call, compile_s = build()
  if not wrap_call:
    return call, compile_s

  def wrapped():
    with context():
      return call()
  return wrapped, compile_s


def measure_variants(problem: Problem, repeats: int, steps: int) -> dict:
  """Variants of (c) on ``problem`` with ``steps`` steps, interleaved per repeat."""
  problem = problem._replace(steps=steps)
  X = data(problem)
  built, timings = {}, {}
  for name, (desc, build) in variant_methods(problem, X).items():
    built[name], compile_s = build()
    timings[name] = Timing(problem.K * steps, compile_s=compile_s, note=desc)
  for _ in range(repeats):
    for name, call in built.items():
      timings[name].seconds.append(timed(call))
  base = timings["baseline"].rate
  return {"problem": problem._asdict(),
          "variants": {k: {**t.summary(), "vs_baseline": t.rate / base} for k, t in timings.items()}}


# ---------------------------------------------------------------------------- profile


def lean_trainer(d: int, p: int, steps: int, *, guard: bool, noise: str):
  """A minimal scan trainer for ablations (not ``relu_dae.train``): Adam on Eq. (6).

  ``noise``: ``"rows"`` (per-row ``fold_in`` streams, as ``losses.sample_noise``),
  ``"matrix"`` (one ``jax.random.normal`` draw) or ``"none"`` (σε replaced by a constant;
  a lower bound, not a valid trainer). ``guard`` adds a non-finite check and freeze like
  ``train``'s.
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

    def loss_fn(W, k):
      Y = X + sigma * draw(k, X)
      return jnp.mean(jnp.sum((jax.nn.relu(Y @ W) @ W.T - X) ** 2, -1)) + LAM * 2 * jnp.sum(W ** 2)

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


def measure_profile(problem: Problem, repeats: int, steps: int, Ks) -> dict:
  """Seconds per vmapped step against K, and ablations of the step at the largest K."""
  X = data(problem)
  scaling = {}
  for K in Ks:
    sub = problem._replace(num_sigma=K, num_seeds=1, steps=steps)
    call, compile_s = vmap_method(sub, X)
    best = min(timed(call) for _ in range(repeats))
    scaling[str(K)] = {"us_per_step": best / steps * 1e6, "us_per_config_step": best / steps / K * 1e6,
                       "config_steps_per_s": K * steps / best, "compile_s": compile_s}
  sub = problem._replace(steps=steps)
  configs = sub.configs()
  k_init, k_train = keys_for(configs)
  sigmas = jnp.asarray([s for s, _ in configs], jnp.float32)
  ablations = {}
  cases = {"train() (baseline)": None,
           "lean: guard, row noise": dict(guard=True, noise="rows"),
           "lean: no guard, row noise": dict(guard=False, noise="rows"),
           "lean: no guard, matrix noise": dict(guard=False, noise="matrix"),
           "lean: no guard, no noise (bound)": dict(guard=False, noise="none")}
  for name, kw in cases.items():
    fn = (one_config(train_config(sub), sub.d, sub.p) if kw is None else
          lean_trainer(sub.d, sub.p, steps, **kw))
    call, _ = compiled(jax.vmap(fn, in_axes=(0, 0, 0, None)), k_init, k_train, sigmas, X)
    best = min(timed(call) for _ in range(repeats))
    ablations[name] = {"config_steps_per_s": sub.K * steps / best, "us_per_step": best / steps * 1e6}
  return {"problem": sub._asdict(), "scaling_K": scaling, "ablations": ablations,
          "hlo": hlo_counts(sub, X)}


def hlo_counts(problem: Problem, X: jax.Array) -> dict:
  """Instruction and fusion counts of the optimized HLO of (c) (whole program)."""
  configs = problem.configs()
  k_init, k_train = keys_for(configs)
  sigmas = jnp.asarray([s for s, _ in configs], jnp.float32)
  fn = jax.vmap(one_config(train_config(problem), problem.d, problem.p), in_axes=(0, 0, 0, None))
  text = jax.jit(fn).lower(k_init, k_train, sigmas, X).compile().as_text()
  lines = [l.strip() for l in text.splitlines()]
  body = [l for l in lines if " = " in l and not l.startswith(("HloModule", "ENTRY", "%fused", "fused"))]
  return {"instructions": len(body), "fusions": sum(" fusion(" in l for l in body),
          "dots": sum(" dot(" in l for l in body), "custom_calls": sum("custom-call(" in l for l in body)}


# ---------------------------------------------------------------------------- machine


def _jaxlib_version() -> str | None:
  try:
    import jaxlib  # pylint: disable=g-import-not-at-top
    return jaxlib.__version__
  except (ImportError, AttributeError):
    return None


def machine() -> dict:
  """CPU model, cores, RAM, load and package versions."""
  import torch  # pylint: disable=g-import-not-at-top
  cpu = "unknown"
  with contextlib.suppress(OSError), open("/proc/cpuinfo") as f:
    cpu = next((l.split(":", 1)[1].strip() for l in f if l.startswith("model name")), cpu)
  mem_gb = None
  with contextlib.suppress(OSError, StopIteration), open("/proc/meminfo") as f:
    mem_gb = int(next(l for l in f if l.startswith("MemTotal")).split()[1]) / 2**20
  flags_ = ""
  with contextlib.suppress(OSError), open("/proc/cpuinfo") as f:
    flags_ = next((l for l in f if l.startswith("flags")), "")
  isa = [x for x in ("avx2", "avx512f", "avx512_bf16", "amx_tile") if f" {x}" in flags_]
  return {"cpu": cpu, "cores": os.cpu_count(), "ram_gib": mem_gb, "isa": isa,
          "platform": platform.platform(), "python": platform.python_version(),
          "jax": jax.__version__, "jaxlib": _jaxlib_version(),
          "backend": jax.default_backend(), "devices": [str(d) for d in jax.devices()],
          "torch": torch.__version__, "torch_threads": _TORCH_THREADS.value,
          "numpy": np.__version__, "optax": optax.__version__,
          "xla_flags": os.environ.get("XLA_FLAGS", ""), "loadavg_start": os.getloadavg()}


# ---------------------------------------------------------------------------- report


def _fmt(x: float) -> str:
  return f"{x:,.0f}" if x >= 100 else f"{x:.3g}"


def _sec(x) -> str:
  return "–" if x is None else f"{x:.1f}"


LABELS = {"b_jax_loop": "(b) JAX `train` per config, Python loop", "c_vmap": "(c) JAX `jit(vmap(train))`",
          "d_sweep": "(d) `relu_dae.sweep.run` end to end"}


def _label(name: str) -> str:
  if name.startswith("a_torch_"):
    return f"(a) PyTorch eager loop, {name[len('a_torch_'):-1]} thread(s)"
  return LABELS[name]


def main_table(res: dict) -> list[str]:
  pb = res["problem"]
  rows = [f"#### {pb['name']}, K = {res['K']} configurations ({pb['num_sigma']} σ × {pb['num_seeds']} seeds), "
          f"{pb['steps']} steps", "",
          "| method | config-steps/s | ratio vs (a) | compile s | timed work per call |", "|---|---:|---:|---:|---|"]
  for name, m in res["methods"].items():
    rows.append(f"| {_label(name)} | {_fmt(m['config_steps_per_s'])} | {m['ratio_vs_a']:.1f}× | "
                f"{_sec(m['compile_s'])} | {m['config_steps_per_call']:,} config-steps; {m['note']} |")
  if "d_sweep" not in res["methods"]:
    rows.append("| (d) `relu_dae.sweep.run` | TODO: `relu_dae.sweep` not importable in this checkout | | | |")
  rows += ["", f"max |W(b) − W(c)| after 20 steps, first configuration: {res['agreement']:.1e}", ""]
  return rows


def variants_table(res: dict) -> list[str]:
  pb = res["problem"]
  rows = [f"#### Variants of (c) at {pb['name']}, K = {pb['num_sigma'] * pb['num_seeds']}, {pb['steps']} steps",
          "", "| variant | config-steps/s | vs baseline | compile s |", "|---|---:|---:|---:|"]
  for name, v in res["variants"].items():
    rows.append(f"| {v['note']} | {_fmt(v['config_steps_per_s'])} | {v['vs_baseline']:.2f}× | "
                f"{_sec(v['compile_s'])} |")
  return rows + [""]


def profile_table(res: dict) -> list[str]:
  pb = res["problem"]
  rows = [f"#### Profile at {pb['name']} ({pb['steps']} steps)", "",
          "| K | µs per vmapped step | µs per config-step | config-steps/s |", "|---:|---:|---:|---:|"]
  for K, s in res["scaling_K"].items():
    rows.append(f"| {K} | {s['us_per_step']:.1f} | {s['us_per_config_step']:.2f} | "
                f"{_fmt(s['config_steps_per_s'])} |")
  rows += ["", f"Ablations of the step (K = {pb['num_sigma'] * pb['num_seeds']}):", "",
           "| step | config-steps/s | µs per vmapped step |", "|---|---:|---:|"]
  for name, a in res["ablations"].items():
    rows.append(f"| {name} | {_fmt(a['config_steps_per_s'])} | {a['us_per_step']:.0f} |")
  h = res["hlo"]
  rows += ["", f"Optimized HLO of (c): {h['instructions']} instructions, {h['fusions']} fusions, "
           f"{h['dots']} dots, {h['custom_calls']} custom calls.", ""]
  return rows


def markdown(report: dict) -> str:
  m = report["machine"]
  lines = [BEGIN, "", f"_Generated by `python -m benchmarks.bench_sweep` on {report['written']} "
           f"in {report['wall_s']:.0f} s; raw numbers in `{report['json']}`._", "",
           "**Machine.** " + f"{m['cpu']}, {m['cores']} cores ({', '.join(m['isa'])}), "
           f"{m['ram_gib']:.0f} GiB RAM; {m['platform']}; Python {m['python']}; jax {m['jax']} "
           f"({m['backend']}), torch {m['torch']} (`torch.set_num_threads({m['torch_threads']})`), "
           f"numpy {m['numpy']}, optax {m['optax']}. Load average (1, 5, 15 min) at start "
           f"{_load(m['loadavg_start'])}, at end {_load(report['loadavg_end'])}.", "",
           "Rates: best of the interleaved repeats. (a) times a subset of the configurations "
           "(see the last column) and is reported per configuration-step; ratios are to (a) "
           f"at {m['torch_threads']} threads.", ""]
  for res in report["main"]:
    lines += main_table(res)
  if report.get("variants"):
    lines += variants_table(report["variants"])
  for res in report.get("profile", []):
    lines += profile_table(res)
  return "\n".join(lines + [END])


def _load(avg) -> str:
  return ", ".join(f"{x:.1f}" for x in avg)


def write_markdown(path: str, block: str) -> None:
  """Replaces the generated block of ``path`` (or appends it), keeping the rest."""
  text = open(path).read() if os.path.exists(path) else "# Benchmarks\n\n"
  if BEGIN in text and END in text:
    head, rest = text.split(BEGIN, 1)
    text = head + block + rest.split(END, 1)[1]
  else:
    text = text.rstrip("\n") + "\n\n" + block + "\n"
  tmp = path + ".tmp"
  with open(tmp, "w") as f:
    f.write(text)
  os.replace(tmp, path)


# ---------------------------------------------------------------------------- main


def main(argv):
  del argv
  quick = _QUICK.value
  start = time.perf_counter()
  problems = QUICK if quick else FULL
  repeats = _REPEATS.value or (1 if quick else 3)
  threads = _TORCH_THREADS.value
  json_path = _JSON.value or os.path.join("benchmarks", "results",
                                          "bench_sweep_quick.json" if quick else "bench_sweep.json")
  report = {"machine": machine(), "quick": quick, "json": json_path, "main": []}
  for problem in problems:
    res = measure(problem, repeats, threads)
    report["main"].append(res)
    print("\n".join(main_table(res)), flush=True)
  if _VARIANTS.value:
    big = problems[-1]
    report["variants"] = measure_variants(big, repeats if quick else 2, 20 if quick else 100)
    print("\n".join(variants_table(report["variants"])), flush=True)
    ks = ((1, 4), (1, 2)) if quick else ((1, 4, 16, 64, 256), (1, 2, 4, 8, 16))
    report["profile"] = [measure_profile(pb._replace(num_sigma=max(k), num_seeds=1) if quick else pb,
                                         1 if quick else 2, 20 if quick else 100, k)
                         for pb, k in zip(problems, ks)]
    for res in report["profile"]:
      print("\n".join(profile_table(res)), flush=True)
  report["loadavg_end"] = os.getloadavg()
  report["wall_s"] = time.perf_counter() - start
  report["written"] = datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")
  report["versions"] = rd.results.versions()
  rd.results.save_json(json_path, report)
  if not quick or flags.FLAGS["out"].present:
    write_markdown(_OUT.value, markdown(report))
  print(f"wrote {json_path}" + ("" if quick and not flags.FLAGS["out"].present else f" and {_OUT.value}")
        + f" in {report['wall_s']:.0f} s")


if __name__ == "__main__":
  app.run(main)
