"""relu-dae: memorization, generalization and hybrid regimes of ReLU denoising autoencoders.

A JAX implementation of the theory of Zhang et al., "Generalization of Diffusion
Models Arises with a Balanced Representation Space" (ICLR 2026, arXiv 2512.20963).
Equation numbers in docstrings refer to that paper; ``docs/theory_choices.md``
records every choice made where the paper is ambiguous.
"""

from relu_dae import bars
from relu_dae import boundaries
from relu_dae import budget
from relu_dae import certificates
from relu_dae import convergence
from relu_dae import copies
from relu_dae import data
from relu_dae import denoisers
from relu_dae import detection
from relu_dae import diffusion
from relu_dae import export
from relu_dae import losses
from relu_dae import margins
from relu_dae import mask_flips
from relu_dae import metrics
from relu_dae import minima
from relu_dae import model
from relu_dae import moment_matching
from relu_dae import results
from relu_dae import spikiness
from relu_dae import stats
from relu_dae import steering
from relu_dae import storage
from relu_dae import sweep
from relu_dae import theory
from relu_dae import train
from relu_dae import unet
from relu_dae import unit_birth

__version__ = "0.1.0"
