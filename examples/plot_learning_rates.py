"""
======================================
The learning rate α and the loss curve
======================================

Gradient descent moves every weight a step ``α · dW`` against its gradient.
``alpha`` sets the size of that step, and the loss curve (``loss_curve_``, the
training loss of every epoch) shows at a glance whether it is well chosen:

* **too small**: the loss falls, but so slowly that training would take
  thousands of epochs;
* **good**: the loss falls fast and keeps falling;
* **too large**: the steps overshoot the minimum, the loss jumps up and the
  sigmoid neurons saturate; when the loss grows far above its starting value,
  ``fit`` stops with a ``ValueError``.

Note that ``alpha`` is the *learning rate* here, as in the tutorial, while in
:class:`~sklearn.neural_network.MLPClassifier` it is the strength of an L2
penalty (``l2`` here).

We use the handwritten digits shipped with scikit-learn (1797 images of 8 × 8
pixels, 10 classes), scaled with a
:class:`~sklearn.preprocessing.StandardScaler`, and full-batch gradient
descent (``batch_size=None``), so that each epoch is exactly one step and the
curves are smooth.
"""

# %%
# The data
# --------
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
scaler = StandardScaler().fit(X_train)
X_train, X_test = scaler.transform(X_train), scaler.transform(X_test)

# %%
# One network per learning rate
# -----------------------------
# Every network starts from the same initial weights (same ``random_state``)
# and runs for at most 100 epochs. ``tol=0`` keeps training as long as the
# loss improves at all, so that the curves show the whole run; the networks
# have not fully converged after 100 epochs, hence the warnings we silence.
#
# A divergent run raises ``ValueError`` and leaves the estimator unfitted, so
# we catch it and keep its message to show it.
alphas = [0.01, 0.1, 1.0, 10.0, 100.0]
fitted, failed = {}, {}
for alpha in alphas:
    clf = BackpropClassifier(
        hidden_size=32,
        alpha=alpha,
        batch_size=None,
        max_iter=100,
        tol=0.0,
        random_state=0,
    )
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", category=ConvergenceWarning)
            clf.fit(X_train, y_train)
    except ValueError as exc:
        failed[alpha] = str(exc)
        print(f"alpha={alpha:g}: ValueError: {exc}")
        continue
    fitted[alpha] = clf
    print(
        f"alpha={alpha:g}: {clf.n_iter_} epochs, final loss "
        f"{clf.loss_curve_[-1]:.4f}, test accuracy {clf.score(X_test, y_test):.3f}"
    )

# %%
# Tracing a divergent run
# -----------------------
# A failed ``fit`` keeps no ``loss_curve_``. To see how the loss got there, we
# replay a divergent run one epoch at a time with
# :meth:`~skbackprop.BackpropClassifier.partial_fit`, which with
# ``batch_size=None`` takes exactly one full-batch step per call, and record
# the loss until the ``ValueError`` comes.
traces = {}
for alpha in failed:
    clf = BackpropClassifier(
        hidden_size=32, alpha=alpha, batch_size=None, random_state=0
    )
    curve = []
    try:
        for _ in range(100):
            clf.partial_fit(X_train, y_train, classes=np.unique(y_train))
            curve.append(clf.loss_curve_[-1])
    except ValueError:
        pass
    traces[alpha] = curve
    print(f"alpha={alpha:g}: loss per epoch before the error: {np.round(curve, 2)}")

# %%
# Reading the curves
# ------------------
# * ``alpha=0.01`` is far too small: after 100 epochs the loss has barely left
#   its starting value log 10 ≈ 2.30 (a uniform guess over 10 classes).
# * ``alpha=0.1`` learns, but slowly.
# * ``alpha=1`` and ``alpha=10`` are good choices for this scaled data; the
#   largest of them bumps up in the first epochs before it settles, a sign
#   that it is close to the limit.
# * ``alpha=100`` is too large: the first steps throw the weights so far that
#   the loss jumps far above log 10 and the saturated sigmoids stop learning.
#   skbackprop watches for this: when the loss of an epoch grows far above its
#   starting level (or becomes NaN or infinite), ``fit`` raises a
#   ``ValueError`` naming ``alpha`` and leaves the estimator unchanged,
#   rather than silently returning a useless model. Its curve (dotted, from
#   the replay above) ends with a cross at the last epoch before the error.
#   Had it stayed under that threshold, it would be drawn from ``fit``
#   instead, and would stop early because the loss no longer improves.
#
# Both axes of the loss plot are logarithmic, to show the first epochs and
# the slow tail alike. The right-hand panel shows the consequence on held-out data.
fig, (ax_loss, ax_score) = plt.subplots(1, 2, figsize=(11, 4.2))
colors = plt.cm.viridis(np.linspace(0, 0.9, len(alphas)))
for alpha, color in zip(alphas, colors, strict=True):
    if alpha in fitted:
        curve = fitted[alpha].loss_curve_
        ax_loss.plot(
            np.arange(1, len(curve) + 1), curve, color=color, label=f"α = {alpha:g}"
        )
    else:
        curve = traces[alpha]
        epochs = np.arange(1, len(curve) + 1)
        ax_loss.plot(
            epochs, curve, ":", color=color, label=f"α = {alpha:g}: ValueError"
        )
        if curve:
            ax_loss.plot(epochs[-1], curve[-1], "x", color="red", markersize=10)
ax_loss.axhline(np.log(10), color="gray", linestyle="--", linewidth=1)
ax_loss.annotate("log 10", (100, np.log(10)), ha="right", va="bottom")
ax_loss.set(
    xscale="log",
    yscale="log",
    xlabel="epoch",
    ylabel="training loss (categorical log loss)",
    title="loss_curve_ for several learning rates",
)
ax_loss.legend()

positions = np.arange(len(alphas))
scores = [
    fitted[alpha].score(X_test, y_test) if alpha in fitted else 0.0 for alpha in alphas
]
bars = ax_score.bar(positions, scores, color=colors)
for position, alpha, score in zip(positions, alphas, scores, strict=True):
    label = f"{score:.2f}" if alpha in fitted else "diverged\n(ValueError)"
    ax_score.annotate(
        label,
        (position, score),
        ha="center",
        va="bottom",
        xytext=(0, 2),
        textcoords="offset points",
    )
ax_score.set(
    xticks=positions,
    xticklabels=[f"{alpha:g}" for alpha in alphas],
    ylim=(0, 1.1),
    xlabel="α (alpha)",
    ylabel="test accuracy",
    title="Accuracy on held-out digits after ≤ 100 epochs",
)
fig.tight_layout()
plt.show()
