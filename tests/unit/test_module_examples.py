# -*- coding: utf-8 -*-
# Copyright: mailops.exchange contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Every module's EXAMPLES is valid YAML and uses only options its DOCUMENTATION (with doc fragments) documents.

The module files are read, not imported: DOCUMENTATION and EXAMPLES are taken from the source with ``ast``, the
doc fragments named in ``extends_documentation_fragment`` are merged in as ansible-doc does, and every call of a
``mailops.exchange`` module in an example (a task, or ``module_defaults`` for a module or the action group) is
checked option by option, down into documented suboptions, with literal values checked against ``choices`` and
``type``.
"""

import ast
import functools
import importlib
import os
import re

import pytest
import yaml

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
MODULES_DIR = os.path.join(ROOT, "plugins", "modules")
FRAGMENTS_DIR = os.path.join(ROOT, "plugins", "doc_fragments")
RUNTIME = os.path.join(ROOT, "meta", "runtime.yml")
COLLECTION = "mailops.exchange"
ACTION_GROUP = "group/%s.exchange" % COLLECTION

# Task keywords that may stand beside the module's key in a task (not module options).
TASK_KEYWORDS = frozenset("""
    name action args async become become_exe become_flags become_method become_user changed_when check_mode
    collections connection debugger delay delegate_facts delegate_to diff environment failed_when ignore_errors
    ignore_unreachable local_action loop loop_control module_defaults no_log notify poll port register remote_user
    retries run_once tags throttle timeout until vars when with_items with_dict with_list with_fileglob
    with_sequence with_subelements with_nested with_together block rescue always any_errors_fatal
""".split())
PLAY_TASK_LISTS = ("pre_tasks", "tasks", "post_tasks", "handlers")
BLOCK_LISTS = ("block", "rescue", "always")


class _TolerantLoader(yaml.SafeLoader):
    """SafeLoader that accepts Ansible's tags (!unsafe, !vault) as plain values."""


def _plain(loader, suffix, node):
    if isinstance(node, yaml.ScalarNode):
        return loader.construct_scalar(node)
    if isinstance(node, yaml.SequenceNode):
        return loader.construct_sequence(node)
    return loader.construct_mapping(node)


_TolerantLoader.add_multi_constructor("!", _plain)


def _source_constants(path, names):
    with open(path, "rb") as handle:
        tree = ast.parse(handle.read(), filename=path)
    found = {}
    for node in ast.walk(tree):
        if isinstance(node, ast.Assign):
            for target in node.targets:
                if isinstance(target, ast.Name) and target.id in names:
                    found[target.id] = ast.literal_eval(node.value)
    return found


def _fragment(reference):
    """The YAML of a doc fragment reference ``mailops.exchange.name`` or ``mailops.exchange.name.VARIABLE``."""
    parts = reference.split(".")
    assert parts[:2] == COLLECTION.split("."), "only this collection's fragments can be checked here: %s" % reference
    name = parts[2]
    variable = parts[3].upper() if len(parts) > 3 else "DOCUMENTATION"
    path = os.path.join(FRAGMENTS_DIR, name + ".py")
    assert os.path.exists(path), "doc fragment %s not found at %s" % (reference, path)
    # Imported, as Ansible's fragment loader does: a fragment may render its text (the connection options do).
    module = importlib.import_module("ansible_collections.mailops.exchange.plugins.doc_fragments." + name)
    text = getattr(module.ModuleDocFragment, variable, None)
    assert text is not None, "doc fragment %s has no %s" % (reference, variable)
    return yaml.safe_load(text)


@functools.lru_cache(maxsize=None)
def documented_options(path):
    """The module's options (DOCUMENTATION merged with its doc fragments), by name."""
    constants = _source_constants(path, ("DOCUMENTATION", "EXAMPLES"))
    assert "DOCUMENTATION" in constants, "%s has no DOCUMENTATION" % path
    doc = yaml.safe_load(constants["DOCUMENTATION"])
    options = dict(doc.get("options") or {})
    fragments = doc.get("extends_documentation_fragment") or []
    if isinstance(fragments, str):
        fragments = [fragments]
    for reference in fragments:
        fragment = _fragment(reference)
        for name, spec in (fragment.get("options") or {}).items():
            options.setdefault(name, spec)
    return doc, options


def _modules():
    return sorted(name[:-3] for name in os.listdir(MODULES_DIR) if name.endswith(".py") and name != "__init__.py")


