"""``python -m sims.margin_check`` (flags: ``python -m sims.margin_check --help``)."""

if __name__ == "__main__":
  from absl import app
  from absl import flags

  from sims.margin_check import main
  flags.adopt_module_key_flags(main)  # --help lists main's flags
  app.run(main.main)
