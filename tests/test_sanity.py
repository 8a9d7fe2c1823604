"""Tests of cam_utils.sanity: Spearman against scipy, the cascading randomisation itself, and
that the user's model is never modified."""
from __future__ import annotations

import copy
import math

import pytest
import scipy.stats
import timm
import torch
from torch import nn

from cam_utils.sanity import (
    SanityStage,
    average_ranks,
    cascading_randomization,
    default_randomization_stages,
    format_sanity_table,
    randomize_parameters,
    spearman_correlation,
)
from cam_utils.synthetic import ShapesGapNet
from tests.helpers import ModelSnapshot


def small_model(seed: int = 0) -> ShapesGapNet:
    """A random-weight ShapesGapNet (the benchmark's architecture), built without touching the global RNG."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        return ShapesGapNet().eval()


def feature_energy(model: nn.Module, x: torch.Tensor, class_idx: torch.Tensor) -> torch.Tensor:
    """A stub explanation that depends on the weights: the feature maps summed over channels."""
    with torch.no_grad():
        return model.features(x).sum(dim=1)  # (N, 8, 8)


def input_energy(model: nn.Module, x: torch.Tensor, class_idx: torch.Tensor) -> torch.Tensor:
    """A stub explanation that ignores the model: it should *fail* the sanity check."""
    return x.abs().sum(dim=1)  # (N, H, W)


def test_average_ranks_match_scipy_with_ties():
    generator = torch.Generator().manual_seed(0)
    values = torch.randint(0, 6, (4, 50), generator=generator).float()  # many ties
    expected = torch.from_numpy(scipy.stats.rankdata(values.numpy(), axis=1))
    torch.testing.assert_close(average_ranks(values), expected.double())
    assert average_ranks(torch.tensor([10.0, 20.0, 20.0, 5.0])).tolist() == [2.0, 3.5, 3.5, 1.0]


@pytest.mark.parametrize("ties", [False, True])
def test_spearman_matches_scipy(ties: bool):
    generator = torch.Generator().manual_seed(1)
    first = torch.randn(5, 7, 7, generator=generator)
    second = first + 0.8 * torch.randn(5, 7, 7, generator=generator)
    if ties:  # like Grad-CAM maps: the ReLU makes many exact zeros
        first, second = first.relu(), second.relu()
    ours = spearman_correlation(first, second)
    for i in range(5):
        expected = scipy.stats.spearmanr(first[i].flatten().numpy(), second[i].flatten().numpy()).statistic
        assert ours[i].item() == pytest.approx(expected, abs=1e-10)


def test_spearman_of_a_constant_map_is_nan():
    result = spearman_correlation(torch.zeros(1, 3, 3), torch.rand(1, 3, 3))
    assert math.isnan(result.item())
    with pytest.raises(ValueError, match="same shape"):
        spearman_correlation(torch.zeros(1, 3, 3), torch.zeros(1, 4, 4))


def test_default_stages_go_from_output_to_input():
    lite0 = timm.create_model("efficientnet_lite0", pretrained=False)
    stages = default_randomization_stages(lite0)
    assert stages[:3] == ["classifier", "bn2", "conv_head"]
    assert stages[3:10] == [f"blocks.{i}" for i in range(6, -1, -1)]
    assert stages[10:] == ["bn1", "conv_stem"]
    assert default_randomization_stages(small_model()) == [
        "classifier", "features.6", "features.5", "features.3", "features.1", "features.0",
    ]


def test_randomize_parameters_is_seeded_and_uses_the_fan_in_range():
    first, second = nn.Linear(50, 4), nn.Linear(50, 4)
    randomize_parameters(first, torch.Generator().manual_seed(3))
    randomize_parameters(second, torch.Generator().manual_seed(3))
    torch.testing.assert_close(first.weight, second.weight)
    assert first.weight.abs().max().item() <= 1 / math.sqrt(50)
    assert first.weight.abs().max().item() > 0.5 / math.sqrt(50)


def test_cascade_decorrelates_a_weight_dependent_map():
    model = small_model()
    x = torch.randn(3, 3, 64, 64, generator=torch.Generator().manual_seed(0))
    results = cascading_randomization(model, x, feature_energy, class_idx=0, seed=0)
    assert [row.stage for row in results] == ["original"] + default_randomization_stages(model)
    assert all(isinstance(row, SanityStage) and row.maps.shape == (3, 8, 8) for row in results)
    assert results[0].spearman == 1.0
    # The classifier does not enter this map: randomising it changes nothing.
    assert results[1].spearman == pytest.approx(1.0)
    torch.testing.assert_close(results[1].maps, results[0].maps)
    # Once the convolutions are random, the map no longer resembles the original.
    assert results[-1].spearman < 0.5
    # The table lists every stage.
    table = format_sanity_table(results)
    assert all(row.stage in table for row in results)


def test_a_model_independent_map_fails_the_check():
    model = small_model()
    x = torch.randn(2, 3, 64, 64, generator=torch.Generator().manual_seed(0))
    results = cascading_randomization(model, x, input_energy, stages=["classifier", "features.0"])
    assert [row.spearman for row in results] == pytest.approx([1.0, 1.0, 1.0])


def test_independent_mode_randomises_one_stage_at_a_time():
    model = small_model()
    x = torch.randn(2, 3, 64, 64, generator=torch.Generator().manual_seed(0))
    stages = ["features.6", "features.0"]
    results = cascading_randomization(model, x, feature_energy, stages=stages, seed=5, cascade=False)
    # Stage i is drawn with seed + i: rebuild stage 1 ("features.0" alone) by hand.
    expected_model = copy.deepcopy(model)
    randomize_parameters(expected_model.get_submodule("features.0"), torch.Generator().manual_seed(6))
    torch.testing.assert_close(results[2].maps, feature_energy(expected_model, x, None))
    cascaded = cascading_randomization(model, x, feature_energy, stages=stages, seed=5)
    assert not torch.equal(cascaded[2].maps, results[2].maps)  # cascade keeps features.6 random too


def test_sanity_check_is_deterministic_and_leaves_the_model_untouched():
    model = small_model()
    model.train()  # the user's flag must survive
    x = torch.randn(2, 3, 64, 64, generator=torch.Generator().manual_seed(0))
    snapshot = ModelSnapshot.take(model)
    first = cascading_randomization(model, x, feature_energy, seed=1)
    second = cascading_randomization(model, x, feature_energy, seed=1)
    other_seed = cascading_randomization(model, x, feature_energy, seed=2)
    snapshot.assert_unchanged(model)
    for a, b in zip(first, second):
        torch.testing.assert_close(a.maps, b.maps)
    assert not torch.equal(first[-1].maps, other_seed[-1].maps)
    with pytest.raises(ValueError, match="Unknown stage"):
        cascading_randomization(model, x, feature_energy, stages=["classifier", "no_such_layer"])
    snapshot.assert_unchanged(model)


def test_grad_cam_passes_the_sanity_check():
    from cam_utils.gradcam import grad_cam
    from cam_utils.synthetic import load_shapes_model, make_shapes

    loaded = load_shapes_model()
    data = make_shapes(8, seed=77)
    snapshot = ModelSnapshot.take(loaded.model)
    results = cascading_randomization(
        loaded.model, data.images, lambda m, x, c: grad_cam(m, x, "features", c), class_idx=data.labels
    )
    snapshot.assert_unchanged(loaded.model)
    correlations = [row.spearman for row in results[1:] if not math.isnan(row.spearman)]
    assert correlations and max(correlations) < 0.9  # every randomisation changes the map
    assert results[-1].spearman < 0.5 or math.isnan(results[-1].spearman)
