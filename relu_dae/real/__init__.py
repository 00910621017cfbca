"""Detection and steering on real pretrained diffusion models (PyTorch, diffusers): an optional extra.

``pip install "relu-dae[real]"`` adds torch, diffusers and transformers; the core package
(``import relu_dae``) imports none of them, and this subpackage is not imported by it. The paper's
detector and steering (THEORY.md §4.2–4.3) are model-agnostic once a network's intermediate
activations can be read and edited, which is what this subpackage does, with forward hooks:

* :mod:`relu_dae.real.hooks` — module paths (``"up_blocks.0.resnets.-1.nonlinearity"``), capturing a
  module's output on every call of one model forward, pooling, and steering hooks that add ``a·v`` on a
  window of sampler timesteps;
* :mod:`relu_dae.real.represent` — the three supported families (diffusers' ``UNet2DConditionModel``,
  ``UNet2DModel``, ``DiTTransformer2DModel``), prompt-free representation extraction at a timestep
  (Algorithm 1: add noise with the scheduler, one forward with the empty condition), batched, fp16 on GPU,
  and the steering vector of reference images (mean, or contrastive);
* :mod:`relu_dae.real.pipelines` — loading a pipeline from a local path or a hub id already on this
  machine (never a download), with a clear refusal when the weights or a GPU are missing.

Scores, AUROC and TPR at 1 % FPR are :mod:`relu_dae.detection`'s, on the pooled representations.
"""

from relu_dae.real._deps import require

require()

from relu_dae.real import hooks  # noqa: E402
from relu_dae.real import pipelines  # noqa: E402
from relu_dae.real import represent  # noqa: E402

__all__ = ["hooks", "pipelines", "represent"]
