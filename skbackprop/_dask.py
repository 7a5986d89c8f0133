"""The estimators on dask arrays: training and prediction on a dask cluster.

Given a ``dask.array.Array`` (rows split into blocks), the public methods of
the estimators run here instead of on in-memory data (the dispatch is set up
by ``BaseBackprop.__init_subclass__``, see :func:`dispatch_dask_arrays`):

* ``fit`` with ``batch_size=None``: data-parallel full-batch gradient
  descent. Every epoch, each block's gradient sums are computed where the
  block is (:func:`skbackprop._network.block_gradient_sums`, the function of
  the single-machine pass), the sums are added in a tree of small tasks, and
  the client applies one step, exactly math.md's full-batch step. Training
  itself is the estimators' own loop (``BaseBackprop._train``), with a
  :class:`DaskGradientEngine` in place of the in-memory one: stopping rules,
  divergence checks, ``warm_start``, validation sets, interrupts and
  callbacks work as for in-memory data. X is never persisted: its blocks are
  recomputed (read or generated) every epoch, so data larger than the
  cluster's memory trains.
* ``fit`` with an int ``batch_size``: out-of-core mini-batch training. The
  blocks are brought to the client one at a time, in order, each through
  ``partial_fit`` (while the next one is being computed); every pass over the
  blocks is one of ``max_iter`` passes. This scales memory, not speed.
* ``predict``, ``predict_proba``, ``predict_log_proba`` and
  ``decision_function`` return dask arrays, computed block by block on the
  workers by the fitted estimator's own in-memory method; ``score`` returns a
  float, computed the same way.

This module imports dask only when it is given a dask array: the package
never imports it otherwise, and dask is an optional dependency
(``pip install "skbackprop[dask]"``). See ``docs/scaling.md``.
"""

import copy
import functools
import sys
import warnings
from concurrent.futures import ThreadPoolExecutor

import numpy as np
from sklearn.base import _fit_context, is_classifier
from sklearn.exceptions import ConvergenceWarning, DataConversionWarning
from sklearn.utils.validation import check_array, check_is_fitted

from . import _network

__all__ = ["DaskGradientEngine", "dispatch_dask_arrays", "is_dask_array"]

#: Partial sums added by one task of the tree reduction.
SPLIT_EVERY = 8

# The methods that accept dask arrays, and the attribute that marks a method
# as already dispatching.
_METHODS = (
    "fit",
    "predict",
    "predict_proba",
    "predict_log_proba",
    "decision_function",
    "score",
)
_MARK = "_skbackprop_dask_dispatch"


def is_dask_array(x):
    """Whether ``x`` is a ``dask.array.Array``, without importing dask.

    A dask array can only exist once ``dask.array`` has been imported.

    Examples
    --------
    >>> import numpy as np
    >>> from skbackprop._dask import is_dask_array
    >>> is_dask_array(np.ones(3))
    False
    """
    module = sys.modules.get("dask.array")
    return module is not None and isinstance(x, module.Array)


def dispatch_dask_arrays(cls):
    """Make the public methods of ``cls`` hand dask arrays to this module.

    Each method of :data:`_METHODS` that ``cls`` has is wrapped: with a dask
    array as X it runs this module's version, otherwise the method itself,
    unchanged (same name, docstring and signature). Idempotent: methods
    already wrapped (inherited from a wrapped class) are left as they are.
    """
    for name in _METHODS:
        method = getattr(cls, name, None)
        if method is None or getattr(method, _MARK, False):
            continue
        setattr(cls, name, _dispatching(method, _DASK_VERSIONS[name]))
    return cls


def _dispatching(method, dask_version):
    @functools.wraps(method)
    def wrapper(self, X, *args, **kwargs):
        if is_dask_array(X):
            return dask_version(self, X, *args, **kwargs)
        return method(self, X, *args, **kwargs)

    setattr(wrapper, _MARK, True)
    return wrapper


def _dask():
    import dask
    import dask.array

    return dask, dask.array


# ---------------------------------------------------------------------------
# Input checks: what validate_data does for in-memory data, done lazily. The
# shapes are checked at once; the values block by block, where the blocks are
# computed (an error then surfaces from the compute that needed the block).
# ---------------------------------------------------------------------------


