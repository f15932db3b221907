"""The single-writer lock (weather/lock.py) between real processes: take-over, SIGKILL, newest wins."""
import fcntl
import os
import subprocess
import sys
import textwrap
import time

from weather.common import lock
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
    assert lock.Holder.parse(path.read_text()).pid == second.pid


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
        wait_for(lambda: lock.process_start(bystander.pid) is not None, 5, "the bystander")
        # The lock is held (here), but the file names the bystander's pid with another start time: a
        # holder that died, whose pid the bystander reuses. Nobody may be signalled; the contender waits.
        fcntl.flock(fd, fcntl.LOCK_EX)
        os.write(fd, f"{bystander.pid} {lock.process_start(bystander.pid) - 1}\n".encode())
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
