"""Volume files checked before ITK reads them: whole, the size their header says, with finite raw values.

ITK is forgiving where a clinical tool must not be: it fills a truncated ``.nii.gz`` with zeros, and its
NIfTI reader turns NaN voxels into 0, so a damaged scan would run to a confident result. Each check here
reads the file's own bytes with the format's reference reader (nibabel for NIfTI, pynrrd for NRRD; the
MetaImage header is a few ``key = value`` lines) and compares them with what the header promises, before
any conversion: complete gzip/zlib/bzip2 streams (their checksums included), as many voxel bytes as the
dimensions and type need, and (``require_finite``) no NaN or infinite value in the stored numbers.
"""

from __future__ import annotations

import bz2
import gzip
import io
import os
import zlib
from pathlib import Path

import numpy as np

from .errors import ImageValueError, InputError

#: what to do about a damaged file; every message below names the file first
_COPY_AGAIN = "The file is damaged or incomplete: copy or export it again, and check the disk it came from."


def verify_volume_file(path: str | os.PathLike[str], require_finite: bool = False) -> None:
    """Check a NIfTI (``.nii``, ``.nii.gz``), NRRD (``.nrrd``, ``.nhdr``) or MetaImage (``.mha``, ``.mhd``) file.

    :param require_finite: refuse NaN or infinite values in the stored (unscaled) voxel data.
    :raises InputError: incomplete compressed stream, fewer voxel bytes than the header needs, unreadable header.
    :raises ImageValueError: NaN or infinite stored values (with ``require_finite``).
    """
    path = Path(path)
    name = path.name.lower()
    if name.endswith((".nii", ".nii.gz")):
        raw = _nifti_raw_values(path)
    elif name.endswith((".nrrd", ".nhdr")):
        raw = _nrrd_raw_values(path)
    elif name.endswith((".mha", ".mhd")):
        raw = _metaimage_raw_values(path)
    else:
        return
    if require_finite and np.issubdtype(raw.dtype, np.floating):
        bad = int(np.count_nonzero(~np.isfinite(raw)))
        if bad:
            raise ImageValueError(
                f"{path} has {bad} NaN or infinite voxels (of {raw.size}) in its stored data.",
                "Fix the export that produced it, or replace them (for example with 0) before running.",
            )


def _decompressed(path: Path, data: bytes, method: str) -> bytes:
    """``data`` decompressed whole (``gzip``, ``zlib`` or ``bzip2``), end-of-stream and checksum verified."""
    try:
        if method == "gzip":
            return gzip.decompress(data)
        if method == "zlib":
            decompressor = zlib.decompressobj()
            result = decompressor.decompress(data)
            if not decompressor.eof:
                raise EOFError("compressed stream ended early")
            return result
        return bz2.decompress(data)
    except (OSError, EOFError, zlib.error, ValueError) as error:
        raise InputError(f"{path}: its {method} stream is incomplete or corrupt ({error}).", _COPY_AGAIN) from error


def _too_short(path: Path, have: int, need: int, shape: tuple, dtype) -> InputError:
    return InputError(
        f"{path} holds {have} bytes of voxel data but its header says {need} "
        f"({' x '.join(map(str, shape))} voxels of {np.dtype(dtype).name}).",
        _COPY_AGAIN,
    )


