"""``python -m sims.real_steer`` (flags: ``python -m sims.real_steer --help``)."""

if __name__ == "__main__":
  from absl import app
  from absl import flags

  from sims.real_steer import main
  flags.adopt_module_key_flags(main)  # --help lists main's flags
  app.run(main.main)
