#!/usr/bin/python3
"""Writes the .npy files of this folder with NumPy, for core/npy_test.cc.

The files are checked in; this script documents how they were made (NumPy
1.24). Run it from this folder: /usr/bin/python3 make_npy.py
"""
import numpy as np
from numpy.lib import format as npf


def save(name, array, version=None):
    with open(name, "wb") as f:
        npf.write_array(f, array, version=version, allow_pickle=True)


# Every supported dtype, little-endian, C order.
save("bool.npy", np.array([True, False, True]))
save("int8.npy", np.array([-128, 0, 127], dtype=np.int8))
save("uint8.npy", np.array([0, 1, 255], dtype=np.uint8))
save("int16.npy", np.array([-32768, 2, 32767], dtype=np.int16))
save("uint16.npy", np.array([0, 3, 65535], dtype=np.uint16))
save("int32.npy", np.arange(6, dtype=np.int32).reshape(2, 3) - 2)
save("uint32.npy", np.array([0, 4, 4294967295], dtype=np.uint32))
save("int64.npy", np.array([-(2**63), 5, 2**63 - 1], dtype=np.int64))
save("uint64.npy", np.array([0, 6, 2**64 - 1], dtype=np.uint64))
save("float16.npy", np.array([0.5, -2.0, 65504.0, np.inf], dtype=np.float16))
save("float32.npy", np.array([[1.5, -0.0], [np.nan, -np.inf]], dtype=np.float32))
save("float64.npy", np.array([0.1, 1e300, -2.5], dtype=np.float64))
save("complex64.npy", np.array([1 + 2j, -3.5 - 0.5j], dtype=np.complex64))
save("complex128.npy", np.array([[0.25 - 1j]], dtype=np.complex128))

# Shapes: a scalar, zero-size dims, a higher rank.
save("scalar_float64.npy", np.array(3.25))
save("empty_0x3.npy", np.zeros((0, 3), dtype=np.float32))
save("rank4.npy", np.arange(24, dtype=np.int16).reshape(1, 2, 3, 4))

# Big-endian data, swapped while reading.
save("big_endian_int32.npy", np.array([1, -2, 0x01020304], dtype=">i4"))
save("big_endian_float64.npy", np.array([1.5, -0.25], dtype=">f8"))
save("big_endian_complex64.npy", np.array([1 - 2j], dtype=">c8"))

# Fortran order: transposed to row-major order while reading.
save("fortran_int32.npy",
     np.asfortranarray(np.arange(6, dtype=np.int32).reshape(2, 3)))
save("fortran_rank3.npy",
     np.asfortranarray(np.arange(24, dtype=np.float32).reshape(2, 3, 4)))

# Format versions 2.0 and 3.0.
save("version2.npy", np.array([7, 8, 9], dtype=np.int64), version=(2, 0))
save("version3.npy", np.array([1.0, 2.0], dtype=np.float32), version=(3, 0))

# Unsupported dtypes: errors.
save("unicode.npy", np.array(["ab", "c"]))
save("bytes.npy", np.array([b"ab", b"c"]))
save("object.npy", np.array([1, "x"], dtype=object))
save("structured.npy", np.zeros(2, dtype=[("a", "<i4"), ("b", "<f4")]))
save("datetime.npy", np.array(["2024-01-01"], dtype="datetime64[D]"))