def _check_X(estimator, X, *, reset):
    """Check a dask X; with ``reset`` record its number of features.

    ``reset=None`` checks the shape only. Returns X with one block of columns
    and the dtype training uses (float32 stays float32, others become
    float64), its blocks checked (finite values) when computed.
    """
    name = type(estimator).__name__
    if X.ndim != 2:
        raise ValueError(
            f"Expected a 2-dimensional dask array for X, got {X.ndim} dimension(s)."
        )
    if any(np.isnan(size) for size in X.chunks[0]):
        raise ValueError(
            "X has blocks of unknown size (the result of a filter, say); call "
            "X.compute_chunk_sizes() first."
        )
    if X.shape[0] == 0:
        raise ValueError(
            f"Found array with 0 sample(s) (shape={X.shape}) while a minimum of 1 "
            f"is required by {name}."
        )
    if X.shape[1] == 0:
        raise ValueError(
            f"Found array with 0 feature(s) (shape={X.shape}) while a minimum of 1 "
            f"is required by {name}."
        )
    if reset:
        estimator.n_features_in_ = X.shape[1]
        estimator.__dict__.pop("feature_names_in_", None)  # dask arrays have none
    elif reset is not None and X.shape[1] != estimator.n_features_in_:
        raise ValueError(
            f"X has {X.shape[1]} features, but {name} is expecting "
            f"{estimator.n_features_in_} features as input."
        )
    dtype = X.dtype if X.dtype in (np.float64, np.float32) else np.dtype(np.float64)
    X = X.rechunk({1: -1})
    return X.map_blocks(_check_X_block, dtype=dtype, meta=np.empty((0, 0), dtype))


def _check_X_block(X, dtype=None):
    return check_array(X, dtype=dtype or X.dtype, ensure_min_samples=0, input_name="X")


def _rows_like(a, X, name):
    """``a`` (dask or in-memory) as a dask array with the row blocks of X."""
    _, da = _dask()
    if not is_dask_array(a):
        a = np.asarray(a)
        if a.ndim == 0 or a.shape[0] != X.shape[0]:
            lengths = [X.shape[0], a.shape[0] if a.ndim else 1]
            raise ValueError(
                f"Found input variables with inconsistent numbers of samples: {lengths}"
            )
        return da.from_array(a, chunks=(X.chunks[0],) + a.shape[1:])
    if a.ndim == 0 or a.shape[0] != X.shape[0]:
        lengths = [X.shape[0], a.shape[0] if a.ndim else 1]
        raise ValueError(
            f"Found input variables with inconsistent numbers of samples: {lengths}"
        )
    return a.rechunk((X.chunks[0],) + tuple(-1 for _ in a.shape[1:]))


def _check_y(estimator, y, X):
    """y with the row blocks of X, flattened if a column, checked blockwise."""
    if y is None:
        raise ValueError(
            f"{type(estimator).__name__} requires y to be passed, but the target y "
            "is None."
        )
    y = _rows_like(y, X, "y")
    if y.ndim == 2 and y.shape[1] == 1:
        warnings.warn(
            "A column-vector y was passed when a 1d array was expected. Please "
            "change the shape of y to (n_samples, ), for example using ravel().",
            DataConversionWarning,
            stacklevel=4,
        )
        y = y[:, 0]
    if y.ndim not in (1, 2):
        raise ValueError(f"y must be 1- or 2-dimensional; got {y.ndim} dimensions.")
    numeric = estimator._y_numeric
    dtype = np.dtype(np.float64) if numeric and y.dtype.kind == "O" else y.dtype
    return y.map_blocks(
        _check_y_block, numeric, dtype=dtype, meta=np.empty((0,) * y.ndim, dtype)
    )


def _check_y_block(y, numeric):
    y = check_array(
        y, ensure_2d=False, dtype=None, ensure_min_samples=0, input_name="y"
    )
    if numeric and y.dtype.kind == "O":
        y = y.astype(np.float64)
    return y


