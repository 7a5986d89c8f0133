"""
=========================================
Progress bars and callbacks while fitting
=========================================

With scikit-learn 1.9 or newer, :class:`~skbackprop.BackpropClassifier` and
:class:`~skbackprop.BackpropRegressor` accept scikit-learn's callbacks
(``sklearn.callback``): objects that the estimator calls at the start and
end of ``fit`` and of every epoch. This example shows the ready-made
:class:`~sklearn.callback.ProgressBar`, then writes a small callback of its
own that records a few numbers per epoch and stops training once the model
is good enough, and plots what it recorded.

The progress bar needs scikit-learn ≥ 1.9 and the ``rich`` package; the
example checks for both and says what it skips, so it runs anywhere. See
:doc:`../callbacks` for the details of the callback API.
"""

# %%
# What this installation supports
# -------------------------------
# ``hasattr(estimator, "set_callbacks")`` is how to tell whether callbacks
# are available: with a scikit-learn older than 1.9 the estimators have no
# ``set_callbacks``.
import time
import warnings

import matplotlib.pyplot as plt
import numpy as np
import sklearn
from sklearn.datasets import load_digits
from sklearn.exceptions import ConvergenceWarning
from sklearn.model_selection import train_test_split
from sklearn.preprocessing import StandardScaler

from skbackprop import BackpropClassifier

has_callbacks = hasattr(BackpropClassifier(), "set_callbacks")
try:
    import rich  # noqa: F401
    from sklearn.callback import ProgressBar
except ImportError as exc:
    ProgressBar = None
    print(f"no progress bar here ({exc})")
print(
    f"scikit-learn {sklearn.__version__}: callbacks "
    f"{'available' if has_callbacks else 'not available (scikit-learn >= 1.9 needed)'}"
    f", ProgressBar {'available' if ProgressBar is not None else 'not available'}"
)

# %%
# The data: the handwritten digits, scaled, with a quarter of them held out.
X, y = load_digits(return_X_y=True)
X_train, X_held_out, y_train, y_held_out = train_test_split(
    X, y, test_size=0.25, stratify=y, random_state=0
)
scaler = StandardScaler().fit(X_train)
X_train, X_held_out = scaler.transform(X_train), scaler.transform(X_held_out)

# %%
# A progress bar
# --------------
# ``set_callbacks`` returns the estimator, so the bar goes on in one line.
# It advances one step per epoch, up to ``max_iter``; in a terminal it is
# redrawn as training goes, and elsewhere (as on this page) only its final
# state is printed. 30 epochs are not enough to converge, hence a
# ``ConvergenceWarning``, which we silence.
with warnings.catch_warnings():
    warnings.simplefilter("ignore", category=ConvergenceWarning)
    if ProgressBar is not None:
        clf = BackpropClassifier(hidden_size=32, max_iter=30, random_state=0)
        clf.set_callbacks(ProgressBar()).fit(X_train, y_train)
        print(f"fitted with a progress bar: {clf.n_iter_} epochs")
    else:
        print("skipped: the progress bar needs scikit-learn >= 1.9 and rich")

# %%
# A callback of our own
# ---------------------
# A callback is any object with four methods: ``setup`` and ``teardown``
# (around each ``fit``), ``on_fit_task_begin`` and ``on_fit_task_end``
# (around ``fit`` itself and around each epoch, whose task is named
# ``"epoch N"``). A hook may declare the keyword-only argument
# ``fitted_estimator``: it then receives a copy of the model as it is at that
# point, ready to ``predict`` and ``score``, with the ``loss_curve_`` so far.
# When ``on_fit_task_end`` returns True at the end of an epoch, training
# stops after that epoch.
#
# This one records, after every epoch, the training loss, the accuracy on
# held-out data and the time since ``fit`` started, and stops training as
# soon as that accuracy reaches ``target``.


