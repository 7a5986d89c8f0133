/*
 * The blocked passes of skbackprop._network in C, for one dtype.
 *
 * Included by _ckernels.c twice: with REAL = double, SUFFIX = f64, GEMM =
 * dgemm, and with REAL = float, SUFFIX = f32, GEMM = sgemm. GEMM is the
 * Fortran BLAS routine SciPy exports (scipy.linalg.cython_blas), taken at
 * import, so the products run in the BLAS SciPy ships, held to one thread
 * by threadpoolctl like NumPy's during training.
 *
 * Arrays are C-ordered (row-major); Fortran BLAS is column-major, and a
 * row-major r x c array is the column-major c x r array of its transpose,
 * so C = A B is computed as C^T = B^T A^T: each call below names its
 * row-major product in a comment.
 *
 * What this saves over the same pass written with NumPy calls is the
 * interpreter's cost per call (a few microseconds, some 25 calls per
 * block): nothing for full-batch blocks of thousands of rows, most of a
 * mini-batch step of 200 rows. The arithmetic is math.md's, in the order of
 * block_gradient_sums; sums over rows (loss, bias gradients) are accumulated
 * in double.
 */

#define PASTE_(a, b) a##_##b
#define PASTE(a, b) PASTE_(a, b)
#define FN(name) PASTE(name, SUFFIX)

/* C (row-major, ldc columns) <- alpha * op(A) op(B) + beta * C, where the
   arguments are those of the column-major call. */
static void
FN(gemm)(char transa, char transb, int M, int N, int K, REAL alpha, const REAL *A,
         int lda, const REAL *B, int ldb, REAL beta, REAL *C, int ldc)
{
    GEMM(&transa, &transb, &M, &N, &K, &alpha, (REAL *)A, &lda, (REAL *)B, &ldb, &beta,
         C, &ldc);
}

/* x log y with 0 log y = 0 (scipy.special.xlogy) */
static inline double
FN(xlogy)(double x, double y)
{
    return x == 0 ? 0.0 : x * log(y);
}

/*
 * Z2 (in A2, r x k) -> the output activation g(Z2 + b2), the weighted loss
 * sum of the block, and G2 = s (A2 - Y) in A2; colsum_b2 += sum over rows
 * of G2. Returns the block's loss sum. The probabilities are clipped to
 * [eps, 1 - eps] for the logs only, as in _network's losses.
 */
static double
FN(output_loss_error)(REAL *A2, const REAL *Y, const REAL *w, const REAL *b2,
                      double *colsum_b2, Py_ssize_t r, Py_ssize_t k, int out_kind,
                      REAL eps)
{
    double loss_sum = 0.0;
    if (out_kind == OUT_SIGMOID)
        FN(bias_sigmoid)(A2, b2, r, k);
    for (Py_ssize_t i = 0; i < r; i++) {
        REAL *a = A2 + i * k;
        const REAL *y = Y + i * k;
        double loss = 0.0;
        if (out_kind == OUT_SIGMOID) {
            for (Py_ssize_t j = 0; j < k; j++) {
                REAL p = a[j] < eps ? eps : (a[j] > 1 - eps ? 1 - eps : a[j]);
                loss -= FN(xlogy)(y[j], p) + FN(xlogy)((REAL)(1 - y[j]), (REAL)(1 - p));
            }
        }
        else if (out_kind == OUT_SOFTMAX) {
            REAL top = a[0] + b2[0];
            for (Py_ssize_t j = 0; j < k; j++) {
                a[j] += b2[j];
                if (a[j] > top)
                    top = a[j];
            }
            REAL total = 0;
            for (Py_ssize_t j = 0; j < k; j++) {
                a[j] = EXP(a[j] - top);
                total += a[j];
            }
            /* Two loops, not one: the divisions vectorise, and the logs
               (one per row for one-hot targets) are taken where y is not 0
               only, which skips exactly the terms xlogy makes 0. */
            for (Py_ssize_t j = 0; j < k; j++)
                a[j] /= total;
            for (Py_ssize_t j = 0; j < k; j++) {
                if (y[j] != 0) {
                    REAL p = a[j] < eps ? eps : (a[j] > 1 - eps ? 1 - eps : a[j]);
                    loss -= (double)y[j] * log(p);
                }
            }
        }
        else { /* OUT_IDENTITY */
            for (Py_ssize_t j = 0; j < k; j++) {
                a[j] += b2[j];
                REAL diff = a[j] - y[j];
                loss += 0.5 * (double)diff * (double)diff;
            }
        }
        REAL s = w == NULL ? 1 : w[i];
        loss_sum += w == NULL ? loss : (double)s * loss;
        for (Py_ssize_t j = 0; j < k; j++) {
            REAL g = a[j] - y[j];
            if (w != NULL)
                g *= s;
            a[j] = g;
            colsum_b2[j] += g;
        }
    }
    return loss_sum;
}