def _check_weights(sample_weight, X, name="sample_weight", dtype=None):
    """Weights as a dask array with the row blocks of X, checked blockwise.

    Their dtype is X's, or ``dtype``.
    """
    _, da = _dask()
    if sample_weight is None:
        return None
    dtype = X.dtype if dtype is None else np.dtype(dtype)
    if np.isscalar(sample_weight):
        return da.full(X.shape[0], sample_weight, dtype=dtype, chunks=X.chunks[0])
    w = _rows_like(sample_weight, X, name)
    if w.ndim != 1:
        raise ValueError(f"{name}.shape == {w.shape}, expected ({X.shape[0]},)!")
    return w.map_blocks(
        _check_weight_block, dtype, name, dtype=dtype, meta=np.empty(0, dtype)
    )


def _check_weight_block(w, dtype, name):
    w = check_array(
        w, ensure_2d=False, dtype=dtype, ensure_min_samples=0, input_name=name
    )
    if np.any(w < 0):
        raise ValueError(f"Negative values in data passed to `{name}`.")
    return w


# ---------------------------------------------------------------------------
# Targets: one pass over y (not X) for what the estimator's hooks need to see
# all of y at once: the labels (and their counts, for class weights), or the
# total weight.
# ---------------------------------------------------------------------------


def _target_summary(estimator, y, w):
    """Compute what stands for y in the estimators' target hooks.

    Returns ``(y_like, labels, counts, weight_sums, total_weight)``:
    ``y_like`` is a small array of the same target type as y (its labels, or
    for multilabel y its values in every column), given to
    ``_target_attrs``; ``labels``, ``counts`` and ``weight_sums`` the labels
    of a 1-D y, how often each occurs and the sum of its sample weights;
    ``total_weight`` the sum of the weights (the number of rows without).
    """
    dask, da = _dask()
    if not is_classifier(estimator):
        total = y.shape[0]
        if w is not None:
            (total,) = dask.compute(w.sum(dtype=np.float64))
        return np.empty((0,) + y.shape[1:], y.dtype), None, None, None, float(total)
    if w is None:
        w = da.ones(y.shape[0], dtype=np.float64, chunks=y.chunks[0])
    parts = da.blockwise(
        _labels_block,
        "i",
        y,
        "i" if y.ndim == 1 else "ij",
        w,
        "i",
        dtype=object,
        concatenate=True,
        adjust_chunks={"i": 1},
        meta=np.empty(0, object),
    )
    (parts,) = dask.compute(parts)
    parts = [part for part in parts if part is not None]
    total = float(sum(part[-1] for part in parts))
    if y.ndim == 2:  # multilabel or multioutput: its values, in every column
        values = np.unique(np.concatenate([part[0] for part in parts]))
        y_like = np.repeat(values[:, np.newaxis], y.shape[1], axis=1).astype(y.dtype)
        return y_like, None, None, None, total
    from ._classifier import _sorted_labels

    labels = _sorted_labels(np.concatenate([part[0] for part in parts]))
    counts = np.zeros(len(labels), np.int64)
    weight_sums = np.zeros(len(labels))
    for block_labels, block_counts, block_weights, _ in parts:
        index = np.searchsorted(labels, block_labels)
        np.add.at(counts, index, block_counts)
        np.add.at(weight_sums, index, block_weights)
    return labels, labels, counts, weight_sums, total


def _labels_block(y, w):
    out = np.empty(1, object)
    if y.shape[0] == 0:
        return out
    weight = float(np.sum(w, dtype=np.float64))
    if y.ndim == 2:
        out[0] = (np.unique(y), weight)
        return out
    from ._classifier import _sorted_labels

    labels = _sorted_labels(y)
    index = np.searchsorted(labels, y)
    counts = np.bincount(index, minlength=len(labels))
    weights = np.bincount(index, weights=w, minlength=len(labels))
    out[0] = (labels, counts, weights, weight)
    return out


def _class_weights(estimator, labels, counts, target_attrs):
    """The weight of each class, or None: as ``_training_sample_weight`` has them."""
    class_weight = getattr(estimator, "class_weight", None)
    if class_weight is None:
        return None
    classes = target_attrs["classes_"]
    if labels is None:  # 2-D y
        # The estimator's own check: "not supported for multilabel targets".
        estimator._training_sample_weight(
            np.zeros((1, len(classes))), None, target_attrs, incremental=False
        )
    if isinstance(class_weight, str):  # "balanced", from the counts of all of y
        found = np.zeros(len(classes))
        found[np.searchsorted(classes, labels)] = counts
        return found.sum() / (len(classes) * found)
    # A dict: the estimator's hook applied to each class once gives the
    # per-class weights, checked as for in-memory data.
    return np.asarray(
        estimator._training_sample_weight(
            classes, None, target_attrs, incremental=False
        ),
        dtype=np.float64,
    )


