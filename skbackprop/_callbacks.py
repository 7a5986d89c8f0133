"""Support for scikit-learn's callback API (``sklearn.callback``, scikit-learn 1.9+).

This module is the only place that imports ``sklearn.callback``. With an older
scikit-learn the import fails, :data:`CALLBACKS_AVAILABLE` is False, and the
estimators train as before, without callbacks.

The task tree of one call to ``fit`` (or ``partial_fit``)::

    fit                      root task, max_subtasks = max_iter (1 for partial_fit)
    ├── epoch 1              one leaf task per epoch
    ├── epoch 2
    └── ...                  fewer than max_iter when training stops early

Inside a meta-estimator (:class:`~sklearn.pipeline.Pipeline`,
:class:`~sklearn.model_selection.GridSearchCV`, ...) the root task is merged
with the meta-estimator's task that fits this estimator, so auto-propagated
callbacks such as :class:`~sklearn.callback.ProgressBar` see the epochs too.

Design notes:

* Nothing here runs when no callback is set:
  :meth:`CallbackMixin._begin_fit_callbacks` returns None, and the training
  loop then only tests ``callbacks is not None`` once per epoch. There is no
  task per mini-batch: an epoch is the unit of progress, early stopping and
  ``n_iter_``, and a task per batch would cost a context object and a round
  of hook calls per gradient step (and a hook inside the batch loop, which is
  the hot path).
* A callback's ``on_fit_task_end`` returning True at the end of an epoch stops
  training after that epoch. The estimator then ends exactly as when training
  stops on its own: fitted attributes published together, ``n_iter_`` the
  number of epochs run, the best epoch's parameters with ``early_stopping``,
  and no :class:`~sklearn.exceptions.ConvergenceWarning` (stopping was asked
  for; the warning is for running out of ``max_iter``).
* ``fitted_estimator`` (the estimator "as if fit had stopped here") is built
  only when a callback's hook asks for it, from copies of the training
  state, on a shallow copy of the estimator: the estimator being fitted is
  never written before training ends, and a ``fitted_estimator`` kept by a
  callback does not change as training goes on.
"""

import copy
import functools

import sklearn

try:  # scikit-learn >= 1.9
    from sklearn.callback import CallbackSupportMixin as _SklearnCallbackSupportMixin
except ImportError:  # scikit-learn < 1.9: no callback API
    _SklearnCallbackSupportMixin = None

__all__ = ["CALLBACKS_AVAILABLE", "CallbackMixin"]

#: Whether the installed scikit-learn has the callback API (``sklearn.callback``).
CALLBACKS_AVAILABLE = _SklearnCallbackSupportMixin is not None

_NO_CALLBACKS_MESSAGE = (
    "{name}.set_callbacks needs scikit-learn >= 1.9 (the sklearn.callback "
    "module); the installed scikit-learn {version} has no callback API. "
    "Upgrade scikit-learn to use callbacks such as ProgressBar."
)


if CALLBACKS_AVAILABLE:
    _Base = _SklearnCallbackSupportMixin
else:

    class _Base:
        """Stand-in for ``sklearn.callback.CallbackSupportMixin`` before 1.9."""

        @property
        def set_callbacks(self):
            # A property that raises AttributeError: ``hasattr(est,
            # "set_callbacks")`` is False, as for any estimator without
            # callback support (it is how scikit-learn's meta-estimators
            # tell), while calling it explains why.
            raise AttributeError(
                _NO_CALLBACKS_MESSAGE.format(
                    name=type(self).__name__, version=sklearn.__version__
                )
            )