class EpochLog:
    """Record the loss and a held-out score per epoch; stop at ``target``."""

    def __init__(self, X, y, target):
        self.X, self.y, self.target = X, y, target

    def setup(self, estimator, context):
        self.start = time.perf_counter()
        self.epochs, self.losses, self.scores, self.seconds = [], [], [], []

    def teardown(self, estimator, context):
        pass

    def on_fit_task_begin(self, estimator, context):
        pass

    def on_fit_task_end(self, estimator, context, *, fitted_estimator=None):
        if not context.task_name.startswith("epoch"):
            return False  # the end of fit itself
        self.epochs.append(len(fitted_estimator.loss_curve_))
        self.losses.append(fitted_estimator.loss_curve_[-1])
        self.scores.append(fitted_estimator.score(self.X, self.y))
        self.seconds.append(time.perf_counter() - self.start)
        return self.scores[-1] >= self.target


# %%
# We fit with at most 200 epochs and a target held-out accuracy of 0.95.
# Scoring the held-out set after every epoch costs a prediction per epoch;
# the default batches of 200 rows make 7 gradient steps per epoch here.
target = 0.95
log = EpochLog(X_held_out, y_held_out, target)
clf = BackpropClassifier(hidden_size=32, max_iter=200, random_state=0)
if has_callbacks:
    clf.set_callbacks(log).fit(X_train, y_train)
else:
    # Without callbacks, the same record comes from training one epoch at a
    # time: with the same settings, each call to partial_fit is one epoch.
    print("no callbacks here: recording the epochs with partial_fit instead")
    log.setup(clf, None)
    for epoch in range(1, clf.max_iter + 1):
        clf.partial_fit(X_train, y_train, classes=np.unique(y_train))
        log.epochs.append(epoch)
        log.losses.append(clf.loss_curve_[-1])
        log.scores.append(clf.score(X_held_out, y_held_out))
        log.seconds.append(time.perf_counter() - log.start)
        if log.scores[-1] >= target:
            break
print(
    f"stopped after {clf.n_iter_} of at most {clf.max_iter} epochs "
    f"({log.seconds[-1]:.2f} s): held-out accuracy {log.scores[-1]:.3f}, "
    f"training loss {log.losses[-1]:.3f}"
)
print(
    f"recorded {len(log.epochs)} epochs, {1000 * log.seconds[-1] / len(log.epochs):.1f}"
    " ms per epoch on average, scoring included"
)

# %%
# After a stop requested by a callback, the estimator is an ordinary fitted
# model, as when training stops on its own: ``n_iter_`` and ``loss_curve_``
# count the epochs run, and the model predicts as the callback last saw it.
print(
    f"n_iter_ = {clf.n_iter_}, len(loss_curve_) = {len(clf.loss_curve_)}, "
    f"held-out accuracy of the fitted model {clf.score(X_held_out, y_held_out):.3f}"
)

# %%
# What the callback recorded
# --------------------------
# Left: the training loss falls epoch after epoch. Right: the held-out
# accuracy climbs, and training ended at the first epoch where it reached
# the target (dashed line, the cross marks the stop) instead of running to
# ``max_iter``.
fig, (ax_loss, ax_score) = plt.subplots(1, 2, figsize=(11, 4.2))
ax_loss.plot(log.epochs, log.losses, "o-", markersize=3)
ax_loss.set(
    yscale="log",
    xlabel="epoch",
    ylabel="training loss",
    title="Recorded training loss",
)
ax_score.plot(log.epochs, log.scores, "o-", markersize=3, color="tab:green")
ax_score.axhline(target, color="gray", linestyle="--", linewidth=1)
ax_score.annotate(
    f"target {target}", (log.epochs[0], target), va="bottom", color="gray"
)
ax_score.plot(log.epochs[-1], log.scores[-1], "x", color="tab:red", markersize=10)
ax_score.set(
    ylim=(0, 1.02),
    xlabel="epoch",
    ylabel="held-out accuracy",
    title=f"Held-out accuracy; stopped at epoch {log.epochs[-1]}",
)
fig.tight_layout()
plt.show()
