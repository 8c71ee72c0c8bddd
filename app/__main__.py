"""``python -m app`` is the ``tightship`` command."""

from app.cli import main

main(prog_name="tightship")
