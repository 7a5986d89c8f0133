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
 * SIMD code: about 2 ns per float64 element and 0.7 ns per float32 element
 * with AVX2 (benchmarks/bench_kernels.py).
 *
 * sigma(z) = 1 / (1 + e^u) with u = -z, and e^u by:
 *  - range reduction: k = round(u / ln 2), r = u - k ln 2 with |r| <= ln 2 / 2,
 *    ln 2 split in two so that k * LN2_HI is exact (Cody and Waite);
 *  - e^r = 1 + r + r^2 P(r), P a minimax polynomial for the relative error,
 *    of degree 9 for float64 (5.4e-18 with its coefficients as rounded) and
 *    4 for float32 (3.7e-9);
 *  - 2^k written directly into the exponent bits. Adding SHIFT = 1.5 * 2^52
 *    rounds u / ln 2 to an integer and leaves that integer in the low bits of
 *    the sum, which avoids a float -> int conversion AVX2 cannot vectorise.
 * The arithmetic runs for every z, with no branch and no clamp; two selects
 * at the end put 0 where sigma is below the smallest normal number anyway
 * (u > 709, float32 88, where 2^k would overflow) and 1 where 1 + e^u rounds
 * to 1 (u < -40, float32 -20, where 2^k would underflow). A NaN fails both
 * comparisons and stays NaN. Written this way, without the blends of an
 * absolute value and a sign, the float64 loop is 34 vector instructions per
 * 4 elements instead of 52, and the whole sigma about a third faster. It is
 * within 2.5 units in the last place of the exact value wherever that is a
 * normal number (tests/test_kernels.py holds it to 4), and the subnormal
 * values just below come from the division itself.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <limits.h>
#include <math.h>
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
/* sigma(z) = 1 / (1 + e^u), u = -z, computed for any u; two selects at the
   end replace the result where the arithmetic is not valid (2^k out of range):
   u > 709: sigma < 1.3e-308, below the smallest normal: 0;
   u < -40: e^u < 2^-57, 1 + e^u rounds to 1: 1.
   A NaN fails both comparisons and runs through the arithmetic. */
#define SIG_MAX_U 709.0
#define SIG_MIN_U -40.0
/* e^r = 1 + r + r^2 P(r), |r| <= ln 2 / 2, P of degree 9 with P(0) = 1/2:
   minimax for relative error (5.4e-18, coefficients as rounded here) */
#define EXP_C3 0.16666666666666433     /* 0x1.5555555555501p-3 */
#define EXP_C4 0.04166666666660402     /* 0x1.5555555553211p-5 */
#define EXP_C5 0.0083333333335003992   /* 0x1.1111111128944p-7 */
#define EXP_C6 0.0013888888926771213   /* 0x1.6c16c17cbfed1p-10 */
#define EXP_C7 0.00019841269465558785  /* 0x1.a01a011be8f68p-13 */
#define EXP_C8 2.4801508714151359e-05  /* 0x1.a019ab37b4736p-16 */
#define EXP_C9 2.7557641406655171e-06  /* 0x1.71df55ba82d76p-19 */
#define EXP_C10 2.7625174134328595e-07 /* 0x1.289f801d7f0d1p-22 */
#define EXP_C11 2.4978213227922318e-08 /* 0x1.ad1f57f2481e4p-26 */

/* e^u = p * scale, scale = 2^k: valid where 2^k is a normal number */
INLINE double exp_parts64(double u, double *scale_out)
{
    double t = u * LOG2E + SHIFT;
    double kf = t - SHIFT;
    double r = (u - kf * LN2_HI) - kf * LN2_LO;
    /* P by Horner in r^2 over pairs (c_2i + c_2i+1 r): 10 operations */
    double r2 = r * r;
    double a0 = 0.5 + r * EXP_C3, a1 = EXP_C4 + r * EXP_C5, a2 = EXP_C6 + r * EXP_C7;
    double a3 = EXP_C8 + r * EXP_C9, a4 = EXP_C10 + r * EXP_C11;
    double P = a0 + r2 * (a1 + r2 * (a2 + r2 * (a3 + r2 * a4)));
    int64_t tbits, shift_bits, scale_bits;
    double shift = SHIFT;
    memcpy(&tbits, &t, sizeof tbits);
    memcpy(&shift_bits, &shift, sizeof shift_bits);
    /* unsigned: far below the range, tbits - shift_bits + 1023 would overflow */
    scale_bits = (int64_t)(((uint64_t)tbits - (uint64_t)shift_bits + 1023) << 52);
    memcpy(scale_out, &scale_bits, sizeof *scale_out);
    return 1.0 + (r + r2 * P);
}

INLINE double sigmoid64(double z)
{
    double u = -z, scale;
    double p = exp_parts64(u, &scale);
    double s = 1.0 / (1.0 + p * scale);
    s = u > SIG_MAX_U ? 0.0 : s;
    return u < SIG_MIN_U ? 1.0 : s;
}

/* e^x for x <= 0 (the softmax's shifted logits): 0 below -708, where e^x
   is below the smallest normal number (a probability clipped to epsilon
   anyway); -inf gives 0 too. */
#define EXP_MIN_X -708.0
INLINE double exp_nonpositive64(double x)
{
    double scale;
    double e = exp_parts64(x, &scale) * scale;
    return x < EXP_MIN_X ? 0.0 : e;
}

/* ---- float32 ---------------------------------------------------------- */

#define LOG2E_F 1.442695f
#define LN2_HI_F 0.693359375f /* 9 significant bits: k * LN2_HI exact */
#define LN2_LO_F -2.12194440e-4f
#define SHIFT_F 12582912.0f /* 1.5 * 2^23 */
#define SIG_MAX_U_F 88.0f  /* sigma(-88) = 6e-39 < FLT_MIN; k <= 127 up to here */
#define SIG_MIN_U_F -20.0f /* e^u < 2^-28: sigma rounds to 1 */
/* e^r = 1 + r + r^2 P(r), P of degree 4 with P(0) = 1/2, minimax (3.7e-9) */
#define EXPF_C3 0.166665345f    /* 0x1.5554a4p-3 */
#define EXPF_C4 0.0416672416f   /* 0x1.55568ap-5 */
#define EXPF_C5 0.00836743787f  /* 0x1.122f28p-7 */
#define EXPF_C6 0.00138634397f  /* 0x1.6b6bf8p-10 */

INLINE float exp_parts32(float u, float *scale_out)
{
    float t = u * LOG2E_F + SHIFT_F;
    float kf = t - SHIFT_F;
    float r = (u - kf * LN2_HI_F) - kf * LN2_LO_F;
    float r2 = r * r;
    float P = (0.5f + r * EXPF_C3) + r2 * ((EXPF_C4 + r * EXPF_C5) + r2 * EXPF_C6);
    int32_t tbits, shift_bits, scale_bits;
    float shift = SHIFT_F;
    memcpy(&tbits, &t, sizeof tbits);
    memcpy(&shift_bits, &shift, sizeof shift_bits);
    scale_bits = (int32_t)(((uint32_t)tbits - (uint32_t)shift_bits + 127) << 23);
    memcpy(scale_out, &scale_bits, sizeof *scale_out);
    return 1.0f + (r + r2 * P);
}

