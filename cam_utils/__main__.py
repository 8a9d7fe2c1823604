"""``python -m cam_utils IMAGE -o figure.png``: see ``cam_utils.cli`` (or ``--help``)."""
from .cli import main

raise SystemExit(main())
