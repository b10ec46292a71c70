"""The step checks of steps 4 and 5: what Exchange reads against the step's view of the URL plan, one sentence per
difference (the role's assert shows them all at once)."""

import pytest

from ansible_collections.mailops.exchange.plugins.filter.url_plan_differences import url_plan_differences
from ansible_collections.mailops.exchange.plugins.module_utils.plan_views import step_differences, step_view
from ansible_collections.mailops.exchange.plugins.module_utils.url_plan import url_plan_from_namespace

PLAN = url_plan_from_namespace({"external_fqdn": "mail.contoso.com", "owa_fqdn": "owa.contoso.com"})


def as_read(view):
    """What exchange_vdir_url returns after it has set exactly the view."""
    return {"urls": dict((name, dict(urls)) for name, urls in view["urls"].items()),
            "outlook_anywhere": dict(view["outlook_anywhere"]),
            "autodiscover_internal_uri": view.get("autodiscover_internal_uri")}


@pytest.mark.parametrize("side", ["external", "internal"])
def test_a_step_that_worked_has_no_difference(side):
    view = step_view(PLAN, side)
    assert step_differences(as_read(view), view, side) == []


def test_each_difference_is_one_sentence_naming_the_virtual_directory_and_the_step():
    view = step_view(PLAN, "external")
    found = as_read(view)
    found["urls"]["ews"]["external_url"] = None
    found["urls"]["owa"]["external_url"] = "https://mail.contoso.com/owa"
    found["outlook_anywhere"]["external_hostname"] = "MAIL.contoso.com"  # without case: the same
    assert step_differences(found, view, "external") == [  # in the plan's order
        "the ews virtual directory's external URL is not set, the procedure (step 4) wants "
        "https://mail.contoso.com/EWS/Exchange.asmx",
        "the owa virtual directory's external URL is https://mail.contoso.com/owa, the procedure (step 4) wants "
        "https://owa.contoso.com/owa"]


def test_the_internal_step_also_checks_the_outlook_anywhere_host_and_the_autodiscover_uri():
    view = step_view(PLAN, "internal")
    found = as_read(view)
    found["outlook_anywhere"]["internal_hostname"] = None
    found["autodiscover_internal_uri"] = "https://autodiscover.contoso.com/Autodiscover/Autodiscover.xml"
    assert step_differences(found, view, "internal") == [
        "Outlook Anywhere's internal host name is not set, the procedure (step 5) wants mail.contoso.com",
        "the Autodiscover internal URI is https://autodiscover.contoso.com/Autodiscover/Autodiscover.xml, the "
        "procedure (step 5) wants https://mail.contoso.com/Autodiscover/Autodiscover.xml"]


def test_a_module_result_without_urls_is_every_url_not_set():
    view = step_view(PLAN, "external")
    assert len(step_differences({}, view, "external")) == len(view["urls"]) + 1


def test_the_filter_names_itself_when_its_input_is_not_a_plan():
    from ansible.errors import AnsibleFilterError
    with pytest.raises(AnsibleFilterError, match="url_plan_differences: side must be one of external, internal"):
        url_plan_differences({}, step_view(PLAN, "external"), "outside")