INLINE float sigmoid32(float z)
{
    float u = -z, scale;
    float p = exp_parts32(u, &scale);
    float s = 1.0f / (1.0f + p * scale);
    s = u > SIG_MAX_U_F ? 0.0f : s;
    return u < SIG_MIN_U_F ? 1.0f : s;
}

#define EXP_MIN_X_F -87.0f /* e^-87 = 1.6e-38, just above FLT_MIN */
INLINE float exp_nonpositive32(float x)
{
    float scale;
    float e = exp_parts32(x, &scale) * scale;
    return x < EXP_MIN_X_F ? 0.0f : e;
}

/* ---- the loops -------------------------------------------------------- */

/*
 * Each loop is compiled twice on x86-64 with GCC or Clang: for AVX2 with FMA
 * and for the baseline; the module picks one when it is imported, by what
 * the CPU supports. LOOPS(suffix) defines every loop, for both dtypes, with
 * that suffix; ELEMENTWISE_LOOPS(T, ...) the three elementwise ones for one
 * element type T (float64: T = double, TS = f64, SIGMOID = sigmoid64).
 */
#define ELEMENTWISE_LOOPS(T, TS, SIGMOID, SUFFIX, ATTRIBUTE)                          \
    ATTRIBUTE static void bias_sigmoid_##TS##_##SUFFIX(                               \
        T *restrict A, const T *restrict b, Py_ssize_t m, Py_ssize_t h)               \
    {                                                                                 \
        for (Py_ssize_t i = 0; i < m; i++) {                                          \
            T *restrict row = A + i * h;                                              \
            for (Py_ssize_t j = 0; j < h; j++)                                        \
                row[j] = SIGMOID(row[j] + b[j]);                                      \
        }                                                                             \
    }                                                                                 \
    /* z and out may be the same array: element i is read before it is written */    \
    ATTRIBUTE static void sigmoid_##TS##_##SUFFIX(const T *z, T *out, Py_ssize_t n)   \
    {                                                                                 \
        for (Py_ssize_t i = 0; i < n; i++)                                            \
            out[i] = SIGMOID(z[i]);                                                   \
    }                                                                                 \
    /* D <- D * A * (1 - A); acc += column sums of D, accumulated in double */       \
    ATTRIBUTE static void sigmoid_backward_##TS##_##SUFFIX(                           \
        T *restrict D, const T *restrict A, double *restrict acc, Py_ssize_t m,       \
        Py_ssize_t h)                                                                 \
    {                                                                                 \
        for (Py_ssize_t i = 0; i < m; i++) {                                          \
            T *restrict drow = D + i * h;                                             \
            const T *restrict arow = A + i * h;                                       \
            for (Py_ssize_t j = 0; j < h; j++) {                                      \
                T a = arow[j];                                                        \
                T g = drow[j] * a * ((T)1 - a);                                       \
                drow[j] = g;                                                          \
                acc[j] += (double)g;                                                  \
            }                                                                         \
        }                                                                             \
    }

#define LOOPS(SUFFIX, ATTRIBUTE)                                                      \
    ELEMENTWISE_LOOPS(double, f64, sigmoid64, SUFFIX, ATTRIBUTE)                      \
    ELEMENTWISE_LOOPS(float, f32, sigmoid32, SUFFIX, ATTRIBUTE)                       \
    ONE_OUTPUT_LOOPS(double, f64, sigmoid64, SUFFIX, ATTRIBUTE)                       \
    ONE_OUTPUT_LOOPS(float, f32, sigmoid32, SUFFIX, ATTRIBUTE)                        \
    ALL_FINITE_LOOPS(double, f64, SUFFIX, ATTRIBUTE)                                  \
    ALL_FINITE_LOOPS(float, f32, SUFFIX, ATTRIBUTE)                                   \
    SOFTMAX_LOOPS(double, f64, exp_nonpositive64, SUFFIX, ATTRIBUTE)                  \
    SOFTMAX_LOOPS(float, f32, exp_nonpositive32, SUFFIX, ATTRIBUTE)

/*
 * For one output (k = 1: binary classes, one regression target) the thin
 * products with W2 are a dot product per row and an outer product, which
 * BLAS does no faster than these loops but only after copying A1 into its
 * own layout, once per product. Here they ride on the passes over A1 that
 * happen anyway:
 *  - forward, z2_i = sum_j A1_ij w2_j right after row i of A1 gets its sigma,
 *    while the row is in L1 cache (eight partial sums, so that the
 *    compiler can vectorise them);
 *  - backward, with g_i = G2_i: D_ij = (g_i w2_j) A_ij (1 - A_ij), the same
 *    operations as G2 W2^T followed by sigmoid_backward, with the b1
 *    gradient's column sums and sW2_j += sum_i A_ij g_i, in double.
 */
#define ONE_OUTPUT_LOOPS(T, TS, SIGMOID, SUFFIX, ATTRIBUTE)                           \
    ATTRIBUTE static void bias_sigmoid_dot_##TS##_##SUFFIX(                           \
        T *restrict A, const T *restrict b, const T *restrict w, T *restrict z,       \
        Py_ssize_t m, Py_ssize_t h)                                                   \
    {                                                                                 \
        for (Py_ssize_t i = 0; i < m; i++) {                                          \
            T *restrict row = A + i * h;                                              \
            for (Py_ssize_t j = 0; j < h; j++)                                        \
                row[j] = SIGMOID(row[j] + b[j]);                                      \
            T part[8] = {0, 0, 0, 0, 0, 0, 0, 0};                                     \
            Py_ssize_t j = 0;                                                         \
            for (; j + 8 <= h; j += 8)                                                \
                for (int l = 0; l < 8; l++)                                           \
                    part[l] += row[j + l] * w[j + l];                                 \
            for (; j < h; j++)                                                        \
                part[0] += row[j] * w[j];                                             \
            z[i] = ((part[0] + part[4]) + (part[1] + part[5])) +                      \
                   ((part[2] + part[6]) + (part[3] + part[7]));                       \
        }                                                                             \
    }                                                                                 \
    ATTRIBUTE static void sigmoid_backward_outer_##TS##_##SUFFIX(                     \
        T *restrict D, const T *restrict A, const T *restrict g, const T *restrict w, \
        double *restrict acc_b, double *restrict acc_w, Py_ssize_t m, Py_ssize_t h)   \
    {                                                                                 \
        for (Py_ssize_t i = 0; i < m; i++) {                                          \
            T *restrict drow = D + i * h;                                             \
            const T *restrict arow = A + i * h;                                       \
            T gi = g[i];                                                              \
            for (Py_ssize_t j = 0; j < h; j++) {                                      \
                T a = arow[j];                                                        \
                T d = (gi * w[j]) * a * (1 - a);                                      \
                drow[j] = d;                                                          \
                acc_b[j] += (double)d;                                                \
                acc_w[j] += (double)(a * gi);                                         \
            }                                                                         \
        }                                                                             \
    }

