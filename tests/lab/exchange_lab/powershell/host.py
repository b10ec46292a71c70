"""A powershell.exe process as the WinRM endpoint starts it: command line through cmd.exe, stdin, stdout, stderr.

API (used by the WinRM endpoint)::

    process = start_process(lab, server, user, command_line)
    process.send_stdin(data, end)                    # bytes for a `-Command -` process; end=True closes stdin
    stdout, stderr, exit_code = process.receive(timeout)   # new output since the last call; exit_code None while running
    process.terminate()

Scripts run in a worker thread, so modelled latency (process start, Exchange shell load) never blocks the caller.
stdout is text in the console's output encoding (OEM code page 437 unless the script sets
``[Console]::OutputEncoding``); stderr is CLIXML as Windows PowerShell writes it for a redirected stream.
"""

from __future__ import annotations

import base64
import binascii
import threading
import time
from typing import Any

from ..errors import PSError
from .formatting import CLIXML_HEADER, OBJS_CLOSE, OBJS_OPEN, clixml_error, clixml_progress, clixml_strings, format_objects
from .interpreter import ExitScript
from .parser import ParseException, parse
from .session import Session, Streams

MAX_COMMAND_LINE = 8191
BAD_COMMAND_LINE_EXIT = -196608  # 0xFFFD0000: powershell.exe's exit code for an unusable command line
CORRUPT_OUTPUT = "Exchange lab: output corrupted by the corrupt_output fault\r\n"
CMD_BUILTINS = {"echo", "dir", "set", "cd", "chdir", "type", "copy", "del", "erase", "exit", "ver", "vol", "md", "mkdir", "rd",
                "rmdir", "move", "ren", "rename", "cls", "path", "title", "start", "call", "pushd", "popd", "mklink"}
EXECUTION_POLICIES = {"restricted", "allsigned", "remotesigned", "unrestricted", "bypass", "undefined", "default"}
# powershell.exe switches: (name, shortest accepted prefix)
SWITCHES = [
    ("encodedcommand", "e"), ("executionpolicy", "ex"), ("command", "c"), ("noprofile", "nop"), ("noninteractive", "noni"),
    ("nologo", "nol"), ("noexit", "noe"), ("outputformat", "o"), ("inputformat", "in"), ("windowstyle", "w"), ("file", "f"),
    ("sta", "s"), ("mta", "m"), ("version", "v"), ("psconsolefile", "psc"), ("configurationname", "config"), ("help", "h"),
]
SWITCH_ALIASES = {"ec": "encodedcommand", "ep": "executionpolicy", "of": "outputformat", "if": "inputformat", "?": "help"}


