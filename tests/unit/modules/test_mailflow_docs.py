"""ansible-doc renders the mail-flow modules, and their DOCUMENTATION matches their argument spec."""

import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from ansible_collections.mailops.exchange.plugins.module_utils.exchange_session import CONNECTION_ARGUMENT_SPEC
from ansible_collections.mailops.exchange.plugins.modules import (
    exchange_accepted_domain, exchange_email_address_policy, exchange_receive_connector, exchange_send_connector,
)

REPO = Path(__file__).resolve().parents[3]
# The collections root: the ansible_collections tree this file is in (ansible-test), else the repo's .collections link.
COLLECTIONS = next((p.parent for p in Path(__file__).resolve().parents if p.name == "ansible_collections"),
                   REPO / ".collections")
MODULES = {
    "exchange_send_connector": exchange_send_connector,
    "exchange_accepted_domain": exchange_accepted_domain,
    "exchange_email_address_policy": exchange_email_address_policy,
    "exchange_receive_connector": exchange_receive_connector,
}


@pytest.mark.parametrize("name", sorted(MODULES))
def test_ansible_doc_renders(name):
    env = dict(os.environ, ANSIBLE_COLLECTIONS_PATH=str(COLLECTIONS), ANSIBLE_NOCOLOR="1")
    ansible_doc = Path(sys.executable).parent / "ansible-doc"
    command = [str(ansible_doc) if ansible_doc.exists() else "ansible-doc", "mailops.exchange.%s" % name]
    out = subprocess.run(command, env=env, capture_output=True, text=True, cwd=str(COLLECTIONS), timeout=120,
                         check=False)
    assert out.returncode == 0, out.stderr
    assert "ERROR" not in out.stderr
    assert "exchange_password" in out.stdout  # the connection fragment is merged
    assert "EXAMPLES" in out.stdout and "RETURN VALUES" in out.stdout


@pytest.mark.parametrize("name", sorted(MODULES))
def test_documentation_matches_argument_spec(name, monkeypatch):
    module = MODULES[name]
    doc = yaml.safe_load(module.DOCUMENTATION)
    yaml.safe_load(module.EXAMPLES)
    yaml.safe_load(module.RETURN)
    captured = {}

    class Stop(Exception):
        pass

    def fake(argument_spec, **kwargs):
        captured.update(argument_spec)
        raise Stop()
    monkeypatch.setattr(module, "ExchangeModule", fake)
    with pytest.raises(Stop):
        module.main()
    documented = doc["options"]
    assert set(documented) == set(captured), set(documented) ^ set(captured)
    for option, spec in captured.items():
        assert documented[option].get("type", "str") == spec.get("type", "str"), option
        assert documented[option].get("default") == spec.get("default"), option
        assert documented[option].get("choices") == spec.get("choices"), option
        assert bool(documented[option].get("required")) == bool(spec.get("required")), option
    assert not set(captured) & set(CONNECTION_ARGUMENT_SPEC)


def test_connection_fragment_matches_spec():
    from ansible_collections.mailops.exchange.plugins.doc_fragments.connection import ModuleDocFragment

    doc = yaml.safe_load(ModuleDocFragment.DOCUMENTATION)["options"]
    assert set(doc) == set(CONNECTION_ARGUMENT_SPEC)
    for option, spec in CONNECTION_ARGUMENT_SPEC.items():
        assert doc[option].get("type", "str") == spec["type"], option
        assert doc[option].get("default") == spec.get("default"), option
        assert doc[option].get("choices") == spec.get("choices"), option
        assert ("E(%s)" % option.upper()) in " ".join(doc[option]["description"]), option


def test_runtime_action_group_lists_every_module():
    runtime = yaml.safe_load((REPO / "meta" / "runtime.yml").read_text())
    # Every module that takes the exchange_* connection options (exchange_validate does not: it is outside).
    assert set(runtime["action_groups"]["exchange"]) == {
        "exchange_send_connector", "exchange_accepted_domain", "exchange_email_address_policy",
        "exchange_receive_connector", "exchange_vdir_url", "exchange_offline_address_book", "exchange_certificate",
        "exchange_info"}


def test_the_connection_options_are_documented_as_their_one_table_gives_them():
    """The doc fragment is written from module_utils/connection_options.py (hack/connection_docs.py): the modules'
    options and notes and the connection plugin's options are what the table renders, nothing else."""
    from ansible_collections.mailops.exchange.plugins.doc_fragments.connection import ModuleDocFragment
    from ansible_collections.mailops.exchange.plugins.module_utils import connection_options

    assert yaml.safe_load(ModuleDocFragment.DOCUMENTATION) == connection_options.module_fragment()
    assert yaml.safe_load(ModuleDocFragment.CONNECTION_PLUGIN) == connection_options.connection_fragment()
    assert CONNECTION_ARGUMENT_SPEC == connection_options.argument_spec(
        CONNECTION_ARGUMENT_SPEC["exchange_host"]["fallback"][0])
