"""sims.deep_diffusion: its statistics against independent computations on planted data, a smoke run
(2 images are copied, all 1797 digits are not; a = 0 steering reproduces the generations bitwise; a
resumed run is identical), and one on the bars (copies and novel generations are members of the family).
Its command line: tests/test_app_flags_theory_apps.py."""

import json
import os

import numpy as np
import pytest

import jax

from relu_dae import results
from sims.deep_diffusion import analysis
from sims.deep_diffusion import experiments as ex

def _auroc_by_pairs(pos, neg):
  """P(score of a positive > score of a negative) + ½ P(tie), from every pair."""
  d = pos[:, None] - neg[None, :]
  return float(np.mean(d > 0) + 0.5 * np.mean(d == 0))


def test_detection_rows_on_planted_scores_match_pair_counting_and_group_means():
  rng = np.random.default_rng(0)
  pos, neg = np.zeros(200, bool), np.zeros(200, bool)
  pos[:60], neg[60:] = True, True
  s_good = np.where(pos, rng.normal(2.0, 1.0, 200), rng.normal(0.0, 1.0, 200))
  scores = {("up.0", "max"): {"std": s_good, "flipped": -s_good}}
  rows = analysis.detection_rows(scores, dict(pos=pos, neg=neg), jax.random.PRNGKey(0), 200)
  by = {r["score"]: r for r in rows}
  want = _auroc_by_pairs(s_good[pos], s_good[neg])
  assert by["std"]["auroc"] == pytest.approx(want, abs=1e-12)
  assert by["flipped"]["auroc"] == pytest.approx(1.0 - want, abs=1e-12)
  lo, hi = by["std"]["auroc_ci"]
  assert lo <= want <= hi and hi - lo < 0.2
  # TPR at 1 % FPR: positives above the largest negative score allowed at 1 % of 140 negatives (1 of them)
  thr = np.sort(s_good[neg])[-2]  # at most 1 negative (0.7 %) above it
  assert by["std"]["tpr_at_1pct_fpr"] >= np.mean(s_good[pos] > thr) - 1e-12
  assert by["std"]["mean_memorized"]["value"] == pytest.approx(s_good[pos].mean())
  assert by["std"]["n_pos"] == 60 and by["std"]["n_neg"] == 140


def test_detection_rows_need_two_of_each_group():
  s = {("mid", "max"): {"std": np.arange(5.0)}}
  one = np.array([True, False, False, False, False])
  assert analysis.detection_rows(s, dict(pos=one, neg=~one), jax.random.PRNGKey(0), 10) == []


def test_copy_rate_summary_matches_counts_and_a_log_n_interpolation():
  n_values = (2, 8, 32, 128)
  rates = np.array([1.0, 0.75, 0.25, 0.0])  # crosses 1/2 halfway between n = 8 and n = 32 in log n: n = 16
  m = 400
  copy = np.zeros((2, 4, m), bool)
  for j, r in enumerate(rates):
    copy[:, j, :round(r * m)] = True
  sweep = dict(copy=copy, d1=np.ones((2, 4, m)), d2=np.full((2, 4, m), 4.0), ratio=np.full((2, 4, m), 0.25),
               norm_ratio=np.ones((2, 4, m)), final_loss=np.zeros((2, 4)), loss_drift=np.zeros((2, 4)))
  out = analysis.copy_rate_summary(sweep, n_values, np.random.default_rng(0), 200)
  assert [r["copy_rate"] for r in out["rows"]] == pytest.approx(rates.tolist())
  assert out["n_half"]["value"] == pytest.approx(16.0)
  assert out["n_half"]["where"] == "crossed"
  lo, hi = out["n_half"]["ci"]
  assert 8 < lo <= 16 <= hi < 32
  lo, hi = out["rows"][1]["ci"]
  assert lo <= 0.75 <= hi
  assert out["rows"][1]["per_seed"][0]["wilson"][0] < 0.75 < out["rows"][1]["per_seed"][0]["wilson"][1]
  # A diverged model (NaN) is a failed run: left out of the rate, never counted as "no copies".
  failed = dict(sweep, copy=copy.astype(np.float64))
  failed["copy"][1] = np.nan  # seed 1 diverged at every n
  out = analysis.copy_rate_summary(failed, n_values, np.random.default_rng(0), 50)
  assert [r["copy_rate"] for r in out["rows"]] == pytest.approx(rates.tolist())
  assert all(r["diverged_seeds"] == [1] for r in out["rows"])


