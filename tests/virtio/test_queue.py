"""Split virtqueue parsing: good chains, every kind of bad chain, and random ones."""

from __future__ import annotations

import struct

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from vmm.core.memory import GuestMemory
from vmm.plugins.virtio.cdefs import ffi
from vmm.plugins.virtio.queue import ChainError, QueueSetupError, Virtqueue

from .driver import DESC, F_INDIRECT, F_NEXT, F_WRITE, Allocator, RingDriver

RAM_START = 0x10000
RAM_SIZE = 0x40000


@pytest.fixture
def memory():
    memory = GuestMemory()
    memory.add(RAM_START, RAM_SIZE)
    yield memory
    memory.close()


def make_queue(memory, size=8, *, event_idx=False, indirect=True):
    driver = RingDriver(memory, Allocator(RAM_START, RAM_START + RAM_SIZE), size)
    queue = Virtqueue(0, size)
    queue.desc_addr, queue.avail_addr, queue.used_addr = (
        driver.layout.desc, driver.layout.avail, driver.layout.used)
    queue.ready = True
    queue.activate(memory, event_idx=event_idx, indirect=indirect)
    return queue, driver


def test_a_chain_comes_back_as_readable_then_writable_views(memory):
    queue, driver = make_queue(memory)
    head, addresses = driver.add([(b"header", False), (b"data!", False), (4, True)])
    chain = queue.pop()
    assert chain.head == head
    assert [bytes(view) for view in chain.readable] == [b"header", b"data!"]
    assert [len(view) for view in chain.writable] == [4]
    chain.writable[0][:] = b"OKAY"  # zero copy: the guest sees it
    assert memory.read(addresses[2], 4) == b"OKAY"
    queue.push(chain.head, 4)
    assert driver.used() == [(head, 4)]
    assert queue.pop() is None


def test_indirect_tables_are_followed(memory):
    queue, driver = make_queue(memory)
    head, _ = driver.add_indirect([(b"abc", False), (2, True)])
    chain = queue.pop()
    assert chain.head == head
    assert [bytes(v) for v in chain.readable] == [b"abc"] and chain.writable_length == 2


def test_indirect_refused_when_not_negotiated(memory):
    queue, driver = make_queue(memory, indirect=False)
    driver.add_indirect([(b"abc", False)])
    with pytest.raises(ChainError, match="without the feature"):
        queue.pop()


@pytest.mark.parametrize(
    "descriptors, message",
    [
        ([(RAM_START + 0x100, 0, 0, 0)], "length 0"),
        ([(RAM_START + RAM_SIZE - 4, 8, 0, 0)], "outside guest RAM"),
        ([(0xDEAD_0000_0000, 16, 0, 0)], "outside guest RAM"),
        ([(RAM_START + 0x100, 0xFFFF_FFFF, 0, 0)], "outside guest RAM"),
        ([(RAM_START + 0x100, 8, F_NEXT, 1), (RAM_START + 0x200, 8, F_NEXT, 0)], "loops"),
        ([(RAM_START + 0x100, 8, F_NEXT, 0)], "loops"),
        ([(RAM_START + 0x100, 8, F_NEXT, 99)], "beyond a table"),
        ([(RAM_START + 0x100, 8, F_WRITE | F_NEXT, 1), (RAM_START + 0x200, 8, 0, 0)],
         "readable descriptor 1 after a writable"),
        ([(RAM_START + 0x100, 16, F_INDIRECT | F_NEXT, 1), (RAM_START + 0x200, 8, 0, 0)],
         "NEXT set"),
        ([(RAM_START + 0x100, 12, F_INDIRECT, 0)], "indirect table of 12 bytes"),
        ([(RAM_START + 0x100, 16 * 9, F_INDIRECT, 0)], "longer than the queue"),
    ],
)
def test_bad_chains_raise_chain_error(memory, descriptors, message):
    queue, driver = make_queue(memory)
    for index, (addr, length, flags, nxt) in enumerate(descriptors):
        driver.write_desc(index, addr, length, flags, nxt)
    driver.publish(0)
    with pytest.raises(ChainError, match=message):
        queue.pop()


