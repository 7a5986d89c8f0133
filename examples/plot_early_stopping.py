"""
===============================================
Early stopping: keeping the best epoch's model
===============================================

A large network trained long enough on a small, noisy training set learns
its noise: the training loss keeps falling while the score on new data
peaks, then drops. With ``early_stopping=True``,
:class:`~skbackprop.BackpropClassifier` scores a validation set after every
epoch (``validation_scores_``), stops when that score has not improved for
``n_iter_no_change`` epochs, and keeps the parameters of its best epoch, not
those of the last one.

This example trains the same network twice, once to the end and once with
early stopping, and draws the curves that early stopping watches.
"""

# %%
# A small data set with noisy labels
# ----------------------------------
# 900 points in two classes, with 50 features of which only 5 carry the
# class, and 20 % of the labels drawn at random (``flip_y=0.2``, so about one
# in ten is wrong), so that no model can be right about all of them. Only
# 200 points are for training, 200 for validation and 500 for the test, and
# we scale the features.
import warnings

import matplotlib.pyplot as plt
import numpy as np
from sklearn.datasets import make_classification
from sklearn.exceptions import ConvergenceWarning
from sklearn.model_selection import train_test_split
from sklearn.preprocessing import StandardScaler

from skbackprop import BackpropClassifier

X, y = make_classification(
    n_samples=900, n_features=50, n_informative=5, flip_y=0.2, random_state=0
)
X_train, X_rest, y_train, y_rest = train_test_split(
    X, y, train_size=200, stratify=y, random_state=0
)
X_val, X_test, y_val, y_test = train_test_split(
    X_rest, y_rest, train_size=200, stratify=y_rest, random_state=0
)
scaler = StandardScaler().fit(X_train)
X_train, X_val, X_test = (scaler.transform(part) for part in (X_train, X_val, X_test))

# %%
# Training to the end
# -------------------
# 200 hidden neurons for 200 training points is plenty of room to memorise
# them. We train for exactly 200 epochs, mini-batches of 32 rows with the
# learning rate ``alpha=0.1``: ``n_iter_no_change=200`` keeps the usual
# stopping rule (no improvement of the training loss for that many epochs)
# from ending the run before ``max_iter``, and we silence the
# ``ConvergenceWarning`` that running out of ``max_iter`` gives. The
# validation set goes in as
# ``X_val, y_val``: without ``early_stopping`` it is only scored, once per
# epoch, into ``validation_scores_`` (accuracy) and
# ``validation_loss_curve_``.
params = dict(hidden_size=200, alpha=0.1, batch_size=32, max_iter=200, random_state=0)
full = BackpropClassifier(n_iter_no_change=200, **params)
with warnings.catch_warnings():
    warnings.simplefilter("ignore", category=ConvergenceWarning)
    full.fit(X_train, y_train, X_val=X_val, y_val=y_val)
print(
    f"to the end: {full.n_iter_} epochs, training loss {full.loss_curve_[-1]:.4f}, "
    f"training accuracy {full.score(X_train, y_train):.3f}, "
    f"validation accuracy {full.score(X_val, y_val):.3f} "
    f"(best {max(full.validation_scores_):.3f}, at epoch "
    f"{np.argmax(full.validation_scores_) + 1})"
)

# %%
# Training with early stopping
# ----------------------------
# The same network, with ``early_stopping=True``: training stops once the
# validation accuracy has not improved by ``tol`` (1e-4 by default) for
# ``n_iter_no_change=20`` epochs, and the parameters of the best epoch are
# restored. Here we give it our own validation set; without ``X_val`` it
# would hold out a stratified ``validation_fraction`` (10 %) of the training
# data instead.
stopped = BackpropClassifier(early_stopping=True, n_iter_no_change=20, **params)
stopped.fit(X_train, y_train, X_val=X_val, y_val=y_val)
best_epoch = int(np.argmax(stopped.validation_scores_)) + 1
print(
    f"early stopping: stopped after {stopped.n_iter_} epochs, best epoch "
    f"{best_epoch}, best_validation_score_ {stopped.best_validation_score_:.3f}"
)

# %%
# Both runs start from the same weights and shuffle the rows the same way
# (same ``random_state``), so up to the stop they are the very same run:
same = np.allclose(stopped.loss_curve_, full.loss_curve_[: stopped.n_iter_])
print(
    f"same training loss as the full run over the first {stopped.n_iter_} epochs:", same
)

# %%
# The model that early stopping returns is that of the best epoch, not of
# the last one: its accuracy on the validation set is exactly
# ``best_validation_score_``. On the test set, which neither run has seen,
# it holds up better than the model trained to the end.
print(
    f"validation accuracy of the returned model: {stopped.score(X_val, y_val):.3f} "
    f"(== best_validation_score_: "
    f"{stopped.score(X_val, y_val) == stopped.best_validation_score_})"
)
print(
    f"test accuracy: early stopping {stopped.score(X_test, y_test):.3f}, "
    f"to the end {full.score(X_test, y_test):.3f}"
)

# %%
# The curves
# ----------
# Left: the training loss (``loss_curve_``) keeps falling, epoch after
# epoch, as the network fits more and more of the noisy training labels,
# while the loss on the validation set (``validation_loss_curve_``) reaches
# its lowest early and then grows: from there on, what the network learns
# about the training points makes it worse on others. Right: the validation
# accuracy (``validation_scores_``) rises, peaks, and slides down; with so
# few validation points it is a noisy measure, which is why early stopping
# waits ``n_iter_no_change`` epochs before it gives up. The dotted line
# marks the best epoch, the cross the epoch at which early stopping ended
# training, ``n_iter_no_change`` epochs later; the model it returns is the
# one at the dotted line.
fig, (ax_loss, ax_score) = plt.subplots(1, 2, figsize=(11, 4.2))
epochs = np.arange(1, full.n_iter_ + 1)
ax_loss.plot(epochs, full.loss_curve_, label="training loss (loss_curve_)")
ax_loss.plot(
    epochs,
    full.validation_loss_curve_,
    label="validation loss (validation_loss_curve_)",
)
ax_loss.set(
    yscale="log",
    xlabel="epoch",
    ylabel="log loss",
    title="Training and validation loss, trained to the end",
)

ax_score.plot(
    epochs, full.validation_scores_, color="gray", alpha=0.6, label="trained to the end"
)
ax_score.plot(
    np.arange(1, stopped.n_iter_ + 1),
    stopped.validation_scores_,
    color="tab:green",
    linewidth=2,
    label="with early stopping",
)
ax_score.plot(
    stopped.n_iter_,
    stopped.validation_scores_[-1],
    "x",
    color="tab:red",
    markersize=10,
    markeredgewidth=2,
    label=f"stop (epoch {stopped.n_iter_})",
)
ax_score.plot(
    best_epoch,
    stopped.best_validation_score_,
    "o",
    color="tab:green",
    markersize=8,
    label=f"best epoch {best_epoch}: {stopped.best_validation_score_:.3f}",
)
for ax in (ax_loss, ax_score):
    ax.axvline(best_epoch, color="k", linestyle=":", linewidth=1)
ax_score.set(
    xlabel="epoch",
    ylabel="validation accuracy (validation_scores_)",
    title="Validation accuracy per epoch",
)
ax_loss.legend()
ax_score.legend(loc="lower right")
fig.tight_layout()
plt.show()