/* dst (r x c) <- the rows `rows` of src; the rows ahead are prefetched, as
   shuffled rows of a large X are cache misses that would otherwise be
   waited for one after another. */
static void
FN(take_rows)(REAL *dst, const REAL *src, const int64_t *rows, Py_ssize_t r,
              Py_ssize_t c)
{
    enum { AHEAD = 8, LINE = 64 };
    Py_ssize_t bytes = c * (Py_ssize_t)sizeof(REAL);
    for (Py_ssize_t i = 0; i < r; i++) {
        if (i + AHEAD < r) {
            const char *ahead = (const char *)(src + rows[i + AHEAD] * c);
            for (Py_ssize_t b = 0; b < bytes; b += LINE)
                PREFETCH(ahead + b);
        }
        memcpy(dst + i * c, src + rows[i] * c, bytes);
    }
}

/* Rows read through an index: the rows order[0], order[1], ... of X, Y and
   w are the pass's rows, gathered block by block into X, Y, w (room for a
   block each; w only with weights), so that a pass over a subset of X's
   rows holds one block of them, never a copy of the subset. */
typedef struct {
    const int64_t *order;
    REAL *X, *Y, *w;
} FN(Gather);

/*
 * block_gradient_sums over all m rows of X (or the m rows gather names), in
 * blocks of `block` rows:
 * adds the W1 gradient sum to sW1 (and W2's to sW2 when k > 1), the others
 * to the double accumulators acc_b1 (2h + k): b1's, then b2's (acc_b2 =
 * acc_b1 + h), then W2's when k = 1 (see add_accumulators). Returns the
 * loss sum. A1, D1 (block x h) and A2 (block x k) are the workspace.
 */
static double
FN(gradient_blocks)(const REAL *X, const REAL *Y, const REAL *w, const FN(Gather) *gather,
                    const REAL *W1, const REAL *b1, const REAL *W2, const REAL *b2,
                    REAL *sW1, REAL *sW2, REAL *A1, REAL *D1, REAL *A2, double *acc_b1,
                    double *acc_b2, Py_ssize_t m, Py_ssize_t n, Py_ssize_t h,
                    Py_ssize_t k, Py_ssize_t block, int out_kind, REAL eps)
{
    double loss_sum = 0.0;
    int N = (int)n, H = (int)h, K = (int)k;
    for (Py_ssize_t start = 0; start < m; start += block) {
        int r = (int)(m - start < block ? m - start : block);
        const REAL *Xb = X + start * n, *Yb = Y + start * k;
        const REAL *wb = w == NULL ? NULL : w + start;
        if (gather != NULL) { /* the same block as in a copy of the rows */
            const int64_t *rows = gather->order + start;
            FN(take_rows)(gather->X, X, rows, r, n);
            FN(take_rows)(gather->Y, Y, rows, r, k);
            Xb = gather->X, Yb = gather->Y;
            if (w != NULL) {
                for (int i = 0; i < r; i++)
                    gather->w[i] = w[rows[i]];
                wb = gather->w;
            }
        }
        /* A1 = sigma(Xb W1 + b1), A2 = A1 W2 */
        FN(gemm)('N', 'N', H, r, N, 1, W1, H, Xb, N, 0, A1, H);
        if (k == 1) {
            FN(bias_sigmoid_dot)(A1, b1, W2, A2, r, h);
        }
        else {
            FN(bias_sigmoid)(A1, b1, r, h);
            FN(gemm)('N', 'N', K, r, H, 1, W2, K, A1, H, 0, A2, K);
        }
        /* g(A2 + b2), the loss and G2 = s (A2 - Y) */
        loss_sum += FN(output_loss_error)(A2, Yb, wb, b2, acc_b2, r, k, out_kind, eps);
        /* sW2 += A1^T G2;  G1 = (G2 W2^T) * A1 * (1 - A1) (W2 before this
           step's update) with its column sums */
        if (k == 1) {
            FN(sigmoid_backward_outer)(D1, A1, A2, W2, acc_b1, acc_b1 + h + k, r, h);
        }
        else {
            FN(gemm)('N', 'T', K, H, r, 1, A2, K, A1, H, 1, sW2, K);
            FN(gemm)('T', 'N', H, r, K, 1, W2, K, A2, K, 0, D1, H);
            FN(sigmoid_backward)(D1, A1, acc_b1, r, h);
        }
        /* sW1 += Xb^T G1 */
        FN(gemm)('N', 'T', H, N, r, 1, D1, H, Xb, N, 1, sW1, H);
    }
    return loss_sum;
}

