/*
 * The hidden layer's elementwise loops in C: skbackprop._ckernels.
 *
 * Optional: setup.py builds it when a C compiler is present and the package
 * falls back to NumPy when it is not (skbackprop/_kernels.py). It needs only
 * Python's headers: arrays arrive through the buffer protocol.
 *
 * Why a hand-written exponential: NumPy's float64 exp is a scalar loop on
 * CPUs without AVX-512 (about 10 ns per element, as long as the product
 * X · W1 itself takes for h = 64), and libm's exp is scalar too. The
 * polynomial below is plain arithmetic, so the compiler turns each loop into
 * SIMD code: about 2-3 ns per float64 element with AVX2 (see LOOPS below).
 *
 * e^u is only ever needed for u <= 0 (sigma(z) is written with e^(-|z|)):
 *  - range reduction: k = round(u / ln 2), r = u - k ln 2 with |r| <= ln 2 / 2,
 *    ln 2 split in two so that k * LN2_HI is exact (Cody and Waite);
 *  - e^r by its Taylor polynomial, degree 13 for float64 (truncation error
 *    below 2e-18) and 7 for float32 (below 6e-9);
 *  - 2^k written directly into the exponent bits. Adding SHIFT = 1.5 * 2^52
 *    rounds u / ln 2 to an integer and leaves that integer in the low bits of
 *    the sum, which avoids a float -> int conversion AVX2 cannot vectorise.
 * Below u = -708.3964 (float64) or -87.3365 (float32), just above the log of
 * the smallest normal number, e^u is taken as 0: sigma(z) is then 0 or 1,
 * off by less than the smallest normal number.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <stdint.h>
#include <string.h>

#define INLINE static inline __attribute__((always_inline))
#if !defined(__GNUC__)
#undef INLINE
#define INLINE static inline
#endif

/* ---- float64 ---------------------------------------------------------- */

#define LOG2E 1.4426950408889634
#define LN2_HI 6.93147180369123816490e-01 /* low 32 bits zero: k * LN2_HI exact */
#define LN2_LO 1.90821492927058770002e-10
#define SHIFT 6755399441055744.0 /* 1.5 * 2^52 */
#define MIN_U -708.3964

INLINE double sigmoid64(double z)
{
    double a = z < 0 ? -z : z;
    double u = -a < MIN_U ? MIN_U : -a;
    double t = u * LOG2E + SHIFT;
    double kf = t - SHIFT;
    double r = (u - kf * LN2_HI) - kf * LN2_LO;
    /* e^r = 1 + r + r^2 P(r), P of degree 11 by Estrin's scheme: a short
       dependency chain, so that consecutive elements overlap in the
       pipeline; the leading 1 + r is added last, for accuracy */
    double r2 = r * r, r4 = r2 * r2, r8 = r4 * r4;
    double a0 = 1.0 / 2.0 + r * (1.0 / 6.0), a1 = 1.0 / 24.0 + r * (1.0 / 120.0);
    double a2 = 1.0 / 720.0 + r * (1.0 / 5040.0);
    double a3 = 1.0 / 40320.0 + r * (1.0 / 362880.0);
    double a4 = 1.0 / 3628800.0 + r * (1.0 / 39916800.0);
    double a5 = 1.0 / 479001600.0 + r * (1.0 / 6227020800.0);
    double P = ((a0 + r2 * a1) + r4 * (a2 + r2 * a3)) + r8 * (a4 + r2 * a5);
    double p = 1.0 + (r + r2 * P);
    int64_t tbits, shift_bits, scale_bits;
    double shift = SHIFT, scale;
    memcpy(&tbits, &t, sizeof tbits);
    memcpy(&shift_bits, &shift, sizeof shift_bits);
    scale_bits = (int64_t)((uint64_t)(tbits - shift_bits + 1023) << 52);
    memcpy(&scale, &scale_bits, sizeof scale);
    double e = a < -MIN_U ? p * scale : 0.0; /* e^(-|z|), flushed to 0 far out */
    double q = 1.0 / (1.0 + e);
    double s = z >= 0 ? q : e * q; /* sigma(z) = e * sigma(-z) for z < 0 */
    return z == z ? s : z;         /* NaN stays NaN */
}

