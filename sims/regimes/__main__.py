"""``python -m sims.regimes``: the flags are :mod:`sims.regimes.main`'s (``--help`` lists them)."""

from absl import app
from absl import flags

from sims.regimes import main

flags.adopt_module_key_flags(main)  # so --help lists the app's flags, not only --helpfull

if __name__ == "__main__":
  app.run(main.main)
