"""The API pages in docs/api/ are what docs/gen_api.py makes from the docstrings, and cover everything public."""

import importlib
import importlib.util
import inspect
import pathlib
import re

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"


@pytest.fixture(scope="module")
def gen_api():
  spec = importlib.util.spec_from_file_location("gen_api", DOCS / "gen_api.py")
  module = importlib.util.module_from_spec(spec)
  spec.loader.exec_module(module)
  return module


def _public(module):
  """Public functions and classes defined in ``module``, found without the generator's helper."""
  return sorted(name for name in dir(module)
                if not name.startswith("_") and not inspect.ismodule(getattr(module, name))
                and callable(getattr(module, name))
                and getattr(getattr(module, name), "__module__", None) == module.__name__)


def test_committed_pages_are_up_to_date(gen_api, tmp_path):
  gen_api.write(tmp_path)
  generated = {p.name: p.read_text(encoding="utf-8") for p in tmp_path.glob("*.md")}
  committed = {p.name: p.read_text(encoding="utf-8") for p in (DOCS / "api").glob("*.md")}
  assert sorted(committed) == sorted(generated), "run `python docs/gen_api.py` and commit docs/api/"
  stale = sorted(name for name in generated if committed[name] != generated[name])
  assert not stale, f"docs/api/ is out of date for {stale}: run `python docs/gen_api.py` and commit docs/api/"


def test_every_public_module_has_a_page_linked_from_the_indexes(gen_api):
  package = sorted(p.stem for p in (ROOT / "relu_dae").glob("*.py") if not p.stem.startswith("_"))
  assert sorted(gen_api.MODULES) == package
  docs_index = (DOCS / "README.md").read_text(encoding="utf-8")
  api_index = (DOCS / "api" / "README.md").read_text(encoding="utf-8")
  for m in package:
    assert f"(api/{m}.md)" in docs_index, m
    assert f"({m}.md)" in api_index, m
  assert "(docs/README.md)" in (ROOT / "README.md").read_text(encoding="utf-8")


@pytest.mark.parametrize("name", ["model", "losses", "data", "denoisers", "minima", "train", "convergence",
                                  "metrics", "boundaries",
                                  "sweep", "results", "plotting", "theory", "diffusion", "detection",
                                  "steering"])
def test_every_public_function_and_class_has_a_section(name):
  module = importlib.import_module(f"relu_dae.{name}")
  page = (DOCS / "api" / f"{name}.md").read_text(encoding="utf-8")
  public = _public(module)
  assert public, name
  missing = [obj for obj in public if f"\n### `{obj}`\n" not in page]
  assert not missing, f"relu_dae.{name}: no section for {missing}"


def _heading_anchors(text):
  """GitHub's anchors of a Markdown page: lowercased heading text, repeats suffixed -1, -2, …"""
  seen, result = {}, set()
  for heading in re.findall(r"^#+ (.*)$", text, flags=re.M):
    slug = re.sub(r"[^\w -]", "", heading.lower()).replace(" ", "-")
    count = seen.get(slug, 0)
    result.add(slug if count == 0 else f"{slug}-{count}")
    seen[slug] = count + 1
  return result


def _api_pages():
  return {p.name: p.read_text(encoding="utf-8") for p in (DOCS / "api").glob("*.md")}


def test_links_between_api_pages_resolve():
  """Every relative link of docs/api/*.md names an existing page and a heading anchor on it."""
  pages = _api_pages()
  anchors = {name: _heading_anchors(text) for name, text in pages.items()}
  bad = []
  for name, text in pages.items():
    for target in re.findall(r"\]\(([^)\s]+)\)", text):
      if target.startswith(("http://", "https://")):
        continue
      file, _, anchor = target.partition("#")
      file = file or name
      if file.startswith("../"):
        ok = (DOCS / "api" / file).resolve().exists()
      else:
        ok = file in pages and (not anchor or anchor in anchors[file])
      if not ok:
        bad.append(f"{name}: {target}")
  assert not bad, bad


def test_readme_links_into_the_api_pages_resolve():
  pages = _api_pages()
  links = re.findall(r"\]\(docs/api/([\w.]+\.md)(?:#([\w-]+))?\)", (ROOT / "README.md").read_text(encoding="utf-8"))
  assert len(links) > 50
  bad = [f"{f}#{a}" for f, a in links if f not in pages or (a and a not in _heading_anchors(pages[f]))]
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


def test_readme_paper_map_names_real_functions(gen_api):
  table = _mapping_table()
  refs = re.findall(r"`(\w+)\.(\w+)[(`]", table)
  refs = [(m, name) for m, name in refs if m in gen_api.MODULES]
  assert len(refs) > 30
  missing = [f"{m}.{name}" for m, name in refs if not hasattr(importlib.import_module(f"relu_dae.{m}"), name)]
  assert not missing, missing


def test_readme_gallery_shows_every_committed_figure():
  readme = (ROOT / "README.md").read_text(encoding="utf-8")
  gallery = readme[readme.index("## Gallery"):]
  missing = [p.name for p in sorted((ROOT / "figures").glob("*.png")) if f'src="figures/{p.name}"' not in gallery]
  assert not missing, missing