/*
 * Class probabilities from logits, in place, row by row (k per row):
 * softmax(z) = e^(z - max z) / sum, then, in a row where some probability
 * is below eps, each raised to eps and the row divided by its new sum.
 * The same numbers as exp(_network.log_softmax(z)) with that clipping, to
 * rounding, in one pass over the rows instead of a dozen NumPy passes.
 */
#define SOFTMAX_LOOPS(T, TS, EXP_NONPOSITIVE, SUFFIX, ATTRIBUTE)                      \
    ATTRIBUTE static void softmax_##TS##_##SUFFIX(T *restrict Z, Py_ssize_t m,        \
                                                  Py_ssize_t k, T eps)                \
    {                                                                                 \
        for (Py_ssize_t i = 0; i < m; i++) {                                          \
            T *restrict z = Z + i * k;                                                \
            T top = z[0];                                                             \
            for (Py_ssize_t j = 1; j < k; j++)                                        \
                top = z[j] > top ? z[j] : top;                                        \
            T total = 0;                                                              \
            for (Py_ssize_t j = 0; j < k; j++) {                                      \
                z[j] = EXP_NONPOSITIVE(z[j] - top);                                   \
                total += z[j];                                                        \
            }                                                                         \
            int low = 0;                                                              \
            for (Py_ssize_t j = 0; j < k; j++) {                                      \
                z[j] /= total;                                                        \
                low |= z[j] < eps;                                                    \
            }                                                                         \
            if (low) {                                                                \
                total = 0;                                                            \
                for (Py_ssize_t j = 0; j < k; j++) {                                  \
                    z[j] = z[j] < eps ? eps : z[j];                                   \
                    total += z[j];                                                    \
                }                                                                     \
                for (Py_ssize_t j = 0; j < k; j++)                                    \
                    z[j] /= total;                                                    \
            }                                                                         \
        }                                                                             \
    }

/*
 * Whether all of z is finite: z - z is 0 for a finite z and NaN for an
 * infinity or a NaN (an OR of comparisons, which the compiler vectorises).
 * The prediction pass checks Z1 = X W1 block by block, while the block is
 * in cache: a row of X with an infinity or a NaN gives its row of Z1 one
 * too (inf * w is +-inf or NaN, 0 * inf is NaN), so a finite Z1 vouches for
 * a finite X, and the pass over X that validating it would cost is saved.
 */
#define ALL_FINITE_LOOPS(T, TS, SUFFIX, ATTRIBUTE)                                    \
    ATTRIBUTE static int all_finite_##TS##_##SUFFIX(const T *restrict z, Py_ssize_t n) \
    {                                                                                 \
        int bad = 0;                                                                  \
        for (Py_ssize_t i = 0; i < n; i++)                                            \
            bad |= (z[i] - z[i]) != 0;                                                \
        return !bad;                                                                  \
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
static void (*bias_sigmoid_dot_f64)(double *, const double *, const double *, double *,
                                    Py_ssize_t, Py_ssize_t) = bias_sigmoid_dot_f64_baseline;
static void (*bias_sigmoid_dot_f32)(float *, const float *, const float *, float *,
                                    Py_ssize_t, Py_ssize_t) = bias_sigmoid_dot_f32_baseline;
static void (*sigmoid_backward_outer_f64)(double *, const double *, const double *,
                                          const double *, double *, double *, Py_ssize_t,
                                          Py_ssize_t) = sigmoid_backward_outer_f64_baseline;
static void (*sigmoid_backward_outer_f32)(float *, const float *, const float *,
                                          const float *, double *, double *, Py_ssize_t,
                                          Py_ssize_t) = sigmoid_backward_outer_f32_baseline;
static int (*all_finite_f64)(const double *, Py_ssize_t) = all_finite_f64_baseline;
static int (*all_finite_f32)(const float *, Py_ssize_t) = all_finite_f32_baseline;
static void (*softmax_f64)(double *, Py_ssize_t, Py_ssize_t, double) = softmax_f64_baseline;
static void (*softmax_f32)(float *, Py_ssize_t, Py_ssize_t, float) = softmax_f32_baseline;
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
        all_finite_f64 = all_finite_f64_avx2;
        all_finite_f32 = all_finite_f32_avx2;
        bias_sigmoid_dot_f64 = bias_sigmoid_dot_f64_avx2;
        bias_sigmoid_dot_f32 = bias_sigmoid_dot_f32_avx2;
        sigmoid_backward_outer_f64 = sigmoid_backward_outer_f64_avx2;
        sigmoid_backward_outer_f32 = sigmoid_backward_outer_f32_avx2;
        softmax_f64 = softmax_f64_avx2;
        softmax_f32 = softmax_f32_avx2;
        simd = "avx2";
    }
#endif
}

/* ---- the blocked passes (_cpass.h), on SciPy's BLAS -------------------- */

typedef void (*dgemm_t)(char *, char *, int *, int *, int *, double *, double *, int *,
                        double *, int *, double *, double *, int *);
typedef void (*sgemm_t)(char *, char *, int *, int *, int *, float *, float *, int *,
                        float *, int *, float *, float *, int *);
static dgemm_t dgemm = NULL;
static sgemm_t sgemm = NULL;

#if defined(__GNUC__) || defined(__clang__)
#define PREFETCH(address) __builtin_prefetch(address)
#else
#define PREFETCH(address) ((void)0)
#endif

#if defined(__clang__)
#define NO_CONTRACT
#define CLANG_NO_CONTRACT _Pragma("clang fp contract(off)")
#elif defined(__GNUC__)
#define NO_CONTRACT __attribute__((optimize("fp-contract=off")))
#define CLANG_NO_CONTRACT
#else
#define NO_CONTRACT
#define CLANG_NO_CONTRACT
#endif

/* ---- a team of threads for the parts of a batch ----------------------- */

/*
 * A mini-batch epoch cuts each batch into parts whose gradient sums are
 * added in part order (_cpass.h). Helpers, Python threads of skbackprop's
 * pool each running team_help with the GIL released, and the epoch's own
 * thread claim the parts of each batch in turn. The epoch's thread never
 * waits for a helper to arrive, only for the parts a helper has claimed:
 * a helper that starts late, or never, slows nothing down, and the numbers
 * do not depend on who did which part.
 *
 * The claim word holds the batch's generation in bits 32-63 (never 0 for a
 * batch), its number of parts in bits 16-31 and the next part to claim in
 * bits 0-15; a claim is a compare-and-swap of it. The generation keeps a
 * helper that read the word of one batch from claiming a part of the next.
 * The epoch's thread writes the batch's description, then publishes the
 * word (release), which a claim acquires.
 */
/* The claim word is a 64-bit atomic: where that is not lock-free (some
   32-bit targets, which would need libatomic) the parts run on one thread. */
