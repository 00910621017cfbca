"""sims.real_detect and sims.real_steer on tiny randomly initialised pipelines saved to disk (no weights, no
network) of the three families — unconditional DDPM, class-conditional DiT, text-to-image SD (a CLIP tokenizer
without vocabulary files): what they write, resuming (also after a torn line), the numbers against sklearn,
diverged generations, the refusals, the command lines."""

import json
import os

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("diffusers")

from diffusers import (AutoencoderKL, DDIMPipeline, DDIMScheduler, DiTPipeline,  # noqa: E402
                       DiTTransformer2DModel, UNet2DModel)
from PIL import Image  # noqa: E402

from relu_dae.real import pipelines  # noqa: E402
from sims import real_detect  # noqa: E402
from sims.configs import real_detect as detect_config  # noqa: E402


@pytest.fixture(scope="module")
def tiny_ddpm(tmp_path_factory):
  torch.manual_seed(0)
  unet = UNet2DModel(sample_size=8, in_channels=3, out_channels=3, block_out_channels=(8, 16), layers_per_block=1,
                     norm_num_groups=4, down_block_types=("DownBlock2D",) * 2, up_block_types=("UpBlock2D",) * 2)
  path = tmp_path_factory.mktemp("tiny_ddpm")
  DDIMPipeline(unet=unet.eval(), scheduler=DDIMScheduler(num_train_timesteps=100)).save_pretrained(path)
  return str(path)


@pytest.fixture(scope="module")
def tiny_dit(tmp_path_factory):
  torch.manual_seed(0)
  dit = DiTTransformer2DModel(num_attention_heads=2, attention_head_dim=4, in_channels=4, out_channels=8, num_layers=2,
                              sample_size=4, patch_size=2, num_embeds_ada_norm=1000, norm_num_groups=4).eval()
  vae = AutoencoderKL(in_channels=3, out_channels=3, down_block_types=("DownEncoderBlock2D",) * 2,
                      up_block_types=("UpDecoderBlock2D",) * 2, block_out_channels=(8, 8), latent_channels=4,
                      norm_num_groups=4, sample_size=8).eval()
  path = tmp_path_factory.mktemp("tiny_dit")
  DiTPipeline(transformer=dit, vae=vae, scheduler=DDIMScheduler(),
              id2label={i: str(i) for i in range(10)}).save_pretrained(path)
  return str(path)


@pytest.fixture(scope="module")
def tiny_sd(tmp_path_factory):
  """A text-to-image pipeline of the SD1.x family built offline: transformers' CLIPTokenizer without a
  vocabulary file (every word maps to the unknown token), a one-layer CLIP text encoder, tiny UNet and VAE."""
  from diffusers import StableDiffusionPipeline, UNet2DConditionModel
  from transformers import CLIPTextConfig, CLIPTextModel, CLIPTokenizer
  torch.manual_seed(0)
  text = CLIPTextModel(CLIPTextConfig(vocab_size=3, hidden_size=12, intermediate_size=16, num_hidden_layers=1,
                                      num_attention_heads=2, max_position_embeddings=8, bos_token_id=0,
                                      eos_token_id=1, pad_token_id=2)).eval()
  unet = UNet2DConditionModel(sample_size=4, in_channels=4, out_channels=4, block_out_channels=(8, 16),
                              layers_per_block=1, norm_num_groups=4, cross_attention_dim=12, attention_head_dim=4,
                              down_block_types=("CrossAttnDownBlock2D", "DownBlock2D"),
                              up_block_types=("UpBlock2D", "CrossAttnUpBlock2D")).eval()
  vae = AutoencoderKL(in_channels=3, out_channels=3, down_block_types=("DownEncoderBlock2D",) * 2,
                      up_block_types=("UpDecoderBlock2D",) * 2, block_out_channels=(8, 8), latent_channels=4,
                      norm_num_groups=4, sample_size=8).eval()
  path = tmp_path_factory.mktemp("tiny_sd")
  StableDiffusionPipeline(vae=vae, text_encoder=text, tokenizer=CLIPTokenizer(model_max_length=8), unet=unet,
                          scheduler=DDIMScheduler(), safety_checker=None, feature_extractor=None,
                          requires_safety_checker=False).save_pretrained(path)
  return str(path)


