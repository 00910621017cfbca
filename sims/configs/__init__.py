"""ml_collections presets of the sims apps, one file per app, plus helpers they share."""


def pow2(lo: int, hi: int) -> tuple:
  """Powers of two times ``lo`` up to ``hi``: ``pow2(4, 32) == (4, 8, 16, 32)``."""
  out, n = [], lo
  while n <= hi:
    out.append(n)
    n *= 2
  return tuple(out)
