"""CPU threads: a warning when torch's threads and other processes' busy threads exceed the cores."""

import subprocess
import sys
import threading
import time
import warnings

import pytest
import torch

from deepinterest.config.runtime import OversubscribedWarning, _own_running_threads, busy_elsewhere, use_threads


@pytest.fixture(autouse=True)
def keep_threads():
    before = torch.get_num_threads()
    yield
    torch.set_num_threads(before)


def test_warns_when_threads_and_other_work_exceed_the_cores():
    with pytest.warns(OversubscribedWarning, match=r"--set sft.threads=1"):
        assert use_threads(2, "sft.threads", others=1, cores=2) == 2
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        use_threads(1, "sft.threads", others=1, cores=2)  # one thread beside one job fits two cores
        use_threads(2, "sft.threads", others=0, cores=2)
        use_threads(2, "sft.threads", others=2, cores=4)
    assert torch.get_num_threads() == 2


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc/loadavg")
def test_a_busy_process_is_counted():
    spinner = subprocess.Popen([sys.executable, "-c", "while True: pass"])
    try:
        time.sleep(0.5)
        assert busy_elsewhere() >= 0.8
    finally:
        spinner.kill()
        spinner.wait()


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")
def test_this_process_own_busy_threads_are_counted_as_its_own():
    # torch's worker threads may spin on after a stage: they are ours, and busy_elsewhere subtracts them
    torch.set_num_threads(1)
    x = torch.randn(1500, 1500)
    worker = threading.Thread(target=lambda: [x @ x for _ in range(40)])  # matmul runs without the GIL
    worker.start()
    try:
        time.sleep(0.2)
        seen = max(_own_running_threads() for _ in range(20))
    finally:
        worker.join()
    assert seen >= 2  # this thread, reading, and the worker
