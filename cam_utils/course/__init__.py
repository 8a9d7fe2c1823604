"""The course built on cam_utils' core: what the notebooks teach with, never what the core needs.

- ``claims``: the check cells' helper (a claim of the prose, strict under the notebook's own parameters);
- ``exercises``: the self-checks of the notebooks' exercises;
- ``shapes``: the synthetic-shapes data and the small networks trained on it (notebooks 09 and 10);
- ``explorer``: the interactive explorer (notebook 06 and the Voila app);
- ``cli``: the command line, ``python -m cam_utils``.

The core (every other module of ``cam_utils``) never imports from here: import-linter checks it (``make lint``).
"""
