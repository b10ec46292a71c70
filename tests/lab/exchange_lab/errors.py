"""Errors raised inside the lab's PowerShell, shaped like PowerShell's ErrorRecord."""

from __future__ import annotations

from typing import Any


class PSError(Exception):
    """A PowerShell error record.

    ``message`` is the exception message a user sees; ``error_id`` PowerShell's FullyQualifiedErrorId (for
    Exchange cmdlets ``<hex>,Microsoft.Exchange.Management...<Cmdlet>``); ``category`` the ErrorCategory name;
    ``exception_type`` the .NET exception type name; ``command`` the command that failed (``Set-SendConnector``)
    so the host can print ``Set-SendConnector : message`` as Windows PowerShell does; ``target`` the object.

    ``terminating`` marks errors that stop the pipeline regardless of ``$ErrorActionPreference``
    (parameter binding, command not found, ``throw``); the others are non-terminating cmdlet errors that
    ``-ErrorAction Stop`` / ``$ErrorActionPreference = 'Stop'`` turn into terminating ones.
    """

    def __init__(
        self,
        message: str,
        *,
        error_id: str = "",
        category: str = "NotSpecified",
        exception_type: str = "System.Management.Automation.RuntimeException",
        command: str | None = None,
        target: Any = None,
        terminating: bool = False,
    ):
        super().__init__(message)
        self.message = message
        self.error_id = error_id
        self.category = category
        self.exception_type = exception_type
        self.command = command
        self.target = target
        self.terminating = terminating

    def display(self) -> str:
        """The first line Windows PowerShell prints for this error."""
        return f"{self.command} : {self.message}" if self.command else self.message


def command_not_found(name: str) -> PSError:
    return PSError(
        f"The term '{name}' is not recognized as the name of a cmdlet, function, script file, or operable program. "
        "Check the spelling of the name, or if a path was included, verify that the path is correct and try again.",
        error_id="CommandNotFoundException",
        category="ObjectNotFound",
        exception_type="System.Management.Automation.CommandNotFoundException",
        target=name,
        terminating=True,
    )


def parameter_binding(command: str, message: str, error_id: str) -> PSError:
    """A ParameterBindingException (unknown parameter, missing mandatory value, wrong type, ...)."""
    return PSError(
        message,
        error_id=f"{error_id},{command}",
        category="InvalidArgument",
        exception_type="System.Management.Automation.ParameterBindingException",
        command=command,
        terminating=True,
    )


class UnsupportedConstruct(PSError):
    """A script uses PowerShell the lab does not evaluate: always an error naming the construct, never skipped."""

    def __init__(self, construct: str, snippet: str = ""):
        detail = f": {snippet}" if snippet else ""
        super().__init__(
            f"The Exchange lab does not support the PowerShell construct '{construct}'{detail}",
            error_id="LabUnsupportedConstruct",
            category="NotImplemented",
            exception_type="System.NotSupportedException",
            terminating=True,
        )
        self.construct = construct
