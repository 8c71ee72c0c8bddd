"""``python -m app`` is the ``tightship`` command."""

from app.cli import main

if __name__ == "__main__":  # worker processes re-import this module; only the real main runs
    main(prog_name="tightship")
