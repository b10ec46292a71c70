"""The emulated Exchange organisation and its cmdlets (see tests/lab/README.exchange.md)."""

from __future__ import annotations

from importlib import import_module

from .organization import Organization

# Importing the cmdlet modules registers their cmdlets in registry.CMDLETS.
for _module in ("connectors", "domains", "vdirs", "client_access"):
    import_module(f"{__name__}.{_module}")
try:  # certificates are another engineer's module; the organisation works without it
    import_module(f"{__name__}.certificates")
except ModuleNotFoundError as _error:
    if _error.name != f"{__name__}.certificates":
        raise

__all__ = ["Organization"]
