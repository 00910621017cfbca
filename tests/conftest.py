"""Shared fixtures: float64 for closed-form comparisons (docs/THEORY.md conventions)."""

import jax
import pytest


@pytest.fixture
def x64():
  """Runs the test with 64-bit floats enabled, restoring the default afterwards."""
  with jax.enable_x64(True):
    yield


@pytest.fixture
def key():
  return jax.random.PRNGKey(0)
