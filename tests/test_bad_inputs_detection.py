"""Bad inputs to relu_dae.detection raise ValueError/TypeError naming the parameter."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from relu_dae import detection
from _bad_inputs import case, check, check_coverage, ids

KEY = jax.random.PRNGKey(0)
PARAMS = {"W": jnp.eye(3)}
X = jnp.array([[1.0, 0.0, 0.0], [1.0, 1.0, 1.0]])
H = jnp.array([[2.0, 0.0], [1.0, 1.0]])
POS, NEG = [0.9, 0.4, 0.7], [0.5, 0.1]
FPR, TPR = np.array([0.0, 0.0, 0.02, 1.0]), np.array([0.0, 0.5, 0.7, 1.0])
scores = lambda **kw: detection.scores(**{**dict(params=PARAMS, x=X, sigma=0.1, key=KEY), **kw})
boot = lambda **kw: detection.bootstrap_ci(**{**dict(seed=0, scores_pos=POS, scores_neg=NEG, num=5), **kw})
mom, npr = detection.max_over_mean, detection.negative_participation_ratio

CASES = [
    case(mom, TypeError, r"\bh\b", lambda: mom("spiky")),
    case(mom, TypeError, r"\bh\b", lambda: mom(H + 1j)),
    case(mom, ValueError, r"\bh\b", lambda: mom(jnp.array([1.0, jnp.nan]))),
    case(mom, ValueError, r"\bh\b", lambda: mom(jnp.zeros((3, 0)))),
    case(mom, ValueError, r"\bh\b", lambda: mom(jnp.array([1.0, -1.0]))),  # mean cancels to 0
    case(npr, TypeError, r"\bh\b", lambda: npr(None)),
    case(npr, ValueError, r"\bh\b", lambda: npr(jnp.float32(2.0))),
    case(npr, ValueError, r"\bh\b", lambda: npr(jnp.array([1.0, jnp.inf]))),
    case(npr, ValueError, r"\bh\b", lambda: npr(np.full(3, 1e20))),
    case(detection.scores, ValueError, "params", lambda: scores(params={"V": jnp.eye(3)})),
    case(detection.scores, TypeError, "params", lambda: scores(params=None)),
    case(detection.scores, ValueError, r"\bx\b", lambda: scores(x=jnp.ones((2, 4)))),  # d = 3
    case(detection.scores, TypeError, r"\bx\b", lambda: scores(x="samples")),
    case(detection.scores, ValueError, r"\bx\b", lambda: scores(x=jnp.ones((0, 3)))),
    case(detection.scores, ValueError, r"\bx\b", lambda: scores(x=X * 1e20)),
    case(detection.scores, ValueError, "sigma", lambda: scores(sigma=-0.1)),
    case(detection.scores, TypeError, "sigma", lambda: scores(sigma="0.1")),
    case(detection.scores, ValueError, "key", lambda: scores(key=jnp.ones(3))),
    case(detection.scores, TypeError, "key", lambda: scores(key=None)),
    case(detection.scores, ValueError, "num_noise", lambda: scores(num_noise=0)),
    case(detection.scores, ValueError, "num_noise", lambda: scores(num_noise=2.5)),
    case(detection.scores, TypeError, "names", lambda: scores(names="std")),
    case(detection.scores, ValueError, "names", lambda: scores(names=["kurtosis"])),
    case(detection.scores, ValueError, "names", lambda: scores(names=[])),
    case(detection.scores, TypeError, "names", lambda: scores(names={"mine": 3.0})),
    case(detection.scores, TypeError, "represent", lambda: scores(represent="relu")),
    case(detection.tpr_at_fpr, ValueError, "fpr", lambda: detection.tpr_at_fpr(FPR[::-1], TPR)),
    case(detection.tpr_at_fpr, ValueError, "tpr", lambda: detection.tpr_at_fpr(FPR, TPR * 2)),
    case(detection.tpr_at_fpr, ValueError, "fpr and tpr", lambda: detection.tpr_at_fpr(FPR, TPR[:3])),
    case(detection.tpr_at_fpr, TypeError, "fpr", lambda: detection.tpr_at_fpr(None, TPR)),
    case(detection.tpr_at_fpr, ValueError, "level", lambda: detection.tpr_at_fpr(FPR, TPR, 1.5)),
    case(detection.tpr_at_fpr, TypeError, "level", lambda: detection.tpr_at_fpr(FPR, TPR, "1%")),
    case(detection.tpr_at_fpr, ValueError, "fpr", lambda: detection.tpr_at_fpr(FPR[1:] + 0.3, TPR[1:], 0.01)),
    case(detection.evaluate, ValueError, "scores_pos", lambda: detection.evaluate([], NEG)),
    case(detection.evaluate, ValueError, "scores_neg", lambda: detection.evaluate(POS, [0.1, np.nan])),
    case(detection.evaluate, TypeError, "scores_pos", lambda: detection.evaluate("high", NEG)),
    case(detection.evaluate, TypeError, "scores_neg", lambda: detection.evaluate(POS, np.array(NEG) * 1j)),
    case(detection.evaluate, ValueError, "scores_pos", lambda: detection.evaluate([[0.9, 0.4]], NEG)),
    case(detection.evaluate, ValueError, "fpr_level", lambda: detection.evaluate(POS, NEG, fpr_level=-0.01)),
    case(detection.evaluate, TypeError, "fpr_level", lambda: detection.evaluate(POS, NEG, fpr_level=None)),
    case(detection.bootstrap_ci, ValueError, "seed", lambda: boot(seed=-1)),
    case(detection.bootstrap_ci, TypeError, "seed", lambda: boot(seed="0")),
    case(detection.bootstrap_ci, ValueError, "seed", lambda: boot(seed=jnp.zeros(3, jnp.uint32))),
    case(detection.bootstrap_ci, ValueError, "scores_neg", lambda: boot(scores_neg=[])),
    case(detection.bootstrap_ci, ValueError, "scores_pos", lambda: boot(scores_pos=[np.inf])),
    case(detection.bootstrap_ci, ValueError, r"\bnum\b", lambda: boot(num=0)),
    case(detection.bootstrap_ci, TypeError, r"\bnum\b", lambda: boot(num="100")),
    case(detection.bootstrap_ci, ValueError, r"\blevel\b", lambda: boot(level=95)),
    case(detection.bootstrap_ci, ValueError, "fpr_level", lambda: boot(fpr_level=2.0)),
]


@pytest.mark.parametrize("c", CASES, ids=ids(CASES))
def test_bad_input(c):
  check(c)


def test_every_public_callable_has_three_bad_inputs():
  check_coverage(detection, CASES, exempt={"Detection": "a NamedTuple of results built by evaluate",
                                           "BootstrapCI": "a NamedTuple of intervals built by bootstrap_ci"})
