"""``python -m flowsim.cli``: the same entry point as the ``flowsim`` script."""

from flowsim.cli.app import main

main()
