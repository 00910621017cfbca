"""``python -m sims.diffusion_toy`` (flags: ``python -m sims.diffusion_toy --help``)."""

if __name__ == "__main__":
  from absl import app
  from absl import flags

  from sims.diffusion_toy import main
  flags.adopt_module_key_flags(main)  # --help lists main's flags
  app.run(main.main)
