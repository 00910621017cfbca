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
# # 01 · Three regimes of a ReLU denoising autoencoder: memorization, generalization, hybrid
#
# [![Open In Colab](https://colab.research.google.com/assets/colab-badge.svg)](https://colab.research.google.com/github/relu-dae/relu-dae/blob/main/colab/01_three_regimes.ipynb)
#
# This notebook walks through the core of *"Generalization of Diffusion Models Arises with a
# Balanced Representation Space"* (Zhang et al., ICLR 2026, arXiv 2512.20963) with the `relu_dae`
# package: the two-layer ReLU denoiser, the three analytic local minima the paper constructs, and
# what training actually finds, on synthetic Gaussian mixtures and on scikit-learn's 8×8 digits.
#
# It runs top to bottom on a CPU in a few minutes. Set the environment variable `SMOKE_TEST=1`
# to shrink every size (that is what the package's CI does).

# %%
import os
import subprocess
import sys

IN_COLAB = "google.colab" in sys.modules
if IN_COLAB:  # install the package from its repository (Colab has jax, sklearn and matplotlib)
  subprocess.run([sys.executable, "-m", "pip", "install", "-q", "git+https://github.com/relu-dae/relu-dae"],
                 check=True)

SMOKE_TEST = os.environ.get("SMOKE_TEST", "0") not in ("", "0", "false", "False")
print("smoke test:", SMOKE_TEST)

# %%
import jax
import jax.numpy as jnp
import matplotlib.pyplot as plt
import numpy as np

import relu_dae as rd
from relu_dae import plotting

key = jax.random.PRNGKey(0)
STEPS = 300 if SMOKE_TEST else 4000  # optimizer steps per model
PROGRESS = not SMOKE_TEST  # tqdm bars while training

# %% [markdown]
# ## 1. The model (Eq. 5) and its training loss (Eq. 6)
#
# A bias-free two-layer ReLU network maps a noisy input $y \in \mathbb R^d$ to a clean estimate:
#
# $$ f(y) = W_2\, h(y), \qquad h(y) = [W_1^\top y]_+, \qquad W_1, W_2 \in \mathbb R^{d\times p} \tag{5}$$
#
# $h(y) \in \mathbb R^p$ is the **representation**; $p$ is the number of hidden units. It is
# trained at a single noise level $\sigma$ with weight decay $\lambda$:
#
# $$ \mathcal L_X(W_2, W_1) = \frac1n \sum_{i=1}^n \mathbb E_{\epsilon\sim\mathcal N(0,I)}
#    \big\| f(x_i + \sigma\epsilon) - x_i \big\|_2^2 + \lambda \sum_{l=1}^2 \|W_l\|_F^2 . \tag{6}$$
#
# In the package data matrices are `X (n, d)` with **rows** as samples (the paper writes
# columns) and weights are `(d, p)`. Parameters are a dict: tied `{"W"}` (W₁ = W₂ = W, the form of
# every analytic minimum) or untied `{"W1", "W2"}`.

# %%
d, p = 64, 16
params = rd.model.init(key, d=d, p=p)  # tied: {"W": (d, p)}
x = jax.random.normal(key, (3, d))
print("f(x):", rd.model.apply(params, x).shape, " h(x):", rd.model.represent(params, x).shape)
print("Monte-Carlo loss (6) at init:", float(rd.losses.dae_loss(params, x, key, sigma=0.2, lam=1e-3, num_noise=8)))

# %% [markdown]
# ## 2. Memorization (Cor. 3.2, Eq. 9)
#
# Take $n$ samples that are pairwise **negatively correlated** — each is its own cluster, so the
# data are $(0, \beta_1)$-separable with $\beta_1 < 0$ (Def. 3.1). With $p \ge n$ units and
# $n\lambda < \min_i \|x_i\|^2$, Cor. 3.2 gives a local minimizer that stores every sample in a
# column:
#
# $$ W_2^\star = W_1^\star = (r_1 x_1\ \cdots\ r_n x_n\ 0 \cdots 0) =: W_{\rm mem}, \qquad
#    r_i = \sqrt{\frac{\|x_i\|^2 - n\lambda}{\|x_i\|^4 + \sigma^2 \|x_i\|^2}} \tag{9}$$
#
# and as $\lambda\to 0$ its loss is $\frac1n\sum_i \sigma^2\|x_i\|^2/(\sigma^2 + \|x_i\|^2) < \sigma^2$,
# independent of $d$. `rd.data.locally_sparse` draws $n$ directions with equal pairwise cosine
# $-1/(n-1)$; `rd.minima.memorization` builds $W_{\rm mem}$.

