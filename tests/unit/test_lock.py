"""The single-writer lock (weather/common/lock.py) between real processes: take-over, SIGKILL, newest wins;
a removed lock file, signals through a pidfd, no /proc."""
import fcntl
import logging
import os
import signal
import subprocess
import sys
import textwrap
import time

import pytest

from weather.common import lock, process
from weather.common.process import ProcessId
from world import SRC, wait_for

HOLDER = textwrap.dedent("""
    import logging, signal, sys, time
    from pathlib import Path
    from weather.common import lock
    from weather.common.program import run
    from weather.common.waiting import pause, running

    def main():
        lock.acquire(Path(sys.argv[1]), "partition 0", float(sys.argv[2]), logging.getLogger("holder"))
        if sys.argv[3] == "stubborn":
            signal.signal(signal.SIGTERM, signal.SIG_IGN)
        print("held", flush=True)
        while running():
            if sys.argv[3] == "slow":  # one long step, which no signal may cut short
                time.sleep(1.5)
                print("step done", flush=True)
            pause(0.05)

    run(main, "holder")
""")


# A contender that says how it signals the holder: through a pidfd, or (refused) by a bare pid.
SIGNAL_SPY = textwrap.dedent("""
    import logging, os, signal, sys
    from pathlib import Path
    from weather.common import lock

    def by_pid(pid, signum):
        sys.exit(f"os.kill({pid}, {signum}): a pid checked a moment before may be another process's now")

    send_through_pidfd = signal.pidfd_send_signal

    def through_pidfd(fd, signum, *args):
        print(f"pidfd_send_signal {signum}", flush=True)
        send_through_pidfd(fd, signum, *args)

    os.kill, signal.pidfd_send_signal = by_pid, through_pidfd
    lock.acquire(Path(sys.argv[1]), "partition 0", 5.0, logging.getLogger("spy"))
    print("held", flush=True)
""")


def holder(path, wait=5.0, kind="polite"):
    """A process holding the lock at path; its log goes to a file beside it (`said`), readable while it runs."""
    log = path.with_name(f"holder-{time.monotonic_ns()}.err")
    with open(log, "wb") as err:
        process = subprocess.Popen([sys.executable, "-c", HOLDER, str(path), str(wait), kind], cwd=SRC, text=True,
                                   stdout=subprocess.PIPE, stderr=err, env={**os.environ, "PYTHONPATH": str(SRC)})
    process.log = log
    return process


def said(process) -> str:
    return process.log.read_text()


def wait_held(process):
    assert process.stdout.readline().strip() == "held", said(process)


def wait_contending(process):
    """Until process has asked the holder to stop: it is the older contender from then on."""
    wait_for(lambda: "asking it to stop (SIGTERM)" in said(process), 10, f"pid {process.pid} contending")


def test_a_second_writer_takes_over_from_a_running_one_which_stops_cleanly(tmp_path):
    path = tmp_path / "partition-0.lock"
    first = holder(path)
    wait_held(first)
    second = holder(path)
    wait_held(second)
    assert first.wait(timeout=10) == 0  # asked with SIGTERM, it stopped between steps
    second.terminate()
    second.wait(timeout=10)
    assert f"took over partition 0 from pid {first.pid}" in said(second)
    assert lock.named_holder(path.read_text()).pid == second.pid


def test_a_holder_that_ignores_sigterm_is_killed_after_the_wait(tmp_path):
    path = tmp_path / "partition-0.lock"
    stubborn = holder(path, kind="stubborn")
    wait_held(stubborn)
    began = time.monotonic()
    second = holder(path, wait=1.0)
    wait_held(second)
    assert stubborn.wait(timeout=10) == -9 and time.monotonic() - began >= 1.0
    second.kill()
    assert "did not stop within 1 s; killing it (SIGKILL)" in said(second)


def test_of_three_started_in_a_row_the_newest_wins(tmp_path):
    path = tmp_path / "partition-0.lock"
    stubborn = holder(path, kind="stubborn")
    wait_held(stubborn)
    middle = holder(path, wait=2.0)
    wait_contending(middle)
    newest = holder(path, wait=2.0)
    wait_held(newest)
    assert middle.wait(timeout=10) == 0 and stubborn.wait(timeout=10) == -9
    assert newest.poll() is None
    newest.terminate()
    newest.wait(timeout=10)