def _training_weights_block(y, w, classes, per_class):
    # BackpropClassifier._training_sample_weight, on one block.
    weights = per_class[np.searchsorted(classes, y)]
    if w is not None:
        weights = weights * w
    return weights.astype(np.float64 if w is None else w.dtype)


def _encode_block(y, encoder, target_attrs, dtype):
    if y.ndim == 1 and is_classifier(encoder):
        # A row's encoding depends on its label alone: the estimator's hook
        # encodes (and checks) each distinct label once, rows copy theirs.
        labels, index = np.unique(y, return_inverse=True)
        Y = encoder._encode_targets(labels, target_attrs)[index]
    else:
        Y = encoder._encode_targets(y, target_attrs)
    return Y.astype(dtype, copy=False)


def _prepare_training(estimator, X, y, sample_weight, *, continuing, reset):
    """Checked dask X, encoded targets Y and training weights, lazily.

    Returns ``(X, y, Y, sample_weight, user_sample_weight, target_attrs)``.
    """
    dask, da = _dask()
    X = _check_X(estimator, X, reset=reset)
    y = _check_y(estimator, y, X)
    user_weight = _check_weights(sample_weight, X)
    y_like, labels, counts, weight_sums, total = _target_summary(
        estimator, y, user_weight
    )
    if not total > 0:
        raise ValueError(
            "`sample_weight` must contain at least one positive weight; all are zero."
        )
    target_attrs = estimator._target_attrs(y_like, continuing=continuing)
    k = target_attrs["n_outputs_"]
    # The targets are encoded on the workers by a bare copy of the estimator
    # (its hyper-parameters only: nothing fitted, no callbacks).
    encoder = dask.delayed(type(estimator)(**estimator.get_params(deep=False)))
    Y = da.map_blocks(
        _encode_block,
        y,
        encoder,
        target_attrs,
        X.dtype,
        dtype=X.dtype,
        chunks=(y.chunks[0], (k,)),
        **({"new_axis": 1} if y.ndim == 1 else {}),
        meta=np.empty((0, 0), X.dtype),
    )
    weight = user_weight
    per_class = _class_weights(estimator, labels, counts, target_attrs)
    if per_class is not None:
        classes = target_attrs["classes_"]
        found = np.zeros(len(classes))
        found[np.searchsorted(classes, labels)] = weight_sums
        if not np.dot(per_class, found) > 0:
            raise ValueError(
                "The sample weights are all zero once multiplied by class_weight: "
                "there is nothing to learn from."
            )
        dtype = np.float64 if user_weight is None else user_weight.dtype
        weight = da.map_blocks(
            _training_weights_block,
            y,
            user_weight,
            classes,
            per_class,
            dtype=dtype,
            meta=np.empty(0, dtype),
        )
    return X, y, Y, weight, user_weight, target_attrs


# ---------------------------------------------------------------------------
# Full-batch gradient descent on the cluster.
# ---------------------------------------------------------------------------


class DaskGradientEngine:
    """:class:`skbackprop._parallel.GradientEngine`'s interface over dask arrays.

    ``loss_and_gradients(X, Y, params, ...)`` takes dask arrays X, Y (and
    ``sample_weight``) with the same row blocks. It sends ``params`` to the
    workers once per call (one key of the graph, which every block task
    depends on), computes each block's unnormalised sums with
    :func:`skbackprop._network.block_gradient_sums` where the block is, adds
    them up in a tree of tasks (``split_every`` at a time, in block order, so
    the result does not depend on the number of workers or on scheduling),
    and finishes the gradients on the client
    (:func:`skbackprop._network.finish_gradients`). Only parameter-sized
    arrays travel; the blocks of X are recomputed by each call and never
    kept.

    It runs on whatever dask scheduler is current: a ``distributed.Client``
    if one is active, dask's local threads otherwise.
    """

    def __init__(self, split_every=SPLIT_EVERY):
        self.split_every = split_every

    def loss_and_gradients(
        self, X, Y, params, activation, out_activation, sample_weight, l2, rows=None
    ):
        # Dask fits take their validation set as X_val, never as rows of X.
        assert rows is None, "a dask fit trains on all rows of X"
        dask, da = _dask()
        weights = (None, None) if sample_weight is None else (sample_weight, "i")
        parts = da.blockwise(
            _block_sums,
            "i",
            X,
            "ij",
            Y,
            "ik",
            *weights,
            dask.delayed(params, traverse=False),
            None,
            activation,
            None,
            out_activation,
            None,
            dtype=object,
            concatenate=True,
            adjust_chunks={"i": 1},
            meta=np.empty(0, object),
        )
        total = _tree_sum(parts.to_delayed().ravel().tolist(), self.split_every)
        loss_sum, total_weight, sums = total.compute()
        return _network.finish_gradients(sums, loss_sum, total_weight, params, l2)


