"""The 256-byte measurement descriptors the RMM hashes to extend the RIM.

Every step after REALM_CREATE sets ``RIM := H(descriptor)``, where the descriptor
embeds the current RIM (zero-padded to 64 bytes). All descriptors share a header
(type, length, RIM); each type appends its own fields; every gap is zero and every
integer is little-endian. The layouts are the same in every RMM version, except the
RIPAS descriptor, which is ``{ipa, level}`` in beta0 and ``{base, top}`` in RMM 1.0.
"""

from __future__ import annotations

import struct
from collections.abc import Sequence

from .algorithms import MEASUREMENT_BUFFER_SIZE
from .errors import MeasurementError

#: Size of every measurement descriptor, and the value of its ``len`` field.
DESCRIPTOR_SIZE = 0x100

# Header shared by every descriptor.
DESC_TYPE_OFFSET = 0x00
DESC_LEN_OFFSET = 0x08
DESC_RIM_OFFSET = 0x10

# Values of the header's type field (MEASURE_DESC_TYPE_*).
DESC_TYPE_DATA = 0
DESC_TYPE_REC = 1
DESC_TYPE_RIPAS = 2

# DATA descriptor (RMI_DATA_CREATE).
DATA_IPA_OFFSET = 0x50
DATA_FLAGS_OFFSET = 0x58
DATA_CONTENT_OFFSET = 0x60

# RIPAS descriptor, beta0 form: one per RMI_RTT_INIT_RIPAS(ipa, level) call.
RIPAS_BLOCK_IPA_OFFSET = 0x50
RIPAS_BLOCK_LEVEL_OFFSET = 0x58

# RIPAS descriptor, RMM 1.0 form: one per RTT entry walked.
RIPAS_RANGE_BASE_OFFSET = 0x50
RIPAS_RANGE_TOP_OFFSET = 0x58

# REC descriptor (RMI_REC_CREATE): the hash of the measured RmiRecParams.
REC_CONTENT_OFFSET = 0x50

#: RMI_DATA_CREATE flag asking the RMM to hash the granule's content.
RMI_MEASURE_CONTENT = 1

#: The granule every DATA_CREATE copies and measures.
GRANULE_SIZE = 0x1000

# RmiRecParams: a 4 KiB granule; only flags, pc and gprs[0..7] are measured.
REC_PARAMS_SIZE = 0x1000
REC_PARAMS_FLAGS_OFFSET = 0x000
REC_PARAMS_PC_OFFSET = 0x200
REC_PARAMS_GPRS_OFFSET = 0x300
REC_PARAMS_NR_GPRS = 8
REC_PARAMS_FLAG_RUNNABLE = 1 << 0

_U64 = struct.Struct("<Q")
_U8 = struct.Struct("<B")
_GPRS = struct.Struct(f"<{REC_PARAMS_NR_GPRS}Q")


def _descriptor(desc_type: int, rim_buffer: bytes) -> bytearray:
    """A zeroed descriptor with its common header filled in."""
    if len(rim_buffer) != MEASUREMENT_BUFFER_SIZE:
        raise ValueError(f"the RIM buffer must be {MEASUREMENT_BUFFER_SIZE} bytes, not {len(rim_buffer)}")
    descriptor = bytearray(DESCRIPTOR_SIZE)
    _U8.pack_into(descriptor, DESC_TYPE_OFFSET, desc_type)
    _U64.pack_into(descriptor, DESC_LEN_OFFSET, DESCRIPTOR_SIZE)
    descriptor[DESC_RIM_OFFSET : DESC_RIM_OFFSET + MEASUREMENT_BUFFER_SIZE] = rim_buffer
    return descriptor


def _put_buffer(descriptor: bytearray, offset: int, buffer: bytes) -> None:
    """Copy a 64-byte measurement buffer into a descriptor."""
    if len(buffer) != MEASUREMENT_BUFFER_SIZE:
        raise ValueError(f"a measurement buffer is {MEASUREMENT_BUFFER_SIZE} bytes, not {len(buffer)}")
    descriptor[offset : offset + MEASUREMENT_BUFFER_SIZE] = buffer


def data_descriptor(rim_buffer: bytes, ipa: int, flags: int, content_buffer: bytes) -> bytes:
    """The descriptor of one DATA_CREATE granule.

    :param rim_buffer: The current RIM, zero-padded to 64 bytes.
    :param ipa: IPA of the 4 KiB granule.
    :param flags: The host's DATA_CREATE flags (``RMI_MEASURE_CONTENT`` or 0).
    :param content_buffer: The granule's padded hash when measured, else 64 zero bytes.
    """
    descriptor = _descriptor(DESC_TYPE_DATA, rim_buffer)
    _U64.pack_into(descriptor, DATA_IPA_OFFSET, ipa)
    _U64.pack_into(descriptor, DATA_FLAGS_OFFSET, flags)
    _put_buffer(descriptor, DATA_CONTENT_OFFSET, content_buffer)
    return bytes(descriptor)


def ripas_block_descriptor(rim_buffer: bytes, ipa: int, level: int) -> bytes:
    """The beta0 descriptor of one RTT_INIT_RIPAS(ipa, level) call."""
    descriptor = _descriptor(DESC_TYPE_RIPAS, rim_buffer)
    _U64.pack_into(descriptor, RIPAS_BLOCK_IPA_OFFSET, ipa)
    _U8.pack_into(descriptor, RIPAS_BLOCK_LEVEL_OFFSET, level)
    return bytes(descriptor)


def ripas_range_descriptor(rim_buffer: bytes, base: int, top: int) -> bytes:
    """The RMM 1.0 descriptor of one RTT entry ``[base, top)`` set to RIPAS RAM."""
    descriptor = _descriptor(DESC_TYPE_RIPAS, rim_buffer)
    _U64.pack_into(descriptor, RIPAS_RANGE_BASE_OFFSET, base)
    _U64.pack_into(descriptor, RIPAS_RANGE_TOP_OFFSET, top)
    return bytes(descriptor)


def rec_descriptor(rim_buffer: bytes, rec_params_buffer: bytes) -> bytes:
    """The descriptor of one REC_CREATE, given the padded hash of its measured params."""
    descriptor = _descriptor(DESC_TYPE_REC, rim_buffer)
    _put_buffer(descriptor, REC_CONTENT_OFFSET, rec_params_buffer)
    return bytes(descriptor)


def measured_rec_params(runnable: bool, pc: int, gprs: Sequence[int]) -> bytes:
    """The zero-filled 4 KiB RmiRecParams holding only flags, pc and gprs[0..7].

    Missing general-purpose registers are zero; MPIDR and the aux granules are never
    measured.
    """
    if len(gprs) > REC_PARAMS_NR_GPRS:
        raise MeasurementError(f"a REC takes at most {REC_PARAMS_NR_GPRS} gprs, not {len(gprs)}")
    params = bytearray(REC_PARAMS_SIZE)
    _U64.pack_into(params, REC_PARAMS_FLAGS_OFFSET, REC_PARAMS_FLAG_RUNNABLE if runnable else 0)
    _U64.pack_into(params, REC_PARAMS_PC_OFFSET, pc)
    padded_gprs = list(gprs) + [0] * (REC_PARAMS_NR_GPRS - len(gprs))
    _GPRS.pack_into(params, REC_PARAMS_GPRS_OFFSET, *padded_gprs)
    return bytes(params)