def test_a_holder_named_by_a_reused_pid_is_never_signalled(tmp_path):
    path = tmp_path / "partition-0.lock"
    bystander = subprocess.Popen(["sleep", "30"])
    fd = os.open(path, os.O_RDWR | os.O_CREAT)
    try:
        wait_for(lambda: ProcessId.of(bystander.pid), 5, "the bystander")
        # The lock is held (here), but the file names the bystander's pid with another start time: a
        # holder that died, whose pid the bystander reuses. Nobody may be signalled; the contender waits.
        fcntl.flock(fd, fcntl.LOCK_EX)
        os.write(fd, f"{bystander.pid} {ProcessId.of(bystander.pid).start - 1}\n".encode())
        contender = holder(path, wait=0.2)
        # Its first word on it comes a second in, well past its 0.2 s wait: by then it would have signalled.
        wait_for(lambda: "by a process not found here" in said(contender) or contender.poll() is not None, 10,
                 "the contender to say it waits")
        assert contender.poll() is None and bystander.poll() is None
        os.close(fd)
        fd = None
        wait_held(contender)
        contender.terminate()
        assert contender.wait(timeout=10) == 0 and bystander.poll() is None
        assert f"by a process not found here (the file names {bystander.pid}); waiting" in said(contender)
    finally:
        if fd is not None:
            os.close(fd)
        bystander.kill()


def test_two_contenders_asking_a_holder_to_stop_never_cut_its_step_short(tmp_path):
    path = tmp_path / "partition-0.lock"
    slow = holder(path, wait=10, kind="slow")
    wait_held(slow)
    second = holder(path, wait=10)
    wait_contending(second)
    third = holder(path, wait=10)  # both send SIGTERM: the second one is no reason to interrupt
    wait_held(third)
    assert slow.wait(timeout=10) == 0 and "step done" in slow.stdout.read()
    assert second.wait(timeout=10) == 0
    third.terminate()
    assert third.wait(timeout=10) == 0


def test_a_removed_lock_file_never_lets_a_second_writer_in_beside_the_holder(tmp_path):
    path = tmp_path / "partition-0.lock"
    first = holder(path)
    wait_held(first)
    path.unlink()  # CHECKPOINT_DIR cleared under the running holder: it still holds the lock, on a removed file
    second = holder(path)
    wait_held(second)
    # The second may hold a new file at the path only once the first is gone: asked to stop, it stopped.
    assert first.wait(timeout=2) == 0
    second.terminate()
    assert second.wait(timeout=10) == 0
    assert f"took over partition 0 from pid {first.pid}" in said(second)


def test_a_lock_file_replaced_while_a_contender_waits_is_not_what_it_holds(tmp_path):
    path = tmp_path / "partition-0.lock"
    removed = os.open(path, os.O_RDWR | os.O_CREAT)
    fcntl.flock(removed, fcntl.LOCK_EX)  # held here, naming nobody: the contender waits on this file
    contender = holder(path)
    wait_for(lambda: "by a process not found here" in said(contender), 10, "the contender waiting")
    path.unlink()
    replacement = os.open(path, os.O_RDWR | os.O_CREAT)
    fcntl.flock(replacement, fcntl.LOCK_EX)
    os.close(removed)  # the contender may lock the file it opened, which is no longer at the path
    os.close(replacement)
    wait_held(contender)
    probe = os.open(path, os.O_RDWR)
    try:
        with pytest.raises(BlockingIOError):  # the contender holds the file at the path, not the removed one
            fcntl.flock(probe, fcntl.LOCK_EX | fcntl.LOCK_NB)
    finally:
        os.close(probe)
        contender.terminate()
        contender.wait(timeout=10)


def test_a_holder_is_signalled_through_a_pidfd_never_by_its_pid(tmp_path):
    path = tmp_path / "partition-0.lock"
    first = holder(path)
    wait_held(first)
    spy = subprocess.run([sys.executable, "-c", SIGNAL_SPY, str(path)], cwd=SRC, text=True, capture_output=True,
                         env={**os.environ, "PYTHONPATH": str(SRC)}, timeout=30)
    assert spy.stdout.splitlines() == [f"pidfd_send_signal {signal.SIGTERM}", "held"], spy.stderr
    assert first.wait(timeout=10) == 0


def test_a_process_whose_start_time_no_longer_matches_is_never_signalled():
    bystander = subprocess.Popen(["sleep", "30"])
    try:
        now = wait_for(lambda: ProcessId.of(bystander.pid), 5, "the bystander")
        assert not ProcessId(now.pid, now.start - 1, now.boot).signal(signal.SIGKILL)
        assert not ProcessId(now.pid, now.start, "another-boot").signal(signal.SIGKILL)
        assert bystander.poll() is None
        assert now.signal(signal.SIGKILL) and bystander.wait(timeout=10) == -signal.SIGKILL
    finally:
        bystander.kill()
        bystander.wait()


def test_without_proc_the_lock_says_it_needs_linux_proc(tmp_path, monkeypatch):
    monkeypatch.setattr(process, "PROC", tmp_path / "no-proc")
    with pytest.raises(process.NoProcFilesystem, match="lock needs Linux /proc") as raised:
        lock.acquire(tmp_path / "partition-0.lock", "partition 0", 1.0, logging.getLogger("test"))
    assert isinstance(raised.value, process.Unrecoverable)  # the programs' one line and exit code 1