def _block_sums(X, Y, sample_weight, params, activation, out_activation):
    """One block's (loss sum, weight sum, gradient sums), as the local pass has them."""
    sums = _network.zeros_like_params(params)
    rows = X.shape[0]
    loss_sum = 0.0
    if rows:
        block = _network.block_rows(params.W1.shape[1], params.W1.dtype)
        workspace = _network.Workspace.for_params(min(block, rows), params)
        loss_sum = _network.gradient_sums(
            X, Y, params, sums, workspace, activation, out_activation, sample_weight
        )
    weight = (
        rows
        if sample_weight is None
        else float(np.sum(sample_weight, dtype=np.float64))
    )
    out = np.empty(1, object)
    out[0] = (loss_sum, weight, sums)
    return out


def _tree_sum(parts, split_every):
    dask, _ = _dask()
    while len(parts) > 1:
        parts = [
            dask.delayed(_add_sums, pure=True)(*parts[start : start + split_every])
            for start in range(0, len(parts), split_every)
        ]
    return dask.delayed(_add_sums, pure=True)(parts[0])


def _add_sums(*parts):
    # Inputs are never modified: with dask's local scheduler they are shared.
    parts = [part[0] if isinstance(part, np.ndarray) else part for part in parts]
    loss_sum, weight, first = parts[0]
    total = _network.Params(*(a.copy() for a in first))
    for part_loss, part_weight, part_sums in parts[1:]:
        loss_sum += part_loss
        weight += part_weight
        for into, part in zip(total, part_sums, strict=True):
            into += part
    return loss_sum, weight, total


def constant_prediction_loss(Y, sample_weight, out_activation):
    """The loss of predicting the (weighted) mean of Y for every sample.

    ``_base._constant_prediction_loss`` (the reference of the divergence
    check) for dask arrays, in passes over Y that never hold it: the log
    losses are linear in the targets, so the loss of predicting the mean ȳ
    is that of the single target ȳ (one pass); the squared loss needs a
    second pass, for the spread around ȳ.
    """
    dask, _ = _dask()
    if sample_weight is None:
        total, weight = Y.sum(axis=0, dtype=np.float64), Y.shape[0]
    else:
        total = (Y * sample_weight[:, np.newaxis]).sum(axis=0, dtype=np.float64)
        weight = sample_weight.sum(dtype=np.float64)
    total, weight = dask.compute(total, weight)
    mean = (total / weight)[np.newaxis, :]
    if out_activation != "identity":
        return _network.loss(mean, mean, out_activation)
    per_sample = 0.5 * ((Y - mean.astype(Y.dtype)) ** 2).sum(axis=1, dtype=np.float64)
    if sample_weight is not None:
        per_sample = per_sample * sample_weight
    (loss_sum,) = dask.compute(per_sample.sum())
    return float(loss_sum) / weight


