"""``python -m sims.deep_diffusion`` (flags: ``python -m sims.deep_diffusion --help``)."""

if __name__ == "__main__":
  from absl import app
  from absl import flags

  from sims.deep_diffusion import main
  flags.adopt_module_key_flags(main)  # --help lists main's flags
  app.run(main.main)