class CallbackMixin(_Base):
    """Callback support for the backpropagation estimators.

    With scikit-learn >= 1.9 this is scikit-learn's
    :class:`~sklearn.callback.CallbackSupportMixin`: it provides
    :meth:`set_callbacks`, and the estimator reports one task per ``fit`` and
    one sub-task per epoch to its callbacks. Callbacks are kept by
    :func:`~sklearn.base.clone` (by reference) and by pickling, as for
    scikit-learn's own estimators.

    With an older scikit-learn there are no callbacks: ``hasattr(estimator,
    "set_callbacks")`` is False and calling it raises an
    :class:`AttributeError` that names the version needed.
    """

    def _begin_fit_callbacks(
        self,
        X,
        y,
        sample_weight,
        *,
        n_epochs,
        incremental,
        target_attrs,
        has_validation,
    ):
        """Start the callbacks' root task of a fit; None if there are no callbacks.

        Called once per ``fit``/``partial_fit``, after the input is validated
        and before the first epoch. The callbacks see the validated ``X`` and
        ``y`` given to ``fit`` (before any ``early_stopping`` split) and the
        user's ``sample_weight`` as ``metadata``.

        Parameters
        ----------
        X : ndarray of shape (n_samples, n_features)
            The validated training inputs.
        y : ndarray of shape (n_samples,) or (n_samples, n_outputs)
            The validated targets, as given (not encoded).
        sample_weight : ndarray of shape (n_samples,) or None
            The validated sample weights given to ``fit``.
        n_epochs : int
            The most epochs this call can run: the root task's ``max_subtasks``.
        incremental : bool
            Whether this is ``partial_fit``.
        target_attrs : dict
            The target attributes that ``_publish`` writes with the weights.
        has_validation : bool
            Whether training scores a validation set (with ``early_stopping``,
            the parameters of the best epoch are the ones kept).

        Returns
        -------
        callbacks : _FitCallbacks or None
            The per-epoch hooks of this call, or None when no callback is set
            (or the installed scikit-learn has no callback API).
        """
        if not CALLBACKS_AVAILABLE or not getattr(self, "_skl_callbacks", None):
            return None
        context = self._init_callback_context(
            task_name="partial_fit" if incremental else "fit",
            max_subtasks=n_epochs,
        )
        callbacks = _FitCallbacks(
            self,
            context,
            X,
            y,
            None if sample_weight is None else {"sample_weight": sample_weight},
            target_attrs,
            keep_best=self._keeps_best_params(has_validation, incremental),
        )
        context.call_on_fit_task_begin(
            estimator=self, X=X, y=y, metadata=callbacks.metadata
        )
        return callbacks


class _FitCallbacks:
    """The callback hooks of one call to fit: local to it, never stored.

    ``begin_epoch`` and ``end_epoch`` bracket each epoch; ``end_fit`` closes
    the root task once the fitted attributes are published.
    """

    def __init__(self, estimator, context, X, y, metadata, target_attrs, *, keep_best):
        self.estimator = estimator
        self.context = context
        self.X = X
        self.y = y
        self.metadata = metadata
        self.target_attrs = target_attrs
        self.keep_best = keep_best
        self._epoch_context = None

    def begin_epoch(self, state):
        """Open the task of the next epoch (``state.n_iter + 1``)."""
        self._epoch_context = self.context.subcontext(
            task_name=f"epoch {state.n_iter + 1}"
        )
        self._epoch_context.call_on_fit_task_begin(
            estimator=self.estimator,
            X=self.X,
            y=self.y,
            metadata=self.metadata,
            reconstruction_attributes=functools.partial(self._fitted_attrs, state),
        )

    def end_epoch(self, state):
        """Close the epoch's task; True if a callback asks to stop training."""
        context, self._epoch_context = self._epoch_context, None
        return context.call_on_fit_task_end(
            estimator=self.estimator,
            X=self.X,
            y=self.y,
            metadata=self.metadata,
            reconstruction_attributes=functools.partial(self._fitted_attrs, state),
        )

    def end_fit(self):
        """Close the root task; the estimator itself is now fitted."""
        self.context.call_on_fit_task_end(
            estimator=self.estimator,
            X=self.X,
            y=self.y,
            metadata=self.metadata,
            reconstruction_attributes={},
        )

    def _fitted_attrs(self, state):
        """The fitted attributes of the model as if training stopped now.

        Called by scikit-learn only when a hook asks for ``fitted_estimator``.
        ``_publish`` writes them on a shallow copy of the estimator, from
        copies of the parameters and curves, which training goes on
        updating in place.
        """
        frozen = copy.copy(state)
        params = state.best_params if self.keep_best else None
        frozen.params = _copy_arrays(state.params if params is None else params)
        frozen.velocities = _copy_arrays(state.velocities)
        frozen.loss_curve = list(state.loss_curve)
        frozen.validation_loss_curve = list(state.validation_loss_curve)
        frozen.validation_scores = list(state.validation_scores)
        twin = copy.copy(self.estimator)
        twin._publish(frozen, self.target_attrs)
        current = vars(self.estimator)
        return {
            name: value
            for name, value in vars(twin).items()
            if name not in current or current[name] is not value
        }


def _copy_arrays(arrays):
    return type(arrays)(*(a.copy() for a in arrays))
