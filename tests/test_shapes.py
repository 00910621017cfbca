"""The jaxtyping shape annotations of the public API are true: every docstring example and a set of
typical calls run with each annotated ``relu_dae`` function checked by beartype at call time.

The check runs in a subprocess because jaxtyping's import hook must see ``relu_dae`` imported for the
first time. The bad-input tables run without it (they test the package's own messages, which name the
parameter); this test only asks that well-formed calls satisfy the annotations.
"""

import importlib.util
import pathlib
import subprocess
import sys
import textwrap

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[1]
pytestmark = pytest.mark.skipif(importlib.util.find_spec("beartype") is None, reason="beartype is in the test extra")

_SCRIPT = textwrap.dedent("""
    import doctest, importlib, pkgutil, sys
    from jaxtyping import install_import_hook
    with install_import_hook("relu_dae", "beartype.beartype"):
      import relu_dae
      names = [m.name for m in pkgutil.iter_modules(relu_dae.__path__) if not m.name.startswith("_")]
      modules = [importlib.import_module("relu_dae." + n) for n in names]
    failed = 0
    for module in modules:
      result = doctest.testmod(module, optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE, verbose=False)
      failed += result.failed
    import jax, jax.numpy as jnp, numpy as np
    from relu_dae import model, losses, minima, data
    key = jax.random.PRNGKey(0)
    X = data.locally_sparse(key, n=6, d=8)
    p = model.init(key, 8, 6)
    jax.jit(model.apply)(p, X)
    losses.dae_loss(p, X, key, 0.2, 1e-3, weights=jnp.ones(6))
    losses.linear_ae_loss(p["W"], p["W"], np.asarray(X), 0.2, 0.0)
    from relu_dae import train
    cfg = train.TrainConfig(steps=4, chunk_size=2)
    train.train(p, X, key, cfg, weights=jnp.ones(6), unit_mask=jnp.ones(6, bool))
    spec = data.mixture_spec(jnp.eye(3, 8), jnp.zeros((3, 8, 2)))
    Xm, labels = data.sample_mixture(key, spec, 10)
    data.separability(Xm, labels)
    try:
      model.apply(p, jnp.ones((3, 5)))  # d = 5 against W's d = 8: the annotation must catch it
    except Exception as err:
      assert type(err).__name__ in ("TypeCheckError", "BeartypeCallHintParamViolation", "ValueError"), err
    else:
      raise AssertionError("a shape mismatch passed the annotations")
    print("FAILED", failed)
""")


@pytest.mark.slow
def test_doctests_and_typical_calls_satisfy_the_shape_annotations():
  run = subprocess.run([sys.executable, "-c", _SCRIPT], cwd=ROOT, capture_output=True, text=True, timeout=900)
  assert run.returncode == 0, run.stdout[-6000:] + run.stderr[-6000:]
  assert run.stdout.strip().splitlines()[-1] == "FAILED 0", run.stdout[-6000:]
