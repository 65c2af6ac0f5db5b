"""Matrix products that compiled kernels take without the GIL: the BLAS that torch itself calls.

A 1D count through an MLP is a few matrix products between compiled kernels. Taken in torch, each
product is a return to Python: the thread takes the GIL, and with two threads on two cores one
waits on the other at every hand-over (a 4 x 128 count used 1.46 of 2 cores, and ran 40% slower
than two processes each counting half). Here the kernels call the BLAS routine torch calls for
matrix products (``dgemm_``/``sgemm_``, MKL in torch's x86 wheels) through its address, so that a
chunk's whole walk is one compiled call. The products are the same to their rounding: where torch
takes a product by that routine they are the same bit for bit, and it takes some otherwise (one
row as a matrix-vector product, small ones on some builds). The routine is found once per
process and checked against torch on a small product first (a library with 64-bit integers, or
none exported, fails the check); where it fails, :func:`gemm` gives None and the walk takes its
products in torch, as before.
"""

from __future__ import annotations

import ctypes
from functools import cache
from pathlib import Path
from typing import NamedTuple

import numpy as np
import torch
from numba import njit

#: The shared libraries of torch's that may export the Fortran BLAS symbols, in order.
_LIBRARIES = ("libtorch_cpu.so", "libtorch_cpu.dylib", "libtorch_cpu.dll")


class Gemm(NamedTuple):
    """The BLAS routines for float64 and float32 products (ctypes functions, Fortran interface)."""

    double: ctypes._CFuncPtr
    single: ctypes._CFuncPtr


def _routines(library: ctypes.CDLL) -> Gemm | None:
    pointers = []
    for name in ("dgemm_", "sgemm_"):
        routine = getattr(library, name, None)
        if routine is None:
            return None
        routine.restype, routine.argtypes = None, [ctypes.c_void_p] * 13
        pointers.append(routine)
    return Gemm(*pointers)


@njit(cache=True, nogil=True)
def linear(gemm, x: np.ndarray, weight: np.ndarray, out: np.ndarray, accumulate: bool) -> None:
    """``out = x @ weight.T`` (plus ``out`` where ``accumulate``), all C-contiguous and of one
    dtype, by the BLAS routine ``gemm`` (:class:`Gemm`'s ``double`` or ``single``): row-major
    arrays read as column-major ones are transposed, so the routine computes out.T = weight x.T."""
    rows, inputs = x.shape
    outputs = weight.shape[0]
    sizes = np.array([outputs, rows, inputs], dtype=np.int32)
    scalars = np.array([1.0, 1.0 if accumulate else 0.0], dtype=x.dtype)
    flags = np.array([ord("T"), ord("N")], dtype=np.uint8)
    size = sizes.ctypes.data
    gemm(
        flags.ctypes.data,
        flags.ctypes.data + 1,
        size,  # m: the outputs
        size + 4,  # n: the rows
        size + 8,  # k: the inputs
        scalars.ctypes.data,
        weight.ctypes.data,
        size + 8,  # lda
        x.ctypes.data,
        size + 8,  # ldb
        scalars.ctypes.data + x.itemsize,
        out.ctypes.data,
        size,  # ldc
    )


def _agrees_with_torch(routines: Gemm) -> bool:
    """Whether the routines give torch's products, to rounding, on a small case with a bias added
    (an interface with other integer sizes or argument order would not)."""
    generator = torch.Generator().manual_seed(0)
    for dtype, routine in ((torch.float64, routines.double), (torch.float32, routines.single)):
        x = torch.randn(7, 5, generator=generator, dtype=dtype)
        weight = torch.randn(3, 5, generator=generator, dtype=dtype)
        bias = torch.randn(3, generator=generator, dtype=dtype)
        out = bias.expand(7, 3).contiguous().numpy()
        linear(routine, x.numpy(), weight.numpy(), out, True)
        if not np.allclose(out, torch.nn.functional.linear(x, weight, bias).numpy(), rtol=1e-5, atol=1e-5):
            return False
    return True


@cache
def gemm() -> Gemm | None:
    """The BLAS routines torch calls, checked against torch (once per process), or None."""
    folder = Path(torch.__file__).parent / "lib"
    for name in _LIBRARIES:
        if not (folder / name).exists():
            continue
        try:
            routines = _routines(ctypes.CDLL(str(folder / name)))
        except OSError:
            continue
        if routines is not None and _agrees_with_torch(routines):
            return routines
    return None
