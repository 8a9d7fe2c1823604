"""Notebook 08's self-checks: the right answer passes, each typical wrong answer gets its own hint."""

from __future__ import annotations

import pytest
import torch

from cam_utils import forward_with_features, grad_cam_from_forward, load_model, normalize, sample_image, upsample
from cam_utils.course.exercises import check_deletion_scores, check_other_class_deletion
from cam_utils.metrics import deletion_curve


def _run(check, *answer, capsys) -> tuple[bool, str]:
    passed = check(*answer)
    return passed, capsys.readouterr().out


# ------------------------------------------------------------ coding exercise 1: deletion scores


def _deletion(
    model, image, saliency, class_idx, steps, *, descending=True, fill=0.0, mode="bilinear", probabilities=True
):
    """A learner's loop, with the typical mistakes as switches."""
    height, width = image.shape[-2:]
    order = upsample(saliency, (height, width), mode=mode).flatten().argsort(descending=descending, stable=True)
    scores = []
    for step in range(steps + 1):
        deleted = image.clone().flatten(2)
        deleted[:, :, order[: step * height * width // steps]] = fill
        with torch.no_grad():
            logits = model(deleted.view_as(image))[0]
        scores.append(torch.softmax(logits, dim=0)[class_idx] if probabilities else logits[class_idx])
    return torch.stack(scores)


def _batched(model, image, saliency, class_idx, steps):
    """Right too: all the deleted images in one batch, the ranks compared with each step's count."""
    height, width = image.shape[-2:]
    order = upsample(saliency, (height, width)).flatten().argsort(descending=True, stable=True)
    rank = torch.empty_like(order)
    rank[order] = torch.arange(order.numel())
    counts = torch.arange(steps + 1) * (height * width // steps)  # (steps + 1,)
    keep = (rank[None] >= counts[:, None]).view(-1, 1, height, width)  # (steps + 1, 1, H, W)
    with torch.no_grad():
        return torch.softmax(model(image * keep), dim=1)[:, class_idx]


def _with_library(model, image, saliency, class_idx, steps):
    per_step = image.shape[-1] * image.shape[-2] // steps
    return deletion_curve(model, image, saliency[None], class_idx, pixels_per_step=per_step)[0].scores


@pytest.mark.parametrize("answer", [_deletion, _batched, _with_library])
def test_deletion_scores_right_answers_pass(answer, capsys):
    passed, out = _run(check_deletion_scores, answer, capsys=capsys)
    assert passed and out.startswith("✓")


def _top1(model, image, saliency, class_idx, steps):
    with torch.no_grad():
        top = int(model(image).argmax())
    return _deletion(model, image, saliency, top, steps)


def _not_written(model, image, saliency, class_idx, steps):
    raise NotImplementedError


def _no_upsampling(model, image, saliency, class_idx, steps):
    """The 8 x 8 map's cells ranked as if they were the image's pixels."""
    height, width = image.shape[-2:]
    order = saliency.flatten().argsort(descending=True, stable=True)  # 64 cells, not 256 pixels
    scores = []
    for step in range(steps + 1):
        deleted = image.clone().flatten(2)
        deleted[:, :, order[: step * height * width // steps]] = 0.0
        with torch.no_grad():
            scores.append(torch.softmax(model(deleted.view_as(image)), dim=1)[0, class_idx])
    return torch.stack(scores)


def _crashes(model, image, saliency, class_idx, steps):
    return _deletion(model, image, saliency[None, None], class_idx, steps)  # a 4-D map: upsample refuses it


@pytest.mark.parametrize(
    "answer, hint",
    [
        (lambda m, i, s, c, k: _deletion(m, i, s, c, k, descending=False), "least salient pixels first"),
        (lambda m, i, s, c, k: _deletion(m, i, s, c, k, probabilities=False), "these are logits"),
        (lambda m, i, s, c, k: _deletion(m, i, s, c, k, fill=-1.0), "black"),
        (lambda m, i, s, c, k: _deletion(m, i, s, c, k, mode="nearest"), "nearest-neighbour"),
        (_top1, "top-1 class"),
        (lambda m, i, s, c, k: _deletion(m, i, s, c, k)[1:], "start at fraction 0"),
        (lambda m, i, s, c, k: _deletion(m, i, s, c, k).sum(), "one number"),
        (lambda m, i, s, c, k: _deletion(m, i, s, c, k) * 0.5, "constant factor"),
        (_not_written, "not written yet"),
        (_no_upsampling, "upsample the map"),
        (_crashes, "raised ValueError"),
    ],
)
def test_deletion_scores_wrong_answers_get_hints(answer, hint, capsys):
    passed, out = _run(check_deletion_scores, answer, capsys=capsys)
    assert not passed
    assert out.startswith("✗ Not yet:") and hint in out


def test_deletion_scores_wants_the_function_not_its_result(capsys):
    passed, out = _run(check_deletion_scores, torch.zeros(9), capsys=capsys)
    assert not passed and "pass the function itself" in out


def test_deletion_hints_never_contain_the_expected_scores(capsys):
    from cam_utils.course.exercises.nb08 import _CLASS, _STEPS, _hidden_inputs

    model, image, saliency = _hidden_inputs()
    expected = _with_library(model, image, saliency, _CLASS, _STEPS)
    for answer in (lambda m, i, s, c, k: torch.rand(k + 1), lambda m, i, s, c, k: torch.rand(k)):
        _, out = _run(check_deletion_scores, answer, capsys=capsys)
        assert all(f"{value:.3f}" not in out for value in expected.tolist())


# ------------------------------------------------------------ coding exercise 2: the other object's control

PIXELS_PER_STEP = 5018  # notebook 08's: 10 % of the pixels per step, 11 points


@pytest.fixture(scope="module")
def other():
    """Lite0, the cat-and-coffee photo, both Grad-CAM maps at bn2 and the two right deletion curves of p(espresso)."""
    net = load_model()
    x = net.preprocess(sample_image("cat_and_coffee"))
    espresso_class, cat_class = net.categories.index("espresso"), net.categories.index("Egyptian cat")
    forward = forward_with_features(net.model, x, net.feature_layer)
    other_map = grad_cam_from_forward(forward, espresso_class)
    class_map = grad_cam_from_forward(forward, cat_class)

    def curve(saliency, class_idx=espresso_class, pixels_per_step=PIXELS_PER_STEP):
        return deletion_curve(net.model, x, saliency, class_idx, pixels_per_step=pixels_per_step, batch_size=5)[0]

    return {
        "net": net,
        "x": x,
        "classes": (cat_class, espresso_class),
        "other_map": other_map,
        "class_map": class_map,
        "curve": curve,
        "own": curve(other_map),
        "cross": curve(class_map),
    }


def _answers(other, other_map, own, cross, other_idx=None) -> dict:
    """The names the notebook's cell defines, as the check finds them in ``globals()``."""
    espresso = other["classes"][1] if other_idx is None else other_idx
    return {"other_idx": espresso, "other_map": other_map, "own_curve": own, "class_map_curve": cross}


def _check(other, other_map, own, cross, capsys, other_idx=None):
    answers = _answers(other, other_map, own, cross, other_idx)
    return _run(
        check_other_class_deletion,
        other["net"],
        other["x"],
        other["classes"][0],
        "espresso",
        PIXELS_PER_STEP,
        answers,
        capsys=capsys,
    )


def test_other_class_right_answers_pass(other, capsys):
    for other_map in (other["other_map"], normalize(other["other_map"])):
        passed, out = _check(other, other_map, other["own"], other["cross"], capsys)
        assert passed and out.startswith("✓")


def test_other_class_discussion_numbers(other):
    """The numbers notebook 08's discussion of exercise 2 quotes (the solution cell prints them)."""
    own, cross = other["own"], other["cross"]
    assert own.auc < 0.02 and abs(cross.auc - 0.44) < 0.005
    assert float(cross.scores[5]) > 0.7 and abs(float(cross.scores[0]) - 0.071) < 0.005


def test_other_class_wrong_maps_get_hints(other, capsys):
    for wrong_map, hint in [
        (other["class_map"], "map of the explained class"),
        (upsample(other["other_map"], 224), "Keep the 7 x 7 map"),
        (other["other_map"][0], "Keep the 7 x 7 map"),
        (other["other_map"].tolist(), "should be a torch.Tensor"),
    ]:
        passed, out = _check(other, wrong_map, other["own"], other["cross"], capsys)
        assert not passed and out.startswith("✗ Not yet:") and hint in out


def test_other_class_wrong_curves_get_hints(other, capsys):
    other_map, own, cross = other["other_map"], other["own"], other["cross"]
    top1_curve = other["curve"](other_map, class_idx=None)  # class_idx forgotten: the cat's probability
    coarse_curve = other["curve"](other_map, pixels_per_step=25088)  # 3 points
    for curves, hint in [
        ((cross, own), "swap the maps"),
        (([own], cross), "one Curve per image"),
        ((top1_curve, cross), "follows the explained class's probability"),
        ((coarse_curve, cross), "as many pixels per step"),
        ((own, own), "class_map_curve deletes pixels in the order of the other class's map"),
        ((own.scores, cross), "should be the Curve"),
    ]:
        passed, out = _check(other, other_map, *curves, capsys)
        assert not passed and out.startswith("✗ Not yet:") and hint in out, out


def test_other_class_names_not_defined_yet_get_a_hint_not_a_name_error(other, capsys):
    """The student edition: the check cell runs before the learner's cell has defined anything."""
    net, x, (cat, _) = other["net"], other["x"], other["classes"]
    notebook_names = {"net": net, "x": x, "class_idx": cat, "OTHER_CLASS": "espresso"}
    passed, out = _run(
        check_other_class_deletion, net, x, cat, "espresso", PIXELS_PER_STEP, notebook_names, capsys=capsys
    )
    assert not passed
    assert out.startswith("✗ Not yet: other_idx, other_map, own_curve and class_map_curve are not defined yet")
    answers = _answers(other, other["other_map"], other["own"], other["cross"])
    del answers["own_curve"]
    passed, out = _run(check_other_class_deletion, net, x, cat, "espresso", PIXELS_PER_STEP, answers, capsys=capsys)
    assert not passed and out.startswith("✗ Not yet: own_curve is not defined yet"), out


def test_other_class_wrong_index_gets_a_hint(other, capsys):
    cat, espresso = other["classes"]
    for wrong_index, hint in [
        (cat, "other_idx is the explained class"),
        (espresso + 1, "other_idx is not the index of OTHER_CLASS"),
        ("espresso", "other_idx should be an int"),
    ]:
        passed, out = _check(other, other["other_map"], other["own"], other["cross"], capsys, other_idx=wrong_index)
        assert not passed and out.startswith("✗ Not yet:") and hint in out, out
    passed, out = _check(other, other["other_map"], other["own"], other["cross"], capsys, torch.tensor(espresso))
    assert passed, out
