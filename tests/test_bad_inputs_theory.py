"""Bad inputs to relu_dae.theory raise ValueError/TypeError naming the parameter."""

import numpy as np
import pytest

import jax
import jax.numpy as jnp

from relu_dae import theory
from _bad_inputs import case, check, check_coverage, ids

T = theory
KEY = jax.random.PRNGKey(0)
NAN, INF = float("nan"), float("inf")

# Two clusters of two samples in d = 2; W (2, 3) whose first unit sees cluster 0, second cluster 1.
X = jnp.array([[2.0, 0.0], [1.0, 0.2], [-1.0, 0.5], [-0.5, -2.0]])
L = jnp.array([0, 0, 1, 1])
W = jnp.array([[3.0, -1.0, 0.5], [0.0, 0.0, 1.5]])
P = {"W": W}
OWNER = np.array([0, 1, 1])
XB, WB = jnp.stack([X, 2 * X]), jnp.stack([W, W])  # batches of B = 2
X2, L2 = jnp.array([[1.0, 0.0], [-1.0, 0.0]]), jnp.array([0, 1])  # paper_margin: beta = -1
EPS = T.moment_matched_noise(KEY, 4, 4, 2)  # (n, M, d) = (4, 4, 2)
S = jnp.diag(jnp.array([3.0, 1.0]))
SK = jnp.stack([S, 2 * S])  # (K, d, d) = (2, 2, 2)


def with_nan(a, where=(0, 0)):
  return jnp.asarray(a).at[where].set(NAN)


margin = lambda **kw: T.margin(**{**dict(X=X, labels=L, W=W), **kw})
margin_batch = lambda **kw: T.margin_batch(**{**dict(X=XB, labels=L, W=WB, owner=OWNER), **kw})
rot = lambda **kw: T.best_rotation(**{**dict(X=X, labels=L, W=W, owner=OWNER, key=KEY, steps=2), **kw})
rotb = lambda **kw: T.best_rotation_batch(**{**dict(X=XB, labels=L, W=WB, owner=OWNER, key=KEY, steps=2), **kw})
paper = lambda **kw: T.paper_margin(**{**dict(X=X2, labels=L2, p_per_cluster=1), **kw})
flip = lambda **kw: T.mask_flip_probability(**{**dict(X=X, W=W, sigma=0.5), **kw})
stab = lambda **kw: T.mask_stability(**{**dict(X=X, W=W, sigma=0.5), **kw})
mc = lambda **kw: T.mask_stability_mc(**{**dict(key=KEY, X=X, W=W, sigma=0.5, num_draws=4), **kw})
fd = lambda **kw: T.frozen_derivatives(**{**dict(params=P, X=X, sigma=0.1, lam=0.0), **kw})
stat = lambda **kw: T.stationarity(**{**dict(params=P, X=X, sigma=0.1, lam=0.0), **kw})
cert = lambda **kw: T.certify_batch(**{**dict(params={"W": WB}, X=XB, sigma=jnp.array([0.1, 0.2]),
                                              lam=jnp.zeros(2)), **kw})
noise = lambda **kw: T.moment_matched_noise(**{**dict(key=KEY, n=4, num_draws=4, d=2), **kw})
mml = lambda **kw: T.moment_matched_loss(**{**dict(params=P, X=X, eps=EPS, sigma=0.1, lam=0.0), **kw})
refine = lambda **kw: T.refine(**{**dict(params=P, X=X, eps=EPS, sigma=0.1, lam=0.0, steps=2), **kw})
c32 = lambda **kw: T.cor32_loss(**{**dict(X=X, sigma=0.5, lam=0.0), **kw})
c33 = lambda **kw: T.cor33_limit(**{**dict(S=S, lam=0.0, rho=0.5, sigma=0.5, rank=1), **kw})
c33t = lambda **kw: T.cor33_test_loss(**{**dict(S=SK, sigma=0.5, rank=1), **kw})
d1 = lambda **kw: T.lemma_d1_min(**{**dict(X=X, sigma=0.5, lam=0.0, p=1), **kw})
rb = lambda **kw: T.residual_bound(**{**dict(gamma=1.0, sigma=0.5), **kw})

