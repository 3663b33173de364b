"""The terminal or a pipe feeds a guest console; /dev/null and files don't."""

from __future__ import annotations

import os
import pty
import termios
import threading

from vmm.core.devices.console_input import ConsoleInput, console_input_fd


def test_pipe_input_reaches_the_console_until_end_of_input():
    read_end, write_end = os.pipe()
    received = bytearray()
    done = threading.Event()

    def feed(data: bytes) -> None:
        received.extend(data)
        if received.endswith(b"\n"):
            done.set()

    reader = ConsoleInput(feed, read_end)
    assert reader.start()
    os.write(write_end, b"ls /\n")
    assert done.wait(5)
    os.close(write_end)
    reader.stop()
    os.close(read_end)
    assert bytes(received) == b"ls /\n"


def test_terminal_is_raw_while_reading_and_restored_after():
    leader, follower = pty.openpty()
    before = termios.tcgetattr(follower)
    reader = ConsoleInput(lambda data: None, follower)
    assert reader.start()
    during = termios.tcgetattr(follower)
    assert not during[3] & (termios.ICANON | termios.ECHO)
    assert during[3] & termios.ISIG, "Ctrl-C still stops vmm"
    reader.stop()
    assert termios.tcgetattr(follower) == before
    os.close(leader)
    os.close(follower)


def test_files_and_dev_null_are_not_console_input(tmp_path):
    path = tmp_path / "input.txt"
    path.write_text("x")
    with open(path) as handle, open(os.devnull) as null:
        assert console_input_fd(handle.fileno()) is None
        assert console_input_fd(null.fileno()) is None
        assert not ConsoleInput(lambda data: None, null.fileno()).start()
