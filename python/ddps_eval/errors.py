"""Errors that name the file at fault, reported to ddps as one JSON line (see models/python.ts)."""
import json
import sys


class EvalError(Exception):
    """A user-facing error: `code` is one of ddps's error codes (models/errors.ts), `file` the file at fault."""

    def __init__(self, code, message, file=None):
        super().__init__(message)
        self.code, self.message, self.file = code, message, file


def emit(event):
    """One event as a JSON line on stdout (flushed: ddps shows progress as it comes)."""
    print(json.dumps(event), flush=True)


def run_main(main, argv):
    """Runs main(argv); an EvalError becomes an {"event": "error"} line, the message on stderr, and exit code 2."""
    try:
        main(argv)
    except EvalError as e:
        emit({"event": "error", "code": e.code, "message": e.message, **({"file": e.file} if e.file else {})})
        print(e.message, file=sys.stderr)
        sys.exit(2)