def test_family_rates_match_counts_on_planted_distances():
  rng = np.random.default_rng(0)
  S, m = 2, 500
  dist = rng.uniform(0, 0.2, (S, 1, m))
  copy = (rng.uniform(size=(S, 1, m)) < 0.3).astype(np.float64)
  sweep = dict(family_distance=dist, copy=copy)
  out = analysis.family_rates(sweep, 0, 0.1, np.random.default_rng(1), 300)
  valid = dist[:, 0] <= 0.1
  assert out["valid_rate"]["value"] == pytest.approx(valid.mean())
  assert out["novel_valid_rate"]["value"] == pytest.approx((valid & (copy[:, 0] == 0)).mean())
  assert out["median_family_distance"] == pytest.approx(np.median(dist))
  for k in ("valid_rate", "novel_valid_rate"):
    lo, hi = out[k]["ci"]
    assert lo < out[k]["value"] < hi and hi - lo < 0.2
  assert analysis.family_rates(dict(family_distance=np.full((S, 1, m), np.nan), copy=copy), 0, 0.1,
                               np.random.default_rng(1), 10) == {}  # digits: no family


def test_bars_pool_is_the_documented_sample_and_family_distance_is_rms():
  from relu_dae import bars
  data = ex.images("bars", 8, 3)
  X, labels, centres = bars.sample(jax.random.fold_in(jax.random.PRNGKey(3), 7), 1797, bars.DEFAULT)
  np.testing.assert_array_equal(data.X, X)
  np.testing.assert_array_equal(data.labels, labels)
  np.testing.assert_array_equal(data.centres, centres)
  G = np.concatenate([X[:3] + 0.05, np.full((1, 64), np.nan)])
  d = ex.family_distance(G, data)
  want = bars.distance_to_family(G[:3]).distance / 8.0
  np.testing.assert_allclose(d[:3], want)
  assert np.isnan(d[3])  # a non-finite generation is NaN, never "on the family"
  assert np.all(d[:3] <= 0.05 + 1e-6)  # a member shifted by 0.05 per pixel is at most that far
  assert np.isnan(ex.family_distance(G[:3], ex.digits(8))).all()
  big = ex.images("bars", 16, 3)
  assert big.X.shape == (1797, 256) and big.family.image_size == 16
  with pytest.raises(ValueError, match="data"):
    ex.images("mnist", 8, 0)


def test_effective_rank_of_rank_one_and_flat_spectra():
  assert ex.effective_rank(np.array([3.0, 0.0, 0.0, 0.0])) == pytest.approx(1.0)
  assert ex.effective_rank(np.array([[2.0, 2.0, 2.0, 2.0]]))[0] == pytest.approx(4.0)
  p = np.array([0.5, 0.25, 0.25])
  assert ex.effective_rank(p) == pytest.approx(np.exp(-np.sum(p * np.log(p))))


def test_hybrid_labels_split_copies_of_duplicated_from_the_rest():
  lab = dict(copy=np.array([True, True, False, True]), nearest=np.array([5, 7, 5, 9]))
  h = analysis.hybrid_labels(lab, np.array([5, 9]))
  assert h["pos"].tolist() == [True, False, False, True]
  assert h["neg"].tolist() == [False, False, True, False]
  assert h["copies_of_ordinary"].tolist() == [False, True, False, False]


def test_digits_are_upsampled_by_repeating_pixels():
  small, big = ex.digits(8), ex.digits(16)
  assert small.X.shape == (1797, 64) and big.X.shape == (1797, 256)
  img = big.X[3].reshape(16, 16)
  np.testing.assert_array_equal(img[::2, ::2], small.X[3].reshape(8, 8))
  np.testing.assert_array_equal(img[1::2, 1::2], small.X[3].reshape(8, 8))