/* ---- float32 ---------------------------------------------------------- */

#define LOG2E_F 1.442695f
#define LN2_HI_F 0.693359375f /* 9 significant bits: k * LN2_HI exact */
#define LN2_LO_F -2.12194440e-4f
#define SHIFT_F 12582912.0f /* 1.5 * 2^23 */
#define MIN_U_F -87.3365f

INLINE float sigmoid32(float z)
{
    float a = z < 0 ? -z : z;
    float u = -a < MIN_U_F ? MIN_U_F : -a;
    float t = u * LOG2E_F + SHIFT_F;
    float kf = t - SHIFT_F;
    float r = (u - kf * LN2_HI_F) - kf * LN2_LO_F;
    float p = 1.0f / 5040.0f;
    p = p * r + 1.0f / 720.0f;
    p = p * r + 1.0f / 120.0f;
    p = p * r + 1.0f / 24.0f;
    p = p * r + 1.0f / 6.0f;
    p = p * r + 0.5f;
    p = p * r + 1.0f;
    p = p * r + 1.0f;
    int32_t tbits, shift_bits, scale_bits;
    float shift = SHIFT_F, scale;
    memcpy(&tbits, &t, sizeof tbits);
    memcpy(&shift_bits, &shift, sizeof shift_bits);
    scale_bits = (int32_t)((uint32_t)(tbits - shift_bits + 127) << 23);
    memcpy(&scale, &scale_bits, sizeof scale);
    float e = a < -MIN_U_F ? p * scale : 0.0f;
    float q = 1.0f / (1.0f + e);
    float s = z >= 0 ? q : e * q;
    return z == z ? s : z;
}

/* ---- the loops -------------------------------------------------------- */

/*
 * Each loop is compiled twice on x86-64 with GCC or Clang: for AVX2 with FMA
 * and for the baseline; the module picks one when it is imported, by what
 * the CPU supports. LOOPS(suffix) defines the six loops with that suffix.
 */
#define LOOPS(SUFFIX, ATTRIBUTE)                                                      \
    ATTRIBUTE static void bias_sigmoid_f64_##SUFFIX(                                  \
        double *restrict A, const double *restrict b, Py_ssize_t m, Py_ssize_t h)     \
    {                                                                                 \
        for (Py_ssize_t i = 0; i < m; i++) {                                          \
            double *restrict row = A + i * h;                                         \
            for (Py_ssize_t j = 0; j < h; j++)                                        \
                row[j] = sigmoid64(row[j] + b[j]);                                    \
        }                                                                             \
    }                                                                                 \
    ATTRIBUTE static void bias_sigmoid_f32_##SUFFIX(                                  \
        float *restrict A, const float *restrict b, Py_ssize_t m, Py_ssize_t h)       \
    {                                                                                 \
        for (Py_ssize_t i = 0; i < m; i++) {                                          \
            float *restrict row = A + i * h;                                          \
            for (Py_ssize_t j = 0; j < h; j++)                                        \
                row[j] = sigmoid32(row[j] + b[j]);                                    \
        }                                                                             \
    }                                                                                 \
    /* z and out may be the same array: element i is read before it is written */    \
    ATTRIBUTE static void sigmoid_f64_##SUFFIX(const double *z, double *out,          \
                                               Py_ssize_t n)                          \
    {                                                                                 \
        for (Py_ssize_t i = 0; i < n; i++)                                            \
            out[i] = sigmoid64(z[i]);                                                 \
    }                                                                                 \
    ATTRIBUTE static void sigmoid_f32_##SUFFIX(const float *z, float *out,            \
                                               Py_ssize_t n)                          \
    {                                                                                 \
        for (Py_ssize_t i = 0; i < n; i++)                                            \
            out[i] = sigmoid32(z[i]);                                                 \
    }                                                                                 \
    /* D <- D * A * (1 - A); acc += column sums of D, accumulated in double */       \
    ATTRIBUTE static void sigmoid_backward_f64_##SUFFIX(                              \
        double *restrict D, const double *restrict A, double *restrict acc,           \
        Py_ssize_t m, Py_ssize_t h)                                                   \
    {                                                                                 \
        for (Py_ssize_t i = 0; i < m; i++) {                                          \
            double *restrict drow = D + i * h;                                        \
            const double *restrict arow = A + i * h;                                  \
            for (Py_ssize_t j = 0; j < h; j++) {                                      \
                double a = arow[j];                                                   \
                double g = drow[j] * a * (1.0 - a);                                   \
                drow[j] = g;                                                          \
                acc[j] += g;                                                          \
            }                                                                         \
        }                                                                             \
    }                                                                                 \
    ATTRIBUTE static void sigmoid_backward_f32_##SUFFIX(                              \
        float *restrict D, const float *restrict A, double *restrict acc,             \
        Py_ssize_t m, Py_ssize_t h)                                                   \
    {                                                                                 \
        for (Py_ssize_t i = 0; i < m; i++) {                                          \
            float *restrict drow = D + i * h;                                         \
            const float *restrict arow = A + i * h;                                   \
            for (Py_ssize_t j = 0; j < h; j++) {                                      \
                float a = arow[j];                                                    \
                float g = drow[j] * a * (1.0f - a);                                   \
                drow[j] = g;                                                          \
                acc[j] += (double)g;                                                  \
            }                                                                         \
        }                                                                             \
    }