#if (defined(__GNUC__) || defined(__clang__)) && !defined(_WIN32) &&                    \
    defined(__GCC_ATOMIC_LLONG_LOCK_FREE) && __GCC_ATOMIC_LLONG_LOCK_FREE == 2
#define HAVE_TEAM 1
#include <sched.h>
#define ATOMIC_LOAD(p) __atomic_load_n(p, __ATOMIC_ACQUIRE)
#define ATOMIC_STORE(p, v) __atomic_store_n(p, v, __ATOMIC_RELEASE)
#define ATOMIC_ADD(p, v) __atomic_fetch_add(p, v, __ATOMIC_ACQ_REL)
#define ATOMIC_CAS(p, expected, desired)                                              \
    __atomic_compare_exchange_n(p, expected, desired, 0, __ATOMIC_ACQ_REL,            \
                                __ATOMIC_ACQUIRE)
#if defined(__x86_64__) || defined(__i386__)
#define CPU_RELAX() __builtin_ia32_pause()
#elif defined(__aarch64__)
#define CPU_RELAX() __asm__ __volatile__("yield")
#else
#define CPU_RELAX() ((void)0)
#endif
#else
#define HAVE_TEAM 0
#endif

typedef struct {
    uint64_t claim;
    char pad1[56]; /* the claim word and the counters on separate cache lines */
    int parts_done; /* parts helpers finished in this generation */
    int stop;
    int busy; /* an epoch is using the team: one at a time */
    long helper_parts; /* parts helpers did in all (team_helper_parts) */
    char pad2[48];
    void (*work)(void *job, int part); /* set before the first generation */
    void *job;
} Team;

/* Spin a while, then let other threads run: waits are usually a few
   microseconds (a batch's step), but a core may be shared. */
#define SPINS_BEFORE_YIELD 4096

#if HAVE_TEAM
static void
relax(unsigned *spins)
{
    if (*spins < SPINS_BEFORE_YIELD) {
        ++*spins;
        CPU_RELAX();
    }
    else {
        sched_yield();
    }
}

/* Claims the next part of generation `generation`; 0 when none is left. */
static int
team_claim(Team *team, uint64_t generation, int *part)
{
    uint64_t word = ATOMIC_LOAD(&team->claim);
    for (;;) {
        uint64_t next = word & 0xffff, count = (word >> 16) & 0xffff;
        if (word >> 32 != generation || next >= count)
            return 0;
        if (ATOMIC_CAS(&team->claim, &word, word + 1)) {
            *part = (int)next;
            return 1;
        }
    }
}

/* A helper: does parts until the team is stopped. */
static void
team_help(Team *team)
{
    unsigned spins = 0;
    while (!ATOMIC_LOAD(&team->stop)) {
        uint64_t generation = ATOMIC_LOAD(&team->claim) >> 32;
        int part;
        if (generation != 0 && team_claim(team, generation, &part)) {
            team->work(team->job, part);
            __atomic_fetch_add(&team->helper_parts, 1, __ATOMIC_RELAXED);
            ATOMIC_ADD(&team->parts_done, 1);
            spins = 0;
        }
        else {
            relax(&spins);
        }
    }
}
#endif

/* work(job, part) for each of the `count` parts of generation `generation`
   (not 0), on the team's threads and this one; returns when all are done. */
static void
team_run(Team *team, uint32_t generation, int count, void (*work)(void *, int), void *job)
{
#if HAVE_TEAM
    if (team != NULL && count > 1 && generation != 0) {
        team->work = work, team->job = job;
        __atomic_store_n(&team->parts_done, 0, __ATOMIC_RELAXED);
        ATOMIC_STORE(&team->claim, (uint64_t)generation << 32 | (uint64_t)count << 16);
        int part, mine = 0;
        while (team_claim(team, generation, &part)) {
            work(job, part);
            mine++;
        }
        unsigned spins = 0;
        while (ATOMIC_LOAD(&team->parts_done) + mine < count)
            relax(&spins);
        return;
    }
#endif
    for (int part = 0; part < count; part++)
        work(job, part);
}

/* How many parts a batch of r rows is cut into: the largest power of two
   (so that 2, 4 or 8 threads get even shares) that leaves each part at least
   part_rows rows, at most max_parts. _kernels.minibatch_parts computes the
   same. */
static Py_ssize_t
batch_parts(Py_ssize_t r, Py_ssize_t part_rows, Py_ssize_t max_parts)
{
    Py_ssize_t parts = 1;
    while (parts * 2 <= max_parts && r / (parts * 2) >= part_rows)
        parts *= 2;
    return parts;
}

/* The output activations, numbered as _kernels.OUTPUT_KINDS numbers them. */
enum { OUT_SIGMOID = 0, OUT_SOFTMAX = 1, OUT_IDENTITY = 2 };

#define REAL double
#define SUFFIX f64
#define GEMM dgemm
#define EXP exp
#include "_cpass.h"
#undef REAL
#undef SUFFIX
#undef GEMM
#undef EXP

#define REAL float
#define SUFFIX f32
#define GEMM sgemm
#define EXP expf
#include "_cpass.h"
#undef REAL
#undef SUFFIX
#undef GEMM
#undef EXP

/* dgemm and sgemm from scipy.linalg.cython_blas's exported C API; on any
   failure the passes stay unavailable (module attribute BLAS is False) and
   the package runs the NumPy pass. */
static void *
blas_function(PyObject *capi, const char *name)
{
    PyObject *capsule = PyDict_GetItemString(capi, name); /* borrowed */
    if (capsule == NULL || !PyCapsule_CheckExact(capsule))
        return NULL;
    return PyCapsule_GetPointer(capsule, PyCapsule_GetName(capsule));
}

static void
load_blas(void)
{
    PyObject *module = PyImport_ImportModule("scipy.linalg.cython_blas");
    PyObject *capi = module == NULL ? NULL : PyObject_GetAttrString(module, "__pyx_capi__");
    if (capi != NULL && PyDict_Check(capi)) {
        dgemm = (dgemm_t)blas_function(capi, "dgemm");
        sgemm = (sgemm_t)blas_function(capi, "sgemm");
    }
    if (dgemm == NULL || sgemm == NULL)
        dgemm = NULL, sgemm = NULL;
    Py_XDECREF(capi);
    Py_XDECREF(module);
    PyErr_Clear();
}

/* ---- Python wrappers --------------------------------------------------- */

/* a * b for sizes a, b >= 0, or -1 when the product does not fit in
   Py_ssize_t (or a size is negative): every size check below then fails. */
static Py_ssize_t
product(Py_ssize_t a, Py_ssize_t b)
{
    if (a < 0 || b < 0 || (b != 0 && a > PY_SSIZE_T_MAX / b))
        return -1;
    return a * b;
}

/* Buffers must hold exactly (or, when `at_least`, at least) `count` items of
   `itemsize` bytes. */
