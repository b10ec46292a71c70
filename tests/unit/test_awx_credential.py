# -*- coding: utf-8 -*-
# Copyright: mailops.exchange contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The AWX credential type (awx/credential_type.yml) injects exactly the modules' environment fallbacks.

The names are compared with the ``fallback`` of every option of ``CONNECTION_ARGUMENT_SPEC``; then the injectors are
rendered as AWX renders them (Jinja2, sandboxed) for a minimal and for a complete credential, and the resulting
environment is fed to the modules' own argument validation: every value must be accepted and mean what the
operator entered.
"""

import os

import pytest
import yaml
from jinja2 import meta
from jinja2.sandbox import ImmutableSandboxedEnvironment

from ansible.module_utils.common.arg_spec import ArgumentSpecValidator
from ansible_collections.mailops.exchange.plugins.module_utils.exchange_session import CONNECTION_ARGUMENT_SPEC

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
CREDENTIAL_TYPE = os.path.join(ROOT, "awx", "credential_type.yml")
CONFIGURE = os.path.join(ROOT, "awx", "configure.yml")


class _AnsibleYamlLoader(yaml.SafeLoader):
    """Reads ``!unsafe`` strings (Ansible's tag for "do not template") as the plain strings AWX receives."""


_AnsibleYamlLoader.add_constructor("!unsafe", lambda loader, node: loader.construct_scalar(node))


def _credential_type():
    with open(CREDENTIAL_TYPE) as handle:
        return yaml.load(handle, Loader=_AnsibleYamlLoader)["mailops_exchange_credential_type"]


def _fallback_env(spec):
    fallback = spec.get("fallback")
    assert fallback, "connection option without an environment fallback: %r" % (spec,)
    strategy, names = fallback
    assert strategy.__name__ == "env_fallback"
    assert len(names) == 1, names
    return names[0]


#: EXCHANGE_* variable -> connection option, from the modules' argument spec.
MODULE_ENV = {_fallback_env(spec): option for option, spec in CONNECTION_ARGUMENT_SPEC.items()}


def _fields():
    return {field["id"]: field for field in _credential_type()["inputs"]["fields"]}


def _render_env(inputs, ca_path="/runner/env/tmpca"):
    """The environment AWX gives a job for a credential with these inputs (defaults applied as AWX does)."""
    credential_type = _credential_type()
    namespace = {}
    for field_id, field in _fields().items():
        if field_id in inputs:
            namespace[field_id] = inputs[field_id]
        elif "default" in field:
            namespace[field_id] = field["default"]
    namespace["tower"] = {"filename": {"ca_trust": ca_path}}
    environment = ImmutableSandboxedEnvironment()
    return {name: environment.from_string(template).render(**namespace)
            for name, template in credential_type["injectors"]["env"].items()}


def _validate(env, monkeypatch):
    for name in MODULE_ENV:
        monkeypatch.delenv(name, raising=False)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    result = ArgumentSpecValidator(CONNECTION_ARGUMENT_SPEC).validate({})
    assert result.error_messages == []
    return result.validated_parameters


def test_injected_names_are_exactly_the_module_environment_fallbacks():
    injected = set(_credential_type()["injectors"]["env"])
    only_injected = sorted(injected - set(MODULE_ENV))
    not_injected = sorted(set(MODULE_ENV) - injected)
    assert injected == set(MODULE_ENV), "only injected: %s; fallbacks not injected: %s" % (only_injected, not_injected)


def test_injectors_use_only_declared_inputs():
    credential_type = _credential_type()
    declared = set(_fields()) | {"tower"}
    environment = ImmutableSandboxedEnvironment()
    templates = list(credential_type["injectors"]["env"].values()) + list(
        credential_type["injectors"].get("file", {}).values())
    for template in templates:
        used = meta.find_undeclared_variables(environment.parse(template))
        assert used <= declared, (template, sorted(used - declared))
    assert set(credential_type["injectors"]) <= {"env", "file", "extra_vars"}
    for name in credential_type["injectors"].get("file", {}):
        assert name.startswith("template."), name


def test_inputs_mirror_the_connection_options():
    fields = _fields()
    required = set(_credential_type()["inputs"]["required"])
    assert {"host", "username", "password"} <= required
    assert required <= set(fields)
    assert fields["password"].get("secret") is True
    for field in fields.values():
        assert field.get("type", "string") in ("string", "boolean"), field
        assert field.get("label"), field
        if "choices" in field:
            assert field.get("default") in field["choices"], field
    # A choice in AWX is a choice of the module option it ends up in.
    env = _credential_type()["injectors"]["env"]
    for name, template in env.items():
        option = MODULE_ENV[name]
        choices = CONNECTION_ARGUMENT_SPEC[option].get("choices")
        used = meta.find_undeclared_variables(ImmutableSandboxedEnvironment().parse(template)) - {"tower"}
        for field_id in used:
            if len(used) > 1:
                continue  # a computed value (the port follows the scheme), checked by rendering below
            if choices and "choices" in fields[field_id]:
                assert fields[field_id]["choices"] == list(choices), (field_id, option)
            if "default" in fields[field_id] and fields[field_id]["default"] != "":
                assert str(CONNECTION_ARGUMENT_SPEC[option].get("default")) == fields[field_id]["default"], (
                    field_id, option)
    for field_id in fields:
        assert any(field_id in meta.find_undeclared_variables(ImmutableSandboxedEnvironment().parse(t))
                   for t in list(env.values()) + list(_credential_type()["injectors"].get("file", {}).values())), (
            "input %s is never injected" % field_id)


def test_minimal_credential_gives_the_module_defaults(monkeypatch):
    env = _render_env({"host": "ex01.corp.contoso.com", "username": "CORP\\administrator", "password": "S3cret!"})
    params = _validate(env, monkeypatch)
    assert params["exchange_host"] == "ex01.corp.contoso.com"
    assert params["exchange_username"] == "CORP\\administrator"
    assert params["exchange_password"] == "S3cret!"
    assert params["exchange_port"] == 5986
    for option in ("exchange_scheme", "exchange_transport", "exchange_cert_validation",
                   "exchange_message_encryption", "exchange_operation_timeout", "exchange_read_timeout",
                   "exchange_shell"):
        assert params[option] == CONNECTION_ARGUMENT_SPEC[option]["default"], option
    # Unset optional inputs arrive empty, which the session treats as "not set".
    assert not params["exchange_ca_trust_path"]
    assert not params["exchange_server_fqdn"]


def test_complete_credential_reaches_every_option(monkeypatch):
    env = _render_env({
        "host": "10.0.0.5", "username": "admin", "password": "pw", "transport": "basic", "scheme": "http",
        "port": "", "cert_validation": "ignore", "ca_trust_pem": "-----BEGIN CERTIFICATE-----",
        "message_encryption": "never", "operation_timeout": "40", "read_timeout": "50",
        "shell": "snapin", "server_fqdn": "ex01.corp.contoso.com",
    }, ca_path="/runner/env/tmpXYZ")
    params = _validate(env, monkeypatch)
    assert params["exchange_port"] == 5985  # http without a port
    assert params["exchange_scheme"] == "http"
    assert params["exchange_transport"] == "basic"
    assert params["exchange_cert_validation"] == "ignore"
    assert params["exchange_ca_trust_path"] == "/runner/env/tmpXYZ"
    assert params["exchange_message_encryption"] == "never"
    assert params["exchange_operation_timeout"] == 40
    assert params["exchange_read_timeout"] == 50
    assert params["exchange_shell"] == "snapin"
    assert params["exchange_server_fqdn"] == "ex01.corp.contoso.com"
    env = _render_env({"host": "h", "username": "u", "password": "p", "port": "15986"})
    assert _validate(env, monkeypatch)["exchange_port"] == 15986


def test_password_is_never_logged():
    assert CONNECTION_ARGUMENT_SPEC["exchange_password"].get("no_log") is True
    with open(CONFIGURE) as handle:
        plays = yaml.load(handle, Loader=_AnsibleYamlLoader)
    credential_tasks = [task for play in plays for task in play["tasks"] if "awx.awx.credential" in task]
    assert credential_tasks and all(task.get("no_log") is True for task in credential_tasks)


@pytest.mark.parametrize("step", ["step1", "step2", "step3", "step4", "step5", "step6", "step7"])
def test_job_templates_cover_every_step_tag_of_the_playbook(step):
    with open(os.path.join(ROOT, "playbooks", "site.yml")) as handle:
        site = yaml.safe_load(handle)
    # The preflight is a role of the play, the steps are roles imported by its tasks.
    entries = [entry for play in site for entry in play.get("roles", []) + play.get("tasks", [])]
    tags = {tag for entry in entries for tag in entry.get("tags", [])}
    assert step in tags and "validate" in tags
    with open(CONFIGURE) as handle:
        plays = yaml.load(handle, Loader=_AnsibleYamlLoader)
    configure_vars = plays[0]["vars"]
    assert step in [entry["tag"] for entry in configure_vars["mailops_awx_steps"]]
    templates = [task["awx.awx.job_template"] for task in plays[0]["tasks"] if "awx.awx.job_template" in task]
    assert any(template.get("job_tags") == "validate" for template in templates)
    assert any("job_tags" not in template for template in templates)  # the whole procedure
