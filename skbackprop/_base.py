"""The estimator base shared by BackpropClassifier and BackpropRegressor.

It holds what both estimators share: the hyper-parameters and their
constraints, input validation, and the training loop (fit → epochs → batches
→ one step of ``_network``). The subclasses only encode targets and decode
outputs.

Training works on local copies of the parameters; fitted attributes are
written in one place, :meth:`BaseBackprop._publish`, once training ends (or
is interrupted), so a failed ``fit`` never leaves half-written attributes.
"""

import contextlib
import time
import warnings
from abc import ABCMeta, abstractmethod
from numbers import Integral, Real

import numpy as np
from sklearn.base import BaseEstimator, _fit_context
from sklearn.exceptions import ConvergenceWarning
from sklearn.utils import check_random_state
from sklearn.utils._param_validation import (
    Interval,
    InvalidParameterError,
    StrOptions,
)
from sklearn.utils.validation import (
    check_array,
    check_is_fitted,
    column_or_1d,
    validate_data,
)

from . import _dask, _kernels, _network
from ._callbacks import CallbackMixin
from ._parallel import (
    CHUNK_ROWS,
    GradientEngine,
    minibatch_team,
    predict_logits,
    prediction_threads,
    single_threaded_blas,
    thread_budget,
)
from ._persistence import VersionedPickleMixin

__all__ = ["BaseBackprop"]

# Training stops with an error when the loss grows this many times above both
# the loss before the call's first step and the loss of the best constant prediction
# (the class frequencies, or the mean target): gradient descent with a sane
# learning rate never does that. The second reference matters for
# classifiers, whose loss is bounded (−log ε per output) and so never becomes
# infinite: a network whose sigmoids have saturated on the wrong side is
# caught this way.
_DIVERGENCE_FACTOR = 10.0

# The dtypes the networks compute in; native byte order only (">f8" is not
# equal to these, and goes through scikit-learn's conversion).
_FLOAT_DTYPES = (np.dtype(np.float64), np.dtype(np.float32))


class _TrainingState:
    """What one call to fit or partial_fit carries from epoch to epoch.

    Local to the call: it is never stored on the estimator. ``_publish``
    copies what the fitted estimator keeps.
    """

    def __init__(self, params, velocities, history):
        self.params = params
        self.velocities = velocities
        self.loss_curve = list(history.get("loss_curve_", []))
        self.validation_loss_curve = list(history.get("validation_loss_curve_", []))
        self.validation_scores = list(history.get("validation_scores_", []))
        self.best_loss = history.get("best_loss_", np.inf)
        self.best_validation_score = history.get("best_validation_score_", -np.inf)
        self.t = history.get("t_", 0)
        self.engine = None  # set by fit; made on the first epoch if not
        self.batch_buffers = None  # for shuffled mini-batches, made when needed
        # Continuing with early stopping: the parameters to beat are the
        # current ones, which are the best of the previous fit.
        self.best_params = (
            _copy_params(params) if "best_validation_score_" in history else None
        )
        # The loss before the first step of this call: divergence is judged
        # against it.
        self.initial_loss = None
        self.no_improvement_count = 0
        self.converged = False

    @property
    def n_iter(self):
        return len(self.loss_curve)


class _Checkpoint:
    """The training state at the end of the last complete epoch.

    An interrupt can land anywhere, between any two of an epoch's updates;
    ``restore`` rolls the state back to the last complete epoch. Copying the
    parameters costs h × (n + k) per epoch, nothing next to an epoch's
    m × n × h.
    """

    def __init__(self, state):
        self.params = _copy_params(state.params)
        self.velocities = _copy_params(state.velocities)
        self._record(state)

    def _record(self, state):
        self.n_iter = state.n_iter
        self.n_validation = len(state.validation_scores)
        self.t = state.t
        self.best_loss = state.best_loss
        self.best_validation_score = state.best_validation_score

    def save(self, state):
        _copy_params_into(self.params, state.params)
        _copy_params_into(self.velocities, state.velocities)
        self._record(state)

    def restore(self, state):
        state.params = self.params
        state.velocities = self.velocities
        del state.loss_curve[self.n_iter :]
        del state.validation_scores[self.n_validation :]
        del state.validation_loss_curve[self.n_validation :]
        state.t = self.t
        state.best_loss = self.best_loss
        state.best_validation_score = self.best_validation_score


def _copy_params(params):
    return _network.Params(*(a.copy() for a in params))


