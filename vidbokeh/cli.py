"""Command line: runs a command (arguments: cli_parser.py; settings and modes: commands.py) and decides what
the user sees: the library's log records and one line per error. Nothing more.

Errors become one line on stderr and the exit code of their type (see vidbokeh/errors.py and README);
``--debug`` shows the traceback. Heavy modules (torch, mediapipe, av) are imported only by the
subcommand that needs them, so ``--help`` and ``models list`` start fast and the selfie path never
imports torch.
"""
from __future__ import annotations

import logging
import os
import signal
import sys
import traceback
from typing import Sequence

from .cli_parser import build_parser, explicit_fields, settle_device
from .errors import Interrupted, VidbokehError


def _install_sigterm() -> None:
    def on_term(signum, frame):  # noqa: ARG001
        raise Interrupted("terminated", exit_code=143)

    try:
        signal.signal(signal.SIGTERM, on_term)
    except ValueError:  # not the main thread (e.g. called from a test thread)
        pass


class _StderrLines(logging.Handler):
    """The library's log records as ``vidbokeh: message`` lines (``vidbokeh: error: message`` for errors)
    on the current ``sys.stderr``."""

    def emit(self, record: logging.LogRecord) -> None:
        try:
            kind = "error: " if record.levelno >= logging.ERROR else ""
            sys.stderr.write(f"vidbokeh: {kind}{record.getMessage()}\n")
        except Exception:  # noqa: BLE001 (logging's own rule: a handler never raises)
            self.handleError(record)


def _show_library_log(debug: bool) -> None:
    """The library logs (``logging.getLogger("vidbokeh....")``) and never writes to stderr itself; the CLI
    shows its records from INFO up (DEBUG with --debug), once per process."""
    logger = logging.getLogger("vidbokeh")
    if not any(isinstance(h, _StderrLines) for h in logger.handlers):
        logger.addHandler(_StderrLines())
    logger.setLevel(logging.DEBUG if debug else logging.INFO)
    # the studio's own records: its warnings (e.g. a --host others can reach), not its running notes
    logging.getLogger("vidbokeh.web").setLevel(logging.DEBUG if debug else logging.WARNING)


def _say(message: str) -> None:
    print(f"vidbokeh: {message}", file=sys.stderr)


def _what_to_do(exc: VidbokehError) -> str:
    """What the user can do about an error, in this command line's words (the library's message says what
    went wrong; how to say "load it as that variant" depends on the front end)."""
    looks_like = getattr(exc, "looks_like", ())
    if looks_like:
        return " (to load it as that: " + " or ".join(f"--model {n}" for n in looks_like) + ")"
    maybe_output = getattr(exc, "maybe_output", None)  # the last of several inputs, missing: meant as the output?
    if maybe_output:
        return f" (to write the result there, name it with -o: -o {maybe_output})"
    return ""


def run(argv: Sequence[str] | None = None) -> int:
    """Run the CLI and return the exit code (``main`` exits with it)."""
    parser = build_parser()
    debug = "--debug" in (argv if argv is not None else sys.argv[1:])
    _show_library_log(debug)
    try:
        args = parser.parse_args(argv)
        if args.command is None:
            parser.print_help()
            return 2
        for note in settle_device(args):
            _say(note)
        if getattr(args, "preset", None):
            args.explicit_fields = explicit_fields(list(argv) if argv is not None else sys.argv[1:], args.command)
        _install_sigterm()
        from . import commands

        return commands.dispatch(args)
    except KeyboardInterrupt:
        _say("interrupted")
        return 130
    except BrokenPipeError:
        # The reader of our standard output went away (``vidbokeh models list | head``): what it wanted was
        # written. Say nothing, and keep Python's own flush at exit from raising the same error again.
        _close_stdout_quietly()
        return 128 + signal.SIGPIPE
    except VidbokehError as exc:
        if debug:
            traceback.print_exc()
        print(f"vidbokeh: error: {exc}{_what_to_do(exc)}", file=sys.stderr)
        return exc.exit_code
    except MemoryError:
        if debug:
            traceback.print_exc()
        print("vidbokeh: error: out of memory (try a smaller --depth-size or image)", file=sys.stderr)
        return 1
    except Exception as exc:  # a bug: one line unless --debug
        if debug:
            traceback.print_exc()
        notes = "".join(f"; {note}" for note in getattr(exc, "__notes__", ()))  # e.g. the partial output kept
        print(f"vidbokeh: internal error: {type(exc).__name__}: {exc}{notes} (rerun with --debug for details)",
              file=sys.stderr)
        return 1


def _close_stdout_quietly() -> None:
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)
    except (OSError, ValueError):  # no real descriptor behind stdout (an embedding host): nothing to flush
        pass


def _silence_native_stderr() -> None:
    """Keep native libraries' log lines (MediaPipe/LiteRT print INFO/WARNING lines straight to file
    descriptor 2) off the terminal: Python's stderr moves to a duplicate of the terminal's descriptor,
    and descriptor 2 goes to /dev/null. Our own one-line messages and progress bars are unaffected."""
    try:
        saved = os.dup(2)
        devnull = os.open(os.devnull, os.O_WRONLY)
    except OSError:
        return
    sys.stderr.flush()
    sys.stderr = os.fdopen(saved, "w", buffering=1, encoding=sys.stderr.encoding or "utf-8", errors="replace")
    os.dup2(devnull, 2)
    os.close(devnull)


def _dump_stacks_on_sigusr1() -> None:
    """`kill -USR1 <pid>` prints every thread's Python stack to stderr and the run goes on: what a run that
    seems stuck (a window that stays black, a file that stops growing) is doing, without stopping it."""
    import faulthandler

    if hasattr(signal, "SIGUSR1"):
        try:
            faulthandler.register(signal.SIGUSR1, file=sys.stderr, all_threads=True)
        except (ValueError, OSError, AttributeError):  # a stderr without a descriptor (an embedding host)
            pass


def main(argv: Sequence[str] | None = None) -> None:
    args = sys.argv[1:] if argv is None else list(argv)
    if "--debug" not in args:
        _silence_native_stderr()
    _dump_stacks_on_sigusr1()
    from .allocator import keep_frame_blocks

    keep_frame_blocks()
    sys.exit(run(argv))


if __name__ == "__main__":
    main()
