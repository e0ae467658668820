"""``python -m ecfnb ...`` is the ``ecfnb`` command."""

from ._frontends.cli import main

raise SystemExit(main())
