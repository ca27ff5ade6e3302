"""The ``gpt2030`` command line: thin front ends that parse, delegate and set the exit code."""


class CommandError(Exception):
    """A refusal with a message for the user; the command exits with status 2."""
