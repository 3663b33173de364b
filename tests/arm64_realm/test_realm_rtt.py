"""The RTT entries an RMM 1.0 INIT_RIPAS walks under the largest-aligned-block policy."""

from __future__ import annotations

from itertools import pairwise

import pytest
from hypothesis import given
from hypothesis import strategies as st

from vmm.plugins.arm64_realm.rmm import MeasurementError, init_ripas_call, ripas_entries
from vmm.plugins.arm64_realm.rmm.rtt import RttEntry, block_size_mask, entry_size, starting_level

KIB, MIB, GIB = 1 << 10, 1 << 20, 1 << 30


def test_entry_sizes_per_level() -> None:
    assert [entry_size(level) for level in range(4)] == [512 * GIB, GIB, 2 * MIB, 4 * KIB]


@pytest.mark.parametrize(
    ("ipa_bits", "level", "mask"),
    [
        (33, 2, 0x0000201000),  # cca-realm-measurements' test_block_sizes
        (34, 2, 0x0000201000),
        (35, 1, 0x0040201000),
        (40, 1, 0x0040201000),
        (48, 0, 0x8040201000),  # cca-realm-measurements' test_block_sizes
    ],
)
def test_starting_level_and_block_sizes(ipa_bits: int, level: int, mask: int) -> None:
    assert starting_level(ipa_bits) == level
    assert block_size_mask(ipa_bits) == mask


def test_one_aligned_2mib_block_is_one_entry() -> None:
    assert ripas_entries(0x8000_0000, 0x8020_0000, 33) == [RttEntry(0x8000_0000, 2)]


def test_a_range_is_split_into_largest_aligned_blocks() -> None:
    entries = ripas_entries(0x801F_F000, 0x8040_2000, 33)
    assert [(entry.base, entry.top, entry.level) for entry in entries] == [
        (0x801F_F000, 0x8020_0000, 3),
        (0x8020_0000, 0x8040_0000, 2),
        (0x8040_0000, 0x8040_1000, 3),
        (0x8040_1000, 0x8040_2000, 3),
    ]


def test_33_bit_realm_never_uses_1gib_blocks() -> None:
    entries = ripas_entries(0x8000_0000, 0xC000_0000, 33)
    assert len(entries) == 512 and {entry.level for entry in entries} == {2}


def test_40_bit_realm_uses_a_1gib_block_where_it_fits() -> None:
    assert ripas_entries(0x4000_0000, 0x8000_0000, 40) == [RttEntry(0x4000_0000, 1)]


def test_one_call_stops_at_the_end_of_its_table() -> None:
    entries, out_top = init_ripas_call(0x8000_0000, 0xC020_0000, 33)
    assert (len(entries), out_top) == (512, 0xC000_0000)
    entries, out_top = init_ripas_call(out_top, 0xC020_0000, 33)
    assert (entries, out_top) == ([RttEntry(0xC000_0000, 2)], 0xC020_0000)


def test_one_call_stops_where_the_next_entry_would_pass_top() -> None:
    entries, out_top = init_ripas_call(0x8000_0000, 0x8050_0000, 33)
    assert (len(entries), out_top) == (2, 0x8040_0000)


@pytest.mark.parametrize(
    ("base", "top", "ipa_bits", "message"),
    [
        (0x1000, 0x1800, 33, "not 4 KiB aligned"),
        (0x2000, 0x1000, 33, "is empty"),
        (0, 0x1_0000_1000, 33, "passes the protected IPA limit 0x100000000 of a 33-bit realm"),
        (0, 0x1000, 53, "s2sz 53 is outside the 16..52 IPA bits"),
    ],
)
def test_invalid_ranges(base: int, top: int, ipa_bits: int, message: str) -> None:
    with pytest.raises(MeasurementError, match=message):
        ripas_entries(base, top, ipa_bits)


PAGES = 1 << 12


@given(
    ipa_bits=st.integers(min_value=32, max_value=48),
    base_page=st.integers(min_value=0, max_value=(1 << 21)),
    length_pages=st.integers(min_value=1, max_value=(1 << 20)),
)
def test_entries_tile_the_range_with_the_largest_aligned_blocks(
    ipa_bits: int, base_page: int, length_pages: int
) -> None:
    base, top = base_page * PAGES, (base_page + length_pages) * PAGES
    if top > 1 << (ipa_bits - 1):
        return
    entries = ripas_entries(base, top, ipa_bits)
    assert entries[0].base == base and entries[-1].top == top
    sizes = block_size_mask(ipa_bits)
    for entry, following in pairwise(entries):
        assert entry.top == following.base
    for entry in entries:
        assert entry.base % entry.size == 0 and entry.size & sizes
        larger = entry.size << 9
        if larger & sizes:
            assert entry.base % larger or entry.base + larger > top