class BaseBackprop(
    VersionedPickleMixin, CallbackMixin, BaseEstimator, metaclass=ABCMeta
):
    """Base class of the backpropagation estimators; not for direct use."""

    _parameter_constraints = {
        "hidden_size": [Interval(Integral, 1, None, closed="left")],
        "activation": [StrOptions({"sigmoid", "tanh", "relu"})],
        "alpha": [Interval(Real, 0, None, closed="neither")],
        "l2": [Interval(Real, 0, None, closed="left")],
        "momentum": [Interval(Real, 0, 1, closed="left")],
        "nesterov": ["boolean"],
        "batch_size": [Interval(Integral, 1, None, closed="left"), None],
        "max_iter": [Interval(Integral, 1, None, closed="left")],
        "shuffle": ["boolean"],
        "tol": [Interval(Real, 0, None, closed="left")],
        "n_iter_no_change": [Interval(Integral, 1, None, closed="left")],
        "early_stopping": ["boolean"],
        "validation_fraction": [Interval(Real, 0, 1, closed="neither")],
        "warm_start": ["boolean"],
        "random_state": ["random_state"],
        "verbose": ["verbose"],
    }

    # Whether validate_data must convert y to numbers (regression).
    _y_numeric = False

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        # fit, predict, ... given a dask array run on the dask cluster
        # (skbackprop/_dask.py, which imports dask only when given one).
        _dask.dispatch_dask_arrays(cls)

    @abstractmethod
    def __init__(
        self,
        hidden_size,
        *,
        activation,
        alpha,
        l2,
        momentum,
        nesterov,
        batch_size,
        max_iter,
        shuffle,
        tol,
        n_iter_no_change,
        early_stopping,
        validation_fraction,
        warm_start,
        random_state,
        verbose,
    ):
        self.hidden_size = hidden_size
        self.activation = activation
        self.alpha = alpha
        self.l2 = l2
        self.momentum = momentum
        self.nesterov = nesterov
        self.batch_size = batch_size
        self.max_iter = max_iter
        self.shuffle = shuffle
        self.tol = tol
        self.n_iter_no_change = n_iter_no_change
        self.early_stopping = early_stopping
        self.validation_fraction = validation_fraction
        self.warm_start = warm_start
        self.random_state = random_state
        self.verbose = verbose

    # ------------------------------------------------------------------
    # Hooks for the subclasses.
    # ------------------------------------------------------------------

    @abstractmethod
    def _target_attrs(self, y, *, continuing, classes=None):
        """The fitted attributes that describe the targets of this fit.

        A dict such as ``{"classes_": ..., "n_outputs_": ...,
        "out_activation_": ...}``, published with the weights when training
        ends. ``continuing`` is True when training goes on from the current
        fitted state (warm start, partial_fit): the targets must then agree
        with it.
        """

    def _check_raw_targets(self, y):
        """Check y as the caller gave it, before validate_data converts it."""

    def _validate_params(self):
        super()._validate_params()
        # bool is an int to Python and to scikit-learn's Interval(Integral).
        for name in ("hidden_size", "batch_size", "max_iter", "n_iter_no_change"):
            value = getattr(self, name)
            if isinstance(value, (bool, np.bool_)):
                raise InvalidParameterError(
                    f"The {name!r} parameter of {type(self).__name__} must be an "
                    f"int, not a bool. Got {value!r} instead."
                )

    @abstractmethod
    def _encode_targets(self, y, target_attrs, *, labels_known=False):
        """The m × k target matrix Y of math.md for validated ``y``.

        ``labels_known``: ``_target_attrs`` has just checked these very labels
        (against the classes of a new fit, or of the fitted model when
        training continues), so their type and values need no second pass
        over y.
        """

    def _training_sample_weight(self, y, sample_weight, target_attrs, *, incremental):
        """Combine ``sample_weight`` with any per-class weight (classifier)."""
        return sample_weight

    @abstractmethod
    def _validation_score(self, Y, A2, sample_weight, out_activation):
        """The score of outputs A2 against encoded targets Y (higher is better)."""

    # ------------------------------------------------------------------
    # Public training API.
    # ------------------------------------------------------------------

    @_fit_context(prefer_skip_nested_validation=True)
    def fit(
        self,
        X,
        y,
        sample_weight=None,
        *,
        X_val=None,
        y_val=None,
        sample_weight_val=None,
    ):
        """Train the network by gradient descent on (X, y).

        Each epoch is one pass over the data: one step with
        ``batch_size=None`` (full-batch gradient descent, the tutorial's
        method), one step per mini-batch otherwise. Training stops after
        ``max_iter`` epochs, or earlier when the monitored loss or score has
        not improved by ``tol`` for ``n_iter_no_change`` epochs.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Training inputs. float32 input is trained in float32.
        y : array-like of shape (n_samples,) or (n_samples, n_outputs)
            Targets.
        sample_weight : array-like of shape (n_samples,), default=None
            Non-negative weights: a weight of 2 counts a sample twice.
        X_val, y_val : array-like, default=None
            A validation set, scored after every epoch
            (``validation_scores_``); with ``early_stopping=True`` it is the
            set monitored for stopping, instead of a split of the training
            data.
        sample_weight_val : array-like of shape (n_val_samples,), default=None
            Weights of the validation samples.

        Returns
        -------
        self : object
            The fitted estimator.
        """
        return self._fit(
            X,
            y,
            sample_weight=sample_weight,
            X_val=X_val,
            y_val=y_val,
            sample_weight_val=sample_weight_val,
        )

    def _fit(
        self,
        X,
        y,
        *,
        sample_weight=None,
        incremental=False,
        classes=None,
        X_val=None,
        y_val=None,
        sample_weight_val=None,
    ):
        if incremental:
            # scikit-learn's _fit_context validates parameters only on the
            # first partial_fit; a set_params between calls must not slip
            # through, and validating costs microseconds.
            self._validate_params()
        continuing = (incremental or self.warm_start) and hasattr(self, "coefs_")
        self._check_raw_targets(y)
        with _restore_input_attributes_on_error(self):
            # Training reads X by rows (each mini-batch gathers rows of it):
            # a C-ordered float array is used as it is, anything else (a
            # DataFrame's columns, a Fortran-ordered array) is copied once
            # into row order. Gathering rows of a Fortran-ordered X took
            # 20 ms per batch of 200 rows at 50,000 × 100 (np.take copies the
            # whole of a non-contiguous array on every call).
            X, y = validate_data(
                self,
                X,
                y,
                reset=not continuing,
                dtype=(np.float64, np.float32),
                order="C",
                multi_output=True,
                y_numeric=self._y_numeric,
            )
            y = _column_or_1d_if_single(y)
            sample_weight = _check_sample_weight(sample_weight, X)
            # What callbacks see: the data given to fit, validated, unsplit.
            callback_data = (X, y, sample_weight)
            target_attrs = self._target_attrs(y, continuing=continuing, classes=classes)
            # C-ordered like X, as the compiled passes take them (a column
            # of a DataFrame, y = X[:, 0], is not): n × k, small beside X.
            Y = np.ascontiguousarray(
                self._encode_targets(y, target_attrs, labels_known=True),
                dtype=X.dtype,
            )
            sample_weight = self._training_sample_weight(
                y, sample_weight, target_attrs, incremental=incremental
            )
            self._fit_prepared(
                X,
                Y,
                y,
                sample_weight,
                callback_data,
                target_attrs,
                (X_val, y_val, sample_weight_val),
                continuing=continuing,
                incremental=incremental,
            )
        return self

    def _fit_prepared(
        self,
        X,
        Y,
        y,
        sample_weight,
        callback_data,
        target_attrs,
        validation_set,
        *,
        continuing,
        incremental,
        engine=None,
    ):
        """Train on validated, encoded data: validation split, state, epochs.

        ``callback_data`` is what callbacks see (the data as given to fit);
        ``engine`` computes the loss and gradients (by default the in-memory
        :class:`~skbackprop._parallel.GradientEngine`; dask arrays bring
        their own).
        """
        X, Y, sample_weight, rows, validation = self._validation_data(
            X,
            Y,
            y,
            sample_weight,
            *validation_set,
            target_attrs,
            incremental=incremental,
        )
        rng = check_random_state(self.random_state)
        state = self._initial_state(X, Y, rng, continuing)
        state.engine = engine
        n_epochs = 1 if incremental else self.max_iter
        callbacks = self._begin_fit_callbacks(
            *callback_data,
            n_epochs=n_epochs,
            incremental=incremental,
            target_attrs=target_attrs,
            has_validation=validation is not None,
        )
        self._train(
            state,
            X,
            Y,
            sample_weight,
            rows,
            validation,
            rng,
            n_epochs,
            target_attrs,
            incremental=incremental,
            callbacks=callbacks,
        )
        if callbacks is not None:
            callbacks.end_fit()

    # ------------------------------------------------------------------
    # The training loop: fit → epochs → batches → steps.
    # ------------------------------------------------------------------

    def _initial_state(self, X, Y, rng, continuing):
        if continuing:
            params = _network.Params(
                self.coefs_[0].astype(X.dtype, copy=True),
                self.intercepts_[0].astype(X.dtype, copy=True),
                self.coefs_[1].astype(X.dtype, copy=True),
                self.intercepts_[1].astype(X.dtype, copy=True),
            )
            velocities = _network.Params(
                *(v.astype(X.dtype, copy=True) for v in self._velocities)
            )
            history = {
                name: getattr(self, name)
                for name in (
                    "loss_curve_",
                    "validation_loss_curve_",
                    "validation_scores_",
                    "best_loss_",
                    "best_validation_score_",
                    "t_",
                )
                if getattr(self, name, None) is not None
            }
            return _TrainingState(params, velocities, history)
        params = _network.init_params(
            X.shape[1], self.hidden_size, Y.shape[1], rng, dtype=X.dtype
        )
        velocities = _network.Params(*(np.zeros_like(a) for a in params))
        return _TrainingState(params, velocities, {})

    def _train(
        self,
        state,
        X,
        Y,
        sample_weight,
        rows,
        validation,
        rng,
        n_epochs,
        target_attrs,
        *,
        incremental,
        callbacks=None,
    ):
        """Run up to ``n_epochs`` epochs, then publish the fitted attributes.

        Training is on the rows ``rows`` of X, Y and sample_weight (an int64
        index array, in training order) or, when None, on all of them.

        ``callbacks`` (from ``_begin_fit_callbacks``, None without callbacks)
        brackets every epoch with a callback task; a callback asking to stop
        ends training after that epoch as a normal stop, without a
        ConvergenceWarning.
        """
        out_activation = target_attrs["out_activation_"]
        # The loss of the best constant prediction, a pass over Y (over a dask
        # array, a pass over the cluster), is only needed once an epoch's
        # loss is far above the loss before the first step.
        constant_loss = None
        stopped_by_callback = False
        checkpoint = _Checkpoint(state)
        # Without callbacks only skbackprop's passes run between epochs (a
        # validation set is scored as a prediction, on the thread budget):
        # hold BLAS at one thread over all of them rather than epoch by epoch
        # (the epochs' and predictions' own holds are then counters). Taking
        # and letting go of the hold costs 40 µs in bench_overhead.py's loop
        # and about 0.12 ms an epoch timed inside a fit on digits (an epoch
        # there: 2.3-2.9 ms). A callback's code runs with BLAS as the user
        # set it.
        hold = single_threaded_blas() if callbacks is None else contextlib.nullcontext()
        try:
            with hold:
                for _ in range(n_epochs):
                    if callbacks is not None:
                        callbacks.begin_epoch(state)
                    start = time.perf_counter()
                    epoch_loss = self._run_epoch(
                        state, X, Y, sample_weight, rows, rng, out_activation
                    )
                    reference_loss = state.initial_loss
                    if not _within_divergence_limit(epoch_loss, reference_loss):
                        if constant_loss is None:
                            constant_loss = _constant_prediction_loss(
                                *_take_rows(rows, Y, sample_weight), out_activation
                            )
                        reference_loss = max(state.initial_loss, constant_loss)
                    self._check_divergence(epoch_loss, reference_loss, state)
                    state.loss_curve.append(epoch_loss)
                    state.t += _n_rows(X, rows)
                    if validation is not None:
                        self._record_validation(state, validation, out_activation)
                    self._update_stopping(state, validation is not None)
                    checkpoint.save(state)
                    if self.verbose:
                        self._print_progress(state, time.perf_counter() - start)
                    if callbacks is not None and callbacks.end_epoch(state):
                        stopped_by_callback = True
                        break
                    if state.converged and not incremental:
                        break
        except KeyboardInterrupt:
            if checkpoint.n_iter == 0:
                raise
            checkpoint.restore(state)
            warnings.warn(
                f"Training was interrupted; the estimator holds the parameters "
                f"of the last complete epoch ({state.n_iter}).",
                UserWarning,
                stacklevel=3,
            )
            self._publish(state, target_attrs)
            return

        if self._keeps_best_params(validation is not None, incremental):
            state.params = state.best_params
        elif not (state.converged or stopped_by_callback or incremental):
            warnings.warn(
                f"Gradient descent: maximum iterations ({self.max_iter}) reached "
                "and the loss has not converged yet (it still improves by more than "
                "tol per epoch). Raise max_iter or alpha, or set tol.",
                ConvergenceWarning,
                stacklevel=3,
            )
        self._publish(state, target_attrs)

    def _keeps_best_params(self, has_validation, incremental):
        """Whether fit ends on the best validation epoch instead of the last."""
        return self.early_stopping and has_validation and not incremental

    def _run_epoch(self, state, X, Y, sample_weight, rows, rng, out_activation):
        """One pass over the data; returns the epoch's training loss.

        Full batch (``batch_size=None``): exactly one gradient-descent step,
        and the loss is L at the parameters before the step. Mini-batch: one
        step per batch, and the loss is the mean of the batch losses weighted
        by the batches' sizes (or weight sums), each taken before its step.
        """
        n_samples = _n_rows(X, rows)
        batch_size = n_samples if self.batch_size is None else self.batch_size
        batch_size = min(batch_size, n_samples)
        if state.engine is None:
            state.engine = GradientEngine(state.params, thread_budget())
        # Overflow only happens when training diverges, which the loss shows
        # and _check_divergence reports with advice; NumPy's warnings would
        # only add noise before that error.
        with single_threaded_blas(), np.errstate(over="ignore", invalid="ignore"):
            if batch_size == n_samples:
                return self._step(state, X, Y, sample_weight, out_activation, rows)
            return self._run_mini_batches(
                state, X, Y, sample_weight, rows, rng, out_activation, batch_size
            )

    def _run_mini_batches(
        self, state, X, Y, sample_weight, rows, rng, out_activation, batch_size
    ):
        n_samples = _n_rows(X, rows)
        order = rng.permutation(n_samples) if self.shuffle else None
        if rows is not None:
            # The same batches as over the copy X[rows], read in place.
            order = rows if order is None else rows[order]
        if order is not None and state.batch_buffers is None:
            # Shuffled batches are gathered into these, never into new arrays.
            state.batch_buffers = (
                np.empty((batch_size, X.shape[1]), X.dtype),
                np.empty((batch_size, Y.shape[1]), Y.dtype),
                None if sample_weight is None else np.empty(batch_size, X.dtype),
            )
        if self.activation == "sigmoid" and batch_size <= CHUNK_ROWS:
            # The same loop in one compiled call, each batch shared by up to
            # the budget's threads (batches larger than a chunk are spread
            # over threads below instead).
            with minibatch_team(state.engine.n_threads, batch_size) as team:
                epoch = _kernels.minibatch_epoch(
                    X,
                    Y,
                    sample_weight,
                    order,
                    batch_size,
                    state.params,
                    state.velocities,
                    (self.alpha, self.momentum, self.nesterov, self.l2),
                    out_activation,
                    state.engine.workspace(),
                    state.engine.sums,
                    state.batch_buffers or (None, None, None),
                    team,
                )
            if epoch is not None:
                return _epoch_loss(state, *epoch)
        total_loss = 0.0
        total_weight = 0.0
        for start in range(0, n_samples, batch_size):
            stop = min(start + batch_size, n_samples)
            if order is None:
                X_batch, Y_batch = X[start:stop], Y[start:stop]
                w_batch = None if sample_weight is None else sample_weight[start:stop]
            else:
                batch_rows = order[start:stop]
                X_buffer, Y_buffer, w_buffer = state.batch_buffers
                X_batch = np.take(X, batch_rows, axis=0, out=X_buffer[: stop - start])
                Y_batch = np.take(Y, batch_rows, axis=0, out=Y_buffer[: stop - start])
                w_batch = (
                    None
                    if sample_weight is None
                    else np.take(sample_weight, batch_rows, out=w_buffer[: stop - start])
                )
            if w_batch is None:
                batch_weight = stop - start
            else:
                batch_weight = float(w_batch.sum(dtype=np.float64))
                if batch_weight == 0:
                    # Nothing to learn from: skipping is the step of size 0.
                    continue
            batch_loss = self._step(state, X_batch, Y_batch, w_batch, out_activation)
            if not np.isfinite(batch_loss):
                return batch_loss  # diverged: no use going on with this epoch
            total_loss += batch_loss * batch_weight
            total_weight += batch_weight
        return total_loss / total_weight

    def _step(self, state, X, Y, sample_weight, out_activation, rows=None):
        """Loss, gradients (one blocked pass) and one gradient-descent step.

        Over the rows ``rows`` of X, Y and sample_weight, or all of them.
        """
        params = state.params
        batch_loss, grads = state.engine.loss_and_gradients(
            X, Y, params, self.activation, out_activation, sample_weight, self.l2, rows
        )
        if state.initial_loss is None:
            state.initial_loss = batch_loss
        _kernels.descent_step(
            params,
            grads,
            state.velocities,
            self.alpha,
            self.momentum,
            self.nesterov,
        )
        return batch_loss

    def _check_divergence(self, epoch_loss, reference_loss, state):
        """Raise when the loss is non-finite or far above its starting level.

        ``reference_loss`` is the larger of the loss before this call's first
        step and the loss of the best constant prediction.
        """
        if _within_divergence_limit(epoch_loss, reference_loss):
            return
        if not np.isfinite(reference_loss):
            raise ValueError(
                "The training loss is not finite even before the first step: the "
                "inputs or targets are too large for this dtype. Scale them (e.g. "
                "X with sklearn.preprocessing.StandardScaler, y with "
                "sklearn.compose.TransformedTargetRegressor). The estimator was "
                "left unchanged."
            )
        what = (
            f"became {epoch_loss}"
            if not np.isfinite(epoch_loss)
            else f"reached {epoch_loss:.4g}, over {_DIVERGENCE_FACTOR:g} times "
            f"its starting level {reference_loss:.4g}"
        )
        raise ValueError(
            f"Training diverged at epoch {state.n_iter + 1}: the loss {what}. "
            f"The learning rate alpha={self.alpha!r} is too large for this data: "
            "scale the input (e.g. with sklearn.preprocessing.StandardScaler) "
            "and/or use a smaller alpha. The estimator was left unchanged."
        )

    def _record_validation(self, state, validation, out_activation):
        X_val, Y_val, w_val = validation
        # As a prediction: in blocks on skbackprop's threads, with no array
        # of n_val × h (the forward pass of math.md, to rounding).
        params = state.params
        threads = prediction_threads(X_val.shape[0], *params.W1.shape, params.W2.shape[1])
        with threads as n_threads, np.errstate(over="ignore", invalid="ignore"):
            Z2, _ = predict_logits(X_val, params, self.activation, n_threads)
            A2 = _network.OUTPUT_ACTIVATIONS[out_activation](Z2, out=Z2)
        state.validation_loss_curve.append(
            _network.loss(Y_val, A2, out_activation, w_val)
        )
        state.validation_scores.append(
            self._validation_score(Y_val, A2, w_val, out_activation)
        )

    def _update_stopping(self, state, has_validation):
        """The stopping rule of MLPClassifier.

        Training has converged when the monitored quantity (the validation
        score with ``early_stopping``, the training loss otherwise) has not
        improved by at least ``tol`` for ``n_iter_no_change`` epochs in a row.
        """
        loss = state.loss_curve[-1]
        if self.early_stopping and has_validation:
            score = state.validation_scores[-1]
            improved = score > state.best_validation_score + self.tol
            if score > state.best_validation_score:
                state.best_validation_score = score
                state.best_params = _copy_params(state.params)
        else:
            improved = loss < state.best_loss - self.tol
            if has_validation:
                state.best_validation_score = max(
                    state.best_validation_score, state.validation_scores[-1]
                )
        state.best_loss = min(state.best_loss, loss)
        state.no_improvement_count = 0 if improved else state.no_improvement_count + 1
        if state.no_improvement_count >= self.n_iter_no_change:
            state.converged = True

    def _print_progress(self, state, seconds):
        line = f"Epoch {state.n_iter}: loss = {state.loss_curve[-1]:.8f}"
        if state.validation_scores:
            line += f", validation score = {state.validation_scores[-1]:.6f}"
        print(f"{line}, time = {seconds:.3f}s", flush=True)

    def _publish(self, state, target_attrs):
        """Write every fitted attribute, in one place."""
        W1, b1, W2, b2 = state.params
        for name, value in target_attrs.items():
            setattr(self, name, value)
        self.coefs_ = [W1, W2]
        self.intercepts_ = [b1, b2]
        self._velocities = list(state.velocities)
        self.loss_curve_ = state.loss_curve
        self.best_loss_ = float(state.best_loss)
        self.n_iter_ = state.n_iter
        self.t_ = state.t
        self.n_layers_ = 3
        if state.validation_scores:
            self.validation_loss_curve_ = state.validation_loss_curve
            self.validation_scores_ = state.validation_scores
            self.best_validation_score_ = float(state.best_validation_score)
        else:
            self.validation_loss_curve_ = None
            self.validation_scores_ = None
            self.best_validation_score_ = None

    # ------------------------------------------------------------------
    # Validation data.
    # ------------------------------------------------------------------

    def _validation_data(
        self,
        X,
        Y,
        y,
        sample_weight,
        X_val,
        y_val,
        sample_weight_val,
        target_attrs,
        *,
        incremental,
    ):
        """Return ``(X, Y, sample_weight, rows, validation)`` for training.

        ``validation`` is None or ``(X_val, Y_val, sample_weight_val)``: the
        given validation set, or with ``early_stopping`` a split of the
        training data. Training then runs on the rest, the rows ``rows`` of
        X, Y and sample_weight (None: all rows).
        """
        if (X_val is None) != (y_val is None):
            raise ValueError("X_val and y_val must be given together.")
        if X_val is None and sample_weight_val is not None:
            raise ValueError("sample_weight_val is given without X_val and y_val.")
        if X_val is not None:
            X_val, y_val = validate_data(
                self,
                X_val,
                y_val,
                reset=False,
                dtype=X.dtype,
                multi_output=True,
                y_numeric=self._y_numeric,
            )
            y_val = _column_or_1d_if_single(y_val)
            Y_val = self._encode_targets(y_val, target_attrs).astype(
                X.dtype, copy=False
            )
            w_val = _check_sample_weight(sample_weight_val, X_val, "sample_weight_val")
            return X, Y, sample_weight, None, (X_val, Y_val, w_val)
        if not self.early_stopping or incremental:
            return X, Y, sample_weight, None, None
        return self._split_validation(X, Y, y, sample_weight)

    def _split_validation(self, X, Y, y, sample_weight):
        from sklearn.model_selection import train_test_split

        stratify = self._stratify_labels(y)
        n_val = int(np.ceil(self.validation_fraction * X.shape[0]))
        if n_val < 2 or X.shape[0] - n_val < 1:
            raise ValueError(
                f"early_stopping needs at least 2 validation samples and 1 "
                f"training sample; validation_fraction={self.validation_fraction} "
                f"of {X.shape[0]} samples leaves too few. Use more samples, a "
                "larger validation_fraction, or pass X_val and y_val."
            )
        index = np.arange(X.shape[0], dtype=np.int64)
        train, val = train_test_split(
            index,
            test_size=self.validation_fraction,
            random_state=check_random_state(self.random_state).randint(
                np.iinfo(np.int32).max
            ),
            stratify=stratify,
        )
        # Training reads the rows `train` of X (C-ordered, from _fit) where
        # they are: a copy would double the memory fit takes. (The validation
        # copy is a validation_fraction of X.) The batches and sums are those
        # of the copy, so the model is the same to the last bit.
        return X, Y, sample_weight, train, _take_rows(val, X, Y, sample_weight)

    def _stratify_labels(self, y):
        return None

    # ------------------------------------------------------------------
    # Prediction.
    # ------------------------------------------------------------------

    def _fitted_params(self):
        return _network.Params(
            self.coefs_[0], self.intercepts_[0], self.coefs_[1], self.intercepts_[1]
        )

    def _logits(self, X):
        """Z2 for X from :meth:`_validate_predict_input`, in blocks of rows.

        No n × h array is made. X's finiteness is checked here, after the
        pass: the compiled pass sees it in ``X · W1`` at no cost, which
        saves a pass over X; otherwise, or when it saw a non-finite value,
        scikit-learn's check runs, with its error message.
        """
        params = self._fitted_params()
        threads = prediction_threads(X.shape[0], *params.W1.shape, params.W2.shape[1])
        with threads as n_threads, np.errstate(over="ignore", invalid="ignore"):
            Z2, inputs_finite = predict_logits(X, params, self.activation, n_threads)
        if not inputs_finite:
            check_array(X, dtype=None, estimator=self, input_name="X")
        if not np.isfinite(Z2).all():
            raise ValueError(
                "The network's output overflowed for some rows of X (the input is "
                "finite, but too large for the fitted weights in this dtype). Scale "
                "X the way the training data was scaled."
            )
        return Z2

    def _validate_predict_input(self, X):
        """X as ``validate_data`` returns it, for prediction.

        Finiteness is checked by :meth:`_logits`, which every caller runs
        next. A plain float64 or float32 ndarray of the fitted number of
        columns, for a model fitted without feature names, is what
        ``validate_data`` would return unchanged, with no warning: it is
        returned as it is, without scikit-learn's checks of feature names
        and array types (about 100 µs, most of a one-row prediction).
        Anything else goes through ``validate_data``, with its messages.
        """
        check_is_fitted(self)
        if (
            type(X) is np.ndarray
            and X.ndim == 2
            and X.dtype in _FLOAT_DTYPES
            and X.shape[0] > 0
            and X.shape[1] == self.n_features_in_
            and not hasattr(self, "feature_names_in_")
        ):
            return X
        return validate_data(
            self,
            X,
            reset=False,
            dtype=(np.float64, np.float32),
            ensure_all_finite=False,
        )

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.sparse = False
        return tags


