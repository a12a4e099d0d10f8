"""numpy's own BLAS `sgemv` and `sdot`, callable from numba kernels.

gensim's E-step computes its dot products with `np.dot` on float32 arrays, that is with the
BLAS numpy was built with, and a float32 sum depends on the BLAS kernel's order of operations.
numba's `np.dot` calls scipy's BLAS instead, another OpenBLAS build whose `sgemv` rounds
differently for some sizes (measured: 6 or 7 words per document). The kernels of
`stages/topics/estep.py` therefore call the very functions `np.dot` calls, found through
numpy's extension module (dlsym searches its dependencies), with the arguments numpy passes
(numpy/_core/src/common/cblasfuncs.c): their results are gensim's bit for bit.
"""

from __future__ import annotations

import ctypes

import llvmlite.binding as llvm
import numpy as np
from numba import types

ROW_MAJOR, COL_MAJOR, TRANS = 101, 102, 112  # CBLAS_ORDER and CBLAS_TRANSPOSE values


def _numpy_cblas() -> tuple[int, int, types.Integer]:
    """Addresses of numpy's `cblas_sgemv` and `cblas_sdot`, and its BLAS integer type
    (64-bit for the ILP64 builds numpy's wheels use, whose symbols end in `64_`)."""
    library = ctypes.CDLL(np._core._multiarray_umath.__file__)
    for prefix in ("scipy_", ""):
        for suffix in ("64_", ""):
            try:
                sgemv = getattr(library, f"{prefix}cblas_sgemv{suffix}")
                sdot = getattr(library, f"{prefix}cblas_sdot{suffix}")
            except AttributeError:
                continue
            integer = types.int64 if suffix else types.int32
            address = ctypes.c_void_p
            return ctypes.cast(sgemv, address).value, ctypes.cast(sdot, address).value, integer
    raise ImportError("topics: numpy is not linked to a CBLAS (cblas_sgemv not found)")


_SGEMV, _SDOT, BLAS_INT = _numpy_cblas()
# Registered under names of our own, so that kernels cached on disk link to them by name.
llvm.add_symbol("datapipe_topics_cblas_sgemv", _SGEMV)
llvm.add_symbol("datapipe_topics_cblas_sdot", _SDOT)

# cblas_sgemv(order, trans, m, n, alpha, a, lda, x, incx, beta, y, incy)
sgemv = types.ExternalFunction(
    "datapipe_topics_cblas_sgemv",
    types.void(
        types.intc,
        types.intc,
        BLAS_INT,
        BLAS_INT,
        types.float32,
        types.voidptr,
        BLAS_INT,
        types.voidptr,
        BLAS_INT,
        types.float32,
        types.voidptr,
        BLAS_INT,
    ),
)
# cblas_sdot(n, x, incx, y, incy)
sdot = types.ExternalFunction(
    "datapipe_topics_cblas_sdot",
    types.float32(BLAS_INT, types.voidptr, BLAS_INT, types.voidptr, BLAS_INT),
)
