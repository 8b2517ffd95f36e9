"""Allow `python -m vpm`."""

from vpm.cli import main

main()
