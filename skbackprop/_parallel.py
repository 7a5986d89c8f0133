"""The blocked pass of ``_network`` on several threads, with the same result on any.

Full-batch gradients are sums over rows. Rows are cut into chunks of
:func:`chunk_rows` rows; each chunk's sums are computed block by block (one
thread per chunk at a time), then the chunks' sums are added in chunk order.
The grouping of the additions depends only on the number of rows, never on
the number of threads, so a model is bit-identical whether it was fitted on
one core or many (in a ``GridSearchCV(n_jobs=...)`` worker, say).

A compiled mini-batch epoch (``_kernels.minibatch_epoch``) does the same
within each batch: it cuts the batch into parts whose sums are added in part
order, and :func:`minibatch_team` lends it helper threads from the same pool.

NumPy releases the GIL inside matrix products and ufuncs, so Python threads
give real parallelism here. BLAS itself is kept to one thread meanwhile: on
blocks of a few hundred rows its threads cost more than they save, and they
would oversubscribe the cores next to ours.
"""

import contextlib
import math
import os
import queue
import threading
from concurrent.futures import Future
from contextlib import contextmanager

import numpy as np
import threadpoolctl
from threadpoolctl import ThreadpoolController

from . import _kernels, _network

__all__ = [
    "CHUNK_ROWS",
    "GradientEngine",
    "chunk_rows",
    "minibatch_team",
    "predict_chunk_rows",
    "predict_logits",
    "prediction_threads",
    "thread_budget",
]

#: The most rows in a chunk, the unit of work of one thread; batches of up to
#: this many rows are done by one thread.
CHUNK_ROWS = 16 * _network.BLOCK_ROWS
#: The fewest chunks a batch of more than CHUNK_ROWS rows is cut into.
MIN_CHUNKS = 16