CASES = [
    # margin
    case(T.margin, TypeError, r"\bX\b", lambda: margin(X="abc")),
    case(T.margin, ValueError, r"\bX\b", lambda: margin(X=X[0])),
    case(T.margin, ValueError, r"\bX\b", lambda: margin(X=with_nan(X))),
    case(T.margin, ValueError, "labels", lambda: margin(labels=L[:3])),
    case(T.margin, TypeError, "labels", lambda: margin(labels=None)),
    case(T.margin, ValueError, "labels", lambda: margin(labels=jnp.array([0, 0.5, 1, 1]))),
    case(T.margin, ValueError, "labels", lambda: margin(labels=jnp.array([0, 0, -1, -1]))),
    case(T.margin, ValueError, r"\bW\b", lambda: margin(W=jnp.ones((3, 3)))),
    case(T.margin, TypeError, r"\bW\b", lambda: margin(W=W.astype(jnp.complex64))),
    case(T.margin, ValueError, r"\bW\b", lambda: margin(W=jnp.zeros((2, 3)))),
    case(T.margin, ValueError, "owner", lambda: margin(owner=[0, 5, 1])),
    case(T.margin, ValueError, "owner", lambda: margin(owner=[0, 1])),
    case(T.margin, TypeError, "owner", lambda: margin(owner="abc")),
    # two_sample_residual
    case(T.two_sample_residual, ValueError, r"\ba\b", lambda: T.two_sample_residual(0.0, 1.0, 0.5)),
    case(T.two_sample_residual, ValueError, r"\bb\b", lambda: T.two_sample_residual(1.0, NAN, 0.5)),
    case(T.two_sample_residual, ValueError, "sigma", lambda: T.two_sample_residual(1.0, 1.0, -0.5)),
    case(T.two_sample_residual, ValueError, "lam", lambda: T.two_sample_residual(1.0, 1.0, 0.5, lam=0.6)),
    case(T.two_sample_residual, ValueError, "broadcast", lambda: T.two_sample_residual(jnp.ones(2), jnp.ones(3), 0.5)),
    case(T.two_sample_residual, TypeError, "sigma", lambda: T.two_sample_residual(1.0, 1.0, "x")),
    # best_rotation
    case(T.best_rotation, TypeError, r"\bX\b", lambda: rot(X="abc")),
    case(T.best_rotation, ValueError, r"\bW\b", lambda: rot(W=W[:1])),
    case(T.best_rotation, ValueError, "owner", lambda: rot(owner=np.array([0, 1, 7]))),
    case(T.best_rotation, ValueError, r"\bW\b", lambda: rot(W=jnp.zeros_like(W))),
    case(T.best_rotation, ValueError, "key", lambda: rot(key=0)),
    case(T.best_rotation, ValueError, "starts", lambda: rot(starts=0)),
    case(T.best_rotation, ValueError, "steps", lambda: rot(steps=-1)),
    # best_rotation_batch
    case(T.best_rotation_batch, ValueError, r"\bX\b", lambda: rotb(X=X)),
    case(T.best_rotation_batch, ValueError, r"\bW\b", lambda: rotb(W=WB[:1])),
    case(T.best_rotation_batch, ValueError, "owner", lambda: rotb(owner=np.array([0, 1, 7]))),
    case(T.best_rotation_batch, ValueError, "owner", lambda: rotb(owner=np.array([-1, -1, -1]))),
    case(T.best_rotation_batch, ValueError, "labels", lambda: rotb(labels=L[:3])),
    case(T.best_rotation_batch, ValueError, "starts", lambda: rotb(starts=1.5)),
    # margin_batch
    case(T.margin_batch, ValueError, r"\bX\b", lambda: margin_batch(X=X)),
    case(T.margin_batch, TypeError, r"\bX\b", lambda: margin_batch(X="abc")),
    case(T.margin_batch, ValueError, r"\bX\b", lambda: margin_batch(X=with_nan(XB, (0, 0, 0)))),
    case(T.margin_batch, ValueError, r"\bW\b", lambda: margin_batch(W=WB[:1])),
    case(T.margin_batch, TypeError, r"\bW\b", lambda: margin_batch(W=WB.astype(jnp.complex64))),
    case(T.margin_batch, ValueError, "labels", lambda: margin_batch(labels=L[:3])),
    case(T.margin_batch, ValueError, "labels", lambda: margin_batch(labels=jnp.array([0, 0.5, 1, 1]))),
    case(T.margin_batch, ValueError, "owner", lambda: margin_batch(owner=np.array([0, 1, 7]))),
    case(T.margin_batch, ValueError, "owner", lambda: margin_batch(owner=np.array([0, 1]))),
    # paper_margin
    case(T.paper_margin, TypeError, r"\bX\b", lambda: paper(X=None)),
    case(T.paper_margin, ValueError, "labels", lambda: paper(labels=jnp.array([0, 1, 1]))),
    case(T.paper_margin, ValueError, "p_per_cluster", lambda: paper(p_per_cluster=0)),
    case(T.paper_margin, TypeError, "p_per_cluster", lambda: paper(p_per_cluster="1")),
    case(T.paper_margin, ValueError, "p_per_cluster", lambda: paper(p_per_cluster=[1, 1, 1])),
    case(T.paper_margin, ValueError, "p_per_cluster", lambda: paper(p_per_cluster=1.5)),
    case(T.paper_margin, TypeError, "sigma", lambda: paper(sigma="0.1")),
    case(T.paper_margin, ValueError, "sigma", lambda: paper(sigma=NAN)),
    case(T.paper_margin, ValueError, "lam", lambda: paper(lam=-1.0)),
    case(T.paper_margin, ValueError, r"\bX\b", lambda: paper(X=jnp.array([[1.0, 0.0], [-1.0, 0.0], [1.0, 0.0]]),
                                                             labels=jnp.array([0, 0, 1]))),  # zero mean
    # mask_flip_probability
    case(T.mask_flip_probability, TypeError, r"\bX\b", lambda: flip(X="abc")),
    case(T.mask_flip_probability, ValueError, r"\bW\b", lambda: flip(W=jnp.ones((3, 2)))),
    case(T.mask_flip_probability, ValueError, r"\bW\b", lambda: flip(W=with_nan(W))),
    case(T.mask_flip_probability, ValueError, "sigma", lambda: flip(sigma=-1.0)),
    case(T.mask_flip_probability, TypeError, "sigma", lambda: flip(sigma="1")),
    case(T.mask_flip_probability, ValueError, "sigma", lambda: flip(sigma=jnp.ones(3))),
    # mask_stability
    case(T.mask_stability, ValueError, r"\bX\b", lambda: stab(X=X.at[0, 0].set(INF))),
    case(T.mask_stability, TypeError, r"\bW\b", lambda: stab(W=W.astype(jnp.complex64))),
    case(T.mask_stability, TypeError, "sigma", lambda: stab(sigma=None)),
    case(T.mask_stability, ValueError, r"\bX\b", lambda: stab(X=jnp.zeros((0, 2)))),
    # mask_stability_mc
    case(T.mask_stability_mc, TypeError, "key", lambda: mc(key=None)),
    case(T.mask_stability_mc, ValueError, "key", lambda: mc(key=jax.random.split(KEY, 2))),
    case(T.mask_stability_mc, ValueError, "num_draws", lambda: mc(num_draws=0)),
    case(T.mask_stability_mc, ValueError, "num_draws", lambda: mc(num_draws=2.5)),
    case(T.mask_stability_mc, TypeError, "num_draws", lambda: mc(num_draws="10")),
    case(T.mask_stability_mc, ValueError, "sigma", lambda: mc(sigma=INF)),
    case(T.mask_stability_mc, ValueError, r"\bW\b", lambda: mc(W=jnp.ones((3, 2)))),
    # frozen_derivatives
    case(T.frozen_derivatives, TypeError, "params", lambda: fd(params=None)),
    case(T.frozen_derivatives, ValueError, "params", lambda: fd(params={"V": W})),
    case(T.frozen_derivatives, TypeError, "params", lambda: fd(params={"W": W.astype(jnp.complex64)})),
    case(T.frozen_derivatives, ValueError, r"\bX\b", lambda: fd(X=jnp.ones((4, 3)))),
    case(T.frozen_derivatives, TypeError, "sigma", lambda: fd(sigma="0.1")),
    case(T.frozen_derivatives, ValueError, "lam", lambda: fd(lam=-1.0)),
    # stationarity
    case(T.stationarity, TypeError, "params", lambda: stat(params=W)),
    case(T.stationarity, ValueError, "params", lambda: stat(params={"W1": W, "W2": W[:, :2]})),
    case(T.stationarity, ValueError, "params", lambda: stat(params={"W": with_nan(W)})),
    case(T.stationarity, ValueError, r"\bX\b", lambda: stat(X=jnp.zeros((4, 2)))),  # zero energy
    case(T.stationarity, ValueError, r"\bX\b", lambda: stat(X=X * 1e20)),
    case(T.stationarity, ValueError, "sigma", lambda: stat(sigma=-0.1)),
    case(T.stationarity, TypeError, "lam", lambda: stat(lam=None)),
    # certify_batch
    case(T.certify_batch, ValueError, r"\bX\b", lambda: cert(X=X)),
    case(T.certify_batch, ValueError, r"\bX\b", lambda: cert(X=jnp.stack([X, jnp.zeros_like(X)]))),
    case(T.certify_batch, ValueError, "params", lambda: cert(params={"W": W})),
    case(T.certify_batch, ValueError, "params", lambda: cert(params={"W": WB[:1]})),
    case(T.certify_batch, ValueError, "sigma", lambda: cert(sigma=jnp.ones(3))),
    case(T.certify_batch, TypeError, "sigma", lambda: cert(sigma="0.1")),
    case(T.certify_batch, ValueError, "lam", lambda: cert(lam=jnp.array([0.0, -1.0]))),
    # moment_matched_noise
    case(T.moment_matched_noise, TypeError, "key", lambda: noise(key="abc")),
    case(T.moment_matched_noise, ValueError, r"\bn\b", lambda: noise(n=0)),
    case(T.moment_matched_noise, ValueError, r"\bn\b", lambda: noise(n=2.0)),
    case(T.moment_matched_noise, TypeError, r"\bd\b", lambda: noise(d="2")),
    case(T.moment_matched_noise, ValueError, "num_draws", lambda: noise(num_draws=5)),
    case(T.moment_matched_noise, ValueError, "num_draws", lambda: noise(num_draws=2)),  # M/2 < d
    case(T.moment_matched_noise, TypeError, "dtype", lambda: noise(dtype="int32")),
    case(T.moment_matched_noise, TypeError, "dtype", lambda: noise(dtype="bogus")),
    # moment_matched_loss
    case(T.moment_matched_loss, TypeError, "params", lambda: mml(params=None)),
    case(T.moment_matched_loss, ValueError, "eps", lambda: mml(eps=EPS[:3])),
    case(T.moment_matched_loss, ValueError, "eps", lambda: mml(eps=jnp.ones((4, 4, 3)))),
    case(T.moment_matched_loss, ValueError, "eps", lambda: mml(eps=EPS[:, 0])),
    case(T.moment_matched_loss, ValueError, "eps", lambda: mml(eps=with_nan(EPS, (0, 0, 0)))),
    case(T.moment_matched_loss, TypeError, "sigma", lambda: mml(sigma="0.1")),
    case(T.moment_matched_loss, ValueError, r"\bX\b", lambda: mml(X=jnp.ones((4, 3)))),
    # refine
    case(T.refine, ValueError, "steps", lambda: refine(steps=0)),
    case(T.refine, ValueError, "steps", lambda: refine(steps=2.5)),
    case(T.refine, ValueError, "memory_size", lambda: refine(memory_size=0)),
    case(T.refine, ValueError, "eps", lambda: refine(eps=EPS[:3])),
    case(T.refine, ValueError, "lam", lambda: refine(lam=-1.0)),
    case(T.refine, ValueError, "params", lambda: refine(params={"W": jnp.ones((3, 2))})),
    # cor32_loss
    case(T.cor32_loss, TypeError, r"\bX\b", lambda: c32(X="abc")),
    case(T.cor32_loss, ValueError, r"\bX\b", lambda: c32(X=X.at[1].set(0.0))),  # a zero sample
    case(T.cor32_loss, ValueError, r"\bX\b", lambda: c32(X=X * 1e20)),
    case(T.cor32_loss, ValueError, r"\bX\b", lambda: c32(X=X * 1e11)),  # ‖x‖⁴ overflows float32
    case(T.cor32_loss, ValueError, "sigma", lambda: c32(sigma=-1.0)),
    case(T.cor32_loss, TypeError, "lam", lambda: c32(lam="0")),
    # cor33_limit
    case(T.cor33_limit, TypeError, r"\bS\b", lambda: c33(S="abc")),
    case(T.cor33_limit, ValueError, r"\bS\b", lambda: c33(S=jnp.ones((2, 3)))),
    case(T.cor33_limit, ValueError, r"\bS\b", lambda: c33(S=jnp.array([[1.0, 0.5], [0.0, 1.0]]))),  # asymmetric
    case(T.cor33_limit, ValueError, r"\bS\b", lambda: c33(S=-S)),  # not positive semi-definite
    case(T.cor33_limit, ValueError, "rho", lambda: c33(rho=0.0)),
    case(T.cor33_limit, ValueError, "rho", lambda: c33(rho=2.0)),
    case(T.cor33_limit, ValueError, "rank", lambda: c33(rank=3)),
    case(T.cor33_limit, ValueError, "rank", lambda: c33(rank=1.5)),
    case(T.cor33_limit, ValueError, "sigma", lambda: c33(S=jnp.diag(jnp.array([3.0, 0.0])), sigma=0.0)),
    case(T.cor33_limit, TypeError, "lam", lambda: c33(lam="0")),
    # cor33_test_loss
    case(T.cor33_test_loss, ValueError, r"\bS\b", lambda: c33t(S=jnp.ones(3))),
    case(T.cor33_test_loss, ValueError, r"\bS\b", lambda: c33t(S=jnp.zeros((0, 2, 2)))),
    case(T.cor33_test_loss, ValueError, r"\bS\b", lambda: c33t(S=with_nan(SK, (0, 0, 0)))),
    case(T.cor33_test_loss, ValueError, "rank", lambda: c33t(rank=[1, 1, 1])),
    case(T.cor33_test_loss, ValueError, "rank", lambda: c33t(rank=0)),
    case(T.cor33_test_loss, ValueError, "rank", lambda: c33t(S=jnp.diag(jnp.array([3.0, 0.0])), sigma=0.0, rank=2)),
    case(T.cor33_test_loss, ValueError, "rho", lambda: c33t(rho=[1.0])),
    case(T.cor33_test_loss, ValueError, "rho", lambda: c33t(rho=[1.5, -0.5])),
    case(T.cor33_test_loss, ValueError, "rho", lambda: c33t(rho=[20.0, 20.0])),  # counts, not weights
    case(T.cor33_test_loss, TypeError, "sigma", lambda: c33t(sigma="x")),
    # lemma_d1_min
    case(T.lemma_d1_min, TypeError, r"\bX\b", lambda: d1(X="abc")),
    case(T.lemma_d1_min, ValueError, r"\bX\b", lambda: d1(X=jnp.zeros((0, 2)))),
    case(T.lemma_d1_min, ValueError, r"\bp\b", lambda: d1(p=3)),
    case(T.lemma_d1_min, ValueError, r"\bp\b", lambda: d1(p=0)),
    case(T.lemma_d1_min, ValueError, "sigma", lambda: d1(sigma=-1.0)),
    case(T.lemma_d1_min, ValueError, "lam", lambda: d1(lam=NAN)),
    # residual_bound
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
  container = "a NamedTuple result container that only holds the computed values"
  check_coverage(theory, CASES, exempt={name: container for name in (
      "Margin", "PaperMargin", "MaskFlipMC", "Certificate", "Refined", "Cor33TestLoss", "RotatedMargin", "TwoSample")})


def test_degenerate_inputs_give_their_limits():
  """Tiny σ > 0 whose square underflows: the σ → 0⁺ limits, not NaN or a σ = 1 answer."""
  on_plane = jnp.array([[0.0, 1.0]])
  P = T.mask_flip_probability(jnp.concatenate([X, on_plane]), W, 1e-46)  # σ‖w‖ = 0 in float32
  np.testing.assert_array_equal(np.asarray(P[:-1]), 0.0)  # far from every hyperplane: no flips
  assert float(P[-1, 0]) == 0.5  # on unit 0's hyperplane: half the draws flip
  assert float(T.residual_bound(0.0, 1e-30)) == 1.0  # exp(−c·0/σ²) = 1, not 0/0
  assert float(T.residual_bound(1.0, 1e-30)) == 0.0