@pytest.fixture(scope="module")
def image_dir(tmp_path_factory):
  """Digits as 8x8 RGB PNGs: 30 "memorized" (bright, blocky) and 30 "ordinary" ones."""
  from relu_dae import data
  X, y = data.load_digits()
  d = tmp_path_factory.mktemp("images")
  for g, idx in (("memorized", np.flatnonzero(y == 0)[:30]), ("ordinary", np.flatnonzero(y == 1)[:30])):
    os.makedirs(d / g)
    for i in idx:
      a = ((X[i].reshape(8, 8) + 1) * 127.5).round().astype(np.uint8)
      Image.fromarray(np.stack([a] * 3, -1)).save(d / g / f"{i:04d}.png")
  return str(d)


def _config(**kw):
  c = detect_config.get_config("ddpm")
  c.update({**dict(allow_cpu=True, num_bootstrap=50, timestep=10), **kw})
  return c


@pytest.mark.slow
def test_read_mode_writes_one_line_per_image_and_sklearn_agrees(tiny_ddpm, image_dir, tmp_path):
  from sklearn.metrics import roc_auc_score
  out = real_detect.run(_config(model=tiny_ddpm, images=image_dir), str(tmp_path), progress=None)
  lines = real_detect.read_scores(str(tmp_path / "scores.jsonl"))
  assert out["new"] == 60 and len(lines) == 60
  assert {d["group"] for d in lines} == {"memorized", "ordinary"}
  row = next(r for r in out["rows"] if r["layer"] == "up_blocks.0.resnets.0.nonlinearity" and r["score"] == "std")
  y = [d["group"] == "memorized" for d in lines]
  s = [d["scores"][row["layer"]]["std"] for d in lines]
  assert row["auroc"] == pytest.approx(roc_auc_score(y, s))
  assert row["n_pos"] == 30 and not row["too_few_positives"]
  assert row["auroc_ci"][0] <= row["auroc"] <= row["auroc_ci"][1]
  assert os.path.isfile(out["figure"]) and (tmp_path / "table.md").read_text().count("\n") == 2 + len(out["rows"])
  saved = json.loads((tmp_path / "summary.json").read_text())
  assert [r["auroc"] for r in saved["rows"]] == [r["auroc"] for r in out["rows"]]


@pytest.mark.slow
def test_a_resumed_run_scores_nothing_again_and_a_torn_line_is_redone_identically(tiny_ddpm, image_dir, tmp_path):
  c = _config(model=tiny_ddpm, images=image_dir, num_per_group=4)
  first = real_detect.run(c, str(tmp_path), progress=None)
  path = tmp_path / "scores.jsonl"
  whole = path.read_text()
  assert real_detect.run(c, str(tmp_path), progress=None)["new"] == 0
  lines = whole.splitlines(keepends=True)
  path.write_text("".join(lines[:-1]) + lines[-1][:25])  # killed while writing the last line
  again = real_detect.run(c, str(tmp_path), progress=None)
  assert again["new"] == 1 and path.read_text() == whole
  assert again["rows"] == first["rows"]


def test_generate_mode_on_a_class_conditional_dit(tiny_dit, tmp_path):
  (tmp_path / "mem.txt").write_text("1\n2\n")
  (tmp_path / "ord.txt").write_text("3\n4\n5\n")
  c = detect_config.get_config("dit")
  c.update(model=tiny_dit, memorized=str(tmp_path / "mem.txt"), ordinary=str(tmp_path / "ord.txt"), allow_cpu=True,
           num_steps=3, num_bootstrap=20)
  work = tmp_path / "work"
  out = real_detect.run(c, str(work), progress=None)
  lines = real_detect.read_scores(str(work / "scores.jsonl"))
  assert out["new"] == 5 and [d["condition"] for d in lines] == ["1", "2", "3", "4", "5"]
  assert all(os.path.isfile(d["image"]) for d in lines)
  assert set(lines[0]["scores"]) == {"transformer_blocks.1"}
  assert out["figure"] is None  # 2 positives: rows computed, marked, not drawn
  assert all(r["too_few_positives"] for r in out["rows"])
  # the image of condition k depends only on its seed: regenerating it gives the stored PNG
  pipe = pipelines.load(tiny_dit)
  pipe.set_progress_bar_config(disable=True)
  img = pipelines.generate(pipe, "3", lines[2]["seed"], num_steps=3, guidance=c.guidance)
  stored = np.asarray(Image.open(lines[2]["image"]), np.float32) / 127.5 - 1
  np.testing.assert_allclose(img[0].permute(1, 2, 0).numpy(), stored, atol=1 / 127.5 + 1e-6)


