"""The documentation: a strict mkdocs build of the API pages from the docstrings, every public module and
name documented, and the README's links, paper map and gallery pointing at things that exist."""

import importlib
import pathlib
import re
import shutil
import subprocess
import sys

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"
MODULES = sorted(p.stem for p in (ROOT / "relu_dae").glob("*.py") if not p.stem.startswith("_"))
# the optional extra's modules (torch, diffusers): documented the same way where it is installed
if importlib.util.find_spec("torch") and importlib.util.find_spec("diffusers"):
  MODULES += sorted(f"real.{p.stem}" for p in (ROOT / "relu_dae" / "real").glob("*.py") if not p.stem.startswith("_"))


def _defined_public(module):
  """Public functions, classes and constants defined in ``module`` itself (not imported)."""
  names = []
  for name, obj in vars(module).items():
    if name.startswith("_") or isinstance(obj, type(sys)):
      continue
    if callable(obj):
      if getattr(obj, "__module__", None) == module.__name__:
        names.append(name)
    elif name.isupper():
      names.append(name)
  return names


@pytest.mark.skipif(shutil.which("mkdocs") is None and importlib.util.find_spec("mkdocs") is None,
                    reason="mkdocs is in the test extra")
@pytest.mark.slow
def test_mkdocs_strict_build(tmp_path):
  """Every page renders and every docstring parses: ``mkdocs build --strict`` turns warnings into errors."""
  run = subprocess.run([sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", str(tmp_path)],
                       cwd=ROOT, capture_output=True, text=True, timeout=300)
  assert run.returncode == 0, run.stderr[-4000:]
  assert (tmp_path / "api" / "model" / "index.html").exists()


@pytest.mark.parametrize("name", MODULES)
def test_every_public_module_has_a_page_in_the_nav_and_the_indexes(name):
  page = (DOCS / "api" / f"{name}.md").read_text(encoding="utf-8")
  assert f"\n::: relu_dae.{name}\n" in page
  assert f"api/{name}.md" in (ROOT / "mkdocs.yml").read_text(encoding="utf-8")
  assert f"(api/{name}.md)" in (DOCS / "README.md").read_text(encoding="utf-8")
  assert f"({name}.md)" in (DOCS / "api" / "README.md").read_text(encoding="utf-8")


@pytest.mark.parametrize("name", MODULES)
def test_every_module_lists_its_public_names_in_all(name):
  """``__all__`` names exist, and every public name defined in the module is listed (re-exports may be too)."""
  module = importlib.import_module(f"relu_dae.{name}")
  assert hasattr(module, "__all__"), f"relu_dae.{name} has no __all__"
  assert len(set(module.__all__)) == len(module.__all__), "repeated names"
  assert not [n for n in module.__all__ if not hasattr(module, n)]
  assert not sorted(set(_defined_public(module)) - set(module.__all__))


# imported on first use, not by ``import relu_dae``: plotting (matplotlib) and the optional extra (torch)
LAZY = ("plotting",)


def test_package_imports_every_module():
  import relu_dae
  assert not [m for m in MODULES if "." not in m and m not in LAZY and not hasattr(relu_dae, m)]


def _relative_links(text):
  return [t for t in re.findall(r"\]\(([^)\s]+)\)", text) if not t.startswith(("http://", "https://", "#"))]


@pytest.mark.parametrize("page", ["README.md", "docs/README.md", "docs/api/README.md", "figures/README.md",
                                  "BENCHMARKS.md", "docs/theory_report.md"])
def test_relative_links_resolve(page):
  path = ROOT / page
  bad = [t for t in _relative_links(path.read_text(encoding="utf-8"))
         if not (path.parent / t.partition("#")[0]).resolve().exists()]
  assert not bad, bad


def _mapping_table():
  readme = (ROOT / "README.md").read_text(encoding="utf-8")
  start = readme.index("## How this maps to the paper")
  return readme[start:readme.index("\n## ", start + 1)]


def test_readme_paper_map_names_real_tests():
  table = _mapping_table()
  refs = re.findall(r"`(test_\w+\.py)::(test_\w+)`", table)
  assert len(refs) > 20
  missing = [f"{f}::{t}" for f, t in refs
             if not re.search(rf"^def {t}\(", (ROOT / "tests" / f).read_text(encoding="utf-8"), flags=re.M)]
  assert not missing, missing


def test_readme_paper_map_names_real_functions():
  table = _mapping_table()
  refs = [(m, name) for m, name in re.findall(r"`(\w+)\.(\w+)[(`]", table) if m in MODULES]
  assert len(refs) > 30
  missing = [f"{m}.{name}" for m, name in refs if not hasattr(importlib.import_module(f"relu_dae.{m}"), name)]
  assert not missing, missing


def test_readme_gallery_shows_every_committed_figure():
  readme = (ROOT / "README.md").read_text(encoding="utf-8")
  gallery = readme[readme.index("## Gallery"):]
  missing = [p.name for p in sorted((ROOT / "figures").glob("*.png")) if f'src="figures/{p.name}"' not in gallery]
  assert not missing, missing
