"""The ``flowsim`` command line: one typer app, one module per subcommand.

``app.py`` holds the app and registers the subcommands; a new one (``flowsim check``,
``flowsim graph``, ...) is a module with a command function plus one line there.
"""