def _epoch_loss(state, losses, weights):
    """The epoch's loss from its batches' losses and weights (0: skipped).

    As the loop of ``_run_mini_batches`` sums it: the weighted mean of the
    batch losses, or the loss of a batch that diverged, which ends an epoch.
    The first batch taken in a fit sets ``state.initial_loss``.
    """
    taken = weights > 0
    if state.initial_loss is None and taken.any():
        state.initial_loss = float(losses[taken][0])
    if len(losses) and not np.isfinite(losses[-1]):
        return float(losses[-1])
    return float(np.dot(losses[taken], weights[taken])) / float(weights[taken].sum())


def _copy_params_into(dst, src):
    for d, s in zip(dst, src, strict=True):
        np.copyto(d, s)


def _within_divergence_limit(epoch_loss, reference_loss):
    """Whether the loss is finite and at most _DIVERGENCE_FACTOR × the reference."""
    return bool(
        np.isfinite(epoch_loss)
        and epoch_loss
        <= _DIVERGENCE_FACTOR * max(reference_loss, np.finfo(np.float64).tiny)
    )


def _n_rows(X, rows):
    """How many rows training runs on: ``rows``' count, or all of X's."""
    return X.shape[0] if rows is None else rows.shape[0]


def _take_rows(rows, *arrays):
    """The rows ``rows`` of each array (None stays None), or the arrays as they are."""
    if rows is None:
        return arrays
    return tuple(None if a is None else a[rows] for a in arrays)