def test_refusals_name_what_is_missing(tiny_ddpm, image_dir, tmp_path):
  with pytest.raises(pipelines.UnavailableError, match="not on this machine"):
    real_detect.run(_config(model=str(tmp_path / "none"), images=image_dir), str(tmp_path / "a"), progress=None)
  if not torch.cuda.is_available():
    with pytest.raises(pipelines.UnavailableError, match="GPU"):
      real_detect.run(_config(model=tiny_ddpm, images=image_dir, allow_cpu=False), str(tmp_path / "b"),
                      progress=None)
  from sims._flags import FlagError
  with pytest.raises(FlagError, match=r"--config\.memorized="):
    real_detect.run(_config(model=tiny_ddpm), str(tmp_path / "c"), progress=None)
  with pytest.raises(FlagError, match=r"--config\.images="):
    real_detect.run(_config(model=tiny_ddpm, images=str(tmp_path)), str(tmp_path / "d"), progress=None)


def test_steering_app_on_a_dit_a0_is_the_plain_generation_and_the_grid_resumes(tiny_dit, tmp_path):
  from sims import real_steer
  from sims.configs import real_steer as steer_config
  for name, text in (("target", "7\n8\n9\n"), ("other", "1\n"), ("mem", "2\n3\n"), ("ord", "4\n5\n")):
    (tmp_path / f"{name}.txt").write_text(text)
  c = steer_config.get_config("dit")
  c.update(model=tiny_dit, target=str(tmp_path / "target.txt"), other=str(tmp_path / "other.txt"),
           memorized=str(tmp_path / "mem.txt"), ordinary=str(tmp_path / "ord.txt"), allow_cpu=True, num_steps=6,
           window_first=2, window_skip_last=1, a=(0.0, 0.5, 2.0), num_bootstrap=20)
  work = tmp_path / "work"
  out = real_steer.run(c, str(work), progress=None)
  assert out["new"] == 4 + 4 * 3  # 3 target + 1 other references, 4 inputs x 3 strengths
  lines = real_steer.read_scores(str(work / "steer.jsonl"))
  pipe = pipelines.load(tiny_dit)
  pipe.set_progress_bar_config(disable=True)
  first = next(d for d in lines if d["kind"] == "input" and d["a"] == 0.0)
  plain = pipelines.generate(pipe, first["condition"], first["seed"], num_steps=6, guidance=c.guidance)
  stored = np.asarray(Image.open(first["image"]), np.float32) / 127.5 - 1
  np.testing.assert_allclose(plain[0].permute(1, 2, 0).numpy(), stored, atol=1 / 127.5 + 1e-6)  # a = 0: unsteered
  for g in real_steer.GROUPS:
    curves = np.asarray(out["summary"]["groups"][g]["curves"])
    assert curves.shape == (3, 2) and np.all(curves[-1] != 0)  # a = 2 moved every input
  assert out["summary"]["contrastive"] and os.path.isfile(out["figure"])
  assert out["summary"]["window_timesteps"] == sorted(hooks_window(pipe, 6, 2, 5))
  assert real_steer.run(c, str(work), progress=None)["new"] == 0


def hooks_window(pipe, n, first, last):
  from relu_dae.real import hooks
  pipe.scheduler.set_timesteps(n)
  return hooks.window_timesteps(pipe.scheduler.timesteps, first, last)


def test_steering_response_is_the_projection_ratio():
  from sims import real_steer
  v = {"l": np.array([1.0, 0.0])}
  assert real_steer.response({"l": np.array([0.5, 3.0])}, {"l": np.zeros(2)}, {"l": np.array([2.0, 1.0])}, v) == 0.25


def test_read_scores_drops_only_a_torn_last_line(tmp_path):
  path = tmp_path / "s.jsonl"
  path.write_text('{"a": 1}\n{"a": 2}\n{"a": 3')
  assert real_detect.read_scores(str(path)) == [{"a": 1}, {"a": 2}]
  assert path.read_text() == '{"a": 1}\n{"a": 2}\n'
  path.write_text('{"a": 1}\n{"a": \n{"a": 3}\n')
  with pytest.raises(ValueError, match="line 2"):
    real_detect.read_scores(str(path))


