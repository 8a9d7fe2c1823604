"""Every exercise check leaves the learner's random state as it found it: torch's (CPU and CUDA), numpy's, Python's.

A check builds hidden networks and inputs; built with the global generators, it would change what the learner's next
``torch.rand`` gives, and with it every number after the check in a notebook run top to bottom. Each check is called
with a right and a wrong answer (taken from the tests of its notebook), and the states are compared before and after.
"""

from __future__ import annotations

import inspect
import random
from collections.abc import Callable

import numpy as np
import pytest
import torch

from cam_utils.course import exercises
from tests.test_exercises_nb03 import (
    forgets_to_remove,
    gradient_of_the_sum,
    gradients_retaining_the_graph,
    record_with_exit_stack,
)
from tests.test_exercises_nb04 import _grad_cam
from tests.test_exercises_nb05 import _crop_box, _rank_and_probability
from tests.test_exercises_nb06 import _signed_grad_cam
from tests.test_exercises_nb07 import _increase
from tests.test_exercises_nb08 import PIXELS_PER_STEP, _deletion, other  # noqa: F401 - other: a fixture used below
from tests.test_exercises_nb09 import cascading, right
from tests.test_exercises_nb10 import rollout_right, tokens_no_permute, tokens_right
from tests.test_exercises_nb11 import by_values, by_version_counter


def _rollout_without_residual(attentions, residual_weight):
    return rollout_right(attentions, 0.0)


def _other_class(request, which: str) -> tuple:
    values = request.getfixturevalue("other")
    cat, espresso = values["classes"]
    answers = {
        "other_idx": espresso,
        "other_map": values[which],
        "own_curve": values["own"],
        "class_map_curve": values["cross"],
    }
    return (values["net"], values["x"], cat, "espresso", PIXELS_PER_STEP, answers)


#: check name -> (request -> (a right answer's arguments, a wrong answer's arguments))
ANSWERS: dict[str, Callable[[pytest.FixtureRequest], tuple[tuple, tuple]]] = {
    "check_flip_left_right": lambda _: ((lambda b: b.flip(dims=[3]),), (lambda b: b.flip(dims=[2]),)),
    "check_group_probability": lambda _: (
        (lambda logits, group: torch.softmax(logits, dim=1)[:, group].sum(dim=1),),
        (lambda logits, group: logits[:, group].sum(dim=1),),
    ),
    "check_channel_contributions": lambda _: (
        (lambda maps, weights: weights * maps.mean(dim=(1, 2)),),
        (lambda maps, weights: weights * maps.sum(dim=(1, 2)),),
    ),
    "check_batch_cam": lambda _: (
        (lambda maps, weight, idx: torch.einsum("nkhw,nk->nhw", maps, weight[idx]),),
        (lambda maps, weight, idx: torch.relu(torch.einsum("nkhw,nk->nhw", maps, weight[idx])),),
    ),
    "check_record_stages": lambda _: ((record_with_exit_stack,), (forgets_to_remove,)),
    "check_gradients_for_classes": lambda _: ((gradients_retaining_the_graph,), (gradient_of_the_sum,)),
    "check_grad_cam_by_hand": lambda _: ((_grad_cam,), (lambda *args: _grad_cam(*args, relu=False),)),
    "check_probability_grad_cam": lambda _: (
        (lambda *args: _grad_cam(*args, score="probability"),),
        (_grad_cam,),
    ),
    "check_rank_and_probability": lambda _: (
        (_rank_and_probability,),
        (lambda logits, c: _rank_and_probability(logits, c, off_by_one=True),),
    ),
    "check_crop_box": lambda _: ((_crop_box,), (lambda w, h: _crop_box(w, h, swap=True),)),
    "check_signed_grad_cam": lambda request: (
        (_signed_grad_cam, request.getfixturevalue("lite0")),
        (lambda r: _signed_grad_cam(r, relu=True), request.getfixturevalue("lite0")),
    ),
    "check_increase_of_confidence": lambda _: (
        (_increase,),
        (lambda m, i, f, c, b: _increase(m, i, f, c, b, subtract=False),),
    ),
    "check_deletion_scores": lambda _: ((_deletion,), (lambda *args: _deletion(*args, descending=False),)),
    "check_other_class_deletion": lambda request: (
        _other_class(request, "other_map"),
        _other_class(request, "class_map"),
    ),
    "check_independent_test": lambda _: ((right,), (cascading,)),
    "check_tokens_to_maps": lambda _: ((tokens_right,), (tokens_no_permute,)),
    "check_weighted_rollout": lambda _: ((rollout_right,), (_rollout_without_residual,)),
    "check_overwritten_in_place": lambda _: ((by_version_counter,), (by_values,)),
}


def _every_check() -> set[str]:
    """The name of every ``check_…`` function defined in the exercises' modules, exported or not."""
    modules = [module for name, module in inspect.getmembers(exercises, inspect.ismodule) if name.startswith("nb")]
    return {
        name
        for module in modules
        for name, function in inspect.getmembers(module, inspect.isfunction)
        if name.startswith("check_") and function.__module__ == module.__name__
    }


def _random_states() -> dict[str, bytes]:
    """Every global random state a check could move, as bytes."""
    # numpy's global state: ('MT19937', 624 keys, position, Gaussian cache)
    algorithm, keys, *position = np.random.get_state()  # noqa: NPY002 - the global state is the point
    states = {
        "torch": torch.get_rng_state().numpy().tobytes(),
        "numpy": keys.tobytes() + repr((algorithm, position)).encode(),
        "random": repr(random.getstate()).encode(),
    }
    if torch.cuda.is_available():
        states["torch.cuda"] = b"".join(state.numpy().tobytes() for state in torch.cuda.get_rng_state_all())
    return states


def test_every_check_has_its_answers():
    assert len(_every_check()) == 18
    assert _every_check() == set(ANSWERS) == {name for name in exercises.__all__ if name.startswith("check_")}


@pytest.mark.parametrize("name", sorted(ANSWERS))
def test_the_check_leaves_every_random_state_untouched(name, request, capsys):
    check = getattr(exercises, name)
    right_answer, wrong_answer = ANSWERS[name](request)
    torch.manual_seed(20), np.random.seed(20), random.seed(20)  # noqa: NPY002 - as a learner seeds
    before = _random_states()
    for answer, expected in ((right_answer, True), (wrong_answer, False)):
        assert bool(check(*answer)) is expected, capsys.readouterr().out
        moved = [state for state, value in _random_states().items() if value != before[state]]
        assert not moved, f"{name} with a {'right' if expected else 'wrong'} answer moves the random state of {moved}"