def chunk_rows(n_rows):
    """Rows per chunk for a batch of ``n_rows`` rows.

    Enough chunks (:data:`MIN_CHUNKS`, unless that would make them shorter
    than one block of :data:`~skbackprop._network.BLOCK_ROWS`) that threads
    get near-even shares: with fixed chunks of :data:`CHUNK_ROWS`, 10,000 rows
    made a chunk of 8192 rows and one of 1808, and the second thread idled
    most of the pass. It depends on ``n_rows`` only, never on the threads.

    Examples
    --------
    >>> from skbackprop._parallel import chunk_rows
    >>> chunk_rows(10_000), chunk_rows(50_000), chunk_rows(1_000_000)
    (1024, 3584, 8192)
    """
    rows = -(-n_rows // MIN_CHUNKS)
    rows = -(-rows // _network.BLOCK_ROWS) * _network.BLOCK_ROWS
    return min(rows, CHUNK_ROWS)


#: The most work in a chunk of a prediction, in multiply-adds, unless that
#: would make more chunks than :func:`chunk_rows` does. Each chunk has a
#: fixed cost (a task for the pool, its slice, its call): predict_proba on
#: 10,000 rows with h = 64 took 6.1 ms in 10 chunks and 5.8 ms in 2
#: (``benchmarks/bench_overhead.py``).
PREDICT_CHUNK_WORK = 2**26
#: The least work worth a thread of its own, in multiply-adds (an eighth
#: of PREDICT_CHUNK_WORK): work is spread over up to one chunk per thread of
#: the budget, each with at least this much.
PREDICT_THREAD_WORK = 2**23
#: What one σ costs, counted in multiply-adds: in ``bench_kernels.py`` a
#: compiled σ took as long as 38 (float32) to 53 (float64) of the
#: multiply-adds of ``X · W1`` when this was set, 28 to 39 with the faster σ
#: since; it only bounds the work per chunk, where a third more or less
#: matters little. Without it, few features (d = 2, say) would make a large
#: prediction one chunk, on one thread.
SIGMOID_COST = 48


def predict_chunk_rows(n_rows, n_features, hidden_size, n_outputs, n_threads=1):
    """Rows per chunk for predicting ``n_rows`` rows on ``n_threads`` threads.

    Equal chunks, as few as keep each within :data:`PREDICT_CHUNK_WORK` (a
    row costs ``hidden_size · (n_features + n_outputs + SIGMOID_COST)``
    multiply-adds) but at least one per thread while each holds
    :data:`PREDICT_THREAD_WORK`, and never more than :func:`chunk_rows`
    makes. Rows are predicted independently, so unlike the gradient sums'
    the chunks need not be the same on any number of threads;
    :func:`predict_logits` rounds them up to whole blocks, which keeps each
    row's result the same to the last bit.

    Examples
    --------
    >>> from skbackprop._parallel import predict_chunk_rows
    >>> predict_chunk_rows(10, 100, 64, 1), predict_chunk_rows(10_000, 100, 64, 1)
    (10, 5000)
    >>> predict_chunk_rows(10_000, 100, 64, 1, n_threads=8)  # a chunk per thread
    1250
    >>> predict_chunk_rows(300_000, 2, 50, 1)  # few features: still 12 chunks
    25000
    >>> predict_chunk_rows(200_000, 100, 64, 1)  # as chunk_rows: 25 chunks
    8000
    """
    work = n_rows * hidden_size * (n_features + n_outputs + SIGMOID_COST)
    n_chunks = max(
        -(-work // PREDICT_CHUNK_WORK), min(n_threads, work // PREDICT_THREAD_WORK)
    )
    n_chunks = min(n_chunks, -(-n_rows // max(chunk_rows(n_rows), 1)))
    return max(-(-n_rows // max(n_chunks, 1)), 1)


def _usable_cpus():
    # The CPUs this process may run on (taskset, a container's cpuset), not
    # all the machine's.
    if hasattr(os, "sched_getaffinity"):
        return len(os.sched_getaffinity(0)) or 1
    return os.cpu_count() or 1


#: Read once: os.cpu_count() and sched_getaffinity read /sys on Linux on
#: every call.
_CPU_COUNT = _usable_cpus()

_executor = None
_executor_lock = threading.Lock()
_blas = None


def _blas_controller():
    # Finding the loaded BLAS libraries takes ~10 ms; do it once per process
    # (NumPy's BLAS is loaded with NumPy, before this module is imported).
    global _blas
    if _blas is None:
        _blas = ThreadpoolController().select(user_api="blas")
    return _blas


class _HelperPool:
    """Daemon threads, up to ``max_workers``, that run the calls submitted.

    The pool of skbackprop's helpers: ``submit`` returns a
    :class:`concurrent.futures.Future`, as ``ThreadPoolExecutor.submit``
    does. Unlike that executor's, its threads are daemons, which the
    interpreter does not wait for at exit. The executor registers a thread
    for that wait only after starting it, and a Ctrl-C landing in between
    (a fit or prediction interrupted while it hands out a chunk) left a
    running thread that nothing would ever wake: the interpreter then hung
    at exit, in 5 of 22 runs of the tests' interrupt loop on a busy
    machine. Nothing here needs a helper at exit, and no caller waits for
    a helper to start (it computes the work itself), so a thread lost to a
    Ctrl-C costs a helper, never a hang.
    """

    def __init__(self, max_workers):
        self._max_workers = max_workers
        self._work = queue.SimpleQueue()
        self._idle = threading.Semaphore(0)  # released by each idle thread
        self._lock = threading.Lock()
        self._n_threads = 0

    def submit(self, function, /, *args, **kwargs):
        future = Future()
        self._work.put((future, function, args, kwargs))
        if self._idle.acquire(blocking=False):  # an idle thread takes it
            return future
        with self._lock:
            if self._n_threads >= self._max_workers:
                return future  # the next thread free takes it
            self._n_threads += 1
            name = f"skbackprop_{self._n_threads - 1}"
        try:
            threading.Thread(target=self._serve, name=name, daemon=True).start()
        except BaseException:
            with self._lock:
                self._n_threads -= 1
            raise
        return future

    def _serve(self):
        while True:
            future, function, args, kwargs = self._work.get()
            if future.set_running_or_notify_cancel():
                try:
                    result = function(*args, **kwargs)
                except BaseException as error:
                    future.set_exception(error)
                else:
                    future.set_result(result)
            del future, function, args, kwargs  # let go before waiting again
            self._idle.release()


def _get_executor():
    global _executor
    with _executor_lock:
        if _executor is None:
            _executor = _HelperPool(max_workers=_CPU_COUNT)
        return _executor


_limit_lock = threading.Lock()
_limit_depth = 0
_limit_saved = ()  # (library controller, its thread count before the limit)
_budget_saved = 1


#: How many ``os.fork`` children deep this process is: a hold of BLAS taken
#: before a fork is let go in the child by :func:`_forget_parent_threads`,
#: and leaving it there must not count it a second time.
_fork_generation = 0


def _before_fork():
    # No thread of ours is then halfway through taking or letting go of a
    # hold, between the change of BLAS's thread count and its bookkeeping.
    _limit_lock.acquire()


def _after_fork_in_parent():
    _limit_lock.release()


def _forget_parent_threads():
    """In a child made by ``os.fork``: a pool, locks and BLAS of its own.

    The child has only the thread that forked. The parent's pool counted
    threads the child does not have, so work submitted to it could wait for
    ever: correct (no caller waits for a helper) but every fit and
    prediction on one thread. A hold of BLAS at one thread
    (``_limit_depth``) taken by a fit in another thread of the parent would
    never be let go, leaving BLAS at one thread for good: BLAS is given back
    the thread counts saved when the hold began, and a hold the forking
    thread itself was inside is not let go a second time when it leaves it
    (``_fork_generation``). ``_before_fork`` holds ``_limit_lock`` across
    the fork, so the hold's state and BLAS's agree. The CPUs the child may
    run on are read again. (A lock of threadpoolctl's own, held by some
    other thread at the fork, is beyond this: any use of threadpoolctl in
    the child, this one included, would wait for it for ever.)
    """
    global _executor, _executor_lock, _limit_lock, _limit_depth, _limit_saved
    global _fork_generation, _CPU_COUNT
    _fork_generation += 1
    _CPU_COUNT = _usable_cpus()
    _executor = None
    _executor_lock = threading.Lock()
    saved = _limit_saved if _limit_depth else ()
    _limit_depth, _limit_saved = 0, ()
    _limit_lock = threading.Lock()  # the parent's is held by _before_fork
    if saved:
        _set_blas_threads(saved)


if hasattr(os, "register_at_fork"):
    os.register_at_fork(
        before=_before_fork,
        after_in_parent=_after_fork_in_parent,
        after_in_child=_forget_parent_threads,
    )


def thread_budget():
    """How many threads the blocked pass may use: what BLAS was allowed.

    BLAS's thread count is what the environment granted this process
    (``OPENBLAS_NUM_THREADS``, or joblib's limit inside its workers), so
    taking it as our budget oversubscribes nothing. While some thread of ours
    holds BLAS at one thread, the budget is what it was before.
    """
    with _limit_lock:
        if _limit_depth:
            return _budget_saved
        return _current_blas_threads()


def _blas_thread_counts():
    """(library controller, its thread count) for each BLAS library loaded."""
    return tuple((lib, lib.get_num_threads()) for lib in _blas_controller().lib_controllers)


def _budget(thread_counts):
    counts = [count for _, count in thread_counts if count]
    return max(1, min(max(counts, default=1), _CPU_COUNT))


def _current_blas_threads():
    return _budget(_blas_thread_counts())


@contextmanager
def single_threaded_blas():
    """Hold BLAS at one thread inside the block.

    Reference-counted, so that several threads fitting or predicting at once
    restore BLAS's own setting only when the last of them leaves (nested
    ``threadpool_limits`` contexts in threads would restore each other's
    values in the wrong order).
    """
    global _limit_depth, _limit_saved, _budget_saved
    with _limit_lock:
        if _limit_depth == 0:
            # What threadpool_limits(1) does, without building its
            # bookkeeping objects each time (benchmarks/bench_overhead.py).
            _limit_saved = _blas_thread_counts()
            _budget_saved = _budget(_limit_saved)
            _set_blas_threads((lib, 1) for lib, _ in _limit_saved)
        _limit_depth += 1
    generation = _fork_generation
    try:
        yield
    finally:
        # Unless this is a child made by os.fork inside the hold, which let
        # the parent's holds go (_forget_parent_threads).
        if generation == _fork_generation:
            with _limit_lock:
                _limit_depth -= 1
                if _limit_depth == 0:
                    _set_blas_threads(_limit_saved)
                    _limit_saved = ()


#: The most multiply-adds (``X · W1`` and ``A1 · W2``) of a prediction that
#: neither reads the thread budget nor holds BLAS at one thread: together
#: those take about 35 µs, more than such a prediction's own work. BLAS runs
#: products this small on one thread by itself (OpenBLAS up to 2^18
#: multiply-adds, in ``interface/gemm.c``), and they make one chunk, for the
#: calling thread alone.
SMALL_PREDICTION_WORK = 2**16


@contextmanager
def prediction_threads(n_rows, n_features, hidden_size, n_outputs):
    """Threads for a prediction of ``n_rows`` rows; BLAS on one thread inside.

    Yields the thread budget, read and held as :func:`single_threaded_blas`
    does, or 1 without touching BLAS when the prediction's products are
    within :data:`SMALL_PREDICTION_WORK` (one row, a few rows: a web
    request, say).

    Examples
    --------
    >>> from skbackprop._parallel import prediction_threads
    >>> with prediction_threads(1, 100, 64, 1) as n_threads:
    ...     n_threads
    1
    """
    if n_rows * hidden_size * (n_features + n_outputs) <= SMALL_PREDICTION_WORK:
        yield 1
        return
    with single_threaded_blas():
        # Inside the hold, the budget is the one read on entering it.
        yield thread_budget()


#: threadpoolctl >= 3.6 lets one Python thread at a time set OpenBLAS's
#: process-wide pool size (the first to try, until it clears its claim) and
#: silently ignores the others; ``with threadpool_limits`` clears the claim on
#: leaving. Our hold is set by the first thread to enter and restored by the
#: last to leave, often another one: each change claims and releases.
_clear_blas_claim = getattr(
    getattr(threadpoolctl, "OpenBLASController", None), "clear_controlling_thread", None
)


def _set_blas_threads(thread_counts):
    """Set each (library controller, count); the caller holds _limit_lock."""
    if _clear_blas_claim is not None:
        _clear_blas_claim(force=True)  # a claim left by some other thread
    try:
        for lib, n_threads in thread_counts:
            lib.set_num_threads(n_threads)
    finally:
        if _clear_blas_claim is not None:
            _clear_blas_claim()


@contextmanager
def minibatch_team(n_threads, batch_rows):
    """Helper threads for a compiled mini-batch epoch; yields its team or None.

    A batch of ``batch_rows`` rows is cut into
    :func:`~skbackprop._kernels.minibatch_parts` parts, so up to that many
    threads of the budget ``n_threads`` share it: the calling thread and
    helpers from the pool, which stop when the block is left. The epoch does
    not wait for them, and they are not waited for either: a helper that
    starts after the epoch finds its team stopped and returns at once.
    """
    threads = min(n_threads, _kernels.minibatch_parts(batch_rows))
    # A power of two, as the count of parts is: 3 threads on 4 parts would
    # take two rounds all the same, the third thread only spinning.
    n_helpers = 2 ** int(math.log2(max(threads, 1))) - 1
    team = _kernels.new_team() if n_helpers > 0 else None
    if team is None:
        yield None
        return
    executor = _get_executor()
    try:
        for _ in range(n_helpers):
            try:
                executor.submit(_kernels.team_help, team)
            except RuntimeError:  # the interpreter is shutting down: fewer helpers
                break
        yield team
    finally:
        _kernels.team_stop(team)


class _SharedItems:
    """Items of a map handed out one at a time to whichever thread asks next.

    The calling thread works through the items itself and helpers from the
    pool join in when they start. Nothing waits for a helper to arrive: on a
    machine whose idle cores take a millisecond to wake, or whose pool is
    busy with another fit, the caller simply does more of the items. Results
    are kept per item, so the caller can use them in item order whoever
    computed them.
    """

    def __init__(self, function, items):
        self.function = function
        self.items = items
        self.results = [None] * len(items)
        self.ready = [False] * len(items)
        self.next = 0  # the first item nobody has claimed
        # Items helpers have claimed and not finished. The caller's own are
        # not counted: a Ctrl-C can land in the caller between its item and
        # the bookkeeping, and a count it never took back would leave
        # stop() waiting for ever. Pool threads get no KeyboardInterrupt.
        self.helpers_running = 0
        self.error = None
        self.changed = threading.Condition(threading.Lock())

    def claim(self, helper):
        """The index of an item to compute, or None once none is left."""
        with self.changed:
            if self.next >= len(self.items) or self.error is not None:
                return None
            index = self.next
            self.next += 1
            self.helpers_running += helper
            return index

    def compute(self, index, helper):
        try:
            result, error = self.function(self.items[index]), None
        except BaseException as exc:  # re-raised in the caller's thread
            result, error = None, exc
        with self.changed:
            self.helpers_running -= helper
            self.results[index] = result
            self.ready[index] = True
            if error is not None and self.error is None:
                self.error = error
            self.changed.notify_all()

    def help(self):
        """A helper's task: compute items until none is left."""
        while (index := self.claim(helper=True)) is not None:
            self.compute(index, helper=True)

    def wait(self, index):
        """Until item ``index`` is done (the caller computing others meanwhile)."""
        while not self.ready[index] and self.error is None:
            claimed = self.claim(helper=False)
            if claimed is not None:
                self.compute(claimed, helper=False)
                continue
            with self.changed:  # every item is claimed: wait for a helper's
                self.changed.wait_for(
                    lambda: self.ready[index] or self.error is not None
                )

    def stop(self):
        """Claim nothing more; return once no helper computes an item."""
        with self.changed:
            self.next = len(self.items)
            self.changed.wait_for(lambda: self.helpers_running == 0)


def _imap_in_order(function, items, n_threads):
    """``function(item) for item in items``, in order, on up to ``n_threads`` threads.

    A generator: each result is yielded once it and those before it are
    done, and let go once yielded. The calling thread computes items too, and
    up to ``n_threads - 1`` helpers from the pool take the next unclaimed
    item whenever they are free (:class:`_SharedItems`), so which thread
    computes an item depends on timing, never its result or the order of
    the results. An exception raised by ``function`` in any thread is raised
    here once no helper is still computing an item.
    """
    items = list(items)
    n_helpers = min(n_threads, len(items)) - 1
    if n_helpers <= 0:
        yield from map(function, items)
        return
    shared = _SharedItems(function, items)
    executor = _get_executor()
    for _ in range(n_helpers):
        try:
            executor.submit(shared.help)
        except RuntimeError:  # the interpreter is shutting down: fewer helpers
            break
    try:
        for index in range(len(items)):
            shared.wait(index)
            if shared.error is not None:
                break
            result = shared.results[index]
            shared.results[index] = None
            yield result
    finally:
        # Also when the caller stops early: no helper may still be writing
        # into the caller's arrays once this returns.
        shared.stop()
    if shared.error is not None:
        raise shared.error


def _map_in_order(function, items, n_threads):
    """``[function(item) for item in items]``, on up to ``n_threads`` threads."""
    return list(_imap_in_order(function, items, n_threads))


class GradientEngine:
    """Loss and gradients over batches of rows, with buffers reused across calls.

    Parameters
    ----------
    params : Params
        Gives the shapes and dtype.
    n_threads : int
        Threads for batches of more than :data:`CHUNK_ROWS` rows.
    """

    def __init__(self, params, n_threads):
        self.n_threads = n_threads
        self._params_like = params
        self._local = threading.local()
        self.sums = _network.zeros_like_params(params)

    def workspace(self):
        """This thread's block buffers (each thread has its own)."""
        workspace = getattr(self._local, "workspace", None)
        if workspace is None:
            params = self._params_like
            workspace = _network.Workspace.for_params(
                _network.block_rows(params.W1.shape[1], params.W1.dtype), params
            )
            self._local.workspace = workspace
        return workspace

    def loss_and_gradients(
        self, X, Y, params, activation, out_activation, sample_weight, l2, rows=None
    ):
        """:func:`skbackprop._network.loss_and_gradients` on the rows ``rows`` of X.

        ``rows`` (int64 row numbers, in order) None means all rows. The
        returned gradients live in buffers reused by the next call. The
        result is that of the same pass over the copies ``X[rows]``,
        ``Y[rows]``, which are never made: each block of rows is gathered
        into its thread's workspace, in the same order, and summed the same
        way.
        """
        n_rows = X.shape[0] if rows is None else rows.shape[0]
        if n_rows <= CHUNK_ROWS:
            return _network.loss_and_gradients(
                X,
                Y,
                params,
                activation,
                out_activation,
                sample_weight,
                l2,
                workspace=self.workspace(),
                sums=self.sums,
                rows=rows,
            )

        step = chunk_rows(n_rows)

        def chunk_sums(start):
            chunk = slice(start, start + step)
            if rows is None:
                X_chunk, Y_chunk, chunk_subset = X[chunk], Y[chunk], None
                weights = None if sample_weight is None else sample_weight[chunk]
            else:  # the chunk's rows are read from X, Y, sample_weight by index
                X_chunk, Y_chunk, chunk_subset = X, Y, rows[chunk]
                weights = sample_weight
            sums = _network.zeros_like_params(params)
            loss_sum = _network.gradient_sums(
                X_chunk,
                Y_chunk,
                params,
                sums,
                self.workspace(),
                activation,
                out_activation,
                weights,
                rows=chunk_subset,
            )
            return loss_sum, sums

        total = self.sums
        for grad in total:
            grad.fill(0)
        loss_sum = 0.0
        # closing: should this loop raise (a Ctrl-C), the helpers stop at once
        # rather than when the traceback lets go of the generator.
        with contextlib.closing(
            _imap_in_order(chunk_sums, range(0, n_rows, step), self.n_threads)
        ) as results:
            for chunk_loss, chunk in results:  # in chunk order: thread-count independent
                loss_sum += chunk_loss
                for into, part in zip(total, chunk, strict=True):
                    into += part
        total_weight = (
            n_rows
            if sample_weight is None
            else _network.total_sample_weight(sample_weight, rows)
        )
        return _network.finish_gradients(total, loss_sum, total_weight, params, l2)


def predict_logits(X, params, activation, n_threads):
    """Z2 for all rows of X, in blocks, chunks spread over ``n_threads`` threads.

    Returns
    -------
    Z2 : ndarray of shape (n_samples, n_outputs)
    inputs_finite : bool or None
        Whether X was seen to be finite: True or False when the compiled
        pass did every chunk (it checks ``X · W1`` as it goes), None when
        some chunk went through NumPy, which does not check.
    """
    out = np.empty((X.shape[0], params.b2.shape[0]), np.result_type(X, params.W1))
    step = predict_chunk_rows(
        X.shape[0], *params.W1.shape, params.W2.shape[1], n_threads
    )
    block = _network.block_rows(params.W1.shape[1], out.dtype)
    if step < X.shape[0]:
        # Chunks of whole blocks (the compiled pass's blocks divide these):
        # every row is then predicted in the same block, of the same shape,
        # whatever the chunking, hence whatever the number of threads. A
        # block of another shape can move a row's result by rounding, as
        # BLAS may sum its products in another order.
        step = -(-step // block) * block
    rows = min(block, step)
    workspaces = {}  # one per thread for this call: fresh memory per chunk
    # cost page faults, which threads take one at a time

    def row_order_buffer():
        # One block of rows: the NumPy pass's blocks, or the compiled pass's,
        # which divide those (a smaller buffer).
        copy_rows = rows
        if activation == "sigmoid" and X.dtype == out.dtype and _kernels.backend() != "numpy":
            copy_rows = _kernels.compiled_block_rows(params.W1.shape[1], X.dtype, rows)
        return np.empty((copy_rows, X.shape[1]), X.dtype)

    def rows_logits(X_rows, out_rows, workspace):
        finite = None
        if activation == "sigmoid":
            finite = _kernels.predict_logits(X_rows, params, out_rows, workspace)
        if finite is None:
            _network.predict_logits_into(X_rows, params, out_rows, workspace, activation)
        return finite

    def chunk_logits(start):
        chunk = slice(start, start + step)
        workspace, X_buffer = workspaces.get(threading.get_ident(), (None, None))
        if workspace is None:
            workspace = _network.PredictionWorkspace(rows, params.W1.shape[1], out.dtype)
            workspaces[threading.get_ident()] = workspace, None
        X_chunk = X[chunk]
        if X_chunk.flags.c_contiguous:
            return rows_logits(X_chunk, out[chunk], workspace)
        # A DataFrame's values are column-major, but the passes read rows:
        # each block is copied into row order, into a buffer of one block
        # (not the chunk: with few chunks, that came to all of X). The
        # blocks are those of the pass over a C-ordered X, so the bits are
        # too (BLAS may sum a product of a column-major block in another
        # order).
        if X_buffer is None:
            X_buffer = row_order_buffer()
            workspaces[threading.get_ident()] = workspace, X_buffer
        copy_rows = X_buffer.shape[0]
        finite = True
        for first in range(0, X_chunk.shape[0], copy_rows):
            block_rows = X_chunk[first : first + copy_rows]
            X_block = X_buffer[: block_rows.shape[0]]
            X_block[...] = block_rows
            seen = rows_logits(X_block, out[chunk][first : first + copy_rows], workspace)
            finite = None if seen is None or finite is None else finite and seen
        return finite

    starts = range(0, X.shape[0], step)
    if len(starts) <= 1:  # one chunk: no pool (small inputs, one row at a time)
        return out, chunk_logits(0)
    seen = _map_in_order(chunk_logits, starts, n_threads)
    inputs_finite = None if None in seen else all(seen)
    return out, inputs_finite
