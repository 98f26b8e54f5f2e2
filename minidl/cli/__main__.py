"""``python -m minidl.cli``."""

from minidl.cli import main

main()
