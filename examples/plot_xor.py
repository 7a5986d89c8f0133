"""
=========================================
The tutorial's 2-3-1 network learning XOR
=========================================

XOR is the classic problem that a single neuron cannot solve: the two classes
are not separated by a straight line. The tutorial's network, two inputs, one
hidden layer of three sigmoid neurons and one sigmoid output, can: the hidden
layer bends the input space so that the output neuron can draw its line there.

This example trains exactly that network, with ``hidden_size=3`` and full-batch
gradient descent (``batch_size=None``, one step ``W ← W − α dW`` per epoch over
all four points, the tutorial's method), then draws its decision boundary and
its loss curve.
"""

# %%
# The data: the four corners of the unit square
# ----------------------------------------------
# The label is 1 when exactly one of the two inputs is 1.
import matplotlib.pyplot as plt
import numpy as np
from sklearn.inspection import DecisionBoundaryDisplay

from skbackprop import BackpropClassifier

X = np.array([[0.0, 0.0], [0.0, 1.0], [1.0, 0.0], [1.0, 1.0]])
y = np.array([0, 1, 1, 0])

# %%
# Training the 2-3-1 network
# --------------------------
# ``alpha`` is the learning rate α of the tutorial (not an L2 penalty, as it is
# in :class:`~sklearn.neural_network.MLPClassifier`). On four points a large
# step is fine; ``alpha=2`` takes a couple of thousand epochs, which run in a
# fraction of a second.
#
# XOR has a well-known *plateau*: at the start all four outputs sit near 0.5
# and the loss stays close to log 2 ≈ 0.693 for a few hundred epochs, falling
# by only about 1e-5 per epoch, before the hidden neurons break their symmetry
# and the loss drops. With the default stopping tolerance ``tol=1e-4``
# training would stop on that plateau, having learnt nothing:
plateau = BackpropClassifier(
    hidden_size=3, batch_size=None, alpha=2.0, max_iter=5000, random_state=0
).fit(X, y)
print(
    f"tol=1e-4: stopped after {plateau.n_iter_} epochs, "
    f"loss {plateau.loss_curve_[-1]:.4f}, accuracy {plateau.score(X, y):.2f}"
)

# %%
# A smaller ``tol`` lets it cross the plateau:
clf = BackpropClassifier(
    hidden_size=3,
    batch_size=None,
    alpha=2.0,
    max_iter=5000,
    tol=1e-6,
    random_state=0,
).fit(X, y)
print(
    f"tol=1e-6: stopped after {clf.n_iter_} epochs, "
    f"loss {clf.loss_curve_[-1]:.4f}, accuracy {clf.score(X, y):.2f}"
)
print("P(y = 1) on the four points:", clf.predict_proba(X)[:, 1].round(3))

# %%
# The fitted parameters are the tutorial's weights in matrix form: ``W1[i, j]``
# is the tutorial's w_ij from input i to hidden neuron j, and ``W2[j, 0]`` the
# weight from hidden neuron j to the output (w31, w41, w51 in the tutorial).
W1, W2 = clf.coefs_
b1, b2 = clf.intercepts_
print("W1 =\n", W1.round(2), "\nb1 =", b1.round(2))
print("W2 =\n", W2.round(2), "\nb2 =", b2.round(2))

# %%
# Decision boundary and loss curve
# --------------------------------
# Left: the predicted probability of class 1 over the plane, with the 0.5
# contour (the decision boundary). The network cuts the square with two
# roughly parallel lines, which isolates the two corners of class 1. Right: the
# training loss per epoch (on a log scale of epochs), with the plateau near
# log 2 before the drop.
fig, (ax_boundary, ax_loss) = plt.subplots(1, 2, figsize=(10, 4.2))

display = DecisionBoundaryDisplay.from_estimator(
    clf,
    X,
    response_method="predict_proba",
    grid_resolution=200,
    eps=0.5,
    levels=np.linspace(0, 1, 11),
    cmap="RdBu_r",
    alpha=0.8,
    vmin=0,
    vmax=1,
    ax=ax_boundary,
)
DecisionBoundaryDisplay.from_estimator(
    clf,
    X,
    response_method="predict_proba",
    plot_method="contour",
    grid_resolution=200,
    eps=0.5,
    levels=[0.5],
    colors="k",
    ax=ax_boundary,
)
fig.colorbar(display.surface_, ax=ax_boundary, label="P(y = 1)")
ax_boundary.scatter(
    X[:, 0], X[:, 1], c=y, cmap="RdBu_r", vmin=0, vmax=1, s=150, edgecolors="k"
)
ax_boundary.set(xlabel="x1", ylabel="x2", title="XOR learnt by a 2-3-1 network")

ax_loss.plot(np.arange(1, clf.n_iter_ + 1), clf.loss_curve_, label="tol=1e-6")
ax_loss.plot(
    np.arange(1, plateau.n_iter_ + 1),
    plateau.loss_curve_,
    "o",
    markersize=3,
    label="tol=1e-4 (stops on the plateau)",
)
ax_loss.axhline(np.log(2), color="gray", linestyle="--", linewidth=1)
ax_loss.annotate("log 2", (clf.n_iter_, np.log(2)), ha="right", va="bottom")
ax_loss.set(
    xscale="log",
    xlabel="epoch",
    ylabel="training loss (binary log loss)",
    title="Loss curve, full-batch gradient descent",
)
ax_loss.legend()
fig.tight_layout()
plt.show()
