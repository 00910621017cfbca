"""relu_dae.bars against independent computations: a per-pixel rendering loop, a dense grid search."""

import math

import jax
import numpy as np
import pytest

from relu_dae import bars

KEY = jax.random.PRNGKey(0)


def _pixel(k, c, u, v, spec):
  """One pixel of the family's image, written from the formula in the module docstring."""
  r = spec.image_size / 8
  t = math.pi * k / spec.num_classes
  along = (u - c[0]) * math.cos(t) + (v - c[1]) * math.sin(t)
  across = -(u - c[0]) * math.sin(t) + (v - c[1]) * math.cos(t)
  return 2 * math.exp(-0.5 * ((along / (r * spec.length)) ** 2 + (across / (r * spec.width)) ** 2)) - 1


@pytest.mark.parametrize("spec", [bars.BarSpec(), bars.BarSpec(image_size=16, num_classes=4, length=1.5)])
def test_render_matches_a_per_pixel_loop(spec):
  labels, centres = np.array([0, 1, 3]), np.array([[2.0, 2.0], [3.3, 4.9], [4.5, 2.5]]) * spec.image_size / 8
  X = bars.render(labels, centres, spec)
  s = spec.image_size
  want = np.array([[_pixel(k, c, u, v, spec) for u in range(s) for v in range(s)] for k, c in zip(labels, centres)])
  np.testing.assert_allclose(X, want, atol=1e-6)
  assert X.dtype == np.float32 and X.shape == (3, s * s)


def test_class_zero_runs_along_the_rows_and_classes_rotate_it():
  spec = bars.BarSpec(num_classes=2)  # class 0 at θ = 0, class 1 at θ = π/2: the transpose
  a, b = bars.render([0, 1], [[3.5, 3.5], [3.5, 3.5]], spec).reshape(2, 8, 8)
  np.testing.assert_allclose(a, b.T, atol=1e-6)
  assert a[0, 3] > a[3, 0]


def test_sample_is_the_rendering_of_its_truth_balanced_and_inside_the_square():
  spec = bars.BarSpec()
  X, labels, centres = bars.sample(KEY, 1000, spec)
  np.testing.assert_array_equal(X, bars.render(labels, centres, spec))
  assert np.bincount(labels).tolist() == [100] * 10
  lo, hi = spec.centre_range
  assert centres.min() >= lo and centres.max() <= hi and (lo, hi) == (2.0, 5.0)
  # uniform on the square: each coordinate's mean and variance
  np.testing.assert_allclose(centres.mean(axis=0), 3.5, atol=0.1)
  np.testing.assert_allclose(centres.var(axis=0), 9 / 12, rtol=0.1)
  X2, *_ = bars.sample(KEY, 1000, spec)
  np.testing.assert_array_equal(X, X2)
  assert not np.array_equal(X, bars.sample(jax.random.PRNGKey(1), 1000, spec)[0])


def test_members_are_at_distance_zero_with_their_class_and_centre():
  spec = bars.BarSpec()
  X, labels, centres = bars.sample(KEY, 40, spec)
  fit = bars.distance_to_family(X, spec)
  assert fit.distance.max() < 1e-5
  np.testing.assert_array_equal(fit.label, labels)
  np.testing.assert_allclose(fit.centre, centres, atol=1e-4)


def _dense_grid_distance(G, spec, step):
  """An independent search: every class on a grid of centres ``step`` apart, no refinement."""
  lo, hi = spec.centre_range
  g = np.arange(lo, hi + step / 2, step)
  cu, cv = np.meshgrid(g, g, indexing="ij")
  out = np.full(len(G), np.inf)
  for k in range(spec.num_classes):
    T = bars.render(np.full(cu.size, k), np.stack([cu.ravel(), cv.ravel()], 1), spec)  # checked by the loop test
    for i, g in enumerate(G):  # one image at a time: (grid², d) differences, no expansion of the square
      out[i] = min(out[i], np.sqrt(np.min(np.sum((T - g) ** 2, axis=1))))
  return out


def test_distance_of_off_family_images_agrees_with_a_dense_grid_search():
  spec = bars.BarSpec()
  X, *_ = bars.sample(KEY, 12, spec)
  rng = np.random.default_rng(0)
  G = np.concatenate([X + 0.3 * rng.normal(size=X.shape), np.full((1, 64), -1.0), rng.uniform(-1, 1, (3, 64))])
  fit = bars.distance_to_family(G, spec)
  dense = _dense_grid_distance(G, spec, 0.02)
  # the refined search is at least as good as the dense grid and no more than its grid error better
  assert np.all(fit.distance <= dense + 1e-6)
  assert np.all(fit.distance >= dense - 5e-3)
  # a member plus noise is no farther than the noise
  assert np.all(fit.distance[:12] <= np.linalg.norm(G[:12] - X, axis=1) + 1e-6)
  coarse = bars.distance_to_family(G, spec, refine=False)
  assert np.all(fit.distance <= coarse.distance + 1e-9)
