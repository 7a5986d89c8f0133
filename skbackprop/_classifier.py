"""BackpropClassifier: label encoding and probabilities around the shared base."""

import numpy as np
from scipy.special import logsumexp
from sklearn.base import ClassifierMixin, _fit_context
from sklearn.utils._param_validation import StrOptions
from sklearn.utils.class_weight import compute_class_weight
from sklearn.utils.multiclass import (
    check_classification_targets,
    type_of_target,
    unique_labels,
)

from . import _kernels, _network
from ._base import BaseBackprop

try:  # scikit-learn >= 1.6 caches a target's unique labels on a view of it
    from sklearn.utils._unique import attach_unique
except ImportError:  # pragma: no cover - a later release may move it
    attach_unique = None

__all__ = ["BackpropClassifier"]


class BackpropClassifier(ClassifierMixin, BaseBackprop):
    """The tutorial's two-layer network as a classifier, trained by backpropagation.

    One hidden layer of ``hidden_size`` sigmoid neurons, and an output layer
    that depends on the targets: one sigmoid output for two classes, a softmax
    over k outputs for k ≥ 3 classes, one sigmoid output per label for
    multilabel targets. The loss is the matching log loss, its gradients are
    computed by backpropagation and the weights are updated by gradient
    descent, ``W ← W − α dW``, exactly as written in the project's
    ``math.md`` (see :mod:`skbackprop._network`).

    The input is used as given: scale it in a pipeline (for example with
    :class:`~sklearn.preprocessing.StandardScaler`), as for any
    gradient-trained network.

    Parameters
    ----------
    hidden_size : int, default=100
        h, the number of neurons in the hidden layer.

    activation : {"sigmoid", "tanh", "relu"}, default="sigmoid"
        The hidden layer's activation function. The tutorial uses the sigmoid.

    alpha : float, default=0.3
        α, the **learning rate**: the step size of gradient descent. Note that
        in :class:`~sklearn.neural_network.MLPClassifier`, ``alpha`` is the
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
        Hold out ``validation_fraction`` of the training data (stratified by
        class), or use ``X_val, y_val`` passed to :meth:`fit`, monitor its
        accuracy after every epoch, stop when it stops improving, and keep the
        parameters of the epoch with the best validation accuracy.

    validation_fraction : float in (0, 1), default=0.1
        The fraction of training data held out with ``early_stopping``. Only
        these rows are copied; training reads the others from X in place.

    class_weight : dict, "balanced" or None, default=None
        Weights of the classes, multiplying ``sample_weight``: ``{label:
        weight}``, or ``"balanced"`` for ``n_samples / (n_classes *
        np.bincount(y))``. Not for multilabel targets; ``"balanced"`` is not
        available in :meth:`partial_fit`, which sees only a part of the data.

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
    classes_ : ndarray of shape (n_classes,)
        The class labels (``arange(n_labels)`` for multilabel targets).

    coefs_ : list of two ndarrays
        ``[W1, W2]``, of shapes (n_features, hidden_size) and
        (hidden_size, ``n_outputs_``).

    intercepts_ : list of two ndarrays
        ``[b1, b2]``, of shapes (hidden_size,) and (n_outputs_,).

    loss_curve_ : list of float
        The training loss L of each epoch. In full batch it is L at the
        parameters before the epoch's step; in mini-batch, the weighted mean
        of the batch losses, each before its step.

    best_loss_ : float
        The smallest value of ``loss_curve_``.

    validation_scores_ : list of float or None
        The validation accuracy after each epoch, when there is a validation
        set (``early_stopping`` or ``X_val``).

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
        k, the number of output neurons.

    out_activation_ : str
        The output activation: ``"sigmoid"`` or ``"softmax"``.

    n_features_in_ : int
        The number of features seen during fit.

    feature_names_in_ : ndarray of shape (``n_features_in_``,)
        The feature names seen during fit, when X has string column names.

    See Also
    --------
    BackpropRegressor : The same network for regression.
    sklearn.neural_network.MLPClassifier : scikit-learn's multi-layer perceptron.

    Examples
    --------
    >>> from sklearn.datasets import load_iris
    >>> from sklearn.pipeline import make_pipeline
    >>> from sklearn.preprocessing import StandardScaler
    >>> from skbackprop import BackpropClassifier
    >>> X, y = load_iris(return_X_y=True)
    >>> model = make_pipeline(StandardScaler(), BackpropClassifier(random_state=0))
    >>> model.fit(X, y).score(X, y) > 0.95
    True
    >>> model.predict_proba(X[:1]).round(2)
    array([[0.99, 0.01, 0.  ]])
    """

    _parameter_constraints = {
        **BaseBackprop._parameter_constraints,
        "class_weight": [dict, StrOptions({"balanced"}), None],
    }

    def __init__(
        self,
        hidden_size=100,
        *,
        activation="sigmoid",
        alpha=0.3,
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
        class_weight=None,
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
        self.class_weight = class_weight

    # ------------------------------------------------------------------
    # Training.
    # ------------------------------------------------------------------

    @_fit_context(prefer_skip_nested_validation=True)
    def partial_fit(self, X, y, classes=None, sample_weight=None):
        """Train for one epoch on (X, y), continuing from the current state.

        For data that does not fit in memory: call it once per chunk. The
        momentum is kept between calls; ``n_iter_`` counts the calls.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
        y : array-like of shape (n_samples,) or (n_samples, n_labels)
        classes : array-like of shape (n_classes,), default=None
            All the classes that ``y`` can hold over all calls. Required on
            the first call (except for multilabel targets), ignored after it.
        sample_weight : array-like of shape (n_samples,), default=None

        Returns
        -------
        self : object
        """
        if not hasattr(self, "coefs_") and classes is None:
            _check_label_types(y)
            if _classification_target_type(y) != "multilabel-indicator":
                raise ValueError(
                    "classes must be passed on the first call to partial_fit."
                )
        return self._fit(
            X, y, sample_weight=sample_weight, incremental=True, classes=classes
        )

    def _check_raw_targets(self, y):
        _check_label_types(y)

    def score(self, X, y, sample_weight=None):
        """Mean accuracy of :meth:`predict` on (X, y) (subset accuracy if multilabel).

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
        y : array-like of shape (n_samples,) or (n_samples, n_labels)
        sample_weight : array-like of shape (n_samples,), default=None

        Returns
        -------
        score : float
        """
        _check_label_types(y)
        _classification_target_type(np.asarray(y))
        return super().score(X, y, sample_weight=sample_weight)

    def _target_attrs(self, y, *, continuing, classes=None):
        target_type, found = _integer_labels(y)
        if target_type is None:
            y = _with_cached_labels(y)
            target_type = _classification_target_type(y)
        if target_type == "multilabel-indicator":
            found = np.arange(y.shape[1])
            out_activation, n_outputs = "sigmoid", y.shape[1]
        elif target_type in ("binary", "multiclass"):
            if found is None:
                found = _sorted_labels(y)
            out_activation, n_outputs = None, None
        else:
            raise ValueError(
                f"{type(self).__name__} does not support {target_type!r} targets: "
                "y must hold class labels, or be a multilabel indicator matrix."
            )
        if continuing:
            expected = self.classes_
            if (
                self.warm_start
                and classes is None
                and not _same_labels(found, expected)
            ):
                raise ValueError(
                    "warm_start can only be used where `y` has the same classes "
                    f"as in the previous call to fit. Previously got {expected}, "
                    f"`y` has {found}"
                )
            if classes is not None and not _same_labels(
                _sorted_labels(classes), expected
            ):
                raise ValueError(
                    f"`classes={classes!r}` is not the same as on last call to "
                    f"partial_fit, was: {expected!r}"
                )
            if target_type != "multilabel-indicator" and not _is_multilabel(
                self.n_outputs_, self.out_activation_
            ):
                # Labels the model has no output for. Checked here, where y's
                # labels are found once, not again by _encode_targets (with
                # string labels, a tenth of a partial_fit on 200 rows:
                # bench_overhead.py). A 1-D y for a multilabel model is
                # _encode_targets' error to name.
                _check_known_labels(found, expected)
            return {
                "classes_": expected,
                "n_outputs_": self.n_outputs_,
                "out_activation_": self.out_activation_,
            }
        all_classes = found if classes is None else _sorted_labels(classes)
        if classes is not None and target_type != "multilabel-indicator":
            _check_known_labels(found, all_classes)
        if len(all_classes) < 2:
            raise ValueError(
                "The number of classes has to be greater than one; got "
                f"{len(all_classes)} class"
            )
        if out_activation is None:
            binary = len(all_classes) == 2
            out_activation = "sigmoid" if binary else "softmax"
            n_outputs = 1 if binary else len(all_classes)
        return {
            "classes_": all_classes,
            "n_outputs_": n_outputs,
            "out_activation_": out_activation,
        }

    def _encode_targets(self, y, target_attrs, *, labels_known=False):
        classes = target_attrs["classes_"]
        if y.ndim == 2:  # multilabel indicator
            if y.shape[1] != len(classes) or target_attrs["n_outputs_"] != y.shape[1]:
                raise ValueError(
                    f"y has {y.shape[1]} labels; the model has {len(classes)}."
                )
            return np.asarray(y, dtype=np.float64)
        if _is_multilabel(target_attrs["n_outputs_"], target_attrs["out_activation_"]):
            raise ValueError("The model was fitted on multilabel targets; y is 1-D.")
        if not labels_known:  # y_val, a dask block: labels the model has no output for?
            _, found = _integer_labels(y)
            if found is None:
                y_labels = _with_cached_labels(y)
                _classification_target_type(y_labels)
                found = _sorted_labels(y_labels)
            _check_known_labels(found, classes)
        if len(classes) == 2:
            # y holds only these two labels, as checked above or by
            # _target_attrs: one comparison per label, not a binary search.
            return (y == classes[1]).astype(np.float64).reshape(-1, 1)
        index = np.searchsorted(classes, y)
        Y = np.zeros((y.shape[0], len(classes)))
        Y[np.arange(y.shape[0]), index] = 1.0
        return Y

    def _training_sample_weight(self, y, sample_weight, target_attrs, *, incremental):
        if self.class_weight is None:
            return sample_weight
        if y.ndim == 2:
            raise ValueError("class_weight is not supported for multilabel targets.")
        classes = target_attrs["classes_"]
        if isinstance(self.class_weight, str):  # "balanced"
            if incremental:
                raise ValueError(
                    "class_weight='balanced' is not supported for partial_fit: it "
                    "needs the class counts of all the data. Pass a dict, e.g. from "
                    "sklearn.utils.class_weight.compute_class_weight on the full y."
                )
            per_class = compute_class_weight("balanced", classes=classes, y=y)
        else:
            per_class = _class_weight_from_dict(self.class_weight, classes)
        weights = per_class[np.searchsorted(classes, y)]
        if sample_weight is not None:
            weights = weights * sample_weight
        weights = weights.astype(
            np.float64 if sample_weight is None else sample_weight.dtype
        )
        if not np.any(weights > 0):
            raise ValueError(
                "The sample weights are all zero once multiplied by class_weight: "
                "there is nothing to learn from."
            )
        return weights

    def _stratify_labels(self, y):
        if y.ndim == 2:
            return None
        _, counts = np.unique(y, return_counts=True)
        # train_test_split cannot stratify a class with a single member.
        return y if counts.min() >= 2 else None

    def _validation_score(self, Y, A2, sample_weight, out_activation):
        if out_activation == "softmax":
            correct = A2.argmax(axis=1) == Y.argmax(axis=1)
        else:  # binary, or multilabel: every label right (subset accuracy)
            correct = np.all((A2 > 0.5) == (Y > 0.5), axis=1)
        return float(np.average(correct, weights=sample_weight))

    # ------------------------------------------------------------------
    # Prediction.
    # ------------------------------------------------------------------

    def decision_function(self, X):
        """The logits Z2, the output layer before its activation.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)

        Returns
        -------
        scores : ndarray of shape (n_samples,) or (n_samples, ``n_outputs_``)
            1-D for two classes (positive means ``classes_[1]``).
        """
        Z2 = self._logits(self._validate_predict_input(X))
        return Z2[:, 0] if self.n_outputs_ == 1 else Z2

    def predict(self, X):
        """Predict class labels (or a label indicator matrix).

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)

        Returns
        -------
        y_pred : ndarray of shape (n_samples,) or (n_samples, n_labels)
        """
        Z2 = self._logits(self._validate_predict_input(X))
        if self.out_activation_ == "softmax":
            return self.classes_[Z2.argmax(axis=1)]
        if self._multilabel:
            return (Z2 > 0).astype(int)
        return self.classes_[(Z2[:, 0] > 0).astype(int)]

    def predict_log_proba(self, X):
        """Log of :meth:`predict_proba`, computed from the logits.

        Never −∞: log-probabilities are kept at or above log(ε), ε being the
        machine epsilon of the model's dtype, consistently with
        :meth:`predict_proba`.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)

        Returns
        -------
        log_proba : ndarray of shape (n_samples, n_classes)
        """
        Z2 = self._logits(self._validate_predict_input(X))
        return self._log_proba_from_logits(Z2)

    def predict_proba(self, X):
        """Class probabilities, strictly inside (0, 1).

        For two or more classes each row sums to 1; for multilabel targets
        each column is the probability of one label.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)

        Returns
        -------
        proba : ndarray of shape (n_samples, n_classes)
        """
        Z2 = self._logits(self._validate_predict_input(X))
        if self.out_activation_ == "sigmoid" and self.n_outputs_ == 1:
            return _binary_proba(Z2[:, 0])
        if self.out_activation_ == "softmax":
            # In place on the logits, in one pass: exp of the log-probabilities
            # to rounding. At 50,000 × 100 with 10 classes predict_proba went
            # from 2.1× to 1.2-1.5× the time of X · W1 (bench_speed.py).
            return _kernels.softmax_proba(Z2, np.finfo(Z2.dtype).eps)
        return np.exp(self._log_proba_from_logits(Z2))

    @property
    def _multilabel(self):
        return self.out_activation_ == "sigmoid" and self.n_outputs_ > 1

    def _log_proba_from_logits(self, Z2):
        eps = np.finfo(Z2.dtype).eps
        log_eps = np.log(eps)
        if self._multilabel:
            # log σ(z), kept in [log ε, log(1 − ε)].
            log_p = -np.logaddexp(0, -Z2)
            return np.clip(log_p, log_eps, np.log1p(-eps), out=log_p)
        if self.out_activation_ == "sigmoid":
            # Two classes: σ(z) = softmax([0, z])[1].
            Z2 = np.column_stack([np.zeros_like(Z2[:, 0]), Z2[:, 0]])
        log_p = _network.log_softmax(Z2)
        # Keep every probability at least ε, and rows summing to 1: raise the
        # clipped entries, then renormalise those rows only.
        clipped = np.flatnonzero((log_p < log_eps).any(axis=1))
        if len(clipped):
            rows = np.maximum(log_p[clipped], log_eps)
            rows -= logsumexp(rows, axis=1, keepdims=True).astype(rows.dtype)
            log_p[clipped] = rows
        return log_p

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.classifier_tags.multi_label = True
        return tags


def _binary_proba(z):
    """[σ(−z), σ(z)] per row, each kept in [ε, 1 − ε]; rows sum to 1.

    Equal to ``exp`` of the log-probabilities to rounding, with one pass of σ
    over the n × 2 values [−z, z] instead of a log-softmax (this is most of
    the prediction time outside the hidden layer). Both columns are computed
    from z, so a probability near 0 keeps its relative accuracy. One σ call
    on the whole array, in place, and ufuncs rather than ``np.clip``'s
    wrapper: 5× faster than a call per column at 100,000 rows, and a third
    of the time on one row.
    """
    eps = np.finfo(z.dtype).eps
    proba = np.empty((z.shape[0], 2), z.dtype)
    np.negative(z, out=proba[:, 0])
    proba[:, 1] = z
    _kernels.sigmoid(proba, out=proba)
    np.maximum(proba, eps, out=proba)
    return np.minimum(proba, 1 - eps, out=proba)


def _check_label_types(y):
    """Reject labels that mix strings and numbers, before NumPy converts them.

    ``np.asarray(["a", 1])`` silently turns 1 into the string "1", so the
    check must see the labels as the caller gave them.
    """
    if isinstance(y, np.ndarray) and y.dtype != object:
        return
    if not isinstance(y, (list, tuple, np.ndarray)):
        return
    labels = np.asarray(y, dtype=object).ravel()
    has_text = any(isinstance(label, (str, bytes)) for label in labels)
    if has_text and not all(isinstance(label, (str, bytes)) for label in labels):
        raise _mixed_labels_error(labels)


def _classification_target_type(y):
    """scikit-learn's target checks, with a ValueError for mixed label types.

    Sorting labels of mixed types (say ``"a"`` and ``1``) raises Python's
    bare ``TypeError: '<' not supported``; say what is wrong instead.
    """
    try:
        check_classification_targets(y)
        return type_of_target(y)
    except TypeError as exc:
        raise _mixed_labels_error(y) from exc


def _integer_labels(y):
    """(target type, sorted labels) of a 1-D ndarray of integers; (None, None) else.

    For such y scikit-learn's ``type_of_target`` says ``"binary"`` (at most
    two distinct labels) or ``"multiclass"``, ``check_classification_targets``
    accepts either, and ``unique_labels`` gives ``np.unique(y)``, in y's
    dtype; the tests check all three on integer dtypes. One ``np.unique``
    finds them, where the three checks cost 0.6-1.1 ms more per fit on
    10,000 labels (``benchmarks/bench_overhead.py --rows 10000``), most of it
    the checks' own Python. Anything else (strings,
    floats, 2-D, lists, another byte order) goes through scikit-learn's
    checks and messages, and so does y with more classes than half its
    samples, which scikit-learn warns about (1.9.1 does; 1.6.1 did not).
    """
    if not (
        type(y) is np.ndarray
        and y.ndim == 1
        and y.dtype.kind in "iu"
        and y.dtype.isnative
        and y.size
    ):
        return None, None
    labels = np.unique(y)
    if len(labels) > 2 and y.size > 20 and len(labels) > round(0.5 * y.size):
        return None, None  # rare; scikit-learn's own checks, with their warning
    return ("binary" if len(labels) <= 2 else "multiclass"), labels


def _with_cached_labels(y):
    """A view of ``y`` carrying its unique labels, as ``unique_labels`` makes.

    scikit-learn's target checks and label sort each find y's unique labels
    (a hash pass over y) unless a view like this one carries them
    (``benchmarks/bench_overhead.py`` times the checks with and without). Use the view only for checks: never return it, since a
    later change to y's values would not reach the cached labels.
    """
    if attach_unique is None:  # pragma: no cover
        return y
    try:
        return attach_unique(y)
    except TypeError as exc:  # labels of mixed types cannot be sorted
        raise _mixed_labels_error(y) from exc


def _sorted_labels(y):
    try:
        return unique_labels(y)
    except TypeError as exc:
        raise _mixed_labels_error(y) from exc


def _mixed_labels_error(y):
    kinds = sorted(
        {type(label).__name__ for label in np.asarray(y, dtype=object).ravel()}
    )
    return ValueError(
        f"Mix of label input types ({', '.join(kinds)}): class labels must all "
        "be strings or all be numbers."
    )


def _class_weight_from_dict(class_weight, classes):
    """One weight per class from ``{label: weight}``; unnamed classes weigh 1."""
    per_class = np.ones(len(classes))
    for label, weight in class_weight.items():
        index = np.flatnonzero(classes == label)
        if len(index) == 0:
            raise ValueError(
                f"class_weight names the label {label!r}, which is not one of the "
                f"classes {list(classes)}."
            )
        if not (np.isfinite(weight) and weight >= 0):
            raise ValueError(
                f"class_weight[{label!r}] = {weight!r}: class weights must be finite "
                "and non-negative."
            )
        per_class[index[0]] = weight
    return per_class


def _is_multilabel(n_outputs, out_activation):
    """Whether a model of these outputs was fitted on multilabel targets."""
    return n_outputs != 1 and out_activation != "softmax"


def _same_labels(a, b):
    return len(a) == len(b) and np.all(np.asarray(a) == np.asarray(b))


def _check_known_labels(found, classes):
    unknown = np.setdiff1d(found, classes)
    if len(unknown):
        raise ValueError(
            f"y contains labels {unknown.tolist()} not in classes {list(classes)}."
        )
