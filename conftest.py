import os

# One BLAS thread: the tests' matrices are small, and threads only add noise.
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