def test_a_diverged_generation_is_recorded_and_left_out_and_other_conditions_are_refused(tiny_dit, tmp_path,
                                                                                        monkeypatch):
  from sims._flags import FlagError
  (tmp_path / "mem.txt").write_text("1\n2\n")
  (tmp_path / "ord.txt").write_text("3\n4\n")
  c = detect_config.get_config("dit")
  c.update(model=tiny_dit, memorized=str(tmp_path / "mem.txt"), ordinary=str(tmp_path / "ord.txt"), allow_cpu=True,
           num_steps=2, num_bootstrap=20)
  real = pipelines.generate
  monkeypatch.setattr(pipelines, "generate", lambda pipe, cond, seed, **kw: real(pipe, cond, seed, **kw) * (
      float("nan") if cond == "2" else 1.0))
  out = real_detect.run(c, str(tmp_path / "w"), progress=None)
  lines = real_detect.read_scores(str(tmp_path / "w" / "scores.jsonl"))
  assert [d.get("diverged", False) for d in lines] == [False, True, False, False]
  assert out["rows"] == [] or all(r["n_pos"] == 1 for r in out["rows"])  # 1 positive left: no AUROC row
  saved = json.loads((tmp_path / "w" / "summary.json").read_text())
  assert saved["diverged"] == {"memorized": 1, "ordinary": 0}
  (tmp_path / "ord.txt").write_text("3\n7\n")  # the run's conditions changed under it
  with pytest.raises(FlagError, match="other conditions"):
    real_detect.run(c, str(tmp_path / "w"), progress=None)


@pytest.mark.slow
def test_command_lines_refuse_bad_flags_and_run_on_a_tiny_pipeline(tiny_ddpm, image_dir, tmp_path):
  import subprocess
  import sys
  run = lambda *args: subprocess.run([sys.executable, "-m", *args], capture_output=True, text=True, timeout=300,
                                     cwd=os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
  for app, flag in (("sims.real_detect", "memorized"), ("sims.real_steer", "target")):
    out = run(app, f"--workdir={tmp_path / app}")
    assert out.returncode == 1 and f"--config.{flag}=" in out.stderr, out.stderr[-2000:]
  out = run("sims.real_detect", "--config=sims/configs/real_detect.py:ddpm", f"--config.model={tiny_ddpm}",
            f"--config.images={image_dir}", "--config.allow_cpu=true", "--config.num_per_group=3",
            "--config.num_bootstrap=10", f"--workdir={tmp_path / 'w'}")
  assert out.returncode == 0 and "scored 6 new images" in out.stdout, out.stderr[-2000:]
  out = run("sims.real_detect", "--config=sims/configs/real_detect.py:ddpm", f"--config.model={tmp_path / 'none'}",
            f"--config.images={image_dir}", "--config.allow_cpu=true", f"--workdir={tmp_path / 'x'}")
  assert out.returncode == 1 and "not on this machine" in out.stderr


@pytest.mark.slow
def test_text_to_image_family_end_to_end(tiny_sd, tmp_path):
  (tmp_path / "mem.txt").write_text('{"caption": "a photo of a cat"}\n{"caption": "1984"}\n')
  (tmp_path / "ord.txt").write_text("a painting\nan apple\n")
  c = detect_config.get_config("sd14")
  c.update(model=tiny_sd, memorized=str(tmp_path / "mem.txt"), ordinary=str(tmp_path / "ord.txt"), allow_cpu=True,
           num_steps=3, num_bootstrap=20)
  out = real_detect.run(c, str(tmp_path / "w"), progress=None)
  lines = real_detect.read_scores(str(tmp_path / "w" / "scores.jsonl"))
  assert out["new"] == 4 and [d["condition"] for d in lines] == ["a photo of a cat", "1984", "a painting", "an apple"]
  assert set(lines[0]["scores"]) == {"up_blocks.0.resnets.0.nonlinearity", "up_blocks.0.resnets.1.nonlinearity",
                                     "up_blocks.1.resnets.0.nonlinearity"}
  pipe = pipelines.load(tiny_sd)
  pipe.set_progress_bar_config(disable=True)
  empty = pipelines.prompt_free_condition(pipe)
  assert empty.shape == (1, 8, 12)
  torch.testing.assert_close(empty, pipelines.prompt_embedding(pipe, ""))
  from relu_dae.real import hooks, represent
  v = {b: torch.ones(hooks.find(pipe.unet, b).out_channels) for b in represent.default_layers(pipe.unet, "steer")}
  plain = pipelines.generate(pipe, "a painting", 5, num_steps=3)
  with hooks.steer(pipe.unet, v, 0.0):
    torch.testing.assert_close(pipelines.generate(pipe, "a painting", 5, num_steps=3), plain, rtol=0, atol=0)
  with hooks.steer(pipe.unet, v, 3.0):
    assert not torch.equal(pipelines.generate(pipe, "a painting", 5, num_steps=3), plain)
