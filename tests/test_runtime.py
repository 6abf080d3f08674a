"""CPU threads: a warning when torch's threads and other processes' busy threads exceed the cores."""

import subprocess
import sys
import time
import warnings

import pytest
import torch

from deepinterest.config.runtime import OversubscribedWarning, busy_elsewhere, use_threads


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
