r"""A synthetic image family with a known truth: oriented Gaussian bars.

Every image of the family is one bar: class ``k`` of ``K`` fixes its orientation ``θ_k = πk/K`` and two
continuous parameters, the centre ``c = (row, col)``, place it. With pixel coordinates ``p = (u, v)``,
``u, v ∈ {0, …, s−1}`` (``s = spec.image_size``) and the scale ``r = s/8`` (at 16×16 the bar's length,
width and margin double; the centre square is ``[r m, s − 1 − r m]²``, e.g. [4, 11]² at 16×16),

    along  = (p − c) · (cos θ_k, sin θ_k),   across = (p − c) · (−sin θ_k, cos θ_k),
    I(p)   = exp(−½ [(along / (r ℓ))² + (across / (r w))²]),        x = 2 I − 1 ∈ (−1, 1],

``ℓ = spec.length``, ``w = spec.width``; centres are uniform on the square ``[r m, s − 1 − r m]²``
(``m = spec.margin``), so the bar stays inside the image. The background is −1, as for the bundled
digits (:func:`relu_dae.data.load_digits`), so the two families share the UNet's data scale.

So the family is a union of ``K`` two-dimensional manifolds in ``R^{s²}``, known in closed form. A
generation can then be judged beyond "is it a copy of a training image" (:mod:`relu_dae.copies`): its
distance to the whole family (:func:`distance_to_family`) says whether a novel image is a *valid* new
member of the family — what generalization means — or off it.

Examples:
  >>> import jax, numpy as np
  >>> from relu_dae import bars
  >>> spec = bars.BarSpec()
  >>> X, labels, centres = bars.sample(jax.random.PRNGKey(0), 5, spec)
  >>> X.shape, labels.shape, centres.shape
  ((5, 64), (5,), (5, 2))
  >>> fit = bars.distance_to_family(X, spec)
  >>> bool(np.all(fit.distance < 0.2)), bool(np.all(fit.label == labels))
  (True, True)
"""

from __future__ import annotations

from typing import NamedTuple

import jax
import numpy as np
import numpy.typing as npt
from jaxtyping import ArrayLike, Float, Int

from relu_dae import _checks

__all__ = ["DEFAULT", "BarSpec", "FamilyFit", "distance_to_family", "render", "sample"]


class BarSpec(NamedTuple):
  """The family's shape: ``image_size`` s (a multiple of 8), ``num_classes`` K orientations, the bar's
  ``length`` ℓ and ``width`` w and the centres' ``margin`` m, in pixels of the 8×8 family."""
  image_size: int = 8
  num_classes: int = 10
  length: float = 2.0
  width: float = 0.6
  margin: float = 2.0

  @property
  def d(self) -> int:
    return self.image_size**2

  @property
  def centre_range(self) -> tuple[float, float]:
    """The interval every centre coordinate is uniform on."""
    r = self.image_size / 8
    return r * self.margin, self.image_size - 1 - r * self.margin


DEFAULT = BarSpec()  # the 8×8 family of ten orientations used by sims.deep_diffusion's "bars" data


def _check_spec(spec) -> BarSpec:
  if not isinstance(spec, BarSpec):
    raise TypeError(f"spec must be a relu_dae.bars.BarSpec, got {type(spec).__name__}")
  size = _checks.positive_int("spec.image_size", spec.image_size)
  if size % 8:
    raise ValueError(f"spec.image_size must be a multiple of 8, got {size}")
  _checks.positive_int("spec.num_classes", spec.num_classes)
  for name in ("length", "width"):
    _checks.scalar_positive(f"spec.{name}", getattr(spec, name))
  _checks.scalar_nonnegative("spec.margin", spec.margin)
  lo, hi = spec.centre_range
  if lo > hi:
    raise ValueError(f"spec.margin={spec.margin} leaves no centre inside a {size}x{size} image "
                     f"(it must be at most {(size - 1) / 2 / (size / 8)})")
  return spec


def render(labels: npt.ArrayLike, centres: npt.ArrayLike, spec: BarSpec = DEFAULT
           ) -> Float[np.ndarray, "n d"]:
  """The family's images of the given classes and centres, flat ``(n, s²)`` float32 in (−1, 1].

  >>> from relu_dae import bars
  >>> img = bars.render([0], [[3.5, 3.5]]).reshape(8, 8)  # class 0 (θ = 0) runs along the rows: vertical
  >>> bool(img[0, 3] > img[3, 0])
  True
  """
  spec = _check_spec(spec)
  _checks.array("labels", labels, ndim=1)
  labels = np.asarray(labels)
  centres = np.asarray(_checks.array("centres", centres), np.float64)
  if centres.shape != (len(labels), 2):
    raise ValueError(f"centres must have shape (n, 2) with n = len(labels) = {len(labels)}, got {centres.shape}")
  if not np.issubdtype(labels.dtype, np.integer) or (labels.size and (labels.min() < 0
                                                                      or labels.max() >= spec.num_classes)):
    raise ValueError(f"labels must be integers in [0, spec.num_classes = {spec.num_classes}), got {labels}")
  return _render(labels, centres, spec).astype(np.float32)