# %%
sigma, lam = 0.2, 1e-3
n_mem = 8
X_mem = rd.data.locally_sparse(key, n=n_mem, d=d, norm=4.0)
alpha, beta = rd.data.separability(X_mem, np.arange(n_mem))  # one cluster per sample
print(f"Def. 3.1 with one cluster per sample: alpha={alpha:.3f}, beta={beta:.3f} (< 0 needed)")

W_mem = rd.minima.memorization(X_mem, sigma, lam, p)
print("W_mem:", W_mem.shape, " Cor. 3.2 loss (lambda -> 0):", float(rd.minima.memorization_loss(X_mem, sigma)),
      " < sigma^2 =", sigma**2)

# %% [markdown]
# Now train the model on the same data with `rd.train.fit` (Adam on Eq. (6), fresh noise every
# step, one `jit`-compiled `lax.scan`) and compare. Hidden units can be permuted freely, so we
# compare permutation-free quantities: the best cosine between each sample and any column, and
# the relative distance between the Gram matrices $WW^\top$ and $W_{\rm mem}W_{\rm mem}^\top$
# (`rd.metrics.projector_error`), which is also blind to splitting one column over several units.

# %%
def fit(X, p, key, *, sigma, lam, lr, batch_size=None, steps=STEPS):
  """Trains a tied model of width p on X; returns its weight matrix W (d, p)."""
  cfg = rd.train.TrainConfig(steps=steps, sigma=sigma, lam=lam, learning_rate=lr, batch_size=batch_size)
  k_init, k_train = jax.random.split(key)
  trained, history = rd.train.fit(rd.model.init(k_init, X.shape[1], p), X, k_train, cfg, progress=PROGRESS)
  return trained["W"], history


W, hist = fit(X_mem, p, key, sigma=sigma, lam=lam, lr=1e-2)
print("best cosine sample/column:", np.round(np.asarray(rd.storage.best_column_cosine(W, X_mem)), 3))
print("stored fraction:", float(rd.storage.stored_fraction(W, X_mem)))
print("||W W^T - W_mem W_mem^T|| / ||W_mem W_mem^T|| =", float(rd.metrics.projector_error(W, W_mem)))

plt.figure(figsize=(5, 3))
plt.semilogy(np.asarray(hist.loss), lw=0.7, label="training loss (6), one noise draw per step")
plt.axhline(float(rd.minima.memorization_loss(X_mem, sigma)), color="k", ls="--", label="Cor. 3.2 loss of $W_{mem}$")
plt.xlabel("optimizer step")
plt.ylabel("loss")
plt.legend(fontsize=8)
plt.title("memorization: training reaches the Cor. 3.2 loss")
plt.show()

# %% [markdown]
# The weights *are* the training samples. `rd.plotting.weight_pairs` draws each 64-dimensional
# vector as an 8×8 image: samples on top, the learned column matched to each (Hungarian matching
# on cosines, `rd.metrics.match_columns`) below.

# %%
perm, cos = rd.metrics.match_columns(W, X_mem.T)
plotting.weight_pairs([dict(title=f"memorization: n={n_mem} ≤ p={p}", ref=np.asarray(X_mem.T),
                            learned=np.asarray(W[:, perm]), cos=cos,
                            ref_label="training\nsamples", learned_label="learned\ncolumns")])
plt.show()
W_mem_trained = W