/* sb1, sb2 (and sW2 when k = 1) += the double accumulators of gradient_blocks */
static void
FN(add_accumulators)(const double *acc_b1, const double *acc_b2, REAL *sb1, REAL *sW2,
                     REAL *sb2, Py_ssize_t h, Py_ssize_t k)
{
    for (Py_ssize_t j = 0; j < h; j++)
        sb1[j] += (REAL)acc_b1[j];
    if (k == 1)
        for (Py_ssize_t j = 0; j < h; j++)
            sW2[j] += (REAL)acc_b1[h + k + j];
    for (Py_ssize_t j = 0; j < k; j++)
        sb2[j] += (REAL)acc_b2[j];
}

/* gradient_blocks and add_accumulators: adds all four gradient sums to sW1,
   sb1, sW2, sb2; acc_b1 (2h + k) must be zeroed. */
static double
FN(gradient_sums)(const REAL *X, const REAL *Y, const REAL *w, const FN(Gather) *gather,
                  const REAL *W1, const REAL *b1, const REAL *W2, const REAL *b2,
                  REAL *sW1, REAL *sb1, REAL *sW2, REAL *sb2, REAL *A1, REAL *D1, REAL *A2,
                  double *acc_b1, double *acc_b2, Py_ssize_t m, Py_ssize_t n,
                  Py_ssize_t h, Py_ssize_t k, Py_ssize_t block, int out_kind, REAL eps)
{
    double loss_sum =
        FN(gradient_blocks)(X, Y, w, gather, W1, b1, W2, b2, sW1, sW2, A1, D1, A2, acc_b1,
                            acc_b2, m, n, h, k, block, out_kind, eps);
    FN(add_accumulators)(acc_b1, acc_b2, sb1, sW2, sb2, h, k);
    return loss_sum;
}

/* out (m x k) = sigma(X W1 + b1) W2 + b2, in blocks of `block` rows of A1.
   Returns whether all of X W1 was finite (see ALL_FINITE_LOOPS). */
static int
FN(predict_logits)(const REAL *X, const REAL *W1, const REAL *b1, const REAL *W2,
                   const REAL *b2, REAL *A1, REAL *out, Py_ssize_t m, Py_ssize_t n,
                   Py_ssize_t h, Py_ssize_t k, Py_ssize_t block)
{
    int N = (int)n, H = (int)h, K = (int)k, finite = 1;
    for (Py_ssize_t start = 0; start < m; start += block) {
        int r = (int)(m - start < block ? m - start : block);
        REAL *Z2 = out + start * k;
        FN(gemm)('N', 'N', H, r, N, 1, W1, H, X + start * n, N, 0, A1, H);
        finite &= FN(all_finite)(A1, r * h);
        if (k == 1) {
            FN(bias_sigmoid_dot)(A1, b1, W2, Z2, r, h);
        }
        else {
            FN(bias_sigmoid)(A1, b1, r, h);
            FN(gemm)('N', 'N', K, r, H, 1, W2, K, A1, H, 0, Z2, K);
        }
        for (Py_ssize_t i = 0; i < r; i++)
            for (Py_ssize_t j = 0; j < k; j++)
                Z2[i * k + j] += b2[j];
    }
    return finite;
}

/*
 * One step of gradient descent on one parameter array of `size` items,
 * _network.gradient_step or momentum_step written as one loop: the same
 * operations in the same order and precision, so the result is the same to
 * the last bit. NO_CONTRACT keeps the compiler from fusing a multiply and
 * an add into one FMA (as it may where the target has FMA: aarch64, or
 * -march=native), which NumPy's separate calls cannot do.
 */
NO_CONTRACT static void
FN(descent_step)(REAL *param, const REAL *grad, REAL *velocity, Py_ssize_t size,
                 REAL alpha, REAL momentum, int nesterov)
{
    CLANG_NO_CONTRACT
    if (velocity == NULL) {
        for (Py_ssize_t i = 0; i < size; i++)
            param[i] -= alpha * grad[i];
        return;
    }
    for (Py_ssize_t i = 0; i < size; i++) {
        REAL v = velocity[i] * momentum;
        v -= alpha * grad[i];
        velocity[i] = v;
        if (nesterov)
            param[i] += momentum * v - alpha * grad[i];
        else
            param[i] += v;
    }
}

