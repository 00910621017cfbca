# ---
# jupyter:
#   jupytext:
#     formats: ipynb,py:percent
#     text_representation:
#       extension: .py
#       format_name: percent
#       format_version: '1.3'
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
# ---

# %% [markdown]
# # 04 · A ReLU diffusion model: copies vs novel samples, spikiness detection, steering
#
# [![Open In Colab](https://colab.research.google.com/assets/colab-badge.svg)](https://colab.research.google.com/github/relu-dae/relu-dae/blob/main/colab/04_diffusion_detection_steering.ipynb)
#
# The paper's theory is about one noise level; its applications are about diffusion models. This
# notebook trains the official code's time-conditioned ReLU denoiser on scikit-learn digits with a
# few **duplicated** images (the hybrid regime, Cor. 3.4) and a purely memorizing one on 5 images,
# samples from them, tells copies from novel samples, scores memorization from the spikiness of
# representations alone (Algorithm 1, Table 1), and steers denoising and generation by adding a
# mean representation (Eq. 11). It is a toy: read every number it prints as a measurement of this
# small model, not of the paper's large ones.
#
# Set `SMOKE_TEST=1` in the environment to shrink every size (what CI runs).

# %%
import os
import subprocess
import sys

IN_COLAB = "google.colab" in sys.modules
if IN_COLAB:  # install the package from its repository
  subprocess.run([sys.executable, "-m", "pip", "install", "-q", "git+https://github.com/relu-dae/relu-dae"],
                 check=True)

SMOKE_TEST = os.environ.get("SMOKE_TEST", "0") not in ("", "0", "false", "False")
print("smoke test:", SMOKE_TEST)

# %%
import jax
import jax.numpy as jnp
import matplotlib.pyplot as plt
import numpy as np
import sklearn.metrics

import relu_dae as rd
from relu_dae import detection
from relu_dae import diffusion
from relu_dae import steering

key = jax.random.PRNGKey(0)

# %% [markdown]
# ## 1. Data: digits with a few duplicated images
#
# Real training sets are imbalanced: some images appear many times (LAION duplicates). Cor. 3.4
# predicts a *hybrid* model that memorizes the duplicated images and generalizes on the rest. We
# take the centred 8×8 digits (`rd.data.load_digits(center=True)`, $d = 64$), hold out a test set,
# and give 20 mutually anti-correlated training images (`rd.data.negatively_correlated_subset`) a
# weight of `copies` — a weight $w_i$ is the same as $w_i$ copies of the image, and training draws
# minibatches proportionally to it. For comparison we also keep the official code's purely
# memorizing setting: a model trained on 5 images only.

# %%
X_all, y_all = rd.data.load_digits(center=True)
perm = np.random.default_rng(0).permutation(len(X_all))
n_test = 200 if SMOKE_TEST else 300
test_idx, train_idx = perm[:n_test], perm[n_test:]
if SMOKE_TEST:
  train_idx = train_idx[:400]
X_train, y_train = X_all[train_idx], y_all[train_idx]
X_test, y_test = X_all[test_idx], y_all[test_idx]
dup, beta1 = rd.data.negatively_correlated_subset(X_train, 20)
copies = 50
weights = np.ones(len(X_train), np.float32)
weights[dup] = copies
print(f"{len(X_train)} training images ({len(dup)} of them ×{copies}: digits {y_train[dup].tolist()}), "
      f"{len(X_test)} held out; share of training draws on duplicates: {weights[dup].sum() / weights.sum():.2f}")
X5 = X_train[dup[:5]]  # the memorizing model's whole training set

# %% [markdown]
# ## 2. The time-conditioned ReLU model and its training
#
# The official `DAECond` predicts the clean image from $y = x_0 + \sigma\epsilon$ with one tied
# weight matrix and a multiplicative time conditioning (THEORY.md §6):
#
# $$ f(y, \sigma) = W\big(e^{m(\log\sigma)} \odot [W^\top y]_+\big) + s\,y, \qquad h(y) = [W^\top y]_+ , $$
#
# where $m$ is a small MLP whose last layer starts at zero (so at init the model is the tied DAE of
# Eq. 5) and $s$ a learnable skip. `diffusion.train` minimizes the noise-averaged loss with
# $\log\sigma$ uniform on $[\log 0.02, \log 2]$ — Eq. (2) for the VE process — with the same
# `lax.scan` loop as the single-σ trainer.

# %%
p = 64
steps = 400 if SMOKE_TEST else 6000
cfg = rd.train.TrainConfig(steps=steps, learning_rate=3e-3, batch_size=256, schedule="cosine")
params = diffusion.init(jax.random.fold_in(key, 1), d=64, p=p)
params, hist = diffusion.train(params, jnp.asarray(X_train), jax.random.fold_in(key, 2), cfg,
                               weights=jnp.asarray(weights))