# %% [markdown]
# ## 3. Generalization (Thm 3.1, Eq. 8, Cor. 3.3)
#
# Now many samples from $K$ Gaussian clusters (Eq. 4) and few units, $p = \sum_k p_k \ll n$. If the
# clusters are $(\alpha, \beta)$-separable with $\beta < 0$ (Def. 3.1: samples within $\alpha\|\bar x_k\|$
# of their cluster mean, cluster means with cosine $\le\beta$), Thm 3.1 gives a block-wise local
# minimizer $W^\star = (W_{X_1} \cdots W_{X_K})$ with one block per cluster, built from the cluster's
# Gram matrix $X_k X_k^\top = U_k\Lambda_k U_k^\top$:
#
# $$ W_{X_k} = U_k^{(p_k)} \big(I + n_k\sigma^2 \Lambda_k^{-1}\big)^{-1/2} \big(I - n\lambda\Lambda_k^{-1}\big)^{1/2} O_k^\top \tag{8}$$
#
# i.e. a shrunk PCA of the cluster: $W_{X_k}W_{X_k}^\top = U_k\,\mathrm{diag}\big(\tfrac{\lambda_j - n\lambda}{\lambda_j + n_k\sigma^2}\big)U_k^\top$,
# a Wiener-type filter (Cor. 3.3: it tends to the rank-$p_k$ optimal denoiser of the Gaussian mode).
# $O_k$ is a free rotation. `rd.data.separable_mixture` generates data with *exactly* the requested
# $(\alpha, \beta)$; `rd.minima.generalization` builds $W_{\rm gen}$.

# %%
K, per_cluster, rank = 3, (40 if SMOKE_TEST else 300), 4
X_gen, labels_gen, spec = rd.data.separable_mixture(key, d=d, K=K, n_per_cluster=per_cluster, alpha=0.3,
                                                    beta=-0.5, rank=rank, norm=4.0, decay=0.7)
print(f"n={X_gen.shape[0]}, alpha={spec.alpha:.3f}, beta={spec.beta:.3f}")
sigma_g = 0.3
W_gen = rd.minima.generalization(X_gen, labels_gen, sigma_g, lam, p_per_cluster=rank)
W, _ = fit(X_gen, K * rank, jax.random.fold_in(key, 1), sigma=sigma_g, lam=lam, lr=3e-3)
print("stored fraction (should be 0):", float(rd.storage.stored_fraction(W, X_gen)))
print("Gram distance to W_gen:", float(rd.metrics.projector_error(W, W_gen)))
owner, counts = rd.metrics.unit_allocation({"W": W}, X_gen, labels_gen)
print("hidden units per cluster (learned p_k):", counts.tolist())


# %% [markdown]
# Which units serve which cluster? `rd.metrics.unit_allocation` assigns each unit to the cluster
# on which it is most often active. Eq. (8) fixes each block only up to the rotation $O_k$, so
# before drawing we rotate the analytic block onto the learned one (orthogonal Procrustes,
# `rd.metrics.procrustes_align`).

# %%
def block_panel(W, X, labels, sigma, lam, title):
  """Learned columns grouped by cluster, under the Procrustes-aligned analytic blocks of Eq. (8)."""
  owner, counts = rd.metrics.unit_allocation({"W": W}, X, labels)
  refs, learned = [], []
  for k, p_k in enumerate(counts.tolist()):
    Xk, Wk = X[np.asarray(labels) == k], W[:, owner == k]
    r = min(p_k, int(np.linalg.matrix_rank(np.asarray(Xk), tol=1e-3)))  # a rank-1 cluster has one direction
    if r == 0:
      continue
    block = rd.minima.cluster_block(Xk, X.shape[0], sigma, lam, r)
    ref = (rd.metrics.procrustes_align(block, Wk) if r == p_k else  # split units: nearest analytic column
           block[:, np.asarray(jnp.argmax(rd.storage.column_cosines(block, Wk.T), axis=1))])
    refs.append(np.asarray(ref))
    learned.append(np.asarray(Wk))
  ref, learned = np.concatenate(refs, 1), np.concatenate(learned, 1)
  cos = np.asarray(jnp.diagonal(rd.storage.column_cosines(jnp.asarray(learned), jnp.asarray(ref).T)))
  return dict(title=title, ref=ref, learned=learned, cos=cos,
              ref_label="analytic\nblocks (8)", learned_label="learned\ncolumns")


panel_gen = block_panel(W, X_gen, labels_gen, sigma_g, lam, f"generalization: K={K}, n={X_gen.shape[0]} ≫ p={K * rank}")
plotting.weight_pairs([panel_gen], max_cols=12)
plt.show()
W_gen_trained = W

