"""``python -m strokelens.cli ...``: the same as the ``strokelens`` command."""

from strokelens.cli import main

if __name__ == "__main__":
    main()