rd.train.raise_if_nonfinite(hist)
cfg5 = rd.train.TrainConfig(steps=300 if SMOKE_TEST else 3000, learning_rate=1e-2)  # full batch on 5 images
params5, hist5 = diffusion.train(diffusion.init(jax.random.fold_in(key, 1), d=64, p=p), jnp.asarray(X5),
                                 jax.random.fold_in(key, 2), cfg5)
rd.train.raise_if_nonfinite(hist5)
plt.figure(figsize=(5, 3))
for h_, name in ((hist, f"hybrid model, n={len(X_train)}"), (hist5, "memorizing model, n=5")):
  plt.semilogy(np.convolve(np.asarray(h_.loss), np.ones(50) / 50, mode="valid"), label=name)
plt.xlabel("optimizer step")
plt.ylabel("multi-σ loss (moving average)")
plt.title("training the time-conditioned ReLU models")
plt.legend(fontsize=8)
plt.show()

# %% [markdown]
# ## 3. Sampling, and copies vs novel samples
#
# `diffusion.sample` runs the official ancestral VE sampler on a geometric grid of 60 noise levels
# from 2 to 0.02: with the Tweedie score $(\hat x_0 - x)/\sigma_i^2$,
#
# $$ x_{i+1} = x_i + (\sigma_i^2 - \sigma_{i+1}^2)\,\frac{\hat x_0(x_i,\sigma_i) - x_i}{\sigma_i^2} + \sqrt{\sigma_i^2 - \sigma_{i+1}^2}\; z_i ,$$
#
# (or, with `deterministic=True`, the DDIM-type update of Eq. 1). A generated sample is a **copy**
# when it sits much closer to one training image than to any other: nearest-neighbour distance
# ratio $d_1/d_2 < 1/3$ (`rd.metrics.nn_ratio`, `rd.metrics.is_copy`).

# %%
m = 200 if SMOKE_TEST else 1000
ones = jnp.ones(len(X_train))
models = {"f_emp (Eq. 3) of the 5 images": diffusion.empirical_denoiser(jnp.asarray(X5)),
          "ReLU model trained on the 5 images": params5,
          f"ReLU model trained on {len(X_train)} images": params}
refs = {name: (X5 if "5 images" in name else X_train) for name in models}  # each model's own training set
gen = {name: diffusion.sample(den, jax.random.fold_in(key, 3), m, 64) for name, den in models.items()}
ratios = {name: np.asarray(rd.metrics.nn_ratio(x, jnp.asarray(refs[name]), jnp.ones(len(refs[name]))))
          for name, x in gen.items()}
plt.figure(figsize=(6, 3.4))
bins = np.linspace(0, 1, 41)
for name, r in ratios.items():
  print(f"{name}: {np.mean(rd.metrics.is_copy(r)):.0%} copies")
  plt.hist(r, bins, alpha=0.6, label=name)
plt.axvline(1 / 3, color="k", ls="--", label="copy threshold 1/3")
plt.xlabel("nearest-neighbour distance ratio $d_1/d_2$ (to the model's training set)")
plt.ylabel("number of samples")
plt.legend(fontsize=7)
plt.show()
samples, ratio = gen[f"ReLU model trained on {len(X_train)} images"], ratios[f"ReLU model trained on {len(X_train)} images"]
nearest = np.asarray(jnp.argmin(jnp.linalg.norm(samples[:, None] - jnp.asarray(X_train)[None], axis=-1), axis=1))
near_dup = np.isin(nearest, dup)
print(f"hybrid model: {near_dup.mean():.0%} of samples have a duplicated image as nearest training image "
      f"(median d1/d2 {np.median(ratio[near_dup]) if near_dup.any() else float('nan'):.2f}; "
      f"others {np.median(ratio[~near_dup]):.2f})")

# %% [markdown]
# The empirical denoiser $f_{\rm emp}$ only ever reproduces training images. The ReLU model trained on 5
# images copies a good share of the time (the official code trains it 30× longer), while the model
# trained on the whole set makes novel digits — even near the duplicated images, which its samples
# approach more often than their share of distinct images would suggest, without landing on them.

# %%
def show(rows, titles, row_labels):
  """Rows of 8×8 images."""
  _fig, axes = plt.subplots(len(rows), len(rows[0]), figsize=(1.1 * len(rows[0]), 1.25 * len(rows)), squeeze=False)
  for r, (row, label) in enumerate(zip(rows, row_labels)):
    for c, img in enumerate(row):
      axes[r, c].imshow(np.asarray(img).reshape(8, 8), cmap="gray_r")
      axes[r, c].set_xticks([])
      axes[r, c].set_yticks([])
      if titles is not None and titles[r] is not None:
        axes[r, c].set_title(titles[r][c], fontsize=7)
    axes[r, 0].set_ylabel(label, fontsize=8)
  plt.show()


