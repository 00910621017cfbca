"""Bad inputs to relu_dae.diffusion raise ValueError/TypeError naming the parameter."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from relu_dae import diffusion as df
from relu_dae import train as tr
from _bad_inputs import case, check, check_coverage, ids

KEY = jax.random.PRNGKey(0)
P = df.init(KEY, 3, 4, hidden=2)
X = np.ones((5, 3), np.float32)
Y = jnp.ones((2, 3))
H = jnp.ones((2, 4))
CFG = tr.TrainConfig(steps=2, chunk_size=1)
ST = df.SweepTrainer
with_ = lambda **kw: {**P, **kw}
with_time = lambda **kw: {**P, "time": {**P["time"], **kw}}
represent = lambda **kw: df.represent(**{**dict(params=P, y=Y), **kw})
draw = lambda **kw: df.draw_noise(**{**dict(key=KEY, n=5, num_noise=2, d=3), **kw})
loss = lambda **kw: df.loss(**{**dict(params=P, X=X, key=KEY), **kw})
train = lambda **kw: df.train(**{**dict(params=P, X=X, key=KEY, config=CFG), **kw})
fit = lambda **kw: df.fit(**{**dict(params=P, X=X, key=KEY, config=CFG, progress=False), **kw})
gmd = lambda **kw: df.gaussian_mixture_denoiser(**{**dict(means=np.zeros((2, 3)), covs=np.stack([np.eye(3)] * 2),
                                                         weights=np.ones(2)), **kw})
sample = lambda **kw: df.sample(**{**dict(params_or_denoiser=P, key=KEY, num_samples=2, d=3, num_steps=3), **kw})
traj = lambda **kw: df.sample_trajectory(**{**dict(params_or_denoiser=P, key=KEY, num_samples=2, d=3, num_steps=3),
                                             **kw})

CASES = [
    case(df.init, ValueError, r"\bd\b", lambda: df.init(KEY, 0, 4)),
    case(df.init, ValueError, r"\bp\b", lambda: df.init(KEY, 3, 2.5)),
    case(df.init, TypeError, "hidden", lambda: df.init(KEY, 3, 4, hidden="32")),
    case(df.init, TypeError, "key", lambda: df.init(None, 3, 4)),
    case(df.init, ValueError, "key", lambda: df.init(jax.random.split(KEY, 3), 3, 4)),
    case(df.log_scale, TypeError, "params", lambda: df.log_scale(None, 0.5)),
    case(df.log_scale, ValueError, "sigma", lambda: df.log_scale(P, 0.0)),
    case(df.log_scale, TypeError, "sigma", lambda: df.log_scale(P, "0.5")),
    case(df.log_scale, ValueError, "params", lambda: df.log_scale(with_time(w2=jnp.zeros((2, 5))), 0.5)),
    case(df.represent, ValueError, r"\by\b", lambda: represent(y=jnp.ones((2, 4)))),
    case(df.represent, TypeError, r"\by\b", lambda: represent(y=Y.astype(jnp.complex64))),
    case(df.represent, ValueError, "sigma", lambda: represent(scaled=True)),
    case(df.represent, ValueError, "sigma", lambda: represent(sigma=jnp.ones(3), scaled=True)),
    case(df.represent, TypeError, "scaled", lambda: represent(sigma=0.5, scaled="yes")),
    case(df.represent, ValueError, "params", lambda: represent(params={"W": P["W"]})),
    case(df.decode, ValueError, r"\bh\b", lambda: df.decode(P, jnp.ones((2, 3)), 0.5)),
    case(df.decode, TypeError, r"\bh\b", lambda: df.decode(P, "h", 0.5)),
    case(df.decode, ValueError, "sigma", lambda: df.decode(P, H, -0.5)),
    case(df.decode, ValueError, "sigma", lambda: df.decode(P, H, jnp.full(2, jnp.nan))),
    case(df.decode, ValueError, "skip", lambda: df.decode(with_(skip=jnp.zeros(4)), H, 0.5)),
    case(df.apply, ValueError, r"\by\b", lambda: df.apply(P, jnp.ones((2, 5)), 0.5)),
    case(df.apply, ValueError, r"\by\b", lambda: df.apply(P, jnp.full((2, 3), 1e20), 0.5)),
    case(df.apply, ValueError, "sigma", lambda: df.apply(P, Y, jnp.full((3,), 0.5))),
    case(df.apply, TypeError, "sigma", lambda: df.apply(P, Y, None)),
    case(df.apply, TypeError, "params", lambda: df.apply(with_(W="W"), Y, 0.5)),
    case(df.apply, ValueError, "params", lambda: df.apply(with_(time={"w1": P["time"]["w1"]}), Y, 0.5)),
    case(df.draw_noise, ValueError, r"\bn\b", lambda: draw(n=0)),
    case(df.draw_noise, ValueError, "num_noise", lambda: draw(num_noise=1.5)),
    case(df.draw_noise, TypeError, r"\bd\b", lambda: draw(d=None)),
    case(df.draw_noise, ValueError, "sigma_min", lambda: draw(sigma_min=1e-30)),  # σ² underflows float32
    case(df.draw_noise, TypeError, "sigma_max", lambda: draw(sigma_max="2")),
    case(df.draw_noise, ValueError, "dtype", lambda: draw(dtype=jnp.int32)),
    case(df.draw_noise, ValueError, "key", lambda: draw(key=3)),
    case(df.loss, ValueError, r"\bX\b", lambda: loss(X=np.ones((5, 4), np.float32))),
    case(df.loss, ValueError, "weights", lambda: loss(weights=np.zeros(5))),
    case(df.loss, ValueError, "weights", lambda: loss(weights=np.ones(4))),
    case(df.loss, TypeError, r"\blam\b", lambda: loss(lam="0.1")),
    case(df.loss, ValueError, "sigma_min", lambda: loss(sigma_min=3.0)),
    case(df.loss, ValueError, "num_noise", lambda: loss(num_noise=0)),
    case(df.loss, ValueError, "key", lambda: loss(key=jnp.zeros(4, jnp.uint32))),
    case(df.train, TypeError, "config", lambda: train(config={"steps": 2})),
    case(df.train, ValueError, "matmul_dtype", lambda: train(config=tr.TrainConfig(steps=2, matmul_dtype="bfloat16"))),
    case(df.train, ValueError, r"\bX\b", lambda: train(X=np.full((5, 3), np.inf, np.float32))),
    case(df.train, ValueError, "weights", lambda: train(weights=-np.ones(5))),
    case(df.train, TypeError, "sigma_min", lambda: train(sigma_min="0.02")),
    case(df.train, ValueError, "params", lambda: train(params=with_(W=jnp.full((3, 4), jnp.nan)))),
    case(df.train, TypeError, "key", lambda: train(key="seed")),
    case(df.train, TypeError, "callback", lambda: train(callback=1)),
    case(df.fit, TypeError, "config", lambda: fit(config=None)),
    case(df.fit, TypeError, "progress", lambda: fit(progress=None)),
    case(df.fit, TypeError, "desc", lambda: fit(desc=3)),
    case(df.fit, ValueError, r"\bX\b", lambda: fit(X=np.ones((0, 3), np.float32))),
    case(ST, TypeError, "train", lambda: ST(train=None)),
    case(ST, ValueError, "p_max", lambda: ST(p_max=0)),
    case(ST, TypeError, "hidden", lambda: ST(hidden="32")),
    case(ST, ValueError, "sigma_min", lambda: ST(sigma_min=2.0, sigma_max=1.0)),
    case(ST, ValueError, "min_noisy_batch", lambda: ST(min_noisy_batch=-1)),
    case(ST, ValueError, "curve_points", lambda: ST(curve_points=0)),
    case(ST, TypeError, "sigma_min", lambda: ST(sigma_min=jnp.float32(0.1))),  # an array: not hashable
    case(df.model_denoiser, TypeError, "params", lambda: df.model_denoiser(None)),
    case(df.model_denoiser, ValueError, "params", lambda: df.model_denoiser({"W": P["W"]})),
    case(df.model_denoiser, ValueError, "params", lambda: df.model_denoiser(with_(W=jnp.ones(3)))),
    case(df.model_denoiser, TypeError, "params", lambda: df.model_denoiser(with_(W=P["W"].astype(jnp.complex64)))),
    case(df.model_denoiser, ValueError, "params", lambda: df.model_denoiser(with_(skip=jnp.array(np.inf)))),
    case(df.single_sigma_dae, TypeError, "params_dae", lambda: df.single_sigma_dae("W")),
    case(df.single_sigma_dae, ValueError, "params_dae", lambda: df.single_sigma_dae({"V": jnp.ones((3, 4))})),
    case(df.single_sigma_dae, ValueError, "params_dae",
         lambda: df.single_sigma_dae({"W1": jnp.ones((3, 4)), "W2": jnp.ones((3, 2))})),
    case(df.single_sigma_dae, ValueError, "params_dae", lambda: df.single_sigma_dae({"W": jnp.full((3, 4), jnp.nan)})),
    case(df.empirical_denoiser, TypeError, r"\bX\b", lambda: df.empirical_denoiser(None)),
    case(df.empirical_denoiser, ValueError, r"\bX\b", lambda: df.empirical_denoiser(np.ones(3))),
    case(df.empirical_denoiser, ValueError, r"\bX\b", lambda: df.empirical_denoiser(np.ones((0, 3)))),
    case(df.empirical_denoiser, ValueError, r"\bX\b", lambda: df.empirical_denoiser(np.full((2, 3), np.nan))),
    case(df.gaussian_mixture_denoiser, ValueError, "covs", lambda: gmd(covs=np.stack([np.eye(2)] * 2))),
    case(df.gaussian_mixture_denoiser, ValueError, "covs", lambda: gmd(covs=-np.stack([np.eye(3)] * 2))),
    case(df.gaussian_mixture_denoiser, TypeError, "covs", lambda: gmd(covs=np.stack([np.eye(3)] * 2) * 1j)),
    case(df.gaussian_mixture_denoiser, ValueError, "weights", lambda: gmd(weights=np.array([1.0, -1.0]))),
    case(df.gaussian_mixture_denoiser, TypeError, "weights", lambda: gmd(weights="uniform")),
    case(df.gaussian_mixture_denoiser, ValueError, "means", lambda: gmd(means=np.full((2, 3), np.nan))),
    case(df.sigma_grid, ValueError, "num_steps", lambda: df.sigma_grid(0)),
    case(df.sigma_grid, ValueError, "num_steps", lambda: df.sigma_grid(2.5)),
    case(df.sigma_grid, ValueError, "sigma_min", lambda: df.sigma_grid(5, 1.0, 1.0)),
    case(df.sigma_grid, ValueError, "sigma_min", lambda: df.sigma_grid(5, 1.0, 1e-40)),  # ratio underflows
    case(df.sigma_grid, TypeError, "sigma_max", lambda: df.sigma_grid(5, None)),
    case(df.sample, TypeError, "params_or_denoiser", lambda: sample(params_or_denoiser="model")),
    case(df.sample, ValueError, "params_or_denoiser", lambda: sample(params_or_denoiser={"V": jnp.ones((3, 4))})),
    case(df.sample, ValueError, r"\bd\b", lambda: sample(d=4)),  # params are for d = 3
    case(df.sample, ValueError, "num_samples", lambda: sample(num_samples=0)),
    case(df.sample, TypeError, "clamp", lambda: sample(clamp="1")),
    case(df.sample, ValueError, "clamp", lambda: sample(clamp=(1.0, -1.0))),
    case(df.sample, ValueError, "x_init", lambda: sample(x_init=jnp.ones((3, 3)))),
    case(df.sample, TypeError, "x_init", lambda: sample(x_init="zeros")),
    case(df.sample, TypeError, "deterministic", lambda: sample(deterministic="yes")),
    case(df.sample, ValueError, "key", lambda: sample(key=jax.random.split(KEY, 2))),
    case(df.sample, TypeError, "return_trajectory", lambda: sample(return_trajectory="yes")),
    case(df.sample_trajectory, TypeError, "params_or_denoiser", lambda: traj(params_or_denoiser="model")),
    case(df.sample_trajectory, ValueError, r"\bd\b", lambda: traj(d=4)),  # params are for d = 3
    case(df.sample_trajectory, ValueError, "num_steps", lambda: traj(num_steps=0)),
    case(df.sample_trajectory, ValueError, "noise", lambda: traj(noise=jnp.ones((2, 2, 3)))),
    case(df.sample_trajectory, ValueError, "noise", lambda: traj(noise=jnp.ones((3, 2, 3)), deterministic=True)),
    case(df.sample_trajectory, TypeError, "return_trajectory", lambda: traj(return_trajectory=True)),  # not a keyword
    case(df.train, ValueError, "tying",
         lambda: df.train(P, X, KEY, tr.TrainConfig(steps=2, chunk_size=1, tying="aliased"))),
]


@pytest.mark.parametrize("c", CASES, ids=ids(CASES))
def test_bad_input(c):
  check(c)


def test_every_public_callable_has_three_bad_inputs():
  check_coverage(df, CASES, exempt={})


@pytest.mark.slow
def test_integer_data_gives_a_float_loss():
  assert jnp.issubdtype(df.loss(P, np.ones((5, 3), np.int32), KEY).dtype, jnp.floating)