def _all_options():
    return {name: documented_options(os.path.join(MODULES_DIR, name + ".py"))[1] for name in _modules()}


def _group_members():
    with open(RUNTIME) as handle:
        runtime = yaml.safe_load(handle)
    return list(((runtime or {}).get("action_groups") or {}).get("exchange") or [])


def _templated(value):
    return isinstance(value, str) and ("{{" in value or "{%" in value)


def _by_name_or_alias(options):
    index = {}
    for name, spec in options.items():
        index[name] = (name, spec or {})
        for alias in (spec or {}).get("aliases") or []:
            index[alias] = (name, spec or {})
    return index


def _check_value(where, spec, value, problems):
    if _templated(value) or value is None:
        return
    kind = spec.get("type", "str")
    choices = spec.get("choices")
    if isinstance(choices, dict):
        choices = list(choices)
    if kind == "list":
        if isinstance(value, str):
            value = [v.strip() for v in value.split(",")]
        if not isinstance(value, list):
            problems.append("%s: expected a list, got %r" % (where, value))
            return
        element_spec = dict(spec, type=spec.get("elements", "str"))
        for position, element in enumerate(value):
            _check_value("%s[%d]" % (where, position), element_spec, element, problems)
        return
    if kind == "dict":
        if not isinstance(value, dict):
            problems.append("%s: expected a dict, got %r" % (where, value))
            return
        if spec.get("suboptions"):
            _check_arguments(where, spec["suboptions"], value, problems)
        return
    if kind == "bool" and not isinstance(value, bool):
        if str(value).lower() not in ("yes", "no", "true", "false", "on", "off", "1", "0", "y", "n", "t", "f"):
            problems.append("%s: expected a boolean, got %r" % (where, value))
        return
    if kind == "int" and (isinstance(value, bool) or not re.match(r"^-?\d+$", str(value))):
        problems.append("%s: expected an integer, got %r" % (where, value))
        return
    if choices is not None and value not in choices:
        problems.append("%s: %r is not one of the documented choices %s" % (where, value, choices))


def _check_arguments(where, options, arguments, problems):
    if _templated(arguments):
        return
    if not isinstance(arguments, dict):
        problems.append("%s: arguments must be a dictionary, got %r" % (where, arguments))
        return
    index = _by_name_or_alias(options)
    for key, value in arguments.items():
        if key not in index:
            problems.append("%s: option '%s' is not documented" % (where, key))
            continue
        name, spec = index[key]
        _check_value("%s.%s" % (where, name), spec, value, problems)


def _module_name(key):
    for prefix in (COLLECTION + ".", ""):
        if key.startswith(prefix) and key[len(prefix):] in _modules():
            return key[len(prefix):]
    return None


def _check_module_defaults(where, module_defaults, options_by_module, problems):
    if isinstance(module_defaults, list):
        for entry in module_defaults:
            _check_module_defaults(where, entry, options_by_module, problems)
        return
    if not isinstance(module_defaults, dict):
        return
    for key, arguments in module_defaults.items():
        if key == ACTION_GROUP:
            for member in _group_members():
                _check_arguments("%s.module_defaults[%s] (%s)" % (where, key, member), options_by_module[member],
                                 arguments, problems)
        elif _module_name(key):
            _check_arguments("%s.module_defaults[%s]" % (where, key), options_by_module[_module_name(key)],
                             arguments, problems)


def calls(tasks, where="EXAMPLES"):
    """Yield (where, task) for every task of a task list, a playbook, or nested blocks."""
    for position, task in enumerate(tasks or []):
        here = "%s[%d]" % (where, position)
        if not isinstance(task, dict):
            yield here, task
            continue
        if "hosts" in task or "import_playbook" in task:
            for key in PLAY_TASK_LISTS:
                yield from calls(task.get(key), "%s.%s" % (here, key))
            yield here, {"module_defaults": task.get("module_defaults")} if task.get("module_defaults") else None
            continue
        if any(key in task for key in BLOCK_LISTS):
            for key in BLOCK_LISTS:
                yield from calls(task.get(key), "%s.%s" % (here, key))
            if task.get("module_defaults"):
                yield here, {"module_defaults": task["module_defaults"]}
            continue
        yield here, task