@_fit_context(prefer_skip_nested_validation=True)
def fit(
    estimator,
    X,
    y,
    sample_weight=None,
    *,
    X_val=None,
    y_val=None,
    sample_weight_val=None,
):
    """``fit`` on dask arrays: full batch on the cluster, or streamed blocks."""
    if estimator.batch_size is not None:
        return _stream_fit(
            estimator, X, y, sample_weight, X_val, y_val, sample_weight_val
        )
    from ._base import _restore_input_attributes_on_error

    if estimator.early_stopping and X_val is None:
        raise ValueError(
            "early_stopping on dask arrays needs a validation set: pass X_val and "
            "y_val (they are scored on the client after every epoch, so they must "
            "fit in its memory)."
        )
    continuing = estimator.warm_start and hasattr(estimator, "coefs_")
    with _restore_input_attributes_on_error(estimator):
        X, y, Y, weight, user_weight, target_attrs = _prepare_training(
            estimator, X, y, sample_weight, continuing=continuing, reset=not continuing
        )
        # A validation set is scored on the client: in-memory (dask is computed).
        estimator._fit_prepared(
            X,
            Y,
            y,
            weight,
            (X, y, user_weight),
            target_attrs,
            (X_val, y_val, sample_weight_val),
            continuing=continuing,
            incremental=False,
            engine=DaskGradientEngine(),
        )
    return estimator


# ---------------------------------------------------------------------------
# Out-of-core mini-batch training: the blocks through partial_fit, in order.
# ---------------------------------------------------------------------------


def _stream_fit(estimator, X, y, sample_weight, X_val, y_val, sample_weight_val):
    dask, _ = _dask()
    if getattr(estimator, "class_weight", None) == "balanced":
        raise ValueError(
            "class_weight='balanced' is not supported when streaming dask blocks "
            "(batch_size set): each block is trained on by partial_fit. Pass a dict, "
            "e.g. from sklearn.utils.class_weight.compute_class_weight, or use "
            "batch_size=None."
        )
    continuing = estimator.warm_start and hasattr(estimator, "coefs_")
    X = _check_X(estimator, X, reset=False if continuing else None)
    y = _check_y(estimator, y, X)
    weight = _check_weights(sample_weight, X)
    classes = None
    if is_classifier(estimator):
        if continuing:
            classes = estimator.classes_
        else:
            y_like = _target_summary(estimator, y, weight)[0]
            classes = estimator._target_attrs(y_like, continuing=False)["classes_"]
    if X_val is not None and is_dask_array(X_val):
        X_val, y_val, sample_weight_val = dask.compute(X_val, y_val, sample_weight_val)

    # One delayed object per block: (X, y, weights), optimised together.
    X, y, weight = dask.optimize(X, y, weight)
    blocks = [
        dask.delayed(tuple)(parts)
        for parts in zip(
            X.to_delayed(optimize_graph=False).ravel(),
            y.to_delayed(optimize_graph=False).ravel(),
            [None] * X.numblocks[0]
            if weight is None
            else weight.to_delayed(optimize_graph=False).ravel(),
            strict=True,
        )
    ]
    blocks = [b for b, rows in zip(blocks, X.chunks[0], strict=True) if rows]

    saved = dict(estimator.__dict__)
    if not continuing:  # fit starts afresh: forget any previous fit
        for name in list(estimator.__dict__):
            if (
                name.endswith("_")
                and not name.startswith("__")
                or name == "_velocities"
            ):
                del estimator.__dict__[name]
    best_loss, no_improvement, converged, done = np.inf, 0, False, 0
    try:
        with ThreadPoolExecutor(1, thread_name_prefix="skbackprop-dask") as prefetch:
            for _ in range(estimator.max_iter):
                pending = prefetch.submit(dask.compute, blocks[0])
                pass_loss, pass_rows = 0.0, 0
                for index in range(len(blocks)):
                    ((X_block, y_block, w_block),) = pending.result()
                    if index + 1 < len(blocks):  # compute the next block meanwhile
                        pending = prefetch.submit(dask.compute, blocks[index + 1])
                    estimator._fit(
                        X_block,
                        y_block,
                        sample_weight=w_block,
                        incremental=True,
                        classes=classes,
                        X_val=X_val,
                        y_val=y_val,
                        sample_weight_val=sample_weight_val,
                    )
                    done += 1
                    pass_loss += estimator.loss_curve_[-1] * X_block.shape[0]
                    pass_rows += X_block.shape[0]
                # fit's stopping rule, on the mean loss of the pass.
                pass_loss /= pass_rows
                improved = pass_loss < best_loss - estimator.tol
                best_loss = min(best_loss, pass_loss)
                no_improvement = 0 if improved else no_improvement + 1
                if no_improvement >= estimator.n_iter_no_change:
                    converged = True
                    break
    except KeyboardInterrupt:
        if not done:
            estimator.__dict__.clear()
            estimator.__dict__.update(saved)
            raise
        warnings.warn(
            f"Training was interrupted; the estimator holds the parameters after "
            f"the last complete block ({estimator.n_iter_} partial_fit calls).",
            UserWarning,
            stacklevel=3,
        )
        return estimator
    except BaseException:
        # A failed fit leaves the estimator as it was.
        estimator.__dict__.clear()
        estimator.__dict__.update(saved)
        raise
    if not converged:
        warnings.warn(
            f"Streaming: maximum passes over the blocks ({estimator.max_iter}) "
            "reached and the loss has not converged yet (it still improves by "
            "more than tol per pass). Raise max_iter or alpha, or set tol.",
            ConvergenceWarning,
            stacklevel=3,
        )
    return estimator


