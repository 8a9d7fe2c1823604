"""The self-check of notebook 06's coding exercise: a right answer passes, typical wrong ones get their hint."""

from __future__ import annotations

import torch

from cam_utils.course.exercises import check_signed_grad_cam


def _signed_grad_cam(
    request, relu=False, total=False, probability=False, per_position=False, keep_graph=True, squeeze=False
):
    """The exercise written as a learner would, with switches for the typical mistakes."""
    forward = request.forward
    score = forward.logits[0, request.class_idx]
    if probability:
        score = torch.softmax(forward.logits, dim=1)[0, request.class_idx]
    (gradients,) = torch.autograd.grad(score, forward.feature_maps, retain_graph=keep_graph)  # (1, C, h, w)
    feature_maps = forward.feature_maps.detach()
    if per_position:
        signed = (gradients * feature_maps).sum(dim=1)
    else:
        alpha = gradients.sum(dim=(2, 3)) if total else gradients.mean(dim=(2, 3))  # (1, C)
        signed = torch.einsum("nc,nchw->nhw", alpha, feature_maps)  # (1, h, w)
    if relu:
        signed = torch.relu(signed)
    return signed[0] if squeeze else signed


def _hint(lite0, capsys, **mistake):
    passed = check_signed_grad_cam(lambda request: _signed_grad_cam(request, **mistake), lite0)
    return bool(passed), capsys.readouterr().out


def test_right_answer_passes(lite0, capsys):
    passed, out = _hint(lite0, capsys)
    assert passed and out.startswith("✓")


def test_typical_mistakes_get_their_hint(lite0, capsys):
    expected = {
        "relu": "drop the ReLU",
        "total": "constant factor",
        "probability": "logit",
        "per_position": "HiResCAM",
        "keep_graph": "retain the graph",
        "squeeze": "keepdim",
    }
    for mistake, phrase in expected.items():
        value = mistake != "keep_graph"  # keep_graph=False is the mistake; the others are switched on
        passed, out = _hint(lite0, capsys, **{mistake: value})
        assert not passed and out.startswith("✗ Not yet:"), mistake
        assert phrase in out, (mistake, out)


def test_a_function_that_is_not_written_yet_or_not_a_function(lite0, capsys):
    def stub(request):
        raise NotImplementedError("your code here")

    assert not check_signed_grad_cam(stub, lite0)
    assert "not written yet" in capsys.readouterr().out
    assert not check_signed_grad_cam(torch.zeros(1, 7, 7), lite0)
    assert "pass the function itself" in capsys.readouterr().out
