"""``python -m sims.real_detect`` (flags: ``python -m sims.real_detect --help``)."""

if __name__ == "__main__":
  from absl import app
  from absl import flags

  from sims.real_detect import main
  flags.adopt_module_key_flags(main)  # --help lists main's flags
  app.run(main.main)
