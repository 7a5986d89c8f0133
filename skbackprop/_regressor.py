"""BackpropRegressor: identity output and 1-D/2-D targets around the shared base."""

import numpy as np
from sklearn.base import RegressorMixin, _fit_context
from sklearn.metrics import r2_score

from ._base import BaseBackprop

__all__ = ["BackpropRegressor"]


class BackpropRegressor(RegressorMixin, BaseBackprop):
    """The tutorial's two-layer network as a regressor, trained by backpropagation.

    One hidden layer of ``hidden_size`` sigmoid neurons and one identity
    (linear) output neuron per target. The loss is half the mean squared
    error, its gradients are computed by backpropagation and the weights are
    updated by gradient descent, ``W ← W − α dW``, exactly as written in the
    project's ``math.md`` (see :mod:`skbackprop._network`).

    Neither X nor y is rescaled: scale X in a pipeline (for example with
    :class:`~sklearn.preprocessing.StandardScaler`), and for targets far from
    unit scale wrap the model in
    :class:`~sklearn.compose.TransformedTargetRegressor`.

    Parameters
    ----------
    hidden_size : int, default=100
        h, the number of neurons in the hidden layer.

    activation : {"sigmoid", "tanh", "relu"}, default="sigmoid"
        The hidden layer's activation function. The tutorial uses the sigmoid.

    alpha : float, default=0.01
        α, the **learning rate**: the step size of gradient descent. Note that
        in :class:`~sklearn.neural_network.MLPRegressor`, ``alpha`` is the
        strength of an L2 penalty and the learning rate is
        ``learning_rate_init``; here the L2 penalty is ``l2``.

    l2 : float, default=0.0
        λ, the strength of an L2 penalty on the weights (not the biases): the
        loss gains (λ / 2m)(‖W1‖² + ‖W2‖²).

    momentum : float in [0, 1), default=0.0
        μ, the momentum of gradient descent. 0 is the tutorial's plain
        gradient descent.

    nesterov : bool, default=False
        Use Nesterov's momentum instead of classical momentum (when
        ``momentum > 0``).

    batch_size : int or None, default=200
        Rows per gradient step. ``None`` means full-batch gradient descent,
        the tutorial's method: one step per epoch, over all the training data.
        An int means mini-batch gradient descent; it is capped at the number
        of samples.

    max_iter : int, default=200
        The maximum number of epochs (passes over the training data).

    shuffle : bool, default=True
        Shuffle the samples before each epoch of mini-batch training.

    tol : float, default=1e-4
        The smallest improvement of the monitored loss (or validation score)
        that counts as progress.

    n_iter_no_change : int, default=10
        Training stops when the monitored quantity has not improved by
        ``tol`` for this many epochs in a row.

    early_stopping : bool, default=False
        Hold out ``validation_fraction`` of the training data, or use
        ``X_val, y_val`` passed to :meth:`fit`, monitor its R² after every
        epoch, stop when it stops improving, and keep the parameters of the
        epoch with the best validation R².

    validation_fraction : float in (0, 1), default=0.1
        The fraction of training data held out with ``early_stopping``. Only
        these rows are copied; training reads the others from X in place.

    warm_start : bool, default=False
        Continue from the fitted parameters on the next call to :meth:`fit`
        instead of drawing new ones.

    random_state : int, RandomState instance or None, default=None
        Drives the initial weights (Glorot-uniform, see
        :func:`skbackprop._network.init_params`), the shuffling of
        mini-batches and the validation split. An int makes ``fit``
        reproducible bit for bit.

    verbose : int, default=0
        Print one line per epoch (epoch, loss, validation score, time).

    Attributes
    ----------
    coefs_ : list of two ndarrays
        ``[W1, W2]``, of shapes (n_features, hidden_size) and
        (hidden_size, ``n_outputs_``).

    intercepts_ : list of two ndarrays
        ``[b1, b2]``, of shapes (hidden_size,) and (n_outputs_,).

    loss_curve_ : list of float
        The training loss L (half the mean squared error, plus the L2 term) of
        each epoch. In full batch it is L at the parameters before the epoch's
        step; in mini-batch, the weighted mean of the batch losses, each
        before its step.

    best_loss_ : float
        The smallest value of ``loss_curve_``.

    validation_scores_ : list of float or None
        The validation R² after each epoch, when there is a validation set
        (``early_stopping`` or ``X_val``).

    validation_loss_curve_ : list of float or None
        The validation loss after each epoch.

    best_validation_score_ : float or None
        The best of ``validation_scores_``.

    n_iter_ : int
        The number of epochs run, over all calls of ``fit`` with
        ``warm_start`` and of ``partial_fit``: ``len(loss_curve_)``.

    t_ : int
        The number of training samples seen.

    n_layers_ : int
        3: input, hidden and output layers.

    n_outputs_ : int
        k, the number of targets.

    out_activation_ : str
        ``"identity"``.

    n_features_in_ : int
        The number of features seen during fit.

    feature_names_in_ : ndarray of shape (``n_features_in_``,)
        The feature names seen during fit, when X has string column names.

    See Also
    --------
    BackpropClassifier : The same network for classification.
    sklearn.neural_network.MLPRegressor : scikit-learn's multi-layer perceptron.

    Examples
    --------
    >>> import numpy as np
    >>> from skbackprop import BackpropRegressor
    >>> rng = np.random.RandomState(0)
    >>> X = rng.uniform(-2, 2, size=(200, 1))
    >>> y = np.sin(X[:, 0])
    >>> model = BackpropRegressor(hidden_size=10, alpha=0.3, batch_size=None, random_state=0)
    >>> model.fit(X, y).score(X, y) > 0.95
    True
    >>> model.predict(X[:3]).shape
    (3,)
    """

    _y_numeric = True

    def __init__(
        self,
        hidden_size=100,
        *,
        activation="sigmoid",
        alpha=0.01,
        l2=0.0,
        momentum=0.0,
        nesterov=False,
        batch_size=200,
        max_iter=200,
        shuffle=True,
        tol=1e-4,
        n_iter_no_change=10,
        early_stopping=False,
        validation_fraction=0.1,
        warm_start=False,
        random_state=None,
        verbose=0,
    ):
        super().__init__(
            hidden_size,
            activation=activation,
            alpha=alpha,
            l2=l2,
            momentum=momentum,
            nesterov=nesterov,
            batch_size=batch_size,
            max_iter=max_iter,
            shuffle=shuffle,
            tol=tol,
            n_iter_no_change=n_iter_no_change,
            early_stopping=early_stopping,
            validation_fraction=validation_fraction,
            warm_start=warm_start,
            random_state=random_state,
            verbose=verbose,
        )

    @_fit_context(prefer_skip_nested_validation=True)
    def partial_fit(self, X, y, sample_weight=None):
        """Train for one epoch on (X, y), continuing from the current state.

        For data that does not fit in memory: call it once per chunk. The
        momentum is kept between calls; ``n_iter_`` counts the calls.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
        y : array-like of shape (n_samples,) or (n_samples, n_targets)
        sample_weight : array-like of shape (n_samples,), default=None

        Returns
        -------
        self : object
        """
        return self._fit(X, y, sample_weight=sample_weight, incremental=True)

    def _target_attrs(self, y, *, continuing, classes=None):
        n_outputs = 1 if y.ndim == 1 else y.shape[1]
        if continuing and n_outputs != self.n_outputs_:
            raise ValueError(
                f"y has {n_outputs} targets; the model was fitted on {self.n_outputs_}."
            )
        return {"n_outputs_": n_outputs, "out_activation_": "identity"}

    def _encode_targets(self, y, target_attrs, *, labels_known=False):
        n_outputs = 1 if y.ndim == 1 else y.shape[1]
        if n_outputs != target_attrs["n_outputs_"]:
            raise ValueError(
                f"y has {n_outputs} targets; the model has {target_attrs['n_outputs_']}."
            )
        return np.asarray(y, dtype=np.float64).reshape(y.shape[0], n_outputs)

    def _validation_score(self, Y, A2, sample_weight, out_activation):
        return float(r2_score(Y, A2, sample_weight=sample_weight))

    def predict(self, X):
        """Predict the targets.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)

        Returns
        -------
        y_pred : ndarray of shape (n_samples,) or (n_samples, ``n_outputs_``)
            1-D when the model was fitted on a 1-D y.
        """
        Z2 = self._logits(self._validate_predict_input(X))
        return Z2[:, 0] if self.n_outputs_ == 1 else Z2

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.target_tags.multi_output = True
        return tags