def _constant_prediction_loss(Y, sample_weight, out_activation):
    """The loss of predicting the (weighted) mean of Y for every sample."""
    if _dask.is_dask_array(Y):  # fit on dask arrays: streamed, never held
        return _dask.constant_prediction_loss(Y, sample_weight, out_activation)
    mean = np.average(Y, axis=0, weights=sample_weight)
    return _network.loss(
        Y, np.broadcast_to(mean, Y.shape), out_activation, sample_weight
    )


def _column_or_1d_if_single(y):
    # A column vector is one target, as in MLPClassifier and MLPRegressor:
    # say so with scikit-learn's DataConversionWarning and flatten it.
    if y.ndim == 2 and y.shape[1] == 1:
        return column_or_1d(y, warn=True)
    return y


def _check_sample_weight(sample_weight, X, name="sample_weight"):
    """Validate weights: finite, non-negative, not all zero, one per row."""
    if sample_weight is None:
        return None
    sample_weight = (
        check_array(
            sample_weight,
            ensure_2d=False,
            dtype=X.dtype,
            order="C",  # contiguous, as the compiled passes take it
            input_name=name,
            copy=False,
        )
        if not np.isscalar(sample_weight)
        else np.full(X.shape[0], sample_weight, dtype=X.dtype)
    )
    if sample_weight.ndim != 1 or sample_weight.shape[0] != X.shape[0]:
        raise ValueError(
            f"{name}.shape == {sample_weight.shape}, expected ({X.shape[0]},)!"
        )
    if np.any(sample_weight < 0):
        raise ValueError(f"Negative values in data passed to `{name}`.")
    if not np.any(sample_weight > 0):
        raise ValueError(
            f"`{name}` must contain at least one positive weight; all are zero."
        )
    return sample_weight


class _restore_input_attributes_on_error:
    """Put back n_features_in_ and feature_names_in_ if fit fails.

    ``validate_data`` writes them before training starts; a fit that then
    fails (bad targets, divergence, interrupt before the first epoch) must
    leave the estimator as it was.
    """

    _names = ("n_features_in_", "feature_names_in_")

    def __init__(self, estimator):
        self.estimator = estimator

    def __enter__(self):
        self.saved = {
            name: self.estimator.__dict__[name]
            for name in self._names
            if name in self.estimator.__dict__
        }

    def __exit__(self, exc_type, exc, tb):
        if exc_type is None:
            return False
        for name in self._names:
            if name in self.saved:
                setattr(self.estimator, name, self.saved[name])
            else:
                self.estimator.__dict__.pop(name, None)
        return False