def _nifti_raw_values(path: Path) -> np.ndarray:
    """The stored voxel values of a single-file NIfTI-1/2 (gzip verified to its end), unscaled."""
    import nibabel

    data = path.read_bytes()
    if path.name.lower().endswith(".gz"):
        data = _decompressed(path, data, "gzip")
    header = None
    for header_class in (nibabel.Nifti1Header, nibabel.Nifti2Header):
        try:
            header = header_class.from_fileobj(io.BytesIO(data), check=True)
            break
        except Exception:  # nibabel raises several types for "not this header"
            continue
    if header is None:
        raise InputError(f"{path} does not start with a valid NIfTI header.", _COPY_AGAIN)
    shape = tuple(int(n) for n in header.get_data_shape())
    dtype = header.get_data_dtype()
    need = int(np.prod(shape, dtype=np.int64)) * dtype.itemsize
    offset = int(header.get_data_offset())
    if len(data) - offset < need:
        raise _too_short(path, max(0, len(data) - offset), need, shape, dtype)
    return np.frombuffer(data, dtype=dtype, count=need // dtype.itemsize, offset=offset)


def _nrrd_raw_values(path: Path) -> np.ndarray:
    """The stored voxel values of an NRRD (attached or detached data), read and size-checked by pynrrd."""
    import nrrd

    try:
        header = nrrd.read_header(str(path))
    except Exception as error:  # pynrrd: NRRDError and parsing errors
        raise InputError(f"{path} does not have a valid NRRD header ({error}).", _COPY_AGAIN) from error
    try:
        values, _ = nrrd.read(str(path))
    except (EOFError, OSError, zlib.error, ValueError, nrrd.NRRDError) as error:
        shape = tuple(int(n) for n in header.get("sizes", ()))
        raise InputError(
            f"{path}: its voxel data does not match its header ({' x '.join(map(str, shape))} voxels of "
            f"{header.get('type', '?')}; {str(error).strip() or type(error).__name__}).",
            _COPY_AGAIN,
        ) from error
    return np.asarray(values)


#: MetaImage element types -> numpy dtypes (little-endian unless the header says MSB)
_MET_TYPES = {
    "MET_CHAR": "i1",
    "MET_UCHAR": "u1",
    "MET_SHORT": "i2",
    "MET_USHORT": "u2",
    "MET_INT": "i4",
    "MET_UINT": "u4",
    "MET_LONG": "i4",
    "MET_ULONG": "u4",
    "MET_LONG_LONG": "i8",
    "MET_ULONG_LONG": "u8",
    "MET_FLOAT": "f4",
    "MET_DOUBLE": "f8",
}


def _metaimage_raw_values(path: Path) -> np.ndarray:
    """The stored voxel values of a MetaImage (``.mha`` with local data, or ``.mhd`` + one data file)."""
    content = path.read_bytes()
    fields: dict[str, str] = {}
    position = 0
    while position < len(content):
        end = content.find(b"\n", position)
        end = len(content) if end < 0 else end
        key, _, value = content[position:end].decode("latin-1").partition("=")
        position = end + 1
        fields[key.strip().lower()] = value.strip()
        if key.strip().lower() == "elementdatafile":
            break  # LOCAL data starts on the next byte
    try:
        shape = tuple(int(n) for n in fields["dimsize"].split())
        dtype = np.dtype(_MET_TYPES[fields["elementtype"].upper()])
        data_file = fields["elementdatafile"]
    except (KeyError, ValueError) as error:
        raise InputError(
            f"{path} does not have a valid MetaImage header (missing or bad {error}).", _COPY_AGAIN
        ) from error
    msb = (fields.get("binarydatabyteordermsb") or fields.get("elementbyteordermsb") or "false").lower() == "true"
    dtype = dtype.newbyteorder(">" if msb else "<")
    channels = int(fields.get("elementnumberofchannels", "1") or 1)
    if data_file.upper() == "LOCAL":
        data = content[position:]
    elif " " in data_file or data_file.upper().startswith("LIST"):
        return np.empty(0, dtype)  # slice-per-file lists: ITK checks each file as it reads it
    else:
        data_path = path.parent / data_file
        if not data_path.is_file():
            raise InputError(f"{path} names a data file that is missing: {data_path}.", _COPY_AGAIN)
        data = data_path.read_bytes()
    need = int(np.prod(shape, dtype=np.int64)) * channels * dtype.itemsize
    compressed = fields.get("compresseddata", "false").lower() == "true"
    header_size = int(fields.get("headersize", "0") or 0)
    if header_size > 0:
        data = data[header_size:]
    elif header_size == -1 and not compressed:  # -1: the voxels are the last bytes of the file
        data = data[max(0, len(data) - need) :]
    if compressed:
        data = _decompressed(path, data, "zlib")
    if len(data) < need:
        raise _too_short(path, len(data), need, shape, dtype)
    return np.frombuffer(data, dtype=dtype, count=need // dtype.itemsize)