LOOPS(baseline, )

#if (defined(__GNUC__) || defined(__clang__)) && defined(__x86_64__)
#define HAVE_AVX2_LOOPS 1
LOOPS(avx2, __attribute__((target("avx2,fma"))))
#endif

/* The loops in use, chosen by choose_loops() when the module is imported. */
static void (*bias_sigmoid_f64)(double *, const double *, Py_ssize_t, Py_ssize_t) =
    bias_sigmoid_f64_baseline;
static void (*bias_sigmoid_f32)(float *, const float *, Py_ssize_t, Py_ssize_t) =
    bias_sigmoid_f32_baseline;
static void (*sigmoid_f64)(const double *, double *, Py_ssize_t) = sigmoid_f64_baseline;
static void (*sigmoid_f32)(const float *, float *, Py_ssize_t) = sigmoid_f32_baseline;
static void (*sigmoid_backward_f64)(double *, const double *, double *, Py_ssize_t,
                                    Py_ssize_t) = sigmoid_backward_f64_baseline;
static void (*sigmoid_backward_f32)(float *, const float *, double *, Py_ssize_t,
                                    Py_ssize_t) = sigmoid_backward_f32_baseline;
static const char *simd = "baseline";

static void
choose_loops(void)
{
#ifdef HAVE_AVX2_LOOPS
    __builtin_cpu_init();
    if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) {
        bias_sigmoid_f64 = bias_sigmoid_f64_avx2;
        bias_sigmoid_f32 = bias_sigmoid_f32_avx2;
        sigmoid_f64 = sigmoid_f64_avx2;
        sigmoid_f32 = sigmoid_f32_avx2;
        sigmoid_backward_f64 = sigmoid_backward_f64_avx2;
        sigmoid_backward_f32 = sigmoid_backward_f32_avx2;
        simd = "avx2";
    }
#endif
}

/* ---- Python wrappers --------------------------------------------------- */

/* Buffers must hold exactly `count` items of `itemsize` bytes. */
static int
check_size(Py_buffer *view, Py_ssize_t count, Py_ssize_t itemsize, const char *name)
{
    if (count < 0 || view->itemsize != itemsize || view->len != count * itemsize) {
        PyErr_Format(PyExc_ValueError,
                     "_ckernels: %s has %zd bytes of items of %zd bytes, expected %zd "
                     "items of %zd bytes",
                     name, view->len, view->itemsize, count, itemsize);
        return -1;
    }
    return 0;
}

static PyObject *
py_bias_sigmoid(PyObject *self, PyObject *args)
{
    Py_buffer A, b;
    Py_ssize_t m, h;
    int is_double;
    if (!PyArg_ParseTuple(args, "w*y*nnp", &A, &b, &m, &h, &is_double))
        return NULL;
    Py_ssize_t size = is_double ? sizeof(double) : sizeof(float);
    PyObject *result = NULL;
    if (check_size(&A, m * h, size, "A") == 0 && check_size(&b, h, size, "b") == 0) {
        Py_BEGIN_ALLOW_THREADS
        if (is_double)
            bias_sigmoid_f64((double *)A.buf, (const double *)b.buf, m, h);
        else
            bias_sigmoid_f32((float *)A.buf, (const float *)b.buf, m, h);
        Py_END_ALLOW_THREADS
        result = Py_NewRef(Py_None);
    }
    PyBuffer_Release(&A);
    PyBuffer_Release(&b);
    return result;
}