/*
 * _network.finish_gradients on the sum of one parameter array, or a range
 * of it: dW = sums / m (+ (l2 / m) W for the weights; param NULL for a
 * bias), in place, with the same operations as NumPy's (hence NO_CONTRACT,
 * as for descent_step).
 */
NO_CONTRACT static void
FN(finish_gradient)(REAL *g, const REAL *param, Py_ssize_t count, double scale, double l2)
{
    CLANG_NO_CONTRACT
    for (Py_ssize_t i = 0; i < count; i++)
        g[i] *= (REAL)scale;
    if (l2 != 0 && param != NULL) {
        REAL l2_scale = (REAL)(l2 * scale);
        for (Py_ssize_t i = 0; i < count; i++)
            g[i] += l2_scale * param[i];
    }
}

static double
FN(squared_norm)(const REAL *W, Py_ssize_t size)
{
    double total = 0.0;
    for (Py_ssize_t i = 0; i < size; i++)
        total += (double)W[i] * W[i];
    return total;
}

/*
 * A batch is cut into parts (batch_parts), whose sums are added in part
 * order, whichever threads did them. Part p works in parts[p]: its W1 (and,
 * when k > 1, W2) gradient sums, its block workspace and its accumulators
 * acc (2h + k doubles as in gradient_blocks, then its loss sum). Part 0's
 * sums and workspace are the caller's.
 */
typedef struct {
    REAL *sW1, *sW2, *A1, *D1, *A2;
    double *acc;
} FN(Part);

/* The batch being done, as the parts read it: written by the epoch's thread
   before it hands the batch to the team (team_run). */
typedef struct {
    const REAL *X, *Y, *w;
    const int64_t *order;
    REAL *const *params;
    REAL *Xbuf, *Ybuf, *wbuf;
    FN(Part) *parts;
    Py_ssize_t n, h, k, block, start, r, n_parts;
    int out_kind;
    REAL eps;
} FN(Batch);

/* Part `part` of the batch: gathers its rows (into its own rows of Xbuf,
   Ybuf, wbuf) and computes their gradient sums from zero. */
static void
FN(batch_part)(void *job, int part)
{
    const FN(Batch) *b = job;
    const FN(Part) *p = &b->parts[part];
    Py_ssize_t n = b->n, h = b->h, k = b->k;
    Py_ssize_t lo = b->r * part / b->n_parts, hi = b->r * (part + 1) / b->n_parts;
    Py_ssize_t rows = hi - lo, first = b->start + lo;
    const REAL *Xp = b->X + first * n, *Yp = b->Y + first * k;
    const REAL *wp = b->w == NULL ? NULL : b->w + first;
    if (b->order != NULL) {
        const int64_t *o = b->order + first;
        FN(take_rows)(b->Xbuf + lo * n, b->X, o, rows, n);
        FN(take_rows)(b->Ybuf + lo * k, b->Y, o, rows, k);
        Xp = b->Xbuf + lo * n, Yp = b->Ybuf + lo * k;
        if (b->w != NULL) {
            for (Py_ssize_t i = 0; i < rows; i++)
                b->wbuf[lo + i] = b->w[o[i]];
            wp = b->wbuf + lo;
        }
    }
    memset(p->sW1, 0, n * h * sizeof(REAL));
    if (k > 1)
        memset(p->sW2, 0, h * k * sizeof(REAL));
    memset(p->acc, 0, (2 * h + k) * sizeof(double));
    REAL *const *params = b->params;
    p->acc[2 * h + k] =
        FN(gradient_blocks)(Xp, Yp, wp, NULL, params[0], params[1], params[2], params[3], p->sW1,
                            p->sW2, p->A1, p->D1, p->A2, p->acc, p->acc + h, rows, n, h, k,
                            b->block, b->out_kind, b->eps);
}

/* The step of W1 after a batch, in chunks that the team shares: each
   chunk adds the parts' sums (in part order), then finishes the gradient
   and steps with finish_gradient and descent_step, element by element:
   the same numbers whoever does which chunk. */
typedef struct {
    FN(Part) *parts;
    Py_ssize_t n_parts, size, chunks;
    REAL *param, *grad, *velocity;
    double scale, l2, alpha, momentum;
    int nesterov;
} FN(Step);