static int
check_items(Py_buffer *view, Py_ssize_t count, Py_ssize_t itemsize, const char *name,
            int at_least)
{
    Py_ssize_t bytes = product(count, itemsize);
    if (bytes < 0 || view->itemsize != itemsize ||
        (at_least ? view->len < bytes : view->len != bytes)) {
        PyErr_Format(PyExc_ValueError,
                     "_ckernels: %s has %zd bytes of items of %zd bytes, expected %s%zd "
                     "items of %zd bytes",
                     name, view->len, view->itemsize, at_least ? "at least " : "", count,
                     itemsize);
        return -1;
    }
    return 0;
}

static int
check_size(Py_buffer *view, Py_ssize_t count, Py_ssize_t itemsize, const char *name)
{
    return check_items(view, count, itemsize, name, 0);
}

static int
check_room(Py_buffer *view, Py_ssize_t count, Py_ssize_t itemsize, const char *name)
{
    return check_items(view, count, itemsize, name, 1);
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
    if (check_size(&A, product(m, h), size, "A") == 0 && check_size(&b, h, size, "b") == 0) {
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
py_softmax(PyObject *self, PyObject *args)
{
    Py_buffer Z;
    Py_ssize_t m, k;
    double eps;
    int is_double;
    if (!PyArg_ParseTuple(args, "w*nndp", &Z, &m, &k, &eps, &is_double))
        return NULL;
    Py_ssize_t size = is_double ? sizeof(double) : sizeof(float);
    PyObject *result = NULL;
    if (k < 1) {
        PyErr_SetString(PyExc_ValueError, "_ckernels: k must be at least 1");
    }
    else if (check_size(&Z, product(m, k), size, "Z") == 0) {
        Py_BEGIN_ALLOW_THREADS
        if (is_double)
            softmax_f64((double *)Z.buf, m, k, eps);
        else
            softmax_f32((float *)Z.buf, m, k, (float)eps);
        Py_END_ALLOW_THREADS
        result = Py_NewRef(Py_None);
    }
    PyBuffer_Release(&Z);
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
    if (check_size(&D, product(m, h), size, "D") == 0 && check_size(&A, product(m, h), size, "A") == 0 &&
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

static int
check_blas_dims(Py_ssize_t n, Py_ssize_t h, Py_ssize_t k, Py_ssize_t block)
{
    if (dgemm == NULL) {
        PyErr_SetString(PyExc_RuntimeError,
                        "_ckernels: SciPy's BLAS was not found (BLAS is False)");
        return -1;
    }
    if (n < 1 || h < 1 || k < 1 || block < 1 || n > INT_MAX || h > INT_MAX ||
        k > INT_MAX || block > INT_MAX) {
        PyErr_SetString(PyExc_ValueError,
                        "_ckernels: sizes must be between 1 and INT_MAX for BLAS");
        return -1;
    }
    return 0;
}

/* The buffers one call holds, released together. */
typedef struct {
    Py_buffer views[24];
    int count;
} BufferSet;

/* The data of obj, which must hold `count` items of `itemsize` bytes
   (at least that many when `at_least`); NULL with an exception if not. */
static void *
take_buffer(BufferSet *set, PyObject *obj, int writable, Py_ssize_t count,
            Py_ssize_t itemsize, const char *name, int at_least)
{
    Py_buffer *view = &set->views[set->count];
    if (PyObject_GetBuffer(obj, view, writable ? PyBUF_WRITABLE : PyBUF_SIMPLE) < 0)
        return NULL;
    set->count++;
    if (check_items(view, count, itemsize, name, at_least))
        return NULL;
    return view->buf;
}

static void
release_buffers(BufferSet *set)
{
    while (set->count > 0)
        PyBuffer_Release(&set->views[--set->count]);
}

/* The row order of an epoch: m int64 row numbers of X (x_rows rows; a
   subset when fit holds rows out for validation), each checked, since the C
   loop reads X's rows by them. */
static const int64_t *
take_order(BufferSet *set, PyObject *obj, Py_ssize_t m, Py_ssize_t x_rows)
{
    Py_buffer *view = &set->views[set->count];
    if (PyObject_GetBuffer(obj, view, PyBUF_FORMAT) < 0)
        return NULL;
    set->count++;
    const char *format = view->format == NULL ? "B" : view->format;
    char code = format[0] == '<' || format[0] == '=' || format[0] == '@' ? format[1]
                                                                        : format[0];
    if ((code != 'l' && code != 'q') || check_size(view, m, sizeof(int64_t), "order")) {
        if (!PyErr_Occurred())
            PyErr_SetString(PyExc_TypeError, "_ckernels: order must hold int64 items");
        return NULL;
    }
    const int64_t *rows = view->buf;
    for (Py_ssize_t i = 0; i < m; i++) {
        if (rows[i] < 0 || rows[i] >= x_rows) {
            PyErr_Format(PyExc_IndexError,
                         "_ckernels: order[%zd] = %lld is not a row of X (0 to %zd)", i,
                         (long long)rows[i], x_rows - 1);
            return NULL;
        }
    }
    return rows;
}

#define N_SUMS_BUFFERS 13

static PyObject *
py_gradient_sums(PyObject *self, PyObject *args)
{
    /* X, Y, W1, b1, W2, b2, sW1, sb1, sW2, sb2, A1, D1, A2 */
    Py_buffer v[N_SUMS_BUFFERS], w;
    PyObject *w_obj, *order_o, *Xg_o, *Yg_o, *wg_o;
    Py_ssize_t m, n, h, k, block, x_rows;
    int out_kind, is_double;
    memset(v, 0, sizeof v);
    memset(&w, 0, sizeof w);
    if (!PyArg_ParseTuple(args, "y*y*Oy*y*y*y*w*w*w*w*w*w*w*nnnnnipnOOOO", &v[0], &v[1],
                          &w_obj, &v[2], &v[3], &v[4], &v[5], &v[6], &v[7], &v[8],
                          &v[9], &v[10], &v[11], &v[12], &m, &n, &h, &k, &block,
                          &out_kind, &is_double, &x_rows, &order_o, &Xg_o, &Yg_o, &wg_o))
        return NULL;
    int has_w = w_obj != Py_None, has_order = order_o != Py_None;
    PyObject *result = NULL;
    double *acc = NULL;
    Py_ssize_t size = is_double ? sizeof(double) : sizeof(float);
    /* the index and gather buffers of a pass over some rows of X */
    BufferSet set = {.count = 0};
    const int64_t *order = NULL;
    void *Xg = NULL, *Yg = NULL, *wg = NULL;
    if (has_w && PyObject_GetBuffer(w_obj, &w, PyBUF_SIMPLE) < 0) {
        has_w = 0;
        goto done;
    }
    if (check_blas_dims(n, h, k, block) < 0)
        goto done;
    /* m rows are passed over: the rows order names, or the x_rows rows of X */
    if (m < 0 || x_rows < 0 || (!has_order && m != x_rows) || out_kind < OUT_SIGMOID ||
        out_kind > OUT_IDENTITY) {
        PyErr_SetString(PyExc_ValueError, "_ckernels: bad row count or output kind");
        goto done;
    }
    {
        const char *names[] = {"X",  "Y",   "W1",  "b1",  "W2", "b2",
                               "sW1", "sb1", "sW2", "sb2", "A1", "D1", "A2"};
        Py_ssize_t counts[] = {product(x_rows, n), product(x_rows, k), product(n, h), h, product(h, k), k, product(n, h),
                               h,     product(h, k), k,     product(block, h), product(block, h), product(block, k)};
        for (int i = 0; i < N_SUMS_BUFFERS; i++) {
            int bad = i < 10 ? check_size(&v[i], counts[i], size, names[i])
                             : check_room(&v[i], counts[i], size, names[i]);
            if (bad)
                goto done;
        }
        if (has_w && check_size(&w, x_rows, size, "sample_weight") < 0)
            goto done;
    }
    if (has_order &&
        ((order = take_order(&set, order_o, m, x_rows)) == NULL ||
         (Xg = take_buffer(&set, Xg_o, 1, product(block, n), size, "Xg", 1)) == NULL ||
         (Yg = take_buffer(&set, Yg_o, 1, product(block, k), size, "Yg", 1)) == NULL ||
         (has_w && (wg = take_buffer(&set, wg_o, 1, block, size, "wg", 1)) == NULL)))
        goto done;
    acc = PyMem_RawCalloc(2 * h + k, sizeof(double));
    if (acc == NULL) {
        PyErr_NoMemory();
        goto done;
    }
    double loss_sum;
    Py_BEGIN_ALLOW_THREADS
    if (is_double) {
        Gather_f64 gather = {.order = order, .X = Xg, .Y = Yg, .w = wg};
        loss_sum = gradient_sums_f64(
            v[0].buf, v[1].buf, has_w ? w.buf : NULL, has_order ? &gather : NULL, v[2].buf,
            v[3].buf, v[4].buf, v[5].buf, v[6].buf, v[7].buf, v[8].buf, v[9].buf,
            v[10].buf, v[11].buf, v[12].buf, acc, acc + h, m, n, h, k, block, out_kind,
            0x1p-52);
    }
    else {
        Gather_f32 gather = {.order = order, .X = Xg, .Y = Yg, .w = wg};
        loss_sum = gradient_sums_f32(
            v[0].buf, v[1].buf, has_w ? w.buf : NULL, has_order ? &gather : NULL, v[2].buf,
            v[3].buf, v[4].buf, v[5].buf, v[6].buf, v[7].buf, v[8].buf, v[9].buf,
            v[10].buf, v[11].buf, v[12].buf, acc, acc + h, m, n, h, k, block, out_kind,
            0x1p-23f);
    }
    Py_END_ALLOW_THREADS
    result = PyFloat_FromDouble(loss_sum);
done:
    release_buffers(&set);
    PyMem_RawFree(acc);
    for (int i = 0; i < N_SUMS_BUFFERS; i++)
        if (v[i].obj != NULL)
            PyBuffer_Release(&v[i]);
    if (has_w)
        PyBuffer_Release(&w);
    return result;
}

#define N_PREDICT_BUFFERS 7

static PyObject *
py_predict_logits(PyObject *self, PyObject *args)
{
    /* X, W1, b1, W2, b2, A1, out */
    Py_buffer v[N_PREDICT_BUFFERS];
    Py_ssize_t m, n, h, k, block;
    int is_double;
    memset(v, 0, sizeof v);
    if (!PyArg_ParseTuple(args, "y*y*y*y*y*w*w*nnnnnp", &v[0], &v[1], &v[2], &v[3],
                          &v[4], &v[5], &v[6], &m, &n, &h, &k, &block, &is_double))
        return NULL;
    PyObject *result = NULL;
    Py_ssize_t size = is_double ? sizeof(double) : sizeof(float);
    if (check_blas_dims(n, h, k, block) < 0)
        goto done;
    if (m < 0) {
        PyErr_SetString(PyExc_ValueError, "_ckernels: bad row count");
        goto done;
    }
    {
        const char *names[] = {"X", "W1", "b1", "W2", "b2", "A1", "out"};
        Py_ssize_t counts[] = {product(m, n), product(n, h), h, product(h, k), k, product(block, h), product(m, k)};
        for (int i = 0; i < N_PREDICT_BUFFERS; i++) {
            int bad = i == 5 ? check_room(&v[i], counts[i], size, names[i])
                             : check_size(&v[i], counts[i], size, names[i]);
            if (bad)
                goto done;
        }
    }
    int finite;
    Py_BEGIN_ALLOW_THREADS
    if (is_double)
        finite = predict_logits_f64(v[0].buf, v[1].buf, v[2].buf, v[3].buf, v[4].buf,
                                    v[5].buf, v[6].buf, m, n, h, k, block);
    else
        finite = predict_logits_f32(v[0].buf, v[1].buf, v[2].buf, v[3].buf, v[4].buf,
                                    v[5].buf, v[6].buf, m, n, h, k, block);
    Py_END_ALLOW_THREADS
    result = PyBool_FromLong(finite);
done:
    for (int i = 0; i < N_PREDICT_BUFFERS; i++)
        if (v[i].obj != NULL)
            PyBuffer_Release(&v[i]);
    return result;
}

static PyObject *
py_descent_step(PyObject *self, PyObject *args)
{
    /* param, grad[, velocity] for each of W1, b1, W2, b2 */
    PyObject *params, *grads, *velocities;
    double alpha, momentum;
    int nesterov, is_double;
    if (!PyArg_ParseTuple(args, "OOOddpp", &params, &grads, &velocities, &alpha,
                          &momentum, &nesterov, &is_double))
        return NULL;
    int with_velocity = velocities != Py_None;
    Py_ssize_t size = is_double ? sizeof(double) : sizeof(float);
    if (!PyTuple_Check(params) || !PyTuple_Check(grads) ||
        (with_velocity && !PyTuple_Check(velocities)) || PyTuple_GET_SIZE(params) != 4 ||
        PyTuple_GET_SIZE(grads) != 4 ||
        (with_velocity && PyTuple_GET_SIZE(velocities) != 4)) {
        PyErr_SetString(PyExc_TypeError, "_ckernels: expected tuples of 4 arrays");
        return NULL;
    }
    for (Py_ssize_t a = 0; a < 4; a++) {
        Py_buffer p, g, v;
        if (PyObject_GetBuffer(PyTuple_GET_ITEM(params, a), &p, PyBUF_WRITABLE) < 0)
            return NULL;
        if (PyObject_GetBuffer(PyTuple_GET_ITEM(grads, a), &g, PyBUF_SIMPLE) < 0) {
            PyBuffer_Release(&p);
            return NULL;
        }
        if (with_velocity &&
            PyObject_GetBuffer(PyTuple_GET_ITEM(velocities, a), &v, PyBUF_WRITABLE) < 0) {
            PyBuffer_Release(&p);
            PyBuffer_Release(&g);
            return NULL;
        }
        Py_ssize_t count = p.len / size;
        int bad = check_size(&p, count, size, "param") < 0 ||
                  check_size(&g, count, size, "grad") < 0 ||
                  (with_velocity && check_size(&v, count, size, "velocity") < 0);
        if (!bad) {
            if (is_double)
                descent_step_f64(p.buf, g.buf, with_velocity ? v.buf : NULL, count, alpha,
                                 momentum, nesterov);
            else
                descent_step_f32(p.buf, g.buf, with_velocity ? v.buf : NULL, count,
                                 (float)alpha, (float)momentum, nesterov);
        }
        PyBuffer_Release(&p);
        PyBuffer_Release(&g);
        if (with_velocity)
            PyBuffer_Release(&v);
        if (bad)
            return NULL;
    }
    Py_RETURN_NONE;
}


/* The team's Python side: a capsule, so that it lives until its last
   helper has let go of it, even a helper that only starts after the epoch. */
#define TEAM_NAME "skbackprop._ckernels.Team"
#define MAX_PARTS 64

static void
team_free(PyObject *capsule)
{
    PyMem_RawFree(PyCapsule_GetPointer(capsule, TEAM_NAME));
}

static PyObject *
py_team_new(PyObject *self, PyObject *args)
{
    Team *team = PyMem_RawCalloc(1, sizeof(Team));
    if (team == NULL)
        return PyErr_NoMemory();
    PyObject *capsule = PyCapsule_New(team, TEAM_NAME, team_free);
    if (capsule == NULL)
        PyMem_RawFree(team);
    return capsule;
}

static PyObject *
py_team_help(PyObject *self, PyObject *capsule)
{
    Team *team = PyCapsule_GetPointer(capsule, TEAM_NAME);
    if (team == NULL)
        return NULL;
#if HAVE_TEAM
    Py_BEGIN_ALLOW_THREADS
    team_help(team);
    Py_END_ALLOW_THREADS
#endif
    Py_RETURN_NONE;
}

static PyObject *
py_team_stop(PyObject *self, PyObject *capsule)
{
    Team *team = PyCapsule_GetPointer(capsule, TEAM_NAME);
    if (team == NULL)
        return NULL;
#if HAVE_TEAM
    ATOMIC_STORE(&team->stop, 1);
#endif
    Py_RETURN_NONE;
}

static PyObject *
py_team_helper_parts(PyObject *self, PyObject *capsule)
{
    Team *team = PyCapsule_GetPointer(capsule, TEAM_NAME);
    if (team == NULL)
        return NULL;
#if HAVE_TEAM
    return PyLong_FromLong(__atomic_load_n(&team->helper_parts, __ATOMIC_ACQUIRE));
#else
    return PyLong_FromLong(0);
#endif
}

static PyObject *
py_minibatch_epoch(PyObject *self, PyObject *args)
{
    PyObject *X_o, *Y_o, *w_o, *order_o, *params_o, *sums_o, *vel_o, *A1_o, *D1_o, *A2_o;
    PyObject *Xbuf_o, *Ybuf_o, *wbuf_o, *losses_o, *weights_o, *team_o;
    Py_ssize_t m, x_rows, n, h, k, batch, block, part_rows, max_parts;
    int out_kind, nesterov, is_double;
    double alpha, momentum, l2;
    if (!PyArg_ParseTuple(args, "OOOOO!O!OOOOOOOOOnnnnnnnidppddnnO", &X_o, &Y_o, &w_o,
                          &order_o, &PyTuple_Type, &params_o, &PyTuple_Type, &sums_o,
                          &vel_o, &A1_o, &D1_o, &A2_o, &Xbuf_o, &Ybuf_o, &wbuf_o,
                          &losses_o, &weights_o, &m, &x_rows, &n, &h, &k, &batch, &block,
                          &out_kind, &alpha, &nesterov, &is_double, &l2, &momentum,
                          &part_rows, &max_parts, &team_o))
        return NULL;
    if (check_blas_dims(n, h, k, block) < 0)
        return NULL;
    Team *team = NULL;
    if (team_o != Py_None && (team = PyCapsule_GetPointer(team_o, TEAM_NAME)) == NULL)
        return NULL;
    /* m rows are trained on: the rows order names, or the x_rows rows of X
       in turn (order None) */
    if (m < 0 || x_rows < 0 || (order_o == Py_None && m != x_rows) || batch < 1 ||
        part_rows < 1 || max_parts < 1 || max_parts > MAX_PARTS ||
        out_kind < OUT_SIGMOID || out_kind > OUT_IDENTITY ||
        PyTuple_GET_SIZE(params_o) != 4 || PyTuple_GET_SIZE(sums_o) != 4 ||
        (momentum != 0 && (!PyTuple_Check(vel_o) || PyTuple_GET_SIZE(vel_o) != 4))) {
        PyErr_SetString(PyExc_ValueError, "_ckernels: bad arguments to minibatch_epoch");
        return NULL;
    }
#if HAVE_TEAM
    /* Two epochs on one team would claim each other's parts. */
    int idle = 0;
    if (team != NULL && !ATOMIC_CAS(&team->busy, &idle, 1)) {
        PyErr_SetString(PyExc_ValueError, "_ckernels: the team is in use by another epoch");
        return NULL;
    }
#endif
    Py_ssize_t size = is_double ? sizeof(double) : sizeof(float);
    Py_ssize_t n_batches = m / batch + (m % batch != 0);
    Py_ssize_t rows = batch < m ? batch : m;
    Py_ssize_t sizes[4] = {product(n, h), h, product(h, k), k};
    static const char *param_names[4] = {"W1", "b1", "W2", "b2"};
    void *params[4], *sums[4], *velocities[4] = {NULL, NULL, NULL, NULL};
    BufferSet set = {.count = 0};
    PyObject *result = NULL;
    void *parts = NULL;
    int has_w = w_o != Py_None, has_order = order_o != Py_None;
    void *X = take_buffer(&set, X_o, 0, product(x_rows, n), size, "X", 0);
    void *Y = X ? take_buffer(&set, Y_o, 0, product(x_rows, k), size, "Y", 0) : NULL;
    void *w = NULL, *wbuf = NULL;
    const int64_t *order = NULL;
    if (Y == NULL)
        goto done;
    if (has_w && ((w = take_buffer(&set, w_o, 0, x_rows, size, "sample_weight", 0)) == NULL ||
                  (has_order &&
                   (wbuf = take_buffer(&set, wbuf_o, 1, rows, size, "wbuf", 1)) == NULL)))
        goto done;
    if (has_order && (order = take_order(&set, order_o, m, x_rows)) == NULL)
        goto done;
    for (int a = 0; a < 4; a++) {
        params[a] = take_buffer(&set, PyTuple_GET_ITEM(params_o, a), 1, sizes[a], size,
                                param_names[a], 0);
        sums[a] = params[a] ? take_buffer(&set, PyTuple_GET_ITEM(sums_o, a), 1, sizes[a],
                                          size, "gradient sums", 0)
                            : NULL;
        if (sums[a] == NULL)
            goto done;
        if (momentum != 0 &&
            (velocities[a] = take_buffer(&set, PyTuple_GET_ITEM(vel_o, a), 1, sizes[a],
                                         size, "velocity", 0)) == NULL)
            goto done;
    }
    void *A1 = take_buffer(&set, A1_o, 1, product(block, h), size, "A1", 1);
    void *D1 = A1 ? take_buffer(&set, D1_o, 1, product(block, h), size, "D1", 1) : NULL;
    void *A2 = D1 ? take_buffer(&set, A2_o, 1, product(block, k), size, "A2", 1) : NULL;
    void *Xbuf = NULL, *Ybuf = NULL;
    if (A2 == NULL)
        goto done;
    if (has_order && ((Xbuf = take_buffer(&set, Xbuf_o, 1, product(rows, n), size, "Xbuf", 1)) ==
                          NULL ||
                      (Ybuf = take_buffer(&set, Ybuf_o, 1, product(rows, k), size, "Ybuf", 1)) ==
                          NULL))
        goto done;
    double *losses = take_buffer(&set, losses_o, 1, n_batches, sizeof(double), "losses", 0);
    double *weights =
        losses ? take_buffer(&set, weights_o, 1, n_batches, sizeof(double), "weights", 0)
               : NULL;
    if (weights == NULL)
        goto done;
    /* Parts other than the first have part_block rows of workspace: a batch
       of several parts has fewer than 2 part_rows rows in each (batch_parts),
       and at most half of a batch. */
    Py_ssize_t n_parts = batch_parts(rows, part_rows, max_parts);
    Py_ssize_t part_block = block;
    if (part_block > 2 * part_rows)
        part_block = 2 * part_rows;
    if (part_block > rows / 2 + 1)
        part_block = rows / 2 + 1;
    parts = is_double ? (void *)new_parts_f64(n_parts, n, h, k, part_block, sums[0],
                                              sums[2], A1, D1, A2)
                      : (void *)new_parts_f32(n_parts, n, h, k, part_block, sums[0],
                                              sums[2], A1, D1, A2);
    if (parts == NULL) {
        PyErr_NoMemory();
        goto done;
    }
    Py_ssize_t done_batches;
    PyThreadState *thread_state = PyEval_SaveThread();
    if (is_double)
        done_batches = minibatch_epoch_f64(
            X, Y, w, order, (double *const *)params, (double *const *)sums,
            (double *const *)velocities, sizes, parts, Xbuf, Ybuf, wbuf, losses, weights, m,
            n, h, k, batch, block, part_rows, max_parts, part_block, out_kind, alpha,
            momentum, nesterov, l2, 0x1p-52, team, &thread_state);
    else
        done_batches = minibatch_epoch_f32(
            X, Y, w, order, (float *const *)params, (float *const *)sums,
            (float *const *)velocities, sizes, parts, Xbuf, Ybuf, wbuf, losses, weights, m,
            n, h, k, batch, block, part_rows, max_parts, part_block, out_kind, alpha,
            momentum, nesterov, l2, 0x1p-23f, team, &thread_state);
    PyEval_RestoreThread(thread_state);
    if (done_batches >= 0)
        result = PyLong_FromSsize_t(done_batches);
done:
    PyMem_RawFree(parts);
    release_buffers(&set);
#if HAVE_TEAM
    if (team != NULL)
        ATOMIC_STORE(&team->busy, 0);
#endif
    return result;
}

static PyMethodDef methods[] = {
    {"minibatch_epoch", py_minibatch_epoch, METH_VARARGS,
     "minibatch_epoch(X, Y, sample_weight, order, params, sums, velocities, A1, D1, A2, "
     "Xbuf, Ybuf, wbuf, losses, weights, m, x_rows, n, h, k, batch, block, out_kind, alpha, "
     "nesterov, is_double, l2, momentum, part_rows, max_parts, team) -> batches done: "
     "one epoch of mini-batch gradient descent (see _kernels.minibatch_epoch), each "
     "batch in parts done by the team's threads (team None: this thread alone)."},
    {"team_new", py_team_new, METH_NOARGS,
     "team_new() -> a team for minibatch_epoch, to be stopped with team_stop."},
    {"team_help", py_team_help, METH_O,
     "team_help(team): do parts of the team's batches until team_stop (at once when "
     "TEAM is False)."},
    {"team_stop", py_team_stop, METH_O, "team_stop(team): let the team's helpers return."},
    {"team_helper_parts", py_team_helper_parts, METH_O,
     "team_helper_parts(team) -> how many parts the team's helpers did."},
    {"descent_step", py_descent_step, METH_VARARGS,
     "descent_step(params, grads, velocities, alpha, momentum, nesterov, is_double): "
     "_network.gradient_step (velocities None) or momentum_step, in place."},
    {"gradient_sums", py_gradient_sums, METH_VARARGS,
     "gradient_sums(X, Y, sample_weight, W1, b1, W2, b2, sW1, sb1, sW2, sb2, A1, D1, "
     "A2, m, n, h, k, block, out_kind, is_double, x_rows, order, Xg, Yg, wg) -> "
     "loss_sum: _network.gradient_sums for sigmoid hidden units, in blocks of `block` "
     "rows: over the x_rows rows of X, or (order not None) over the m rows order names, "
     "each block gathered into Xg, Yg, wg."},
    {"predict_logits", py_predict_logits, METH_VARARGS,
     "predict_logits(X, W1, b1, W2, b2, A1, out, m, n, h, k, block, is_double) -> "
     "bool: out <- sigmoid(X W1 + b1) W2 + b2, in blocks of `block` rows; whether "
     "all of X W1 was finite."},
    {"bias_sigmoid", py_bias_sigmoid, METH_VARARGS,
     "bias_sigmoid(A, b, m, h, is_double): A <- sigmoid(A + b) in place."},
    {"sigmoid", py_sigmoid, METH_VARARGS,
     "sigmoid(z, out, n, is_double): out <- sigmoid(z) (out may be z)."},
    {"softmax", py_softmax, METH_VARARGS,
     "softmax(Z, m, k, eps, is_double): each row of Z (m x k) <- softmax of the row, "
     "in place; a row with a probability below eps gets it raised to eps and is "
     "divided by its new sum."},
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
    load_blas();
    PyObject *m = PyModule_Create(&module);
    if (m != NULL && (PyModule_AddStringConstant(m, "SIMD", simd) < 0 ||
                      PyModule_AddObjectRef(m, "BLAS", dgemm ? Py_True : Py_False) < 0 ||
                      PyModule_AddObjectRef(m, "TEAM", HAVE_TEAM ? Py_True : Py_False) < 0 ||
                      PyModule_AddIntConstant(m, "MAX_PARTS", MAX_PARTS) < 0)) {
        Py_DECREF(m);
        return NULL;
    }
    return m;
}
