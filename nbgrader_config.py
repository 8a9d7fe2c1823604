"""nbgrader's configuration for the course (docs/teaching.md, "Grading with nbgrader").

nbgrader reads this file when it runs in the repository's root, as ``make assignments`` and
``make autograde SUBMISSIONS=DIR`` (tools/nbgrader_course.py) run it. One assignment per notebook, in
_build/nbgrader: ``source/`` (written by tools/nbgrader_course.py from notebooks/*.ipynb), ``release/``
(``nbgrader generate_assignment``: what students get), ``submitted/``, ``autograded/``, ``feedback/``
and the gradebook (gradebook.db).
"""

from pathlib import Path

c = get_config()  # noqa: F821 (nbgrader's config loader defines it)

c.CourseDirectory.course_id = "cam-tutorial"
c.CourseDirectory.root = str(Path(__file__).resolve().parent / "_build" / "nbgrader")

# The stub of a solution region, as in the student edition (tools/student_edition.py, `make student`).
c.ClearSolutions.code_stub = {"python": 'raise NotImplementedError("your code here")'}

# Autograde runs every notebook top to bottom in the project's kernel (`make lab` installs it). The timeouts are
# per cell: nbgrader's 30 s default is too short for the benchmark cells (09, 10) on a 2-core laptop, and the first
# kernel of a fresh machine can take a minute to start while PyTorch loads.
c.Execute.kernel_name = "cam-tutorial"
c.Execute.timeout = 900
c.Execute.startup_timeout = 300