x5, r5 = gen["ReLU model trained on the 5 images"][:8], ratios["ReLU model trained on the 5 images"][:8]
n5 = np.asarray(jnp.argmin(jnp.linalg.norm(x5[:, None] - jnp.asarray(X5)[None], axis=-1), axis=1))
order = np.argsort(ratio)
pick = np.concatenate([order[:4], order[-4:]])  # the 4 most copy-like and the 4 most novel samples
show([x5, X5[n5], samples[pick], X_train[nearest[pick]]],
     [[f"d1/d2 {v:.2f}" for v in r5], None, [f"d1/d2 {ratio[i]:.2f}" for i in pick], None],
     ["n=5 model", "nearest\ntraining", f"n={len(X_train)}\nmodel", "nearest\ntraining"])

# %% [markdown]
# ## 4. Detecting copies from the representation alone (Algorithm 1)
#
# Cor. 3.2 predicts that a memorized input lights up one unit — a **spiky** representation — while a
# generalized one spreads over a block. Algorithm 1 needs neither the prompt nor the training set:
# re-noise a generated sample, $y = x + \sigma\epsilon$, read $h(y)$ and score its spikiness
# (`detection.scores`; every score oriented so higher = more memorized: the paper's std over units,
# and scale-free ones such as the share of $\|h\|^2$ in the largest unit). `detection.evaluate` gives the
# two numbers of Table 1, AUROC and TPR at 1 % FPR, and the ROC curve (scikit-learn's `roc_curve`);
# `detection.bootstrap_ci` their 95 % intervals. Our hybrid model rarely emits exact copies (above), so
# we apply Algorithm 1 to inputs whose status we know: positives are the duplicated training images
# (memorized), negatives held-out digits the model has never seen (novel).

# %%
sigma_det = 0.1
encoder = {"W": params["W"]}  # h(y) = [Wᵀy]₊ is the plain Eq. (5) encoder (diffusion.represent ignores σ)
x_eval = jnp.asarray(np.concatenate([X_train[dup], X_test[:100]]))  # memorized (duplicated) vs novel (held out)
pos = np.arange(len(x_eval)) < len(dup)
neg = ~pos
what = "hybrid model: duplicated training images vs held-out images"
s = detection.scores(encoder, x_eval, sigma_det, jax.random.fold_in(key, 5), num_noise=4,
                     names=["std", "top1_share", "l4_over_l2"])
print(f"{what}: {pos.sum()} positives, {neg.sum()} negatives, re-noised at sigma={sigma_det}")
plt.figure(figsize=(5, 4.2))
for name, v in s.items():
  v = np.asarray(v)
  res = detection.evaluate(v[pos], v[neg])
  ci = detection.bootstrap_ci(0, v[pos], v[neg], num=100 if SMOKE_TEST else 1000)
  print(f"{name:12s} AUROC {res.auroc:.3f} [{ci.auroc[0]:.3f}, {ci.auroc[1]:.3f}]   "
        f"TPR@1%FPR {res.tpr_at_1pct_fpr:.3f} [{ci.tpr_at_1pct_fpr[0]:.3f}, {ci.tpr_at_1pct_fpr[1]:.3f}]")
  fpr, tpr, _ = sklearn.metrics.roc_curve(pos, v)
  plt.plot(fpr, tpr, label=f"{name} (AUROC {res.auroc:.2f})")
plt.plot([0, 1], [0, 1], "k:", lw=0.8, label="chance")
plt.xlabel("false positive rate (novel images flagged)")
plt.ylabel("true positive rate (duplicated images flagged)")
plt.title("memorization detection from spikiness")
plt.legend(fontsize=8)
plt.show()

h = np.asarray(diffusion.represent(params, x_eval + sigma_det * jax.random.normal(key, x_eval.shape)))
i_copy, i_novel = np.flatnonzero(pos)[:1], np.flatnonzero(neg)[:1]
fig, axes = plt.subplots(1, 2, figsize=(9, 2.8), sharey=True)
for ax, idx, name in zip(axes, (i_copy, i_novel), ("a duplicated (memorized) image", "a held-out (novel) image")):
  if idx.size:
    ax.bar(np.arange(p), h[idx[0]])
  ax.set_title(name, fontsize=9)
  ax.set_xlabel("hidden unit")