def _render(labels: np.ndarray, centres: np.ndarray, spec: BarSpec) -> np.ndarray:
  s, r = spec.image_size, spec.image_size / 8
  theta = np.pi * labels / spec.num_classes
  u, v = np.meshgrid(np.arange(s), np.arange(s), indexing="ij")
  du = u.ravel()[None, :] - centres[:, :1]  # (n, s²)
  dv = v.ravel()[None, :] - centres[:, 1:]
  cos, sin = np.cos(theta)[:, None], np.sin(theta)[:, None]
  along, across = du * cos + dv * sin, -du * sin + dv * cos
  intensity = np.exp(-0.5 * ((along / (r * spec.length)) ** 2 + (across / (r * spec.width)) ** 2))
  return 2.0 * intensity - 1.0  # float64; the public functions return float32


def sample(key: jax.Array, n: int, spec: BarSpec = DEFAULT
           ) -> tuple[Float[np.ndarray, "n d"], Int[np.ndarray, " n"], Float[np.ndarray, "n 2"]]:
  """``n`` images of the family: classes uniform, then equal counts up to one (class ``i mod K`` for
  image ``i`` of a random permutation), centres uniform on :attr:`BarSpec.centre_range` squared.

  Returns ``(X (n, s²) float32, labels (n,) int32, centres (n, 2) float64)`` — the truth of each image.
  """
  _checks.key("key", key)
  n = _checks.positive_int("n", n)
  spec = _check_spec(spec)
  k_lab, k_ctr = jax.random.split(key)
  labels = np.asarray(jax.random.permutation(k_lab, n)) % spec.num_classes
  lo, hi = spec.centre_range
  centres = np.asarray(jax.random.uniform(k_ctr, (n, 2), minval=lo, maxval=hi), np.float64)
  return _render(labels, centres, spec).astype(np.float32), labels.astype(np.int32), centres


class FamilyFit(NamedTuple):
  """The nearest family member of each image: Euclidean ``distance (m,)``, its ``label (m,)`` and
  ``centre (m, 2)``."""
  distance: np.ndarray
  label: np.ndarray
  centre: np.ndarray


def distance_to_family(G: Float[ArrayLike, "m d"], spec: BarSpec = DEFAULT, *, resolution: float = 0.05,
                       refine: bool = True) -> FamilyFit:
  """Distance of each image to the family: ``min_{k, c} ‖g − x(k, c)‖`` over every class and every
  centre of the allowed square (Euclidean, in the images' units; 0 for a member).

  The minimum is searched on a grid of centres ``resolution`` pixels (of the 8×8 family) apart, then,
  with ``refine``, polished by L-BFGS-B over the centre from the best grid point, within the square
  (scipy). The distance is an upper bound of the true minimum; a grid point is at most
  ``resolution/√2`` from any centre, and the refinement is checked in the tests against a continuous
  search from many starts.

  >>> from relu_dae import bars
  >>> x = bars.render([3], [[2.3, 4.1]])
  >>> fit = bars.distance_to_family(x)
  >>> int(fit.label[0]), [round(float(c), 2) for c in fit.centre[0]]
  (3, [2.3, 4.1])
  """
  spec = _check_spec(spec)
  G = np.asarray(_checks.matrix("G", G, ncols=spec.d), np.float64)
  _checks.finite("G", G)
  _checks.scalar_positive("resolution", resolution)
  refine = _checks.boolean("refine", refine)
  lo, hi = spec.centre_range
  r = spec.image_size / 8
  grid = np.linspace(lo, hi, max(int(np.ceil((hi - lo) / (r * resolution))) + 1, 2))
  cu, cv = np.meshgrid(grid, grid, indexing="ij")
  centres = np.stack([cu.ravel(), cv.ravel()], axis=1)
  best = np.full(len(G), np.inf)
  label = np.zeros(len(G), np.int64)
  centre = np.zeros((len(G), 2))
  g2 = np.sum(G**2, axis=1)
  for k in range(spec.num_classes):
    T = _render(np.full(len(centres), k), centres, spec)
    d2 = g2[:, None] - 2.0 * G @ T.T + np.sum(T**2, axis=1)[None, :]  # (m, grid²)
    j = np.argmin(d2, axis=1)
    d = d2[np.arange(len(G)), j]
    better = d < best
    best[better], label[better], centre[better] = d[better], k, centres[j[better]]
  if refine:
    centre, best = _refine(G, label, centre, spec)
  return FamilyFit(np.sqrt(np.maximum(best, 0.0)), label, centre)


def _refine(G, label, centre, spec):
  from scipy.optimize import minimize  # local import: scipy.optimize is slow to import
  lo, hi = spec.centre_range
  out_c, out_d = centre.copy(), np.zeros(len(G))
  for i, (g, k, c0) in enumerate(zip(G, label, centre)):
    def f(c, g=g, k=k):
      return float(np.sum((_render(np.array([k]), np.asarray(c, np.float64)[None, :], spec)[0] - g) ** 2))
    res = minimize(f, c0, method="L-BFGS-B", bounds=[(lo, hi)] * 2, options=dict(ftol=1e-14, gtol=1e-9))
    start = f(c0)
    out_c[i], out_d[i] = (res.x, res.fun) if res.fun <= start else (c0, start)
  return out_c, out_d
