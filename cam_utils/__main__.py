"""``python -m cam_utils IMAGE -o figure.png``: see ``cam_utils.course.cli`` (or ``--help``)."""

from .course.cli import main

raise SystemExit(main())
