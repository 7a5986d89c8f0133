"""
=====================================
Fitting a noisy curve with regression
=====================================

:class:`~skbackprop.BackpropRegressor` is the tutorial's network with an
identity output neuron: the hidden layer of sigmoid neurons builds the curve
out of smooth steps, and the output neuron adds them up with its weights
``W2``. The more hidden neurons, the more bends the curve can make.

This example fits a sine wave measured with noise, with one, three and thirty
hidden neurons, and shows the data, the fitted curves and their loss curves.
"""

# %%
# The data: a sine wave with noise
# --------------------------------
# 200 points ``x`` drawn uniformly in [-3, 3], with ``y = sin(x) + noise``,
# the noise Gaussian with standard deviation 0.2. Both are already near unit
# scale, so we need no scaler here (in general, scale the inputs, and bring
# targets far from unit scale nearer to it). A regular grid of ``x`` serves
# to draw the fitted curves.
import warnings

import matplotlib.pyplot as plt
import numpy as np
from sklearn.exceptions import ConvergenceWarning

from skbackprop import BackpropRegressor

rng = np.random.RandomState(0)
X = rng.uniform(-3, 3, size=(200, 1))
noise = 0.2
y = np.sin(X[:, 0]) + rng.normal(scale=noise, size=200)
X_plot = np.linspace(-3, 3, 300).reshape(-1, 1)

# %%
# One network per hidden size
# ---------------------------
# Plain mini-batch gradient descent, as in the tutorial, on batches of 10
# rows (20 steps per epoch). The regressor's default learning rate
# ``alpha=0.01`` is made for batches of 200 rows on any data; on this small,
# well-scaled problem ``alpha=0.1`` gets there in far fewer epochs.
#
# Sigmoid networks fit such a curve slowly: the loss creeps down over
# hundreds of epochs, by less than the default ``tol=1e-4`` per epoch, and
# mini-batch noise makes it bounce. So we stop only when the loss has not
# improved by ``tol=1e-6`` for ``n_iter_no_change=30`` epochs in a row (or
# after ``max_iter=1000`` epochs, which would give a ``ConvergenceWarning``:
# we record it and say so).
#
# The error to compare with is that of the noise itself: even the true curve
# ``sin(x)`` has a mean squared error of about ``0.2² = 0.04`` on these
# points, so a fit much below that would be learning the noise. How close
# each fitted curve is to ``sin(x)`` on the grid is the other number to watch.
hidden_sizes = [1, 3, 30]
models = {}
for hidden_size in hidden_sizes:
    reg = BackpropRegressor(
        hidden_size=hidden_size,
        alpha=0.1,
        batch_size=10,
        max_iter=1000,
        tol=1e-6,
        n_iter_no_change=30,
        random_state=0,
    )
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", category=ConvergenceWarning)
        reg.fit(X, y)
    converged = not any(issubclass(w.category, ConvergenceWarning) for w in caught)
    models[hidden_size] = reg
    mse = np.mean((reg.predict(X) - y) ** 2)
    curve_error = np.mean((reg.predict(X_plot) - np.sin(X_plot[:, 0])) ** 2)
    print(
        f"hidden_size={hidden_size:2d}: {reg.n_iter_} epochs"
        f"{'' if converged else ' (max_iter reached)'}, "
        f"training MSE {mse:.4f}, R² {reg.score(X, y):.3f}, "
        f"MSE against sin(x) on the grid {curve_error:.4f}"
    )
print(f"MSE of sin(x) itself on the data: {np.mean((np.sin(X[:, 0]) - y) ** 2):.4f}")

# %%
# Reading the figure
# ------------------
# Left: the data (dots), the true curve ``sin(x)`` (dashed) and the three
# fitted networks. One sigmoid neuron can only draw one smooth step: it
# catches the rise in the middle of the sine but cannot bend back down at
# either end. Three neurons are enough for the two bends of the wave. Thirty
# neurons could bend far more often, but gradient descent from small initial
# weights fits the broad shape first, and their curve stays smooth too,
# close to ``sin(x)`` (the numbers printed above).
#
# Right: the loss curves, ``loss_curve_``, whose loss is half the mean
# squared error (the ``1/(2m)`` of :doc:`the math <../math>`), on log-log
# axes. They fall in stages, with plateaus while the hidden neurons still
# act alike, and flatten toward the dashed line, half the noise variance
# ``0.2² / 2 = 0.02``, below which no honest fit can go. The single neuron
# levels off well above it: what is left is not noise but the part of the
# sine that one step cannot draw.
fig, (ax_fit, ax_loss) = plt.subplots(1, 2, figsize=(11, 4.2))
colors = plt.cm.viridis(np.linspace(0, 0.85, len(hidden_sizes)))
ax_fit.scatter(X[:, 0], y, s=10, color="gray", alpha=0.6, label="data")
ax_fit.plot(X_plot[:, 0], np.sin(X_plot[:, 0]), "k--", linewidth=1, label="sin(x)")
for hidden_size, color in zip(hidden_sizes, colors, strict=True):
    ax_fit.plot(
        X_plot[:, 0],
        models[hidden_size].predict(X_plot),
        color=color,
        linewidth=2,
        label=f"hidden_size={hidden_size}",
    )
ax_fit.set(xlabel="x", ylabel="y", title="BackpropRegressor fits")
ax_fit.legend(loc="upper left")

for hidden_size, color in zip(hidden_sizes, colors, strict=True):
    curve = models[hidden_size].loss_curve_
    ax_loss.plot(
        np.arange(1, len(curve) + 1),
        curve,
        color=color,
        label=f"hidden_size={hidden_size}",
    )
ax_loss.axhline(noise**2 / 2, color="gray", linestyle="--", linewidth=1)
ax_loss.annotate("noise² / 2", (1, noise**2 / 2), va="bottom")
ax_loss.set(
    xscale="log",
    yscale="log",
    xlabel="epoch",
    ylabel="training loss (½ mean squared error)",
    title="loss_curve_",
)
ax_loss.legend()
fig.tight_layout()
plt.show()
