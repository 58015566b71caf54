"""``python -m hall_cli``: the same as the ``hall`` command."""

from .main import main

main()
