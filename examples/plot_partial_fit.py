"""
=======================================
Learning from a stream with partial_fit
=======================================

When the data does not fit in memory, or arrives over time, a network can
learn from it one chunk at a time:
:meth:`~skbackprop.BackpropClassifier.partial_fit` runs one epoch of
gradient descent on the chunk it is given (one step per mini-batch of
``batch_size`` rows), going on from the current weights. Each chunk is seen
once and can then be thrown away.

This example streams the handwritten digits through a classifier in chunks
of 50 images and measures the test accuracy after every chunk.
"""

# %%
# The stream
# ----------
# The digits (1797 images of 8 × 8 pixels, 10 classes) are split into a
# test set and a training set of 1347 images, which we cut into 27 chunks of
# about 50 images, our stream. The scaler learns from the stream too:
# :meth:`~sklearn.preprocessing.StandardScaler.partial_fit` updates its mean
# and variance with each chunk, so the scaling is that of all the data seen
# so far.
import warnings

import matplotlib.pyplot as plt
import numpy as np
from sklearn.datasets import load_digits
from sklearn.exceptions import ConvergenceWarning
from sklearn.model_selection import train_test_split
from sklearn.preprocessing import StandardScaler

from skbackprop import BackpropClassifier

X, y = load_digits(return_X_y=True)
X_train, X_test, y_train, y_test = train_test_split(
    X, y, test_size=0.25, stratify=y, random_state=0
)
n_chunks = 27
chunks = list(
    zip(
        np.array_split(X_train, n_chunks),
        np.array_split(y_train, n_chunks),
        strict=True,
    )
)
sizes = [len(X_chunk) for X_chunk, _ in chunks]
print(f"{len(chunks)} chunks of {min(sizes)} to {max(sizes)} images")

# %%
# ``classes=`` on the first call
# ------------------------------
# The network's output layer has one neuron per class, so it must know all
# the classes before its first step, and a chunk need not hold them all
# (a small one, or one from a stream that is not shuffled, may lack some).
# So the first call to ``partial_fit`` must list them with ``classes=``;
# later calls may leave it out. Without it, ``partial_fit`` refuses to start,
# whatever the first chunk holds:
X_first, y_first = chunks[0]
print(f"the first chunk holds {len(np.unique(y_first))} of the 10 classes")
try:
    BackpropClassifier().partial_fit(X_first, y_first)
except ValueError as exc:
    print("ValueError:", exc)

# %%
# Streaming
# ---------
# Each chunk is seen once, so each gets only one epoch: the number of
# gradient steps per chunk is the number of mini-batches in it. We stream
# the same chunks through two networks of 32 hidden neurons with the default
# learning rate ``alpha=0.3``: one takes mini-batches of 5 images (10 steps
# per chunk), the other one step per chunk on the whole of it
# (``batch_size=None``), and both are scored on the test set after every
# chunk.
classes = np.unique(y_train)
batch_sizes = {"batch_size=5": 5, "batch_size=None": None}
accuracies = {}
for label, batch_size in batch_sizes.items():
    scaler = StandardScaler()
    clf = BackpropClassifier(hidden_size=32, batch_size=batch_size, random_state=0)
    accuracies[label] = []
    for X_chunk, y_chunk in chunks:
        scaler.partial_fit(X_chunk)
        clf.partial_fit(scaler.transform(X_chunk), y_chunk, classes=classes)
        accuracies[label].append(clf.score(scaler.transform(X_test), y_test))
    print(
        f"{label}: {clf.n_iter_} calls to partial_fit, {clf.t_} images seen, "
        f"test accuracy after 1, 5, 10 and {n_chunks} chunks: "
        + ", ".join(f"{accuracies[label][i - 1]:.3f}" for i in (1, 5, 10, n_chunks))
    )

# %%
# For comparison, the usual ``fit`` on the whole training set at once, with
# the same mini-batches of 5 images, going over it 30 times (30 epochs; it
# would improve a little further with more, hence a ``ConvergenceWarning``
# that we silence):
scaler = StandardScaler().fit(X_train)
batch = BackpropClassifier(hidden_size=32, batch_size=5, max_iter=30, random_state=0)
with warnings.catch_warnings():
    warnings.simplefilter("ignore", category=ConvergenceWarning)
    batch.fit(scaler.transform(X_train), y_train)
batch_accuracy = batch.score(scaler.transform(X_test), y_test)
print(
    f"fit on all the data: {batch.n_iter_} epochs, test accuracy {batch_accuracy:.3f}"
)

# %%
# Reading the curve
# -----------------
# The test accuracy climbs as the chunks arrive. With small mini-batches the
# network takes ten steps per chunk and learns from the stream quickly; with
# one step per chunk it takes 27 steps in all and learns far more slowly from
# the same images. So, for streaming, prefer small batches (and lower the
# learning rate if the curve gets erratic). The dashed line is the accuracy
# of ``fit`` on all the training data, which has gone over every image 30
# times: one pass over the stream gets most of the way there,
# and passing over the stream again (calling ``partial_fit`` on the chunks
# once more) would close more of the gap.
fig, ax = plt.subplots(figsize=(7, 4.2))
chunk_numbers = np.arange(1, n_chunks + 1)
for label, curve in accuracies.items():
    ax.plot(chunk_numbers, curve, "o-", markersize=4, label=f"partial_fit, {label}")
ax.axhline(
    batch_accuracy,
    color="gray",
    linestyle="--",
    label=f"fit on all the data ({batch.n_iter_} epochs)",
)
ax.set(
    xlabel="chunks seen (about 50 images each)",
    ylabel="test accuracy",
    ylim=(0, 1.02),
    title="Streaming the digits through partial_fit",
)
ax.legend(loc="lower right")
fig.tight_layout()
plt.show()
