"""``python -m ecfnb ...`` is the ``ecfnb`` command."""

from .cli import main

raise SystemExit(main())