def test_nested_indirect_table_is_refused(memory):
    queue, driver = make_queue(memory)
    table = RAM_START + 0x1000
    driver.write_desc(0, table, 16, F_INDIRECT, 0, table=table)  # points at itself
    driver.write_desc(0, table, 16, F_INDIRECT)
    driver.publish(0)
    with pytest.raises(ChainError, match="inside an indirect"):
        queue.pop()


def test_avail_index_running_ahead_of_the_queue_breaks_it(memory):
    queue, driver = make_queue(memory)
    memory.write(driver.layout.avail + 2, struct.pack("<H", 100))
    with pytest.raises(ChainError, match="moved by 100"):
        queue.pop()
    assert queue.pop() is None  # broken: nothing more until a reset


def test_queue_areas_outside_ram_are_refused(memory):
    queue = Virtqueue(0, 8)
    queue.desc_addr = RAM_START + RAM_SIZE - 16
    with pytest.raises(QueueSetupError, match="outside guest RAM"):
        queue.activate(memory, event_idx=False, indirect=False)
    queue.desc_addr = RAM_START + 8
    with pytest.raises(QueueSetupError, match="misaligned"):
        queue.activate(memory, event_idx=False, indirect=False)
    queue.desc_addr, queue.size = RAM_START, 6
    with pytest.raises(QueueSetupError, match="size 6"):
        queue.activate(memory, event_idx=False, indirect=False)


def test_event_idx_interrupts_only_when_the_driver_asked(memory):
    queue, driver = make_queue(memory, event_idx=True)
    driver.set_used_event(1)  # interrupt after the second used entry
    for _ in range(2):
        driver.add([(4, True)])
    queue.push(queue.pop().head, 0)
    assert not queue.needs_interrupt()
    queue.push(queue.pop().head, 0)
    assert queue.needs_interrupt()
    assert not queue.enable_notifications()
    assert driver.avail_event() == 2


def test_no_interrupt_flag_without_event_idx(memory):
    queue, driver = make_queue(memory)
    driver.add([(4, True)])
    memory.write(driver.layout.avail, struct.pack("<H", 1))  # VIRTQ_AVAIL_F_NO_INTERRUPT
    queue.push(queue.pop().head, 0)
    assert not queue.needs_interrupt()


# -------------------------------------------------------------------- random chains

descriptor = st.tuples(
    st.one_of(st.integers(0, 2**64 - 1),
              st.integers(RAM_START - 64, RAM_START + RAM_SIZE + 64)),
    st.one_of(st.integers(0, 2**32 - 1), st.integers(0, 512)),
    st.integers(0, 7),
    st.integers(0, 2**16 - 1) | st.integers(0, 9),
)


@settings(max_examples=300, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    table=st.lists(descriptor, min_size=8, max_size=8),
    heads=st.lists(st.integers(0, 2**16 - 1) | st.integers(0, 9), min_size=1, max_size=8),
    junk=st.binary(min_size=0, max_size=2048),
    indirect=st.booleans(),
)
def test_random_chains_never_escape_guest_ram(memory, table, heads, junk, indirect):
    """Whatever the driver wrote, pop() returns views inside RAM or raises ChainError."""
    memory.write(RAM_START + 0x8000, junk)  # random bytes where indirect tables may point
    queue, driver = make_queue(memory, indirect=indirect)
    for index, (addr, length, flags, nxt) in enumerate(table):
        memory.write(driver.layout.desc + 16 * index, DESC.pack(addr, length, flags, nxt))
    for head in heads:
        driver.publish(head)
    base = memory.host_address(RAM_START, RAM_SIZE)
    for _ in heads:
        try:
            chain = queue.pop()
        except ChainError:
            continue
        if chain is None:
            break
        for view in chain.readable + chain.writable:
            address = int(ffi.cast("uintptr_t", ffi.from_buffer(view)))
            assert base <= address and address + len(view) <= base + RAM_SIZE
            assert len(view) > 0
        assert len(chain.readable) + len(chain.writable) <= 2 * queue.size