static PyObject *
py_sigmoid(PyObject *self, PyObject *args)
{
    Py_buffer z, out;
    Py_ssize_t n;
    int is_double;
    if (!PyArg_ParseTuple(args, "y*w*np", &z, &out, &n, &is_double))
        return NULL;
    Py_ssize_t size = is_double ? sizeof(double) : sizeof(float);
    PyObject *result = NULL;
    if (check_size(&z, n, size, "z") == 0 && check_size(&out, n, size, "out") == 0) {
        Py_BEGIN_ALLOW_THREADS
        if (is_double)
            sigmoid_f64((const double *)z.buf, (double *)out.buf, n);
        else
            sigmoid_f32((const float *)z.buf, (float *)out.buf, n);
        Py_END_ALLOW_THREADS
        result = Py_NewRef(Py_None);
    }
    PyBuffer_Release(&z);
    PyBuffer_Release(&out);
    return result;
}

static PyObject *
py_sigmoid_backward(PyObject *self, PyObject *args)
{
    Py_buffer D, A, colsum;
    Py_ssize_t m, h;
    int is_double;
    if (!PyArg_ParseTuple(args, "w*y*w*nnp", &D, &A, &colsum, &m, &h, &is_double))
        return NULL;
    Py_ssize_t size = is_double ? sizeof(double) : sizeof(float);
    PyObject *result = NULL;
    double *acc = NULL;
    if (check_size(&D, m * h, size, "D") == 0 && check_size(&A, m * h, size, "A") == 0 &&
        check_size(&colsum, h, size, "colsum") == 0) {
        acc = PyMem_RawCalloc(h > 0 ? h : 1, sizeof(double));
        if (acc == NULL) {
            PyErr_NoMemory();
        }
        else {
            Py_BEGIN_ALLOW_THREADS
            if (is_double) {
                sigmoid_backward_f64((double *)D.buf, (const double *)A.buf, acc, m, h);
                for (Py_ssize_t j = 0; j < h; j++)
                    ((double *)colsum.buf)[j] += acc[j];
            }
            else {
                sigmoid_backward_f32((float *)D.buf, (const float *)A.buf, acc, m, h);
                for (Py_ssize_t j = 0; j < h; j++)
                    ((float *)colsum.buf)[j] += (float)acc[j];
            }
            Py_END_ALLOW_THREADS
            PyMem_RawFree(acc);
            result = Py_NewRef(Py_None);
        }
    }
    PyBuffer_Release(&D);
    PyBuffer_Release(&A);
    PyBuffer_Release(&colsum);
    return result;
}

static PyMethodDef methods[] = {
    {"bias_sigmoid", py_bias_sigmoid, METH_VARARGS,
     "bias_sigmoid(A, b, m, h, is_double): A <- sigmoid(A + b) in place."},
    {"sigmoid", py_sigmoid, METH_VARARGS,
     "sigmoid(z, out, n, is_double): out <- sigmoid(z) (out may be z)."},
    {"sigmoid_backward", py_sigmoid_backward, METH_VARARGS,
     "sigmoid_backward(D, A, colsum, m, h, is_double): D <- D * A * (1 - A); "
     "colsum += column sums of D."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {
    PyModuleDef_HEAD_INIT, "_ckernels",
    "Compiled elementwise loops of the hidden layer (see skbackprop._kernels).", -1,
    methods, NULL, NULL, NULL, NULL,
};

PyMODINIT_FUNC
PyInit__ckernels(void)
{
    choose_loops();
    PyObject *m = PyModule_Create(&module);
    if (m != NULL && PyModule_AddStringConstant(m, "SIMD", simd) < 0) {
        Py_DECREF(m);
        return NULL;
    }
    return m;
}
