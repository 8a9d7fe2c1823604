"""Reading the results of several runs (seeds) together: values per stage, and a table with spreads."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import torch
from torch import Tensor

from .cascade import SanityStage

if TYPE_CHECKING:
    from typing_extensions import TypeIs  # typing.TypeIs from Python 3.13

Runs = Sequence[SanityStage] | Sequence[Sequence[SanityStage]]
"""One result of :func:`cascading_randomization`, or several (e.g. one per seed) with the same stages."""

FIELDS = ("scale_ratio", "spearman", "spearman_abs", "ssim", "hog")
_HEADINGS = {
    "scale_ratio": "scale ratio",
    "spearman": "Spearman",
    "spearman_abs": "|Spearman|",
    "ssim": "SSIM",
    "hog": "HOG",
    "feature_scale": "scale",
}


def _is_one_run(runs: Runs) -> TypeIs[Sequence[SanityStage]]:
    return bool(runs) and isinstance(runs[0], SanityStage)


def _as_runs(runs: Runs) -> list[list[SanityStage]]:
    if _is_one_run(runs):
        return [list(runs)]
    as_lists = [list(run) for run in runs]
    if not as_lists or any([row.stage for row in run] != [row.stage for row in as_lists[0]] for run in as_lists):
        raise ValueError("Pass one or more results of cascading_randomization with the same stages.")
    return as_lists


def collect(runs: Runs, field: str) -> tuple[list[str], Tensor]:
    """One field of every run, stage by stage: (stage names, (S, R * N) float64 tensor).

    Row s holds stage s's values for every image of every run (run after run), e.g.
    ``collect(runs, "spearman")`` for R seeds on N photos.
    """
    runs = _as_runs(runs)
    if field not in _HEADINGS:
        raise ValueError(f"field must be one of {sorted(_HEADINGS)}, got {field!r}.")
    stages = [row.stage for row in runs[0]]
    values = torch.stack([torch.cat([getattr(run[s], field).double() for run in runs]) for s in range(len(stages))])
    return stages, values  # (S, R * N)


def _spread(values: Tensor) -> str:
    """'mean [min, max]' over the defined (non-NaN) values; 'n/a' if there are none."""
    defined = values[~values.isnan()]
    if not defined.numel():
        return "n/a"
    return f"{defined.mean().item():6.2f} [{defined.min().item():5.2f}, {defined.max().item():5.2f}]"


def format_sanity_table(runs: Runs, fields: Sequence[str] = FIELDS) -> str:
    """The results as a plain-text table: one line per stage, each column 'mean [min, max]'.

    The spread is over images and runs. The first column is "randomised down to" for a cascading
    test and "randomised stage" for an independent one (a single stage random at a time).
    A footnote counts the maps whose rank correlation is undefined (constant maps).
    """
    runs = _as_runs(runs)
    cascade = any(len(row.randomised) > 1 for row in runs[0])
    heading = "randomised down to" if cascade else "randomised stage"
    stages = [row.stage for row in runs[0]]
    columns = [collect(runs, field)[1] for field in fields]  # each (S, R * N)
    width = max(len(heading), *(len(stage) for stage in stages))
    lines = [f"{heading:<{width}}" + "".join(f"  {_HEADINGS[field]:^20}" for field in fields)]
    for index, stage in enumerate(stages):
        lines.append(f"{stage:<{width}}" + "".join(f"  {_spread(column[index]):>20}" for column in columns))
    undefined = int(collect(runs, "spearman")[1].isnan().sum())
    if undefined:
        lines.append(f"({undefined} constant map(s): no ranking, Spearman undefined and left out)")
    return "\n".join(lines)
