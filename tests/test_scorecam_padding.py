"""Score-CAM pads a short batch of masked images, so that every forward pass has one shape and every weight is the
same, bit for bit, whether the batches are full or not (a constant channel skipped or sent).

Why it matters: PyTorch's CPU kernels pick their algorithm by the batch shape (a Linear layer on one row is a
matrix-vector product, on sixteen a matrix product), so one image's scores differ in the last bits between a batch
of 1 and a batch of 16. The model below makes that dependence explicit, large enough to see on any machine; the
padding is what keeps it out of the weights. (They also round by a row's position within the batch: the constant
channel is therefore the last one, so that skipping it moves no other channel to another position.)
"""

from __future__ import annotations

import pytest
import torch
from torch import nn

from cam_utils import score_cam
from cam_utils.scorecam import ScoreCamSettings, masked_scores

CHANNELS = 5
CONSTANT = CHANNELS - 1  # this channel of the feature maps is 0.5 everywhere: Score-CAM skips it


class BatchShapeRounding(nn.Module):
    """A small CNN whose logits move in the last bits with the batch size, as a blocked kernel's rounding would.

    It records the batch size of every forward pass.
    """

    def __init__(self) -> None:
        super().__init__()
        generator = torch.Generator().manual_seed(0)
        self.features = nn.Sequential(nn.Conv2d(3, CHANNELS, 3, padding=1), nn.ReLU())
        self.head = nn.Linear(CHANNELS, 4)
        with torch.no_grad():
            for parameter in self.parameters():
                parameter.copy_(torch.randn(parameter.shape, generator=generator))
            self.features[0].weight[CONSTANT] = 0.0
            self.features[0].bias[CONSTANT] = 0.5
        self.batch_sizes: list[int] = []

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self.batch_sizes.append(x.shape[0])
        logits = self.head(self.features(x).mean(dim=(2, 3)))
        return logits + 1e-5 * x.shape[0] * torch.arange(logits.shape[1], dtype=logits.dtype)  # "rounding"


@pytest.fixture
def model() -> BatchShapeRounding:
    return BatchShapeRounding().eval()


@pytest.fixture
def x() -> torch.Tensor:
    return torch.randn(2, 3, 8, 8, generator=torch.Generator().manual_seed(1))


def feature_maps(model: BatchShapeRounding, x: torch.Tensor) -> torch.Tensor:
    with torch.no_grad():
        maps = model.features(x)
    assert (maps[:, CONSTANT] == 0.5).all() and (maps.amax(dim=(2, 3)) > maps.amin(dim=(2, 3))).sum() == 2 * 4
    return maps


@pytest.mark.parametrize("batch_size", [1, 2, 3, 4, 5, 64])
def test_every_masked_forward_pass_has_the_same_batch_size(model, x, batch_size):
    """4 informative channels per image: whatever the batch size, no pass is shorter than min(batch_size, C)."""
    feature_maps(model, x)
    model.batch_sizes.clear()
    score_cam(model, x, "features", class_idx=[0, 3], batch_size=batch_size)
    feature_pass, *masked_passes = model.batch_sizes
    assert feature_pass == len(x)
    assert len(masked_passes) == 2 * -(-4 // batch_size)  # no pass for the constant channel
    assert set(masked_passes) == {min(batch_size, CHANNELS)}


@pytest.mark.parametrize("batch_size", [2, 3, 4, 5])
def test_skipping_the_constant_channel_changes_no_other_weight_bit_for_bit(model, x, batch_size):
    """The weights with the constant channel skipped equal those with every channel sent, exactly. With batches of
    3 or 5 the last batch is shorter when the channel is skipped (1 image instead of 2, 4 instead of 5)."""
    maps, class_idx = feature_maps(model, x), torch.tensor([0, 3])
    skipped = masked_scores(model, x, maps, class_idx, batch_size)
    sent = masked_scores(model, x, maps, class_idx, batch_size, settings=ScoreCamSettings(skip_constant=False))
    assert (skipped[:, CONSTANT] == 0).all() and (skipped.count_nonzero(dim=1) == 4).all()
    assert torch.equal(skipped, sent)


def test_the_model_does_round_by_batch_size(model, x):
    """The test's premise: without padding, one masked image scored alone and in a batch of three would differ."""
    with torch.no_grad():
        alone, in_three = model(x[:1]), model(torch.cat([x[:1], x[1:], x[1:]]))[:1]
    assert not torch.equal(torch.softmax(alone, dim=1), torch.softmax(in_three, dim=1))
