"""The lab's PowerShell: tree-sitter-powershell parsing, an evaluator for a documented subset, and a process host.

See ``tests/lab/README.powershell.md`` for the subset.
"""

from .host import PowerShellProcess, start_process
from .parser import ParseException, parse
from .session import Session, Streams

__all__ = ["PowerShellProcess", "ParseException", "Session", "Streams", "parse", "start_process"]
