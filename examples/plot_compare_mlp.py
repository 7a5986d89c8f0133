"""
==========================================
BackpropClassifier next to MLPClassifier
==========================================

scikit-learn's :class:`~sklearn.neural_network.MLPClassifier` with
``activation="logistic"`` and ``solver="sgd"`` trains the same kind of network
as :class:`~skbackprop.BackpropClassifier`: sigmoid hidden neurons, a softmax
output, the log loss, gradient descent on mini-batches. This example puts the
two side by side on the handwritten digits, first with each one's defaults,
then with the same configuration.

Two parameters change names between them, and they are the ones to watch:

* our ``alpha`` is the **learning rate** α, MLP's ``learning_rate_init``;
* MLP's ``alpha`` is an **L2 penalty**, our ``l2``.

See :doc:`../coming_from_mlp` for the full correspondence.
"""

# %%
# The data
# --------
# The digits (1797 images of 8 × 8 pixels, 10 classes), split into a training
# and a test set. Both models sit in a pipeline behind a
# :class:`~sklearn.preprocessing.StandardScaler`, as any network trained by
# gradient descent needs.
import time
import warnings

import matplotlib.pyplot as plt
import numpy as np
from sklearn.datasets import load_digits
from sklearn.exceptions import ConvergenceWarning
from sklearn.model_selection import train_test_split
from sklearn.neural_network import MLPClassifier
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from skbackprop import BackpropClassifier

X, y = load_digits(return_X_y=True)
X_train, X_test, y_train, y_test = train_test_split(
    X, y, test_size=0.25, stratify=y, random_state=0
)

# %%
# Four models
# -----------
# **Defaults.** Both have 100 hidden neurons, batches of 200 rows and at most
# 200 epochs, but MLP's defaults are made for its Adam solver: with
# ``solver="sgd"`` its learning rate ``learning_rate_init=0.001`` is small,
# with Nesterov momentum 0.9 and an L2 penalty ``alpha=1e-4``. Ours are the
# tutorial's plain gradient descent with the learning rate ``alpha=0.3``,
# chosen by measurement for scaled inputs.
#
# **Matched.** The same network and the same training for both: 64 hidden
# neurons, learning rate 0.3, batches of 64 rows, no momentum, no L2 penalty,
# 50 epochs at most. Written in each one's names:
models = {
    "skbackprop, defaults": BackpropClassifier(random_state=0),
    "MLP, defaults": MLPClassifier(activation="logistic", solver="sgd", random_state=0),
    "skbackprop, matched": BackpropClassifier(
        hidden_size=64,
        alpha=0.3,  # the learning rate
        batch_size=64,
        max_iter=50,
        random_state=0,
    ),
    "MLP, matched": MLPClassifier(
        hidden_layer_sizes=(64,),
        activation="logistic",
        solver="sgd",
        learning_rate_init=0.3,  # our alpha
        momentum=0.0,
        alpha=0.0,  # our l2 (0 by default)
        batch_size=64,
        max_iter=50,
        random_state=0,
    ),
}

# %%
# Each model is fitted once, timed with the wall clock. Whoever runs out of
# ``max_iter`` says so with a ``ConvergenceWarning``; we record which ones
# did, rather than print the warnings.
results = {}
for name, model in models.items():
    pipeline = make_pipeline(StandardScaler(), model)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", category=ConvergenceWarning)
        start = time.perf_counter()
        pipeline.fit(X_train, y_train)
        seconds = time.perf_counter() - start
    ran_out = any(issubclass(w.category, ConvergenceWarning) for w in caught)
    results[name] = {
        "accuracy": pipeline.score(X_test, y_test),
        "seconds": seconds,
        "loss_curve": model.loss_curve_,
    }
    print(
        f"{name:21s}: test accuracy {results[name]['accuracy']:.3f}, "
        f"fit {seconds:.2f} s, {model.n_iter_} epochs"
        f"{' (max_iter reached)' if ran_out else ''}, "
        f"final training loss {model.loss_curve_[-1]:.3f}"
    )

# %%
# Accuracy and fit time
# ---------------------
# With the defaults, MLP's small learning rate leaves it far from converged
# after its 200 epochs (compare the test accuracies printed above), while
# our default learning rate gets much further in the same number of epochs.
# This is a difference in the default settings, not in the algorithm: with
# matched settings the two reach close accuracies. The fit times are those
# of one run on the machine that built this page, so take them as a rough
# comparison; :doc:`../performance` measures the speed carefully.
names = list(results)
colors = ["tab:blue", "tab:orange", "tab:blue", "tab:orange"]
hatches = ["", "", "//", "//"]
positions = np.arange(len(names))

fig, (ax_accuracy, ax_time) = plt.subplots(1, 2, figsize=(11, 4.2))
for ax, key, label, fmt in [
    (ax_accuracy, "accuracy", "test accuracy", "{:.3f}"),
    (ax_time, "seconds", "fit time (s)", "{:.2f} s"),
]:
    values = [results[name][key] for name in names]
    bars = ax.bar(positions, values, color=colors, hatch=hatches, edgecolor="k")
    ax.bar_label(bars, labels=[fmt.format(value) for value in values], padding=2)
    ax.set(
        xticks=positions,
        xticklabels=[name.replace(", ", "\n") for name in names],
        ylabel=label,
    )
    ax.margins(y=0.15)
ax_accuracy.set(ylim=(0, 1.1), title="Accuracy on the held-out digits")
ax_time.set(title="Time to fit the pipeline")
fig.tight_layout()

# %%
# Loss curves
# -----------
# The training loss per epoch (``loss_curve_``, which both estimators record
# the same way). Left, the defaults: MLP's loss creeps down from log 10 ≈
# 2.3 (dashed), the loss of a uniform guess over ten classes, while ours
# falls steeply in the first epochs. Right, the matched configuration: the
# two curves follow each other closely. They are not identical, because the
# initial weights differ (both draw them uniformly, but MLP uses the bound
# √(2 / (fan_in + fan_out)) for sigmoid neurons and skbackprop √(6 / (fan_in
# + fan_out))) and so do the random shuffles of the rows.
fig, axes = plt.subplots(1, 2, figsize=(11, 4.2), sharey=True)
for ax, setting in zip(axes, ["defaults", "matched"], strict=True):
    for library, color in [("skbackprop", "tab:blue"), ("MLP", "tab:orange")]:
        curve = results[f"{library}, {setting}"]["loss_curve"]
        ax.plot(np.arange(1, len(curve) + 1), curve, color=color, label=library)
    ax.axhline(np.log(10), color="gray", linestyle="--", linewidth=1)
    ax.set(
        yscale="log",
        xlabel="epoch",
        title=f"loss_curve_, {setting}",
    )
    ax.legend()
axes[0].set_ylabel("training loss (log loss)")
fig.tight_layout()
plt.show()