static void
FN(step_chunk)(void *job, int chunk)
{
    const FN(Step) *s = job;
    /* chunk bounds on multiples of 16 items: on cache-line boundaries when
       W1's buffer starts on one (NumPy aligns to 16 bytes: at worst the
       chunks share a line at each bound, which costs time, not results) */
    Py_ssize_t lo = s->size * chunk / s->chunks / 16 * 16;
    Py_ssize_t hi = chunk + 1 == s->chunks ? s->size : s->size * (chunk + 1) / s->chunks / 16 * 16;
    REAL *g = s->grad;
    for (Py_ssize_t p = 1; p < s->n_parts; p++) {
        const REAL *part = s->parts[p].sW1;
        for (Py_ssize_t i = lo; i < hi; i++)
            g[i] += part[i];
    }
    FN(finish_gradient)(g + lo, s->param + lo, hi - lo, s->scale, s->l2);
    FN(descent_step)(s->param + lo, g + lo, s->velocity == NULL ? NULL : s->velocity + lo,
                     hi - lo, (REAL)s->alpha, (REAL)s->momentum, s->nesterov);
}

/*
 * The parts of an epoch (see Part): parts[0] on the caller's sums sW1, sW2
 * and workspace A1, D1, A2 (`block` rows), the other count - 1 in one
 * allocation with `rows` rows of workspace each; every array on cache lines
 * of its own, as different threads write them. Free with PyMem_RawFree;
 * NULL when out of memory.
 */
static FN(Part) *
FN(new_parts)(Py_ssize_t count, Py_ssize_t n, Py_ssize_t h, Py_ssize_t k, Py_ssize_t rows,
              REAL *sW1, REAL *sW2, REAL *A1, REAL *D1, REAL *A2)
{
    enum { LINE = 64 };
#define LINES(bytes) (((size_t)(bytes) + LINE - 1) / LINE * LINE)
    size_t acc_bytes = LINES((2 * h + k + 1) * sizeof(double));
    size_t part_bytes = LINES(n * h * sizeof(REAL)) + LINES(h * k * sizeof(REAL)) +
                        2 * LINES(rows * h * sizeof(REAL)) + LINES(rows * k * sizeof(REAL));
    size_t head = LINES(count * sizeof(FN(Part)));
    FN(Part) *parts =
        PyMem_RawMalloc(head + LINE + count * acc_bytes + (count - 1) * part_bytes);
    if (parts == NULL)
        return NULL;
    char *next = (char *)(((uintptr_t)parts + head + LINE - 1) / LINE * LINE);
    for (Py_ssize_t p = 0; p < count; p++) {
        parts[p].acc = (double *)next;
        next += acc_bytes;
        if (p == 0) {
            parts[0].sW1 = sW1, parts[0].sW2 = sW2;
            parts[0].A1 = A1, parts[0].D1 = D1, parts[0].A2 = A2;
            continue;
        }
        parts[p].sW1 = (REAL *)next, next += LINES(n * h * sizeof(REAL));
        parts[p].sW2 = (REAL *)next, next += LINES(h * k * sizeof(REAL));
        parts[p].A1 = (REAL *)next, next += LINES(rows * h * sizeof(REAL));
        parts[p].D1 = (REAL *)next, next += LINES(rows * h * sizeof(REAL));
        parts[p].A2 = (REAL *)next, next += LINES(rows * k * sizeof(REAL));
    }
#undef LINES
    return parts;
}

/*
 * One epoch of mini-batch gradient descent: skbackprop._base's
 * _run_mini_batches and _step with _network.finish_gradients and
 * descent_step, in one call. Batch b is the rows order[b * batch ...] of X
 * (or the consecutive rows when order is NULL), gathered into Xbuf, Ybuf,
 * wbuf. Its rows are cut into batch_parts parts (at least part_rows rows
 * each, at most max_parts, rows of `part_block` rows in blocks when there
 * are several), done by the team's threads (or by this one alone when team
 * is NULL) and added in part order: the same numbers on any number of
 * threads. For each batch taken, losses[b] is its loss before its step and
 * weights[b] its size or weight sum; a batch of weight 0 is skipped
 * (weights[b] = 0). Stops after a batch whose loss is not finite. Returns
 * the number of batches done, or -1 when a signal handler raised (every
 * 256 batches the GIL is taken back to let Python see a Ctrl-C; the
 * exception is then set and the caller returns NULL).
 */