def test_steered_blocks_are_the_up_path_or_its_coarse_half():
  from relu_dae import unet
  two = unet.UNetConfig(channels=(8, 16), groups=4)
  assert ex.steered_blocks(two, "coarse_up") == ("up.0.0", "up.0.1")
  assert ex.steered_blocks(two, "up") == ("up.0.0", "up.0.1", "up.1.0", "up.1.1")
  assert ex.steered_blocks(unet.UNetConfig(image_size=16, channels=(8, 16, 32, 32), groups=4), "coarse_up") == (
      "up.0.0", "up.0.1", "up.1.0", "up.1.1")


@pytest.fixture(scope="module")
def smoke(tmp_path_factory):
  from sims import deep_diffusion
  from sims.configs import deep_diffusion as config_lib
  work = tmp_path_factory.mktemp("deep")
  config = config_lib.get_config("smoke")
  out = deep_diffusion.run(config, str(work), progress=False)
  return config, str(work), out


@pytest.mark.slow
def test_smoke_two_images_are_copied_and_all_digits_are_not(smoke):
  _, work, out = smoke
  rows = {r["n"]: r for r in out["sweep"]["rows"]}
  assert rows[2]["copy_rate"] >= 0.9, rows[2]
  assert rows[1797]["copy_rate"] <= 0.1, rows[1797]
  with open(os.path.join(work, "sweep.json")) as f:
    saved = json.load(f)
  assert [r["copy_rate"] for r in saved["rows"]] == [r["copy_rate"] for r in out["sweep"]["rows"]]


@pytest.mark.slow
def test_smoke_bars_two_images_are_copied_members_and_all_bars_give_novel_members(tmp_path):
  from sims import deep_diffusion
  from sims.configs import deep_diffusion as config_lib
  config = config_lib.get_config("smoke")
  config.data = "bars"
  rows = {r["n"]: r for r in deep_diffusion.run(config, str(tmp_path), experiments=("sweep",),
                                                progress=False)["sweep"]["rows"]}
  assert rows[2]["copy_rate"] >= 0.9 and rows[2]["valid_rate"]["value"] >= 0.9, rows[2]  # copies are members
  assert rows[1797]["copy_rate"] <= 0.1, rows[1797]
  # measured 0.425 [0.33, 0.54] at this size (800 steps): a generalizing model makes new members
  assert rows[1797]["novel_valid_rate"]["value"] >= 0.2, rows[1797]


@pytest.mark.slow
def test_smoke_hybrid_writes_figures_sane_rows_and_unsteered_a0(smoke):
  config, work, out = smoke
  names = {"deep_copy_rate.png", "deep_generations.png", "deep_layer_scores.png", "deep_detection_roc.png",
           "deep_steering.png", "deep_jacobian_spectra.png"}
  assert {os.path.basename(p) for p in out["figures"]} == names
  for p in out["figures"]:
    assert os.path.getsize(p) > 10_000
  h = out["hybrid"]
  n = h["counts"]
  assert n["n_pos"] + n["n_neg"] + n["n_copies_of_ordinary"] == n["n_total"] == config.num_samples
  assert n["n_pos"] >= 2 and n["n_neg"] >= 2, n  # the duplicated images are memorized
  assert len(h["rows"]) == 5 * len(config.detect.poolings) * 5  # layers x poolings x scores
  for r in h["rows"]:
    assert 0.0 <= r["auroc_ci"][0] <= r["auroc"] <= r["auroc_ci"][1] <= 1.0 or not np.isfinite(r["auroc"])
  assert h["steering"]["a0_max_abs_diff"] == 0.0  # a = 0 is bitwise the unsteered sampler
  arrays, _ = results.load(os.path.join(work, "arrays"))
  assert arrays["hybrid_steer_p"].shape == (config.steer.num_a, config.steer.num_seeds)
  for row in h["jacobian"]:
    assert 1.0 <= row["effective_rank"]["value"] <= 64.0


