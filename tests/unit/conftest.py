"""Unit tests run modules in-process, next to controller code (filters, ansible-doc helpers) in the same worker.

Once controller code has been imported, ansible-core routes ``module.warn()`` to the controller's display instead of
the module result; a module on a real host never sees that, so each test starts as a module would.

ansible-core before 2.19 (the support matrix starts at 2.17, tox-ansible.ini) has neither that routing nor
``ansible.module_utils.testing``; for them this file provides ``patch_module_args`` the way those releases take
module arguments (``basic._ANSIBLE_ARGS``), so the same tests run on every supported release.
"""

import contextlib
import importlib.util
import json
import sys
import types

import pytest

if importlib.util.find_spec("ansible.module_utils.testing") is None:  # before ansible-core 2.19
    from ansible.module_utils import basic as _basic

    @contextlib.contextmanager
    def _patch_module_args(args=None):
        if not isinstance(args, (dict, type(None))):
            raise TypeError("The `args` arg must be a dict or None.")
        saved = getattr(_basic, "_ANSIBLE_ARGS", None)
        _basic._ANSIBLE_ARGS = json.dumps({"ANSIBLE_MODULE_ARGS": args or {}}).encode()
        try:
            yield
        finally:
            _basic._ANSIBLE_ARGS = saved

    _testing = types.ModuleType("ansible.module_utils.testing")
    _testing.patch_module_args = _patch_module_args
    sys.modules["ansible.module_utils.testing"] = _testing
    import ansible.module_utils as _module_utils

    _module_utils.testing = _testing


@pytest.fixture(autouse=True)
def module_context(monkeypatch):
    try:
        from ansible.module_utils import _internal
    except ImportError:  # before 2.19: module.warn() always goes to the module result
        return
    if hasattr(_internal, "is_controller"):
        monkeypatch.setattr(_internal, "is_controller", False)
