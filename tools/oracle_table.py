"""Print the oracle table of issue 23's closing note: cam_utils against Captum, pytorch-grad-cam, torchcam, scipy,
scikit-image and NumPy references, one markdown row per quantity and oracle.

    .venv/bin/python tools/oracle_table.py

The comparisons are those of tests/test_oracles_*.py (tests/oracles/table.py lists them); "max rel diff" is
relative to the reference's peak (a map's maximum magnitude), or to the scale the comparison names (1 for
probabilities and hits, max α for Score-CAM's scores, 100 for Average Drop %). Rows marked "library deviates" are
the libraries' known deviations: there the difference is the library's error against cam_utils' value, which the
tests check against independent references. Needs the "libraries" extra (make test installs it).
"""

from __future__ import annotations

import os
import sys
import warnings
from pathlib import Path

# pytorch-grad-cam's Score-CAM draws a tqdm bar per call: off, so that the output is the table alone.
os.environ.setdefault("TQDM_DISABLE", "1")

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # the repository root: tests.oracles


def main() -> int:
    from tests.oracles.table import comparisons, markdown, rows

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the libraries' deprecation and tracer warnings: not the table's business
        print(markdown(rows(comparisons())))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
