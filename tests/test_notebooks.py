"""The Colab notebooks in colab/: each runs top to bottom at smoke size, and each .ipynb matches its source.

The reviewed text of a notebook is its jupytext ``py:percent`` source ``colab/NN_name.py``; the
``.ipynb`` next to it is generated from it (``jupytext --to ipynb colab/NN_name.py``) and committed
without outputs. Executing the ``.py`` with plain Python runs exactly the code cells of the notebook
in order, so a notebook that a newcomer opens in Colab runs what CI ran.
"""

import json
import os
import pathlib
import subprocess
import sys

import jupytext
import pytest

COLAB = pathlib.Path(__file__).resolve().parent.parent / "colab"
NAMES = sorted(p.stem for p in COLAB.glob("[0-9][0-9]_*.py"))
BADGE = "https://colab.research.google.com/github/relu-dae/relu-dae/blob/main/colab/{}.ipynb"


def test_the_four_notebooks_are_there():
  assert NAMES == ["01_three_regimes", "02_phase_diagram", "03_margin_bounds", "04_diffusion_detection_steering"]
  assert sorted(p.stem for p in COLAB.glob("*.ipynb")) == NAMES


@pytest.mark.slow
@pytest.mark.parametrize("name", NAMES)
def test_notebook_runs_at_smoke_size(name, tmp_path):
  """Runs the source top to bottom in a fresh interpreter, in an empty directory, with SMOKE_TEST=1."""
  env = dict(os.environ, SMOKE_TEST="1", MPLBACKEND="Agg", PYTHONWARNINGS="ignore")
  proc = subprocess.run([sys.executable, str(COLAB / f"{name}.py")], cwd=tmp_path, env=env,
                        capture_output=True, text=True, timeout=900)
  assert proc.returncode == 0, f"{name} failed:\n{proc.stdout[-3000:]}\n{proc.stderr[-5000:]}"
  assert "smoke test: True" in proc.stdout
  assert not any(tmp_path.iterdir()), f"{name} left files in its working directory: {list(tmp_path.iterdir())}"


def _cells(notebook):
  return [(c.cell_type, c.source.strip()) for c in notebook.cells]


@pytest.mark.parametrize("name", NAMES)
def test_ipynb_is_in_sync_with_its_source(name):
  """Same cells, same order, same text (what ``jupytext --to ipynb`` of the source writes)."""
  source = jupytext.read(COLAB / f"{name}.py")
  ipynb = jupytext.read(COLAB / f"{name}.ipynb")
  assert _cells(ipynb) == _cells(source), (
      f"colab/{name}.ipynb differs from colab/{name}.py; regenerate it with "
      f"`jupytext --to ipynb colab/{name}.py`")
  assert ipynb.metadata["jupytext"]["formats"] == "ipynb,py:percent"


@pytest.mark.parametrize("name", NAMES)
def test_ipynb_has_no_outputs(name):
  raw = json.loads((COLAB / f"{name}.ipynb").read_text())
  for i, cell in enumerate(raw["cells"]):
    if cell["cell_type"] == "code":
      assert cell["outputs"] == [] and cell["execution_count"] is None, f"{name}.ipynb cell {i} has outputs"


@pytest.mark.parametrize("name", NAMES)
def test_notebook_opens_with_title_badge_install_and_smoke_switch(name):
  cells = jupytext.read(COLAB / f"{name}.py").cells
  assert cells[0].cell_type == "markdown" and cells[0].source.startswith("# ")
  assert BADGE.format(name) in cells[0].source
  setup = cells[1].source
  assert cells[1].cell_type == "code"
  assert 'IN_COLAB = "google.colab" in sys.modules' in setup and "git+https://github.com/relu-dae/relu-dae" in setup
  assert 'os.environ.get("SMOKE_TEST"' in setup
