"""Building models empty (what `plan` does) from several threads at once, as the studio's page asks for
plan's verdict on every change, leaves every module built afterwards real, not on the meta device."""

from __future__ import annotations

import threading
import time

import torch

from higgs_lora.backends.empty import empty_weights


def test_threads_building_empty_leave_later_modules_real() -> None:
    errors: list[BaseException] = []
    start = threading.Barrier(4)

    def build() -> None:
        try:
            start.wait()
            for _ in range(5):
                with empty_weights(include_buffers=False):  # the process-wide swap
                    layer = torch.nn.Linear(8, 8)
                    assert layer.weight.device.type == "meta"
                    time.sleep(0.01)  # as long inside as building a real skeleton: threads overlap
        except BaseException as error:
            errors.append(error)

    threads = [threading.Thread(target=build) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors
    after = torch.nn.Linear(8, 8)
    assert after.weight.device.type == "cpu" and torch.isfinite(after.weight).all()
    after.register_buffer("mask", torch.ones(2))
    assert after.mask.device.type == "cpu"
