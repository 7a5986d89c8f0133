"""Build the optional C kernels; everything else is declared in pyproject.toml.

``optional=True``: without a working C compiler the build goes on without
``skbackprop._ckernels`` and the package uses its NumPy loops instead
(skbackprop/_kernels.py).
"""

import sys

from setuptools import Extension, setup

# -O3 turns on the loop vectoriser (GCC's -O2 vectorises only cheap loops).
compile_args = [] if sys.platform == "win32" else ["-O3", "-fno-trapping-math"]

setup(
    ext_modules=[
        Extension(
            "skbackprop._ckernels",
            sources=["skbackprop/_ckernels.c"],
            # Included by _ckernels.c; MANIFEST.in puts it in the sdist.
            depends=["skbackprop/_cpass.h"],
            extra_compile_args=compile_args,
            optional=True,
        )
    ]
)
