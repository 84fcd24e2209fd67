"""Test support for users' repositories: the pytest plugin's fixtures live in
``flowsim.testing.plugin`` (loaded automatically through the ``pytest11`` entry point)."""