@pytest.mark.slow
def test_smoke_resumes_from_saved_models_with_identical_results(smoke, monkeypatch):
  from relu_dae import unet
  from sims import deep_diffusion
  config, work, out = smoke

  def refuse(*args, **kwargs):
    pytest.fail("a resumed run retrained a saved model")

  monkeypatch.setattr(unet, "train", refuse)
  again = deep_diffusion.run(config, work, progress=False)  # every model is read back from <workdir>/models
  assert again["sweep"]["rows"] == out["sweep"]["rows"]
  assert again["hybrid"]["rows"] == out["hybrid"]["rows"]
  for g in ("memorized", "generalized"):
    a, b = again["hybrid"]["steering"][g], out["hybrid"]["steering"][g]
    if "mean_curve" in b:
      np.testing.assert_array_equal(a["mean_curve"], b["mean_curve"])


@pytest.mark.slow
def test_cached_model_is_reused_only_when_made_from_the_same_inputs(tmp_path):
  import dataclasses
  from relu_dae import train, unet
  cfg = unet.UNetConfig(channels=(8,), embed_dim=8, groups=4)
  X = ex.digits(8).X[:6]
  w = np.ones(6, np.float32)
  tc = train.TrainConfig(steps=4, chunk_size=2, learning_rate=1e-3, batch_size=4)
  stem = str(tmp_path / "m")
  kw = dict(num_samples=3, num_steps=3, cache=stem)
  first = ex.train_model(X, w, jax.random.PRNGKey(0), cfg, tc, **kw)
  again = ex.train_model(X, w, jax.random.PRNGKey(0), cfg, tc, **kw)  # read back
  np.testing.assert_array_equal(first.generated, again.generated)
  assert len(results.load(stem)[0]["loss"]) == 4
  longer = dataclasses.replace(tc, steps=6, chunk_size=3)
  ex.train_model(X, w, jax.random.PRNGKey(0), cfg, longer, **kw)  # another config: retrained, not read back
  assert len(results.load(stem)[0]["loss"]) == 6
  ex.train_model(X, w * np.arange(1, 7), jax.random.PRNGKey(0), cfg, longer, **kw)  # other weights: retrained
  assert results.load(stem)[1]["fingerprint"] != ex._fingerprint(X, w, jax.random.PRNGKey(0), cfg, longer, 3, 3)


def test_hybrid_weights_duplicate_images_outside_the_target_class():
  from sims.configs import deep_diffusion as config_lib
  c = config_lib.get_config("default")
  data = ex.digits(8)
  w, dup = ex.hybrid_weights(data, c, jax.random.PRNGKey(3))
  assert len(dup) == len(set(dup.tolist())) == c.hybrid.n_duplicated
  assert not np.any(data.labels[dup] == c.hybrid.target_class)
  assert np.all(w[dup] == c.hybrid.copies) and np.sum(w == 1) == len(w) - len(dup)


def test_copy_labels_match_a_brute_force_nearest_neighbour_search():
  rng = np.random.default_rng(1)
  X = rng.normal(size=(12, 5)).astype(np.float32)
  w = np.ones(12, np.float32)
  w[[3, 7]] = 0.0  # absent from the training set
  G = np.concatenate([X[:4] + 0.01, rng.normal(size=(4, 5))]).astype(np.float32)
  lab = ex.copy_labels(G, X, w, 1 / 3)
  present = np.flatnonzero(w > 0)
  for i, g in enumerate(G):
    d = np.linalg.norm(X[present] - g, axis=1)
    order = np.argsort(d)
    assert lab["nearest"][i] == present[order[0]]
    assert lab["ratio"][i] == pytest.approx(d[order[0]] / d[order[1]], rel=1e-4)
    assert lab["copy"][i] == (d[order[0]] / d[order[1]] < 1 / 3)
  assert lab["copy"][:3].all() and lab["nearest"][3] != 3  # row 3 is absent: its near-copy is not a copy of it
