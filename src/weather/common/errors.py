"""The one error a library raises when no retry can help; only the entry points turn it into an exit code."""


class Unrecoverable(Exception):
    """The program cannot go on; the message says what is wrong and what to do (exit code 1)."""
