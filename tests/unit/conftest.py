"""Unit tests run modules in-process, next to controller code (filters, ansible-doc helpers) in the same worker.

Once controller code has been imported, ansible-core routes ``module.warn()`` to the controller's display instead of
the module result; a module on a real host never sees that, so each test starts as a module would.
"""

import pytest


@pytest.fixture(autouse=True)
def module_context(monkeypatch):
    from ansible.module_utils import _internal

    monkeypatch.setattr(_internal, "is_controller", False)
