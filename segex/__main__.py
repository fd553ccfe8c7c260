"""``python -m segex``: the command line (:mod:`segex.cli`)."""

if __name__ == "__main__":
    import sys

    from .cli import main

    sys.exit(main())
