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
            for (Py_ssize_t j = 0; j < k; j++) {
                a[j] /= total;
                REAL p = a[j] < eps ? eps : (a[j] > 1 - eps ? 1 - eps : a[j]);
                loss -= FN(xlogy)(y[j], p);
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

/*
 * block_gradient_sums over all m rows of X, in blocks of `block` rows:
 * adds the gradient sums to sW1, sb1, sW2, sb2 and returns the loss sum.
 * A1, D1 (block x h) and A2 (block x k) are the workspace; acc_b1 (2h + k,
 * zeroed) holds double accumulators: b1's, then b2's (acc_b2 = acc_b1 + h),
 * then W2's when k = 1.
 */
static double
FN(gradient_sums)(const REAL *X, const REAL *Y, const REAL *w, const REAL *W1,
                  const REAL *b1, const REAL *W2, const REAL *b2, REAL *sW1, REAL *sb1,
                  REAL *sW2, REAL *sb2, REAL *A1, REAL *D1, REAL *A2, double *acc_b1,
                  double *acc_b2, Py_ssize_t m, Py_ssize_t n, Py_ssize_t h,
                  Py_ssize_t k, Py_ssize_t block, int out_kind, REAL eps)
{
    double loss_sum = 0.0;
    int N = (int)n, H = (int)h, K = (int)k;
    for (Py_ssize_t start = 0; start < m; start += block) {
        int r = (int)(m - start < block ? m - start : block);
        const REAL *Xb = X + start * n, *Yb = Y + start * k;
        const REAL *wb = w == NULL ? NULL : w + start;
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
    for (Py_ssize_t j = 0; j < h; j++)
        sb1[j] += (REAL)acc_b1[j];
    if (k == 1)
        for (Py_ssize_t j = 0; j < h; j++)
            sW2[j] += (REAL)acc_b1[h + k + j];
    for (Py_ssize_t j = 0; j < k; j++)
        sb2[j] += (REAL)acc_b2[j];
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

/*
 * _network.finish_gradients on the sums of one batch: dW = sums / m
 * (+ (l2 / m) W), in place, with the same operations as NumPy's (hence
 * NO_CONTRACT, as for descent_step).
 */
NO_CONTRACT static void
FN(finish_gradients)(REAL *const sums[4], REAL *const params[4],
                     const Py_ssize_t sizes[4], double scale, double l2)
{
    CLANG_NO_CONTRACT
    for (int a = 0; a < 4; a++) {
        REAL *g = sums[a];
        for (Py_ssize_t i = 0; i < sizes[a]; i++)
            g[i] *= (REAL)scale;
    }
    if (l2 != 0) {
        REAL l2_scale = (REAL)(l2 * scale);
        for (int a = 0; a < 4; a += 2) /* the weights W1 and W2, not the biases */
            for (Py_ssize_t i = 0; i < sizes[a]; i++)
                sums[a][i] += l2_scale * params[a][i];
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
 * One epoch of mini-batch gradient descent: skbackprop._base's
 * _run_mini_batches and _step with _network.finish_gradients and
 * descent_step, in one call. Batch b is the rows order[b * batch ...] of X
 * (or the consecutive rows when order is NULL), gathered into Xbuf, Ybuf,
 * wbuf. For each batch taken, losses[b] is its loss before its step and
 * weights[b] its size or weight sum; a batch of weight 0 is skipped
 * (weights[b] = 0). Stops after a batch whose loss is not finite. Returns
 * the number of batches done, or -1 when a signal handler raised (every
 * 256 batches the GIL is taken back to let Python see a Ctrl-C; the
 * exception is then set and the caller returns NULL).
 */
static Py_ssize_t
FN(minibatch_epoch)(const REAL *X, const REAL *Y, const REAL *w, const int64_t *order,
                    REAL *const params[4], REAL *const sums[4], REAL *const velocities[4],
                    const Py_ssize_t sizes[4], REAL *A1, REAL *D1, REAL *A2, REAL *Xbuf,
                    REAL *Ybuf, REAL *wbuf, double *acc, double *losses, double *weights,
                    Py_ssize_t m, Py_ssize_t n, Py_ssize_t h, Py_ssize_t k,
                    Py_ssize_t batch, Py_ssize_t block, int out_kind, double alpha,
                    double momentum, int nesterov, double l2, REAL eps,
                    PyThreadState **thread_state)
{
    Py_ssize_t done = 0;
    for (Py_ssize_t start = 0; start < m; start += batch, done++) {
        if (done > 0 && done % 256 == 0) { /* let Python see a Ctrl-C */
            PyEval_RestoreThread(*thread_state);
            int interrupted = PyErr_CheckSignals() < 0;
            *thread_state = PyEval_SaveThread();
            if (interrupted)
                return -1;
        }
        Py_ssize_t r = m - start < batch ? m - start : batch;
        const REAL *Xb = X + start * n, *Yb = Y + start * k;
        const REAL *wb = w == NULL ? NULL : w + start;
        if (order != NULL) {
            FN(take_rows)(Xbuf, X, order + start, r, n);
            FN(take_rows)(Ybuf, Y, order + start, r, k);
            if (w != NULL)
                for (Py_ssize_t i = 0; i < r; i++)
                    wbuf[i] = w[order[start + i]];
            Xb = Xbuf, Yb = Ybuf, wb = w == NULL ? NULL : wbuf;
        }
        double weight = (double)r;
        if (wb != NULL) {
            weight = 0.0;
            for (Py_ssize_t i = 0; i < r; i++)
                weight += wb[i];
            if (weight == 0) { /* nothing to learn from: the step of size 0 */
                losses[done] = 0.0, weights[done] = 0.0;
                continue;
            }
        }
        for (int a = 0; a < 4; a++)
            memset(sums[a], 0, sizes[a] * sizeof(REAL));
        memset(acc, 0, (2 * h + k) * sizeof(double));
        double loss = FN(gradient_sums)(Xb, Yb, wb, params[0], params[1], params[2],
                                        params[3], sums[0], sums[1], sums[2], sums[3], A1,
                                        D1, A2, acc, acc + h, r, n, h, k, block, out_kind,
                                        eps);
        /* the loss and gradients of the batch, then the step */
        double scale = 1.0 / weight;
        loss *= scale;
        if (l2 != 0) /* before finish_gradients: with the weights of this step */
            loss += 0.5 * l2 * scale *
                    (FN(squared_norm)(params[0], sizes[0]) +
                     FN(squared_norm)(params[2], sizes[2]));
        FN(finish_gradients)(sums, params, sizes, scale, l2);
        for (int a = 0; a < 4; a++)
            FN(descent_step)(params[a], sums[a], momentum != 0 ? velocities[a] : NULL,
                             sizes[a], (REAL)alpha, (REAL)momentum, nesterov);
        losses[done] = loss, weights[done] = weight;
        if (!isfinite(loss)) /* diverged: no use going on with this epoch */
            return done + 1;
    }
    return done;
}

#undef FN
#undef PASTE
#undef PASTE_
