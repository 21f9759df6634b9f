"""Typed errors. Each carries the process exit code the CLI turns it into.

Like PyAV's errors, ours also subclass the matching builtin (FileNotFoundError,
ValueError, OSError, ...) so callers can catch either.

Exit codes (documented in README.md):
    1   internal error (a bug: please report it with --debug output)
    2   usage: bad or conflicting command-line arguments; a GPU out of memory (what to lower)
    3   bad input: missing, unreadable, corrupt or unsupported input media
    4   model: weights missing, corrupt, of another variant, or not downloadable
    5   output: destination missing, read-only, exists, same as input, write failed
    130 interrupted by SIGINT (Ctrl-C); 143 terminated by SIGTERM
"""
from __future__ import annotations


class VidbokehError(Exception):
    """Base of every error the tool reports as one line."""

    exit_code = 1


class UsageError(VidbokehError, ValueError):
    exit_code = 2


class PresetNotFoundError(UsageError, LookupError):
    """No saved preset of that name."""

    exit_code = 2


class InputError(VidbokehError, ValueError):
    """Input media that cannot be used (corrupt, unsupported, empty...)."""

    exit_code = 3


class InputNotFoundError(InputError, FileNotFoundError):
    """A path that is not there. ``maybe_output``: set when it was given after inputs that are (``image in.jpg
    out.jpg``), so a front end can say how an output is named."""

    exit_code = 3

    def __init__(self, message: str, maybe_output: str | None = None):
        super().__init__(message)
        self.maybe_output = maybe_output


class ModelError(VidbokehError, RuntimeError):
    """Weights or detector/segmenter models that cannot be used."""

    exit_code = 4


class WeightsNotFoundError(ModelError, FileNotFoundError):
    """No usable weights: not cached and not downloadable (offline, no network)."""

    exit_code = 4


class WeightsMismatchError(ModelError):
    """A weights file that is corrupt (hash) or belongs to another variant.

    ``looks_like``: the variants the file fits instead (empty when it fits none or is corrupt), so a front
    end can say how to load it in its own syntax (``--model NAME``, ``--approaches midas=NAME``)."""

    exit_code = 4

    def __init__(self, message: str, looks_like: tuple[str, ...] = ()):
        super().__init__(message)
        self.looks_like = tuple(looks_like)


class OutputError(VidbokehError, OSError):
    exit_code = 5


class Interrupted(VidbokehError):
    """The run was stopped by a signal; partial output was finalized."""

    exit_code = 130

    def __init__(self, message: str = "interrupted", exit_code: int = 130):
        super().__init__(message)
        self.exit_code = exit_code


class DeviceMemoryError(VidbokehError, MemoryError):
    """The compute device (a GPU) ran out of memory: the message names what to lower."""

    exit_code = 2