def example_problems(module):
    """Every problem of one module's EXAMPLES (an empty list when it is fine)."""
    path = os.path.join(MODULES_DIR, module + ".py")
    examples = _source_constants(path, ("EXAMPLES",)).get("EXAMPLES")
    if not examples or not examples.strip():
        return ["%s has no EXAMPLES" % module]
    try:
        tasks = yaml.load(examples, Loader=_TolerantLoader)
    except yaml.YAMLError as exc:
        return ["EXAMPLES of %s is not valid YAML: %s" % (module, exc)]
    if not isinstance(tasks, list) or not tasks:
        return ["EXAMPLES of %s must be a non-empty list of tasks or plays" % module]
    options_by_module = _all_options()
    problems = []
    uses_itself = False
    for where, task in calls(tasks):
        if task is None:
            continue
        if not isinstance(task, dict):
            problems.append("%s: a task must be a mapping, got %r" % (where, task))
            continue
        if task.get("module_defaults"):
            _check_module_defaults(where, task["module_defaults"], options_by_module, problems)
        action_keys = [key for key in task if key not in TASK_KEYWORDS]
        if "module_defaults" in task and set(task) <= {"module_defaults"}:
            continue
        if len(action_keys) != 1:
            problems.append("%s: a task needs exactly one action, found %s" % (where, action_keys or "none"))
            continue
        key = action_keys[0]
        called = _module_name(key)
        if called is None:
            continue  # ansible.builtin.debug and the like
        if called == module:
            uses_itself = True
        if not key.startswith(COLLECTION + "."):
            problems.append("%s: use the FQCN %s.%s" % (where, COLLECTION, called))
        _check_arguments("%s %s" % (where, key), options_by_module[called], task[key] or {}, problems)
    if not uses_itself:
        problems.append("EXAMPLES of %s never calls %s.%s" % (module, COLLECTION, module))
    return problems


def test_there_are_modules():
    assert len(_modules()) >= 1


@pytest.mark.parametrize("module", _modules())
def test_examples_use_only_documented_options(module):
    problems = example_problems(module)
    assert not problems, "\n".join(problems)


# The checker itself must catch what it is meant to catch.

def _write_module(tmp_path, examples):
    source = (
        "DOCUMENTATION = r'''\nmodule: demo\nshort_description: d\ndescription: [d]\nauthor: [x (@x)]\n"
        "options:\n  name:\n    type: str\n    description: [n]\n    aliases: [identity]\n"
        "  state:\n    type: str\n    choices: [present, absent]\n    description: [s]\n"
        "  settings:\n    type: dict\n    description: [s]\n    suboptions:\n      size:\n        type: int\n"
        "        description: [s]\n'''\nEXAMPLES = r'''\n" + examples + "\n'''\n"
    )
    path = tmp_path / "demo.py"
    path.write_text(source)
    return str(path)


def _demo_problems(monkeypatch, tmp_path, examples):
    path = _write_module(tmp_path, examples)
    globals_ = globals()
    monkeypatch.setitem(globals_, "MODULES_DIR", str(tmp_path))
    monkeypatch.setitem(globals_, "_all_options", lambda: {"demo": documented_options(path)[1]})
    monkeypatch.setitem(globals_, "_modules", lambda: ["demo"])
    return example_problems("demo")


def test_checker_accepts_a_correct_example(monkeypatch, tmp_path):
    assert _demo_problems(monkeypatch, tmp_path, (
        "- name: ok\n  mailops.exchange.demo:\n    identity: x\n    state: absent\n    settings:\n      size: 3\n"
        "  register: result\n- name: templated\n  mailops.exchange.demo:\n    state: \"{{ wanted }}\"\n"
    )) == []


@pytest.mark.parametrize("examples, expected", [
    ("- name: bad\n  mailops.exchange.demo:\n    nmae: x\n", "option 'nmae' is not documented"),
    ("- name: bad\n  mailops.exchange.demo:\n    state: gone\n", "not one of the documented choices"),
    ("- name: bad\n  mailops.exchange.demo:\n    settings:\n      size: big\n", "expected an integer"),
    ("- name: bad\n  mailops.exchange.demo:\n    settings:\n      colour: red\n", "option 'colour' is not documented"),
    ("- name: bad\n  mailops.exchange.demo:\n    name: [unclosed\n", "not valid YAML"),
    ("- name: bad\n  demo:\n    name: x\n", "use the FQCN"),
    ("- name: other\n  ansible.builtin.debug:\n    msg: hi\n", "never calls mailops.exchange.demo"),
])
def test_checker_reports(monkeypatch, tmp_path, examples, expected):
    problems = _demo_problems(monkeypatch, tmp_path, examples)
    assert any(expected in problem for problem in problems), problems