# %% [markdown]
# ## 4. Hybrid (Cor. 3.4)
#
# Real data are imbalanced. Cor. 3.4 models scarce data by **duplicates**: clusters
# $X_\ell = (x_\ell, \dots, x_\ell)$ of rank one next to abundant clusters. The local minimizer then
# mixes both regimes: $W^\star = (r_1x_1 \cdots r_mx_m\ W_{X_{m+1}} \cdots W_{X_K})$ — memorizing
# columns for the duplicated samples and Eq. (8) blocks for the rest (`rd.minima.hybrid`).
# In `separable_mixture`, a cluster with $\alpha_k = 0$ is a cluster of exact copies.

# %%
copies, per = 10, (40 if SMOKE_TEST else 300)
X_hyb, labels_hyb, _ = rd.data.separable_mixture(key, d=d, K=4, n_per_cluster=[copies, copies, per, per],
                                                 alpha=[0.0, 0.0, 0.3, 0.3], beta=-1 / 3, rank=rank, norm=4.0,
                                                 decay=0.7)
W, _ = fit(X_hyb, 12, jax.random.fold_in(key, 2), sigma=sigma_g, lam=lam, lr=3e-3)
dup_rows = np.array([0, copies])  # first row of each duplicated cluster
print("best cosine of the duplicated samples with a column:",
      np.round(np.asarray(rd.storage.best_column_cosine(W, X_hyb[dup_rows])), 4))
abundant = np.asarray(labels_hyb) >= 2
print("stored fraction of abundant-cluster samples:", float(rd.storage.stored_fraction(W, X_hyb[abundant])))
W_hyb = rd.minima.hybrid(X_hyb, labels_hyb, sigma_g, lam, p_per_cluster=rank)
print("analytic hybrid minimum:", W_hyb.shape, " Gram distance to it:", float(rd.metrics.projector_error(W, W_hyb)))
plotting.weight_pairs([block_panel(W, X_hyb, labels_hyb, sigma_g, lam, "hybrid: 2 duplicated ×10 + 2 abundant clusters")],
                      max_cols=12)
plt.show()
W_hyb_trained = W

# %% [markdown]
# ## 5. Spiky vs balanced representations (Fig. 4)
#
# The two regimes look different *inside* the network. For a memorizing model a noisy training
# input lights up one unit (Cor. 3.2):
# $h_{\rm mem}(x_i + \sigma\epsilon) \approx (0, \dots, 0, r_i x_i^\top(x_i + \sigma\epsilon), 0, \dots, 0)$ — a
# **spiky** representation. A generalizing model spreads the energy over the $p_k$ units of the
# active block — a **balanced** one. The paper's score is the standard deviation over units
# (`rd.metrics.representation_std`); scale-free alternatives are the share of $\|h\|^2$ in the
# largest unit (`top1_share`: 1 for one-hot, $1/p$ for flat) and the participation ratio.

# %%
def noisy_reps(W, X, sigma, key, m=(50 if SMOKE_TEST else 300)):
  idx = jax.random.randint(key, (m,), 0, X.shape[0])
  Y = X[idx] + sigma * jax.random.normal(jax.random.fold_in(key, 1), (m, X.shape[1]))
  return np.asarray(rd.model.represent({"W": W}, Y))


h_mem = noisy_reps(W_mem_trained, X_mem, sigma, key)
h_gen = noisy_reps(W_gen_trained, X_gen, sigma_g, key)
print("median top-1 share: memorization", np.median(rd.spikiness.top1_share(h_mem)).round(3),
      " generalization", np.median(rd.spikiness.top1_share(h_gen)).round(3))
plotting.representations(
    [dict(title="memorizing model: spiky", h=h_mem[0], color="tab:red"),
     dict(title="generalizing model: balanced", h=h_gen[0], color="tab:blue")],
    [dict(title="std over units", xlabel="std of representation",
          series=[("memorization", rd.spikiness.representation_std(h_mem)),
                  ("generalization", rd.spikiness.representation_std(h_gen))]),
     dict(title="share of ‖h‖² in the largest unit", xlabel="top-1 share",
          series=[("memorization", rd.spikiness.top1_share(h_mem)),
                  ("generalization", rd.spikiness.top1_share(h_gen))])])
