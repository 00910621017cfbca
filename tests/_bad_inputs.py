"""Table-driven bad-input tests: every public callable of a module gets at least three.

A case is ``case(fn, Exc, match, call)``: calling ``call()`` must raise ``Exc`` (``ValueError`` or
``TypeError``) whose message matches the regex ``match`` — normally the parameter's name — and
``fn`` is the public callable the case exercises (used for coverage). Each module's table lives in
``tests/test_bad_inputs_<module>.py``::

    CASES = [case(rd.model.init, ValueError, r"\\bd\\b", lambda: rd.model.init(KEY, 0, 3)), ...]

    @pytest.mark.parametrize("c", CASES, ids=ids(CASES))
    def test_bad_input(c):
      check(c)

    def test_every_public_callable_has_three_bad_inputs():
      check_coverage(rd.model, CASES, exempt={})

``exempt`` maps the names of public callables without cases to the reason (result containers
such as NamedTuples that only hold arrays, protocols).
"""

from __future__ import annotations

import collections
import inspect
import re
from typing import Any, NamedTuple
from collections.abc import Callable

import pytest


class Case(NamedTuple):
  fn: Any
  exc: type
  match: str
  call: Callable[[], Any]


def case(fn, exc: type, match: str, call: Callable[[], Any]) -> Case:
  assert exc in (ValueError, TypeError), exc
  return Case(fn, exc, match, call)


def _name(fn) -> str:
  return getattr(fn, "__qualname__", None) or getattr(fn, "__name__", repr(fn))


def ids(cases) -> list[str]:
  seen = collections.Counter()
  out = []
  for c in cases:
    name = _name(c.fn)
    seen[name] += 1
    out.append(f"{name}-{seen[name]}")
  return out


def check(c: Case) -> None:
  """Runs one case: the right exception type, and a message matching ``c.match``."""
  with pytest.raises(c.exc) as info:
    c.call()
  message = str(info.value)
  assert re.search(c.match, message), f"{c.exc.__name__} message {message!r} does not match {c.match!r}"


def public_callables(module) -> dict[str, Any]:
  """Functions and classes defined in ``module`` (its ``__all__`` if any) that do not start with ``_``."""
  names = getattr(module, "__all__", None) or [n for n in vars(module) if not n.startswith("_")]
  out = {}
  for n in names:
    obj = getattr(module, n)
    if (inspect.isfunction(obj) or inspect.isclass(obj)) and getattr(obj, "__module__", None) == module.__name__:
      out[n] = obj
  return out


def check_coverage(module, cases, *, exempt: dict[str, str], min_cases: int = 3) -> None:
  """Every public callable of ``module`` not in ``exempt`` has ``min_cases`` cases or more."""
  counts = collections.Counter(_name(c.fn) for c in cases)
  public = public_callables(module)
  unknown = set(exempt) - set(public)
  assert not unknown, f"exempt names that are not public callables of {module.__name__}: {sorted(unknown)}"
  short = {n: counts.get(n, 0) for n in public if n not in exempt and counts.get(n, 0) < min_cases}
  assert not short, f"{module.__name__}: callables with fewer than {min_cases} bad-input cases: {short}"