axes[0].set_ylabel("activation $h_j$ of the re-noised sample")
plt.show()

# %% [markdown]
# Spikiness separates memorized from novel inputs only partly at this scale (compare the AUROCs with
# the paper's ≈ 0.99 for Stable Diffusion), and the scores disagree: the paper's std is not
# scale-free, so it also reacts to the norm of $h$, which differs between images.
#
# ## 5. Steering (Eq. 11)
#
# Generalized representations behave like low-dimensional projections of the data's modes, so
# adding the *mean representation of a target set* $\mathcal S$ should pull the output toward it:
#
# $$ f^{\rm steered}(y) = g\big(h(y) + a\,v\big), \qquad v = \frac{1}{|\mathcal S|}\sum_{\tilde x\in\mathcal S} h(\tilde x + \tilde\sigma\epsilon) \tag{11}$$
#
# with $g$ the decoder. `steering.steering_vector` computes $v$; `steering.steer` the steered
# denoiser (here with the diffusion model's encoder and its decoder at level σ, plus the skip
# term); `steering.response_curve` the probability that the steered output is the target class —
# judged by a nearest-class-mean classifier on clean digits — over a grid of strengths $a$. The paper
# reports smooth, monotone edits for generalized inputs and brittle, threshold-like ones for memorized
# inputs; `steering.smoothness` puts numbers on that.

# %%
target, sigma_steer = 0, 0.3
v = steering.steering_vector(encoder, jnp.asarray(X_train[y_train == target]), sigma_steer, jax.random.fold_in(key, 6))
clf = steering.nearest_mean_classifier(jnp.stack([X_train[y_train == c].mean(axis=0) for c in range(10)]), tau=0.5)
a_grid = jnp.linspace(0.0, 3.0, 13)


def curve(X_in, key):
  Y = jnp.asarray(X_in) + sigma_steer * jax.random.normal(key, X_in.shape)
  decode = lambda prm, h: diffusion.decode(prm, h, sigma_steer) + prm["skip"] * Y  # f = g(h) + s·y
  probs = steering.response_curve(params, Y, v, a_grid, clf.proba,
                                  represent=lambda prm, y: diffusion.represent(prm, y), decode=decode)
  return np.asarray(probs[..., target])  # (A, m): probability of the target class


gen_in = X_test[y_test != target][:20]
mem_in = X_train[dup][y_train[dup] != target][:20]
c_gen, c_mem = curve(gen_in, jax.random.fold_in(key, 7)), curve(mem_in, jax.random.fold_in(key, 8))
plt.figure(figsize=(5.5, 3.6))
plt.plot(a_grid, c_gen, color="tab:blue", alpha=0.25, lw=0.8)
plt.plot(a_grid, c_mem, color="tab:red", alpha=0.6, lw=1.0)
plt.plot(a_grid, c_gen.mean(1), color="tab:blue", lw=2.5, label="held-out digits (generalized)")
plt.plot(a_grid, c_mem.mean(1), color="tab:red", lw=2.5, label="duplicated digits (memorized)")
plt.xlabel("steering strength a")
plt.ylabel(f"P(output is a '{target}')")
plt.title("response of the steered denoiser (Eq. 11)")
plt.legend(fontsize=8)
plt.show()
for name, c in (("generalized", c_gen), ("memorized", c_mem)):
  sm = steering.smoothness_per_sample(c)
  print(f"{name:12s} median per-input max jump {np.median(sm['max_jump']):.3f}, "
        f"median total variation {np.median(sm['total_variation']):.3f}")

# %% [markdown]
# In this toy model the two kinds of input respond alike: the brittle, threshold-like response the
# paper shows for memorized prompts (Fig. 7) does not appear here — an open question to explore.
#
# The same vector steers *generation*: `steering.steered_denoiser` is a denoiser `(y, σ) ↦ g(h + a·v)`
# that `diffusion.sample` can drive, and, as in the official code, it can steer only on a window of
# sampler steps (`steering.step_window`; here the second half of the 60 steps, the low-noise end).
# Same initial noise, growing strength:

# %%
window = steering.step_window(60, 30, 60)
rows = [diffusion.sample(steering.steered_denoiser(params, v, a, sigma_window=window), jax.random.fold_in(key, 9), 8, 64)
        for a in (0.0, 0.5, 1.0, 2.0)]
show(rows, None, ["a = 0", "a = 0.5", "a = 1", "a = 2"])

# %% [markdown]
# **Try it:** train the hybrid model longer or with more `copies` (when do its samples become copies
# of the duplicated images?), train the 5-image model longer, change the
# re-noising level `sigma_det` of the detector (the paper uses $\sigma_t \approx 0.17$), or steer toward
# another digit with `target`.
