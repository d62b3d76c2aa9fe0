"""`python -m gvlbench` is the same as the `gvlbench` console script."""

from gvlbench.cli import main

if __name__ == "__main__":
    main()
