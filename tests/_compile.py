"""What the compile-once tests share: how many compiles a call adds to a jitted function's cache."""


def cache_growth(jitted, calls) -> int:
  """Entries ``calls()`` adds to ``jitted``'s cache after a first warm-up call."""
  calls()
  before = jitted._cache_size()
  calls()
  calls()
  return jitted._cache_size() - before
