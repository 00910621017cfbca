"""Bad inputs to relu_dae.real (the optional torch/diffusers extra) raise ValueError/TypeError naming the
parameter."""

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("diffusers")

from diffusers import DDIMPipeline, DDIMScheduler, DDPMScheduler, UNet2DModel  # noqa: E402

from _bad_inputs import case, check, check_coverage, ids  # noqa: E402
from relu_dae.real import hooks, pipelines, represent  # noqa: E402

torch.manual_seed(0)
UNET = UNet2DModel(sample_size=8, in_channels=1, out_channels=1, block_out_channels=(8, 16), layers_per_block=1,
                   norm_num_groups=4, down_block_types=("DownBlock2D",) * 2, up_block_types=("UpBlock2D",) * 2).eval()
X0 = torch.zeros(2, 1, 8, 8)
PIPE = DDIMPipeline(unet=UNET, scheduler=DDIMScheduler(num_train_timesteps=100))  # unconditional, pixel space
LAYER = "up_blocks.0.resnets.0"
V = {LAYER: torch.zeros(16)}


def _enter(cm):
  with cm:
    pass


def _steer_run(vectors):
  with hooks.steer(UNET, vectors, 1.0), torch.no_grad():
    UNET(X0, 5)


CASES = [
    case(hooks.find, TypeError, "model", lambda: hooks.find("unet", LAYER)),
    case(hooks.find, TypeError, "path", lambda: hooks.find(UNET, "")),
    case(hooks.find, ValueError, "path", lambda: hooks.find(UNET, "up_blocks.7")),
    case(hooks.capture, TypeError, "layers", lambda: _enter(hooks.capture(UNET, LAYER))),
    case(hooks.capture, ValueError, "layers", lambda: _enter(hooks.capture(UNET, [LAYER, LAYER]))),
    case(hooks.capture, TypeError, "call", lambda: _enter(hooks.capture(UNET, [LAYER], call=1.5))),
    case(hooks.pool, TypeError, r"\bh\b", lambda: hooks.pool(np.zeros((2, 3)))),
    case(hooks.pool, ValueError, "pooling", lambda: hooks.pool(torch.zeros(2, 3), "sum")),
    case(hooks.pool, ValueError, r"\bh\b", lambda: hooks.pool(torch.zeros(2, 3, 4, 5, 6))),
    case(hooks.window_timesteps, ValueError, "select no step", lambda: hooks.window_timesteps([3, 2, 1], 2, 1)),
    case(hooks.window_timesteps, TypeError, "first", lambda: hooks.window_timesteps([3, 2, 1], 0.5, 2)),
    case(hooks.window_timesteps, TypeError, "last", lambda: hooks.window_timesteps([3, 2, 1], 0, "2")),
    case(hooks.steer, TypeError, "vectors", lambda: _enter(hooks.steer(UNET, [], 1.0))),
    case(hooks.steer, ValueError, r"\ba\b", lambda: _enter(hooks.steer(UNET, V, float("nan")))),
    case(hooks.steer, ValueError, "call", lambda: _enter(hooks.steer(UNET, V, 1.0, call=-1))),
    case(hooks.steer, ValueError, "timesteps", lambda: _enter(hooks.steer(UNET, V, 1.0, timesteps=[]))),
    case(hooks.steer, ValueError, "vectors", lambda: _enter(hooks.steer(UNET, {LAYER: torch.full((16,), np.inf)},
                                                                        1.0))),
    case(hooks.steer, ValueError, "steering vector", lambda: _steer_run({LAYER: torch.zeros(5)})),
    case(represent.family_of, TypeError, "model", lambda: represent.family_of(torch.nn.Linear(1, 1))),
    case(represent.family_of, TypeError, "model", lambda: represent.family_of(None)),
    case(represent.family_of, TypeError, "model", lambda: represent.family_of(DDPMScheduler())),
    case(represent.default_layers, ValueError, "purpose", lambda: represent.default_layers(UNET, "train")),
    case(represent.default_layers, TypeError, "model", lambda: represent.default_layers(torch.nn.ReLU())),
    case(represent.default_layers, TypeError, "model", lambda: represent.default_layers("unet")),
    case(represent.condition, ValueError, "cond", lambda: represent.condition(UNET, 2, torch.zeros(1, 3, 4))),
    case(represent.condition, TypeError, "model", lambda: represent.condition(torch.nn.ReLU(), 2)),
    case(represent.condition, TypeError, "model", lambda: represent.condition(None, 2)),
    case(represent.denoise, ValueError, "cond", lambda: represent.denoise(UNET, X0, 5, cond=3)),
    case(represent.denoise, TypeError, "model", lambda: represent.denoise(torch.nn.ReLU(), X0, 5)),
    case(represent.denoise, TypeError, "model", lambda: represent.denoise("unet", X0, 5)),
    case(represent.represent, ValueError, "x0", lambda: represent.represent(UNET, DDPMScheduler(), X0[0], 5)),
    case(represent.represent, ValueError, "x0", lambda: represent.represent(UNET, DDPMScheduler(), X0 * np.nan, 5)),
    case(represent.represent, ValueError, "timestep", lambda: represent.represent(UNET, DDPMScheduler(), X0, -1)),
    case(represent.represent, ValueError, "pooling", lambda: represent.represent(UNET, DDPMScheduler(), X0, 5,
                                                                                 pooling="sum")),
    case(represent.represent, ValueError, "batch_size", lambda: represent.represent(UNET, DDPMScheduler(), X0, 5,
                                                                                    batch_size=0)),
    case(represent.scores, ValueError, "names", lambda: represent.scores({"l": np.ones((2, 3))}, names=["l2"])),
    case(represent.scores, ValueError, "reps", lambda: represent.scores({"l": np.ones((2, 3, 4))})),
    case(represent.scores, ValueError, "reps", lambda: represent.scores({"l": np.ones(3)})),
    case(represent.steering_vectors, TypeError, "target", lambda: represent.steering_vectors({})),
    case(represent.steering_vectors, TypeError, "target", lambda: represent.steering_vectors(np.ones((2, 3)))),
    case(represent.steering_vectors, ValueError, "other", lambda: represent.steering_vectors(
        {"a": np.ones((2, 3))}, {"b": np.ones((2, 3))})),
    case(pipelines.load, TypeError, "source", lambda: pipelines.load("")),
    case(pipelines.load, TypeError, "source", lambda: pipelines.load(None)),
    case(pipelines.load, TypeError, "source", lambda: pipelines.load(3)),
    case(pipelines.network, TypeError, "pipe", lambda: pipelines.network(None)),
    case(pipelines.network, TypeError, "pipe", lambda: pipelines.network(UNET)),
    case(pipelines.network, TypeError, "pipe", lambda: pipelines.network(DDPMScheduler())),
    case(pipelines.generate, ValueError, "seed", lambda: pipelines.generate(PIPE, None, -1)),
    case(pipelines.generate, ValueError, "num_steps", lambda: pipelines.generate(PIPE, None, 0, num_steps=0)),
    case(pipelines.generate, TypeError, "condition", lambda: pipelines.generate(PIPE, "a photo", 0)),
    case(pipelines.model_input, ValueError, "images", lambda: pipelines.model_input(PIPE, torch.zeros(1, 8, 8))),
    case(pipelines.model_input, ValueError, "images", lambda: pipelines.model_input(PIPE, np.zeros((1, 1, 8, 8)))),
    case(pipelines.model_input, ValueError, "images", lambda: pipelines.model_input(PIPE, "x")),
    case(pipelines.condition_of, TypeError, "condition", lambda: pipelines.condition_of(PIPE, "a photo")),
    case(pipelines.condition_of, TypeError, "condition", lambda: pipelines.condition_of(PIPE, 3)),
    case(pipelines.condition_of, TypeError, "pipe", lambda: pipelines.condition_of(None, None)),
    case(pipelines.prompt_embedding, TypeError, "prompt", lambda: pipelines.prompt_embedding(PIPE, 3)),
    case(pipelines.prompt_embedding, TypeError, "prompt", lambda: pipelines.prompt_embedding(PIPE, None)),
    case(pipelines.prompt_embedding, TypeError, "prompt", lambda: pipelines.prompt_embedding(PIPE, ["a"])),
    case(pipelines.prompt_free_condition, TypeError, "pipe", lambda: pipelines.prompt_free_condition(None)),
    case(pipelines.prompt_free_condition, TypeError, "pipe", lambda: pipelines.prompt_free_condition(UNET)),
    case(pipelines.prompt_free_condition, TypeError, "pipe", lambda: pipelines.prompt_free_condition(object())),
    case(pipelines.encode_images, ValueError, "images", lambda: pipelines.encode_images(None, torch.zeros(3, 8, 8))),
    case(pipelines.encode_images, ValueError, "images", lambda: pipelines.encode_images(None, np.zeros((1, 3, 8, 8)))),
    case(pipelines.encode_images, ValueError, "images", lambda: pipelines.encode_images(None, "x")),
]


@pytest.mark.parametrize("c", CASES, ids=ids(CASES))
def test_bad_input(c):
  check(c)


@pytest.mark.parametrize("module, exempt", [
    (hooks, {"Captured": "the dict capture() yields"}),
    (represent, {}),
    (pipelines, {"UnavailableError": "an exception type",
                 "require_gpu": "its one failure (no GPU) is tested in test_real.py; its only argument is a flag",
                 "empty_prompt_embedding": "needs a pipeline with a tokenizer, which cannot be built offline"}),
], ids=["hooks", "represent", "pipelines"])
def test_every_public_callable_has_three_bad_inputs(module, exempt):
  check_coverage(module, [c for c in CASES if c.fn.__module__ == module.__name__], exempt=exempt)
