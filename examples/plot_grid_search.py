"""
=============================================
Tuning ``alpha`` and ``hidden_size`` together
=============================================

The learning rate ``alpha`` and the number of hidden neurons ``hidden_size``
are the two main knobs of the tutorial's network: the width sets what the
network can represent, the learning rate how far training gets in a given
number of epochs. This example searches both at once with
:class:`~sklearn.model_selection.GridSearchCV`, on a pipeline that scales the
inputs first, as any gradient-trained network needs, and shows the
cross-validated accuracy as a heat map.
"""

# %%
# The pipeline and the grid
# -------------------------
# The handwritten digits (1797 images of 8 × 8 pixels, 10 classes) are small
# enough for a quick search. Each network trains with mini-batches of 128
# rows for 10 epochs only, so that the 60 fits (20 grid points × 3 folds) take
# a few seconds; scores would rise a little with more epochs, but the shape of
# the map would not change much.
import warnings

import matplotlib.pyplot as plt
import numpy as np
from sklearn.datasets import load_digits
from sklearn.exceptions import ConvergenceWarning
from sklearn.model_selection import GridSearchCV
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from skbackprop import BackpropClassifier

X, y = load_digits(return_X_y=True)

pipeline = make_pipeline(
    StandardScaler(),
    BackpropClassifier(batch_size=128, max_iter=10, random_state=0),
)
alphas = [0.01, 0.1, 1.0, 10.0]
hidden_sizes = [2, 4, 8, 16, 32]
param_grid = {
    "backpropclassifier__alpha": alphas,
    "backpropclassifier__hidden_size": hidden_sizes,
}
search = GridSearchCV(pipeline, param_grid, cv=3)

# %%
# 10 epochs are not enough to converge, and every fit says so with a
# ``ConvergenceWarning``: here that is by design, so we silence it. A grid
# point whose training diverges (``ValueError`` for too large an ``alpha``)
# would get the score NaN (``error_score=np.nan``) and show as a blank cell.
with warnings.catch_warnings():
    warnings.simplefilter("ignore", category=ConvergenceWarning)
    search.fit(X, y)

best = search.best_params_
print(
    f"best: alpha={best['backpropclassifier__alpha']:g}, "
    f"hidden_size={best['backpropclassifier__hidden_size']}, "
    f"mean CV accuracy {search.best_score_:.3f}"
)

# %%
# The heat map
# ------------
# ``cv_results_`` lists the grid points with the parameters in sorted order,
# ``alpha`` varying slowest, so its mean test scores reshape into an
# ``alpha × hidden_size`` table.
scores = search.cv_results_["mean_test_score"].reshape(len(alphas), len(hidden_sizes))

fig, ax = plt.subplots(figsize=(6.5, 4.5))
image = ax.imshow(scores, cmap="viridis", vmin=0, vmax=1, origin="lower")
fig.colorbar(image, ax=ax, label="mean test accuracy (3-fold CV)")
for i in range(len(alphas)):
    for j in range(len(hidden_sizes)):
        score = scores[i, j]
        ax.text(
            j,
            i,
            "diverged" if np.isnan(score) else f"{score:.2f}",
            ha="center",
            va="center",
            color="black" if score > 0.6 else "white",
        )
best_i = alphas.index(best["backpropclassifier__alpha"])
best_j = hidden_sizes.index(best["backpropclassifier__hidden_size"])
ax.add_patch(
    plt.Rectangle(
        (best_j - 0.5, best_i - 0.5),
        1,
        1,
        fill=False,
        edgecolor="red",
        linewidth=2,
        clip_on=False,
    )
)
ax.set(
    xticks=range(len(hidden_sizes)),
    xticklabels=hidden_sizes,
    yticks=range(len(alphas)),
    yticklabels=[f"{alpha:g}" for alpha in alphas],
    xlabel="hidden_size (h)",
    ylabel="alpha (learning rate α)",
    title="BackpropClassifier on digits: grid search",
)
fig.tight_layout()

# %%
# Reading the map
# ---------------
# * Along a row, more hidden neurons help: two or four sigmoid neurons cannot
#   separate ten digit classes well, 16 or 32 can.
# * Along a column, the learning rate matters as much as the width: with
#   ``alpha=0.01`` no network gets far in 10 epochs, whatever its size,
#   while ``alpha`` of 1 to 10 is best on this scaled data.
# * The best cell is framed in red. With ``refit=True`` (the default),
#   ``search.best_estimator_`` is that pipeline refitted on all the data,
#   ready to ``predict``.
plt.show()
