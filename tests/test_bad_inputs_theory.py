"""Bad inputs to relu_dae.theory's closed forms raise ValueError/TypeError naming the parameter.

The names theory re-exports from margins, mask_flips, certificates and moment_matching have their
tables in tests/test_bad_inputs_<module>.py.
"""

import pytest

import jax.numpy as jnp

from relu_dae import theory
from _bad_inputs import case, check, check_coverage, ids

T = theory
NAN = float("nan")

X = jnp.array([[2.0, 0.0], [1.0, 0.2], [-1.0, 0.5], [-0.5, -2.0]])
S = jnp.diag(jnp.array([3.0, 1.0]))
SK = jnp.stack([S, 2 * S])  # (K, d, d) = (2, 2, 2)


def with_nan(a, where=(0, 0)):
  return jnp.asarray(a).at[where].set(NAN)


c32 = lambda **kw: T.memorization_loss_with_decay(**{**dict(X=X, sigma=0.5, lam=0.0), **kw})
c33 = lambda **kw: T.generalization_gram_limit(**{**dict(S=S, lam=0.0, rho=0.5, sigma=0.5, rank=1), **kw})
c33t = lambda **kw: T.generalization_test_loss(**{**dict(S=SK, sigma=0.5, rank=1), **kw})
d1 = lambda **kw: T.linear_ae_min_loss(**{**dict(X=X, sigma=0.5, lam=0.0, p=1), **kw})
rb = lambda **kw: T.residual_bound(**{**dict(gamma=1.0, sigma=0.5), **kw})

