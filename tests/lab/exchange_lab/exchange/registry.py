"""How Exchange cmdlets are declared: one Python function per cmdlet, registered by name.

An implementation receives a :class:`Call` whose ``params`` are already bound, checked against
``exchange-cmdlets.json`` for the emulated version and converted to the declared .NET types, and returns the
objects the cmdlet writes to the pipeline. It raises :func:`exchange_error` for what Exchange refuses.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from ..errors import PSError

if TYPE_CHECKING:  # pragma: no cover
    from ..commands import CommandContext
    from .organization import Organization

CmdletFunction = Callable[["Call"], list]
CMDLETS: dict[str, CmdletFunction] = {}


def cmdlet(name: str) -> Callable[[CmdletFunction], CmdletFunction]:
    def register(function: CmdletFunction) -> CmdletFunction:
        CMDLETS[name] = function
        return function

    return register


@dataclass
class Call:
    name: str  # e.g. "Set-ReceiveConnector"
    org: Organization
    server: str  # the server whose shell runs the cmdlet (the default for -Server)
    params: dict[str, Any]  # canonical parameter name -> converted value
    ctx: CommandContext
    parameter_set: str | None = None
    from_pipeline: set[str] = field(default_factory=set)

    def has(self, name: str) -> bool:
        return name in self.params

    def get(self, name: str, default: Any = None) -> Any:
        return self.params.get(name, default)

    @property
    def version(self) -> str:
        return self.org.version


# FullyQualifiedErrorId suffixes and .NET exception types Exchange uses for what it refuses.
ERROR_KINDS = {
    "NotFound": ("Microsoft.Exchange.Configuration.Tasks.ManagementObjectNotFoundException", "NotSpecified"),
    "Ambiguous": ("Microsoft.Exchange.Configuration.Tasks.ManagementObjectAmbiguousException", "NotSpecified"),
    "Duplicate": ("Microsoft.Exchange.Management.SystemConfigurationTasks.DuplicateObjectException", "InvalidOperation"),
    "AlreadyExists": ("Microsoft.Exchange.Data.Directory.ADObjectAlreadyExistsException", "NotSpecified"),
    "Invalid": ("Microsoft.Exchange.Management.Tasks.TaskArgumentException", "InvalidArgument"),
    "InvalidOperation": ("System.InvalidOperationException", "InvalidOperation"),
    "DataValidation": ("Microsoft.Exchange.Data.DataValidationException", "NotSpecified"),
    "Confirmation": ("System.Management.Automation.Host.HostException", "NotSpecified"),
    "Certificate": ("Microsoft.Exchange.Management.SystemConfigurationTasks.CertificateTaskException", "InvalidOperation"),
}


def exchange_error(call_or_name: Call | str, message: str, kind: str = "Invalid", target: Any = None) -> PSError:
    """The error Exchange writes; the caller raises it (``raise exchange_error(call, "...", "NotFound")``)."""
    name = call_or_name.name if isinstance(call_or_name, Call) else call_or_name
    exception_type, category = ERROR_KINDS[kind]
    short = exception_type.rsplit(".", 1)[-1]
    noun = name.split("-", 1)[-1]
    return PSError(
        message,
        error_id=f"[Server=LAB,RequestId=00000000-0000-0000-0000-000000000000] {short},Microsoft.Exchange.Management.Tasks.{name.replace('-', '')}",
        category=category,
        exception_type=exception_type,
        command=name,
        target=target if target is not None else noun,
    )