plt.show()

# %% [markdown]
# ## 6. The same on real images: scikit-learn digits
#
# `rd.data.load_digits(center=True)` gives the 1797 bundled 8×8 digits in $[-1, 1]$ with the mean
# image removed (raw digits share a dark background and are all positively correlated, so
# Cor. 3.2's premise would fail). `rd.data.negatively_correlated_subset` greedily picks $n = 5$
# images with the smallest largest pairwise cosine — the analogue of the official code's
# hand-picked images. With 5 images and $p = 16$ the model memorizes; with all 1797 it cannot,
# and its columns become smooth, digit-like templates that are no training image.

# %%
X_all, y_all = rd.data.load_digits(center=True)
if SMOKE_TEST:
  X_all, y_all = X_all[:300], y_all[:300]
idx, beta1 = rd.data.negatively_correlated_subset(X_all, 5)
X5 = jnp.asarray(X_all[idx])
print(f"5 digits {y_all[idx].tolist()}, largest pairwise cosine beta_1={beta1:.3f}")
W5, _ = fit(X5, 16, jax.random.fold_in(key, 3), sigma=0.2, lam=lam, lr=1e-2)
W_all, _ = fit(jnp.asarray(X_all), 16, jax.random.fold_in(key, 4), sigma=0.2, lam=lam, lr=3e-3, batch_size=256)

perm, cos5 = rd.metrics.match_columns(W5, X5.T)
cos_all = np.asarray(rd.storage.column_cosines(W_all, jnp.asarray(X_all)))  # (n, p)
nearest = cos_all.argmax(axis=0)  # nearest image of each column
print("digits n=5: stored fraction", float(rd.storage.stored_fraction(W5, X5)),
      f"| n={len(X_all)}: stored fraction", float(rd.storage.stored_fraction(W_all, jnp.asarray(X_all))),
      f", median cosine column/nearest image {np.median(cos_all.max(axis=0)):.2f}")
plotting.weight_pairs([
    dict(title="digits: n=5 ≤ p=16 (memorization)", ref=X_all[idx].T, learned=np.asarray(W5[:, perm]), cos=cos5,
         ref_label="training\nimages", learned_label="learned\ncolumns"),
    dict(title=f"digits: n={len(X_all)} ≫ p=16 (generalization)", ref=X_all[nearest].T, learned=np.asarray(W_all),
         cos=cos_all.max(axis=0), ref_label="nearest\nimage", learned_label="learned\ncolumns")], max_cols=10)
plt.show()

# %% [markdown]
# ## 7. Exercises for the reader
#
# 1. **Break the premise of Cor. 3.2.** Train on `rd.data.load_digits(center=False)[0][:5]` (raw,
#    positively correlated digits). Are the samples still stored in columns? Compute
#    `rd.data.separability(X, range(5))` and relate the sign of β₁ to what you see.
# 2. **Too few units.** Repeat section 2 with `p < n` (e.g. `n_mem = 8`, `p = 4`). What does
#    `rd.metrics.stored_fraction` report, and what do the columns look like?
# 3. **Noise as a regularizer.** Re-run section 3 with `sigma_g` in `{0.1, 1.0, 3.0}`. Compare the
#    learned Gram matrix with `rd.minima.generalization` at each σ: by Eq. (8) the block's gains
#    $(\lambda_j - n\lambda)/(\lambda_j + n_k\sigma^2)$ shrink as σ grows
#    (`rd.minima.block_gram_eigenvalues`). Does the *structure* (which units serve which cluster) change?
# 4. **Where is the boundary?** In section 3, lower `per_cluster` step by step (300, 30, 3, 1). At
#    what point do columns start storing samples? Notebook 02 sweeps this systematically.
# 5. **Untied weights.** Train with `rd.model.init(key, d, p, tied=False)` through `rd.train.train`.
#    Does training find $W_2 \approx W_1$, as the theorems' minimizers have?
# 6. **Duplicates.** In section 4, how many copies does a duplicated sample need before it gets
#    its own column? Try `copies` in `{1, 2, 5, 10, 50}`.