CASES = [
    case(T.two_sample_residual, ValueError, r"\ba\b", lambda: T.two_sample_residual(0.0, 1.0, 0.5)),
    case(T.two_sample_residual, ValueError, r"\bb\b", lambda: T.two_sample_residual(1.0, NAN, 0.5)),
    case(T.two_sample_residual, ValueError, "sigma", lambda: T.two_sample_residual(1.0, 1.0, -0.5)),
    case(T.two_sample_residual, ValueError, "lam", lambda: T.two_sample_residual(1.0, 1.0, 0.5, lam=0.6)),
    case(T.two_sample_residual, ValueError, "broadcast", lambda: T.two_sample_residual(jnp.ones(2), jnp.ones(3), 0.5)),
    case(T.two_sample_residual, TypeError, "sigma", lambda: T.two_sample_residual(1.0, 1.0, "x")),
    case(T.memorization_loss_with_decay, TypeError, r"\bX\b", lambda: c32(X="abc")),
    case(T.memorization_loss_with_decay, ValueError, r"\bX\b", lambda: c32(X=X.at[1].set(0.0))),  # a zero sample
    case(T.memorization_loss_with_decay, ValueError, r"\bX\b", lambda: c32(X=X * 1e20)),
    case(T.memorization_loss_with_decay, ValueError, r"\bX\b", lambda: c32(X=X * 1e11)),  # ‖x‖⁴ overflows float32
    case(T.memorization_loss_with_decay, ValueError, "sigma", lambda: c32(sigma=-1.0)),
    case(T.memorization_loss_with_decay, TypeError, "lam", lambda: c32(lam="0")),
    case(T.generalization_gram_limit, TypeError, r"\bS\b", lambda: c33(S="abc")),
    case(T.generalization_gram_limit, ValueError, r"\bS\b", lambda: c33(S=jnp.ones((2, 3)))),
    case(T.generalization_gram_limit, ValueError, r"\bS\b",
         lambda: c33(S=jnp.array([[1.0, 0.5], [0.0, 1.0]]))),  # asymmetric
    case(T.generalization_gram_limit, ValueError, r"\bS\b", lambda: c33(S=-S)),  # not positive semi-definite
    case(T.generalization_gram_limit, ValueError, "rho", lambda: c33(rho=0.0)),
    case(T.generalization_gram_limit, ValueError, "rho", lambda: c33(rho=2.0)),
    case(T.generalization_gram_limit, ValueError, "rank", lambda: c33(rank=3)),
    case(T.generalization_gram_limit, ValueError, "rank", lambda: c33(rank=1.5)),
    case(T.generalization_gram_limit, ValueError, "sigma", lambda: c33(S=jnp.diag(jnp.array([3.0, 0.0])), sigma=0.0)),
    case(T.generalization_gram_limit, TypeError, "lam", lambda: c33(lam="0")),
    case(T.generalization_test_loss, ValueError, r"\bS\b", lambda: c33t(S=jnp.ones(3))),
    case(T.generalization_test_loss, ValueError, r"\bS\b", lambda: c33t(S=jnp.zeros((0, 2, 2)))),
    case(T.generalization_test_loss, ValueError, r"\bS\b", lambda: c33t(S=with_nan(SK, (0, 0, 0)))),
    case(T.generalization_test_loss, ValueError, "rank", lambda: c33t(rank=[1, 1, 1])),
    case(T.generalization_test_loss, ValueError, "rank", lambda: c33t(rank=0)),
    case(T.generalization_test_loss, ValueError, "rank",
         lambda: c33t(S=jnp.diag(jnp.array([3.0, 0.0])), sigma=0.0, rank=2)),
    case(T.generalization_test_loss, ValueError, "rho", lambda: c33t(rho=[1.0])),
    case(T.generalization_test_loss, ValueError, "rho", lambda: c33t(rho=[1.5, -0.5])),
    case(T.generalization_test_loss, ValueError, "rho", lambda: c33t(rho=[20.0, 20.0])),  # counts, not weights
    case(T.generalization_test_loss, TypeError, "sigma", lambda: c33t(sigma="x")),
    case(T.linear_ae_min_loss, TypeError, r"\bX\b", lambda: d1(X="abc")),
    case(T.linear_ae_min_loss, ValueError, r"\bX\b", lambda: d1(X=jnp.zeros((0, 2)))),
    case(T.linear_ae_min_loss, ValueError, r"\bp\b", lambda: d1(p=3)),
    case(T.linear_ae_min_loss, ValueError, r"\bp\b", lambda: d1(p=0)),
    case(T.linear_ae_min_loss, ValueError, "sigma", lambda: d1(sigma=-1.0)),
    case(T.linear_ae_min_loss, ValueError, "lam", lambda: d1(lam=NAN)),
    case(T.residual_bound, ValueError, "gamma", lambda: rb(gamma=-1.0)),
    case(T.residual_bound, TypeError, "gamma", lambda: rb(gamma="1")),
    case(T.residual_bound, ValueError, "sigma", lambda: rb(sigma=NAN)),
    case(T.residual_bound, ValueError, "gamma", lambda: rb(gamma=jnp.ones(3), sigma=jnp.ones(2))),
    case(T.residual_bound, ValueError, r"\bC\b", lambda: rb(C=0.0)),
    case(T.residual_bound, TypeError, r"\bc\b", lambda: rb(c="0.5")),
]


@pytest.mark.parametrize("c", CASES, ids=ids(CASES))
def test_bad_input(c):
  check(c)


def test_every_public_callable_has_three_bad_inputs():
  """Counts the callables defined in theory; its re-exports are counted in their own modules' tables."""
  container = "a NamedTuple result container that only holds the computed values"
  exempt = {name: container for name in ("GeneralizationTestLoss", "TwoSample")}
  exempt.update({old: f"alias of theory.{new}, tested there" for old, new in (
      ("cor32_loss", "memorization_loss_with_decay"), ("cor33_limit", "generalization_gram_limit"),
      ("cor33_test_loss", "generalization_test_loss"), ("Cor33TestLoss", "GeneralizationTestLoss"),
      ("lemma_d1_min", "linear_ae_min_loss"))})
  check_coverage(theory, CASES, exempt=exempt)


def test_degenerate_inputs_give_their_limits():
  """Tiny σ > 0 whose square underflows: the σ → 0⁺ limits, not NaN or a σ = 1 answer."""
  assert float(T.residual_bound(0.0, 1e-30)) == 1.0  # exp(−c·0/σ²) = 1, not 0/0
  assert float(T.residual_bound(1.0, 1e-30)) == 0.0
