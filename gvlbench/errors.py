"""The harness's exception hierarchy and its documented exit codes.

Every user error is one type here, raised by the library and turned into a one-line message
and an exit code exactly once, in the CLI. Exit codes: 0 ok, 1 a check, a measurement or a
gate failed, 2 bad input, 3 internal error, 4 asked for what this machine cannot build.
"""

from __future__ import annotations

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_BAD_INPUT = 2
EXIT_INTERNAL = 3
EXIT_UNAVAILABLE = 4


class GvlbenchError(Exception):
    """Base of every error the harness raises on purpose."""

    exit_code = EXIT_INTERNAL
    kind = "internal error"


class UserError(GvlbenchError):
    """Bad input: the user can fix it. One line, exit code 2."""

    exit_code = EXIT_BAD_INPUT
    kind = "bad input"

    def __str__(self) -> str:
        """Always one line, whatever the input put in it (a file name with a newline, say)."""
        return super().__str__().replace("\r", "\\r").replace("\n", "\\n")


class UnknownScenarioError(UserError):
    kind = "unknown scenario"


class SpecError(UserError):
    """A scenario spec that cannot be read or does not validate; names the file and key."""

    kind = "bad scenario spec"


class ConfigError(UserError):
    """A gate config or known-defects file that cannot be read or does not validate."""

    kind = "bad config"


class WatError(UserError):
    """The WAT compiler rejected a source; carries the compiler's own message."""

    kind = "malformed WAT"


class WasmError(UserError):
    """The engine rejected a compiled module (not Wasm, or invalid); carries its reason."""

    kind = "invalid Wasm module"


class SignatureError(UserError):
    """The spec's export or arguments do not match the compiled module."""

    kind = "signature mismatch"


class OptionError(UserError):
    """A command-line value that parsed but makes no sense (threads < 1, ...)."""

    kind = "bad option"


class ResultsFileError(UserError):
    """A results file that is missing, not JSON, or not of a schema we know."""

    kind = "bad results file"


class InterpreterError(UserError):
    """A --python target that cannot run the worker: absent, too old, or lacking packages."""

    kind = "unusable interpreter"


class UnavailableError(UserError):
    """Something asked for by name that this machine cannot provide (the native Store guard
    without a C compiler). Its own exit code: the input is fine, the machine lacks a tool."""

    exit_code = EXIT_UNAVAILABLE
    kind = "unavailable here"


class ProtocolError(GvlbenchError):
    """A measuring child answered with something that is not the protocol's JSON."""

    kind = "protocol error"


class CodeError(UserError):
    """`--setup`, `--per-thread-setup` or `--stmt` code that does not compile, or raises
    where it must not (setup anywhere, the statement when run alone): a property of the
    code, not of the race. Names the part and the exception."""

    kind = "bad code"
