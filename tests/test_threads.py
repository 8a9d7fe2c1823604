"""Explaining one model from several threads at once gives exactly the sequential results (issue 12, defect 1).

Before the per-model lock, each thread's hook fired in the other thread's forward pass and each
``explaining()`` restored flags that the other had just set: calls failed ("ran twice in one forward
pass"), some returned wrong maps silently, and a model in train mode ended in eval mode with changed
BatchNorm statistics.
"""

from __future__ import annotations

import threading

import numpy as np
import pytest
import torch
import torchvision

from cam_utils import class_activation_map, grad_cam, grad_cam_plus_plus, hires_cam, score_cam
from cam_utils.models import load_model
from tests.helpers import ModelSnapshot, TinyGapNet, give_existing_grads, randomize_batchnorm

CALLS_PER_THREAD = 20


def resnet18(train: bool) -> torch.nn.Module:
    torch.manual_seed(0)
    model = torchvision.models.resnet18(num_classes=10)
    randomize_batchnorm(model)
    model.train(train)
    give_existing_grads(model)
    return model


def run_in_threads(work, threads: int = 2) -> list[BaseException]:
    """Run ``work(thread_index)`` in ``threads`` threads started together; return what they raised."""
    barrier = threading.Barrier(threads)
    errors: list[BaseException] = []

    def target(index: int) -> None:
        barrier.wait()
        try:
            work(index)
        except BaseException as error:  # noqa: BLE001 - reported by the test
            errors.append(error)

    workers = [threading.Thread(target=target, args=(index,)) for index in range(threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    return errors


@pytest.mark.parametrize("train", [True, False], ids=["train-mode", "eval-mode"])
def test_two_threads_on_one_model_give_the_sequential_maps(train):
    model = resnet18(train)
    x = torch.randn(2, 3, 64, 64, generator=torch.Generator().manual_seed(1))
    methods = {
        "grad_cam": lambda: grad_cam(model, x, "layer4", [3, 7]),
        "grad_cam_plus_plus": lambda: grad_cam_plus_plus(model, x, model.layer4, [3, 7]),
        "hires_cam": lambda: hires_cam(model, x, "layer4", 5),
        "cam": lambda: class_activation_map(model, x, "layer4", "fc", "all"),
    }
    snapshot = ModelSnapshot.take(model)
    expected = {name: compute() for name, compute in methods.items()}  # sequential, one thread
    snapshot.assert_unchanged(model)

    wrong: list[str] = []

    def work(thread_index: int) -> None:
        names = list(methods)
        for call in range(CALLS_PER_THREAD):
            name = names[(call + thread_index) % len(names)]  # the threads run different methods at once
            if not torch.equal(methods[name](), expected[name]):
                wrong.append(f"thread {thread_index}, call {call}: {name}")

    errors = run_in_threads(work)
    assert errors == [], [f"{type(error).__name__}: {error}" for error in errors]
    assert wrong == []
    snapshot.assert_unchanged(model)


def test_score_cam_and_predict_in_parallel_with_grad_cam():
    torch.manual_seed(0)
    model = TinyGapNet(num_classes=5, channels=8).train()
    randomize_batchnorm(model)
    x = torch.randn(2, 3, 16, 16, generator=torch.Generator().manual_seed(2))
    snapshot = ModelSnapshot.take(model)
    expected_score = score_cam(model, x, "features", batch_size=3)
    expected_grad = grad_cam(model, x, "features")
    results: dict[int, list[bool]] = {0: [], 1: []}

    def work(thread_index: int) -> None:
        for _ in range(CALLS_PER_THREAD):
            if thread_index == 0:
                results[0].append(torch.equal(score_cam(model, x, "features", batch_size=3), expected_score))
            else:
                results[1].append(torch.equal(grad_cam(model, x, "features"), expected_grad))

    assert run_in_threads(work) == []
    assert results[0] == [True] * CALLS_PER_THREAD and results[1] == [True] * CALLS_PER_THREAD
    snapshot.assert_unchanged(model)


def test_predict_and_grad_cam_from_threads_on_a_model_in_train_mode():
    """LoadedModel.predict (used by the explorer and the CLI) takes the same lock as the explaining functions."""
    torch.manual_seed(0)
    net = load_model("efficientnet_lite0", pretrained=False)
    net.model.train()
    snapshot = ModelSnapshot.take(net.model)
    photo = np.random.default_rng(0).integers(0, 256, (64, 64, 3), dtype=np.uint8)
    x = net.preprocess(photo)
    expected_top3, expected_map = net.predict(photo, k=3), grad_cam(net.model, x, "bn2")
    outcomes: list[bool] = []

    def work(thread_index: int) -> None:
        for _ in range(5):
            if thread_index == 0:
                outcomes.append(net.predict(photo, k=3) == expected_top3)
            else:
                outcomes.append(torch.equal(grad_cam(net.model, x, "bn2"), expected_map))

    assert run_in_threads(work) == []
    assert outcomes == [True] * 10
    snapshot.assert_unchanged(net.model)
