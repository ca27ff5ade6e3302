"""The ``gpt2030`` command line: thin front ends that parse, delegate and set the exit code.

Each module's ``register`` adds its commands to the parser; each command is a ``cmd_*``
function that takes the parsed :class:`argparse.Namespace` and returns the exit status
(see :mod:`gpt2030.cli.main`).
"""


class CommandError(Exception):
    """A refusal with a message for the user; the command exits with status 2."""
