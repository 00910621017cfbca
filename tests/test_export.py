"""relu_dae.export: a real sweep as a pandas table and an xarray dataset, checked value by value."""

import json

import jax
import numpy as np
import pytest

from relu_dae import convergence, data, export, sweep, train

pytestmark = pytest.mark.slow  # the module fixture trains a 24-configuration sweep (~10 s)

pd = pytest.importorskip("pandas")
xr = pytest.importorskip("xarray")

TRAIN = train.TrainConfig(steps=40, learning_rate=1e-2, chunk_size=20)


@pytest.fixture(scope="module")
def swept(tmp_path_factory):
  X = np.asarray(data.locally_sparse(jax.random.PRNGKey(3), n=8, d=16))
  grid = sweep.Grid(n=(2, 4, 8), sigma=(0.1, 0.3), p=(4,), seed=(0, 1))
  stem = sweep.run(grid, sweep.SweepConfig(TRAIN, p_max=4), str(tmp_path_factory.mktemp("sweep")), pool=X,
                   progress=False)
  return stem, sweep.load(stem)


def test_dataframe_rows_are_the_configurations(swept):
  stem, res = swept
  df = export.to_dataframe(stem)  # from the stem, in one call
  assert len(df) == len(res.ok)
  for a in sweep.AXES:
    np.testing.assert_array_equal(df[a].to_numpy(), res.configs[a])
  np.testing.assert_array_equal(df["final_loss"].to_numpy(), res.final_loss)
  np.testing.assert_array_equal(df["ok"].to_numpy(), res.ok)
  assert list(df["status"]) == [convergence.STATUS_NAMES[int(s)] for s in res.status]
  assert "loss_curve" not in df and "params.W" not in df  # not scalars per configuration


def test_dataframe_groupby_matches_a_hand_mean_over_seeds(swept):
  _, res = swept
  means = export.to_dataframe(res).groupby(["n", "sigma"])["final_loss"].mean()
  for (n, sigma), value in means.items():
    rows = (res.configs["n"] == n) & (res.configs["sigma"] == sigma)
    assert value == pytest.approx(float(np.mean(res.final_loss[rows], dtype=np.float64)), rel=1e-12)


def test_dataset_is_the_grid_with_axis_coordinates(swept):
  _, res = swept
  ds = export.to_dataset(res)
  assert tuple(ds["final_loss"].dims) == sweep.AXES
  np.testing.assert_array_equal(ds["final_loss"].to_numpy(), res.grid(res.final_loss))
  np.testing.assert_array_equal(ds["n"].to_numpy(), [2, 4, 8])
  np.testing.assert_array_equal(ds["sigma"].to_numpy(), [0.1, 0.3])
  W = ds["params"].sel(n=4, sigma=0.3, seed=1).squeeze().to_numpy()
  row = np.flatnonzero((res.configs["n"] == 4) & (res.configs["sigma"] == 0.3) & (res.configs["seed"] == 1))
  np.testing.assert_array_equal(W, res.params[row[0]])
  assert ds["loss_curve"].dims[-1] == "loss_curve_0"
  assert json.loads(ds.attrs["meta"])["grid_shape"] == list(res.grid_shape)


def test_dataset_of_a_merged_refinement_is_the_union_grid(swept, tmp_path):
  """sweep.merge of a refinement round (new n) is the grid over the union of n: values land at their n."""
  _, res = swept
  X = np.asarray(data.locally_sparse(jax.random.PRNGKey(3), n=8, d=16))
  extra = sweep.load(sweep.run(sweep.Grid(n=(6,), sigma=(0.1, 0.3), p=(4,), seed=(0, 1)),
                               sweep.SweepConfig(TRAIN, p_max=4), str(tmp_path), pool=X, progress=False))
  merged = sweep.merge([res, extra])
  ds = export.to_dataset(merged)
  np.testing.assert_array_equal(ds["n"].to_numpy(), [2, 4, 6, 8])
  np.testing.assert_array_equal(ds["final_loss"].sel(n=6).squeeze().to_numpy().ravel(),
                                extra.grid(extra.final_loss).squeeze().ravel())
  np.testing.assert_array_equal(ds["final_loss"].sel(n=4).squeeze().to_numpy().ravel(),
                                res.grid(res.final_loss)[1].squeeze().ravel())


def test_failed_runs_stay_nan():
  configs = {a: np.zeros(2) for a in sweep.AXES}
  res = sweep.SweepResult(configs, (2,), {"stored": np.array([0.5, np.nan])}, np.array([True, False]), {},
                          np.array([5, 2]), np.array([1, 5]), np.array([True, False]), np.array([-1, 2]))
  df = export.to_dataframe(res)
  assert np.isnan(df["stored"][1]) and df["status"][1] == "nonfinite"
  assert np.isnan(export.to_dataset(res)["stored"].to_numpy()[1])