# ---------------------------------------------------------------------------
# Prediction: the fitted estimator's in-memory methods, block by block.
# ---------------------------------------------------------------------------


def _check_predict_X(estimator, X):
    check_is_fitted(estimator)
    X = _check_X(estimator, X, reset=False)
    return X


def _model(estimator):
    # A copy as it is now (refitting the estimator later does not change the
    # lazy result), sent to each worker once.
    dask, _ = _dask()
    return dask.delayed(copy.deepcopy(estimator), traverse=False)


def _call_block(X, model, name):
    method = getattr(model, name)
    if X.shape[0] == 0:
        # A block a filter left empty (chunks like (0, 1, 1, 0)): an empty
        # result of the method's dtype and width, not scikit-learn's error
        # about 0 samples.
        return method(np.zeros((1, X.shape[1]), X.dtype))[:0]
    return method(X)


def _blockwise(name):
    def method(estimator, X):
        X = _check_predict_X(estimator, X)
        # The output's type and shape: the method itself, on one row of zeros.
        probe = getattr(estimator, name)(np.zeros((1, X.shape[1]), X.dtype))
        layout = (
            {"drop_axis": 1}
            if probe.ndim == 1
            else {"chunks": (X.chunks[0], probe.shape[1:])}
        )
        return X.map_blocks(
            _call_block,
            _model(estimator),
            name,
            dtype=probe.dtype,
            meta=probe[:0],
            **layout,
        )

    method.__name__ = name
    method.__doc__ = f"``{name}`` on a dask array: a dask array, computed blockwise."
    return method


def score(estimator, X, y, sample_weight=None):
    """Accuracy (classifier) or R² (regressor), computed blockwise; a float.

    The same numbers as ``ClassifierMixin.score`` and ``RegressorMixin.score``
    (``accuracy_score``; ``r2_score`` averaged uniformly over the outputs).
    """
    dask, da = _dask()
    y_pred = _blockwise("predict")(estimator, X)
    y = _rows_like(y, y_pred, "y")
    w = _check_weights(sample_weight, y_pred, dtype=np.float64)
    if is_classifier(estimator):
        correct = y_pred == y
        if correct.ndim == 2:
            correct = correct.all(axis=1)
        (accuracy,) = dask.compute(da.average(correct, weights=w))
        return float(accuracy)
    y_true = y if y.ndim == 2 else y[:, np.newaxis]
    y_pred = y_pred if y_pred.ndim == 2 else y_pred[:, np.newaxis]
    weight = 1.0 if w is None else w[:, np.newaxis]
    numerator = (weight * (y_true - y_pred) ** 2).sum(axis=0)
    mean = da.average(y_true, axis=0, weights=w)
    denominator = (weight * (y_true - mean) ** 2).sum(axis=0)
    numerator, denominator = dask.compute(numerator, denominator)
    # r2_score's assembly, with force_finite=True.
    scores = np.ones(len(numerator))
    valid = (numerator != 0) & (denominator != 0)
    scores[valid] = 1 - numerator[valid] / denominator[valid]
    scores[(numerator != 0) & (denominator == 0)] = 0.0
    return float(np.mean(scores))


_DASK_VERSIONS = {
    "fit": fit,
    "predict": _blockwise("predict"),
    "predict_proba": _blockwise("predict_proba"),
    "predict_log_proba": _blockwise("predict_log_proba"),
    "decision_function": _blockwise("decision_function"),
    "score": score,
}