static Py_ssize_t
FN(minibatch_epoch)(const REAL *X, const REAL *Y, const REAL *w, const int64_t *order,
                    REAL *const params[4], REAL *const sums[4], REAL *const velocities[4],
                    const Py_ssize_t sizes[4], FN(Part) *parts, REAL *Xbuf, REAL *Ybuf,
                    REAL *wbuf, double *losses, double *weights, Py_ssize_t m,
                    Py_ssize_t n, Py_ssize_t h, Py_ssize_t k, Py_ssize_t batch,
                    Py_ssize_t block, Py_ssize_t part_rows, Py_ssize_t max_parts,
                    Py_ssize_t part_block, int out_kind, double alpha, double momentum,
                    int nesterov, double l2, REAL eps, Team *team,
                    PyThreadState **thread_state)
{
    FN(Batch) job = {.X = X, .Y = Y, .w = w, .order = order, .params = params,
                     .Xbuf = Xbuf, .Ybuf = Ybuf, .wbuf = wbuf, .parts = parts,
                     .n = n, .h = h, .k = k, .out_kind = out_kind, .eps = eps};
    Py_ssize_t done = 0, n_acc = 2 * h + k;
    for (Py_ssize_t start = 0; start < m; start += batch, done++) {
        if (done > 0 && done % 256 == 0) { /* let Python see a Ctrl-C */
            PyEval_RestoreThread(*thread_state);
            int interrupted = PyErr_CheckSignals() < 0;
            *thread_state = PyEval_SaveThread();
            if (interrupted)
                return -1;
        }
        Py_ssize_t r = m - start < batch ? m - start : batch;
        double weight = (double)r;
        if (w != NULL) {
            weight = 0.0;
            for (Py_ssize_t i = 0; i < r; i++)
                weight += order == NULL ? w[start + i] : w[order[start + i]];
            if (weight == 0) { /* nothing to learn from: the step of size 0 */
                losses[done] = 0.0, weights[done] = 0.0;
                continue;
            }
        }
        job.start = start, job.r = r;
        job.n_parts = batch_parts(r, part_rows, max_parts);
        job.block = job.n_parts > 1 ? part_block : block;
        team_run(team, (uint32_t)(2 * done + 1), (int)job.n_parts, FN(batch_part), &job);
        /* the parts' sums other than W1's, in part order */
        double *acc = parts[0].acc;
        for (Py_ssize_t p = 1; p < job.n_parts; p++) {
            if (k > 1)
                for (Py_ssize_t i = 0; i < sizes[2]; i++)
                    sums[2][i] += parts[p].sW2[i];
            for (Py_ssize_t i = 0; i <= n_acc; i++) /* the last: the loss sum */
                acc[i] += parts[p].acc[i];
        }
        memset(sums[1], 0, sizes[1] * sizeof(REAL));
        if (k == 1)
            memset(sums[2], 0, sizes[2] * sizeof(REAL));
        memset(sums[3], 0, sizes[3] * sizeof(REAL));
        FN(add_accumulators)(acc, acc + h, sums[1], sums[2], sums[3], h, k);
        /* the loss and gradients of the batch, then the step */
        double scale = 1.0 / weight;
        double loss = acc[n_acc] * scale;
        if (l2 != 0) /* before the step: with the weights of this step */
            loss += 0.5 * l2 * scale *
                    (FN(squared_norm)(params[0], sizes[0]) +
                     FN(squared_norm)(params[2], sizes[2]));
        /* W1, the largest, in as many chunks as the batch had parts */
        FN(Step) step = {.parts = parts, .n_parts = job.n_parts, .size = sizes[0],
                         .chunks = job.n_parts, .param = params[0], .grad = sums[0],
                         .velocity = momentum != 0 ? velocities[0] : NULL,
                         .scale = scale, .l2 = l2, .alpha = alpha, .momentum = momentum,
                         .nesterov = nesterov};
        team_run(team, (uint32_t)(2 * done + 2), (int)job.n_parts, FN(step_chunk), &step);
        for (int a = 1; a < 4; a++) { /* b1, W2, b2: l2 on the weights W2 only */
            FN(finish_gradient)(sums[a], a == 2 ? params[a] : NULL, sizes[a], scale, l2);
            FN(descent_step)(params[a], sums[a], momentum != 0 ? velocities[a] : NULL,
                             sizes[a], (REAL)alpha, (REAL)momentum, nesterov);
        }
        losses[done] = loss, weights[done] = weight;
        if (!isfinite(loss)) /* diverged: no use going on with this epoch */
            return done + 1;
    }
    return done;
}

#undef FN
#undef PASTE
#undef PASTE_
