"""Independent oracles for cam_utils (issue 23): what tests/test_oracles_*.py and tools/oracle_table.py share.

* :mod:`.compare`: how two results are compared (:class:`~.compare.Comparison`, tolerances, a table row);
* :mod:`.models`: the architectures and layers compared (:data:`~.models.CASES`), built with fixed seeds;
* :mod:`.gradient_libraries`: Captum, pytorch-grad-cam and torchcam run on them, their internals captured;
* :mod:`.gradient_comparisons`: cam_utils' gradient maps and Score-CAM scores against those libraries;
* :mod:`.numeric` and :mod:`.metric_comparisons`: scipy, scikit-image and NumPy references for the post-processing,
  the similarity measures and the metrics, and the comparisons with them;
* :mod:`.table`: every comparison of the closing note's table.

The libraries are imported only through :func:`tests.libraries.require_library`, when a comparison runs: a test
that needs one skips where the "libraries" extra is absent and fails where make installed it.
"""