def split_command_line(line: str) -> list[str]:
    """Windows argv splitting (CommandLineToArgvW): spaces separate, quotes group, backslashes escape quotes."""
    args: list[str] = []
    index, length = 0, len(line)
    while index < length:
        while index < length and line[index] in " \t":
            index += 1
        if index >= length:
            break
        current: list[str] = []
        in_quotes = False
        while index < length and (in_quotes or line[index] not in " \t"):
            char = line[index]
            if char == "\\":
                start = index
                while index < length and line[index] == "\\":
                    index += 1
                count = index - start
                if index < length and line[index] == '"':
                    current.append("\\" * (count // 2))
                    if count % 2:
                        current.append('"')
                        index += 1
                else:
                    current.append("\\" * count)
                continue
            if char == '"':
                if in_quotes and index + 1 < length and line[index + 1] == '"':
                    current.append('"')
                    index += 2
                    continue
                in_quotes = not in_quotes
                index += 1
                continue
            current.append(char)
            index += 1
        args.append("".join(current))
    return args


def _switch(token: str) -> str | None:
    if not token.startswith(("-", "/")) or len(token) < 2:
        return None
    name = token[1:].lower()
    if name in SWITCH_ALIASES:
        return SWITCH_ALIASES[name]
    for full, shortest in SWITCHES:
        if full.startswith(name) and len(name) >= len(shortest):
            return full
    return None


class _Launch:
    """What the command line asks for."""

    def __init__(self) -> None:
        self.error: tuple[str, int] | None = None  # (stderr text, exit code) when nothing runs
        self.unsupported: str | None = None
        self.script: str | None = None  # -EncodedCommand / -Command text
        self.stdin = False  # -Command -


def parse_command_line(command_line: str) -> _Launch:
    launch = _Launch()
    if len(command_line) > MAX_COMMAND_LINE:
        launch.error = ("The command line is too long.\r\n", 1)
        return launch
    args = split_command_line(command_line)
    if not args:
        launch.error = ("", 0)
        return launch
    program = args[0].replace("/", "\\").rsplit("\\", 1)[-1]
    if program.lower() not in ("powershell", "powershell.exe"):
        if program.lower() in CMD_BUILTINS:
            launch.unsupported = f"cmd.exe command '{program}'"
            return launch
        launch.error = (f"'{program}' is not recognized as an internal or external command,\r\noperable program or batch file.\r\n", 1)
        return launch
    index = 1
    while index < len(args):
        token = args[index]
        switch = _switch(token)
        if switch is None:
            launch.script = " ".join(args[index:])  # PowerShell runs the rest of the line as a command
            return launch
        index += 1
        value = args[index] if index < len(args) else None
        if switch in ("noprofile", "noninteractive", "nologo", "sta", "mta"):
            continue
        if switch in ("noexit", "version", "psconsolefile", "configurationname", "help"):
            launch.unsupported = f"powershell.exe -{switch}"
            return launch
        if value is None:
            launch.error = (f"Missing argument for parameter {token}.\r\n", BAD_COMMAND_LINE_EXIT)
            return launch
        if switch == "executionpolicy":
            if value.lower() not in EXECUTION_POLICIES:
                launch.error = (f"Invalid argument '{value}' to the -ExecutionPolicy parameter.\r\n", BAD_COMMAND_LINE_EXIT)
                return launch
            index += 1
        elif switch in ("outputformat", "inputformat"):
            if value.lower() != "text":
                if value.lower() in ("xml",):
                    launch.unsupported = f"powershell.exe -{switch} {value}"
                    return launch
                launch.error = (f"Unrecognized -{switch} argument: {value}\r\n", BAD_COMMAND_LINE_EXIT)
                return launch
            index += 1
        elif switch == "windowstyle":
            index += 1
        elif switch == "file":
            launch.error = (f"The argument '{value}' to the -File parameter does not exist. Provide the path to an existing '.ps1' file "
                            "as an argument to the -File parameter.\r\n", BAD_COMMAND_LINE_EXIT)
            return launch
        elif switch == "encodedcommand":
            try:
                compact = value.strip()
                raw = base64.b64decode(compact + "=" * (-len(compact) % 4), validate=True)
                launch.script = raw.decode("utf-16-le")
            except (binascii.Error, ValueError, UnicodeDecodeError):
                launch.error = ("Cannot process the command because the value specified with -EncodedCommand is not properly encoded. "
                                "The value must be Base64 encoded.\r\n", BAD_COMMAND_LINE_EXIT)
            return launch
        elif switch == "command":
            if value == "-" and index + 1 == len(args):
                launch.stdin = True
            else:
                launch.script = " ".join(args[index:])
            return launch
    launch.unsupported = "powershell.exe without -Command or -EncodedCommand (interactive input)"
    return launch


class _ProcessStreams(Streams):
    """Formats a runspace's streams into the process's stdout/stderr bytes."""

    def __init__(self, process: PowerShellProcess):
        super().__init__()
        self.process = process

    def write_output(self, objects: list) -> None:
        self.process._script_stdout.append(format_objects(objects))

    def write_host(self, text: str, newline: bool = True) -> None:
        self.process._script_stdout.append(text.replace("\n", "\r\n").replace("\r\r\n", "\r\n") + ("\r\n" if newline else ""))

    def write_error(self, error: PSError) -> None:
        self.process._write_clixml(clixml_error(error))

    def write_warning(self, text: str) -> None:
        self.process._write_clixml(clixml_strings(text.replace("\r\n", "\n").split("\n"), "warning"))

    def write_verbose(self, text: str) -> None:
        self.process._write_clixml(clixml_strings(text.replace("\r\n", "\n").split("\n"), "verbose"))

    def write_progress(self, activity: str, status: str, completed: bool) -> None:
        self.process._write_clixml(clixml_progress(self.process._next_ref_id(), activity, status, completed))


class PowerShellProcess:
    def __init__(self, lab: Any, server: str, user: str, command_line: str):
        self.lab = lab
        self.server = server
        self.user = user
        self.command_line = command_line
        self._condition = threading.Condition()
        self._stdout = bytearray()
        self._stderr = bytearray()
        self._exit_code: int | None = None
        self._done = False
        self._stdin = bytearray()
        self._stdin_closed = False
        self._terminated = False
        self._clixml_open = False
        self._ref_id = 0
        self._script_stdout: list[str] = []
        self.session: Session | None = None
        self._launch = parse_command_line(command_line)
        self._thread = threading.Thread(target=self._main, name=f"powershell-{server}", daemon=True)
        self._thread.start()

    # --- caller side -----------------------------------------------------------------------------------------

    def send_stdin(self, data: bytes, end: bool) -> None:
        with self._condition:
            if not self._stdin_closed:
                self._stdin.extend(data)
                if end:
                    self._stdin_closed = True
            self._condition.notify_all()

    def receive(self, timeout: float) -> tuple[bytes, bytes, int | None]:
        deadline = time.monotonic() + timeout
        with self._condition:
            while not self._stdout and not self._stderr and not self._done:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    break
                self._condition.wait(remaining)
            stdout, stderr = bytes(self._stdout), bytes(self._stderr)
            self._stdout.clear()
            self._stderr.clear()
            return stdout, stderr, (self._exit_code if self._done else None)

    def terminate(self) -> None:
        with self._condition:
            self._terminated = True
            self._stdin_closed = True
            if self.session is not None:
                self.session.cancelled = True  # type: ignore[attr-defined]
            if not self._done:
                self._finish_locked(1)
            self._condition.notify_all()

    @property
    def finished(self) -> bool:
        return self._done

    # --- worker side -----------------------------------------------------------------------------------------

    def _codec(self) -> str:
        return getattr(self.session.output_encoding, "codec", "cp437") if self.session is not None else "cp437"

    def _emit(self, stdout: str = "", stderr: str = "", raw_stderr: bytes = b"") -> None:
        codec = self._codec()
        with self._condition:
            if self._terminated:
                return
            if stdout:
                self._stdout.extend(stdout.encode(codec, errors="replace"))
            if stderr:
                self._stderr.extend(stderr.encode(codec, errors="replace"))
            if raw_stderr:
                self._stderr.extend(raw_stderr)
            self._condition.notify_all()

    def _next_ref_id(self) -> int:
        self._ref_id += 1
        return self._ref_id - 1

    def _write_clixml(self, records: str) -> None:
        if not self._clixml_open:
            self._clixml_open = True
            records = CLIXML_HEADER + OBJS_OPEN + records
        self._emit(stderr=records)

    def _finish_locked(self, code: int) -> None:
        self._exit_code = code
        self._done = True
        self._condition.notify_all()

    def _finish(self, code: int) -> None:
        if self._clixml_open:
            self._emit(stderr=OBJS_CLOSE)
        with self._condition:
            if not self._done:
                self._finish_locked(code)

    def _main(self) -> None:
        launch = self._launch
        if launch.error is not None:
            text, code = launch.error
            self._emit(raw_stderr=text.encode("cp437", errors="replace"))
            self._finish(code)
            return
        if launch.unsupported is not None:
            from ..errors import UnsupportedConstruct

            self._emit(raw_stderr=(UnsupportedConstruct(launch.unsupported).message + "\r\n").encode())
            self._finish(1)
            return
        code = 1
        try:
            self.lab.faults.sleep("ps_start")
            self.lab.observer.count(self.server, "ps_processes")
            self.session = Session(self.lab, self.server, self.user, _ProcessStreams(self))
            self.session.cancelled = False  # type: ignore[attr-defined]
            if launch.stdin:
                code = self._run_stdin()
            else:
                code, _ = self._run_script(launch.script or "")
        except BaseException as exc:  # a lab defect must show, never pass as a clean exit
            self._emit(raw_stderr=f"Exchange lab internal error: {type(exc).__name__}: {exc}\r\n".encode())
            code = 1
            if not isinstance(exc, Exception):
                raise
        finally:
            self._finish(code)

    def _run_script(self, text: str) -> tuple[int, bool]:
        """Run one script (the whole -EncodedCommand, or one stdin block). Returns (exit code, exit requested)."""
        session = self.session
        assert session is not None
        started = time.monotonic()
        session.created_scripts = []
        self._script_stdout = []
        exit_requested = False
        try:
            session.last_success = True
            session.run(text)
            code = 0 if session.last_success else 1
        except ParseException as error:
            session.streams.write_error(error)
            code = 1
        except ExitScript as flow:
            code = flow.code
            exit_requested = True
        except PSError as error:  # script-terminating and uncaught
            session.record_error(error)
            session.streams.write_error(error)
            code = 1
        except RecursionError:
            from ..errors import UnsupportedConstruct

            session.streams.write_error(UnsupportedConstruct("nesting deeper than the lab's evaluator supports"))
            code = 1
        finally:
            stdout = "".join(self._script_stdout)
            self._script_stdout = []
        if self.lab.faults.take("corrupt_output"):
            stdout = CORRUPT_OUTPUT
        self._emit(stdout=stdout)
        recorded = text
        for created in session.created_scripts:
            if created != text:
                recorded += "\n" + created
        self.lab.observer.record_script(self.server, self.user, self.command_line, recorded, session.exchange_loaded, code,
                                        time.monotonic() - started)
        return code, exit_requested

    def _next_line(self) -> str | None:
        """Block until a whole stdin line is available (None at end of input)."""
        with self._condition:
            while True:
                newline = self._stdin.find(b"\n")
                if newline >= 0:
                    raw = bytes(self._stdin[:newline])
                    del self._stdin[:newline + 1]
                    break
                if self._stdin_closed or self._terminated:
                    if self._stdin and not self._terminated:
                        raw = bytes(self._stdin)
                        self._stdin.clear()
                        break
                    return None
                self._condition.wait()
        codec = getattr(self.session.input_encoding, "codec", "cp437") if self.session is not None else "cp437"
        return raw.rstrip(b"\r").decode(codec, errors="replace")

    def _run_stdin(self) -> int:
        """`-Command -`: run each complete line as it arrives; an incomplete one opens a block that an empty line ends."""
        code = 0
        pending: list[str] | None = None
        while True:
            line = self._next_line()
            if line is None:
                break
            if pending is None:
                if line.strip() == "":
                    continue
                try:
                    parse(line)
                except ParseException as error:
                    if error.incomplete:
                        pending = [line]
                        continue
                code, exited = self._run_script(line)
            else:
                if line.strip() != "":
                    pending.append(line)
                    continue
                block, pending = "\n".join(pending), None
                code, exited = self._run_script(block)
            if exited:
                return code
        if pending is not None:
            code, _ = self._run_script("\n".join(pending))
        return code


def start_process(lab: Any, server: str, user: str, command_line: str) -> PowerShellProcess:
    """Start powershell.exe (or whatever cmd.exe is asked to run) for ``user`` on ``server``."""
    return PowerShellProcess(lab, server, user, command_line)
