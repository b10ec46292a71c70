# -*- coding: utf-8 -*-
# Copyright: mailops.exchange contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Views of a URL plan for one step of the procedure: step 4 sets only external names, step 5 only internal ones.

Pure Python: the input is the dictionary that :func:`url_plan.build_url_plan` returns, the output has the option
shapes of ``exchange_vdir_url`` (``urls``, ``outlook_anywhere``, ``autodiscover_internal_uri``).
"""


SIDES = ("external", "internal")


def step_view(plan, side, require_ssl=True):
    """The part of ``plan`` that the external (step 4) or internal (step 5) step configures.

    Outlook Anywhere's host name travels with its SSL requirement because ``Set-OutlookAnywhere`` wants both
    together; the Autodiscover internal URI belongs to the internal step.
    """
    if side not in SIDES:
        raise ValueError("side must be one of %s, got %r" % (", ".join(SIDES), side))
    if not isinstance(plan, dict) or "urls" not in plan or "outlook_anywhere" not in plan:
        raise ValueError("expected the result of the url_plan filter (a mapping with urls and outlook_anywhere)")
    url_key = side + "_url"
    view = {
        "urls": dict((name, {url_key: urls[url_key]}) for name, urls in plan["urls"].items()),
        "outlook_anywhere": {
            side + "_hostname": plan["outlook_anywhere"][side + "_hostname"],
            side + "_clients_require_ssl": bool(require_ssl),
        },
    }
    if side == "internal":
        view["autodiscover_internal_uri"] = plan["autodiscover_internal_uri"]
    return view


def step_differences(found, wanted, side):
    """What Exchange reads (``found``: what ``exchange_vdir_url`` returns) that differs from a step's view
    (``wanted``: :func:`step_view`), one sentence each - the step's *How do you know this step worked?* check.

    URLs must be the ones the procedure's table gives (compared as written); Outlook Anywhere's host name and the
    Autodiscover internal URI are compared without case.
    """
    if side not in SIDES:
        raise ValueError("side must be one of %s, got %r" % (", ".join(SIDES), side))
    step = "step 4" if side == "external" else "step 5"
    found = found or {}
    differences = []
    url_key = side + "_url"
    for name, urls in (wanted.get("urls") or {}).items():
        have = ((found.get("urls") or {}).get(name) or {}).get(url_key)
        if have != urls[url_key]:
            differences.append("the %s virtual directory's %s URL is %s, the procedure (%s) wants %s"
                               % (name, side, have or "not set", step, urls[url_key]))
    host_key = side + "_hostname"
    have = (found.get("outlook_anywhere") or {}).get(host_key)
    want = wanted["outlook_anywhere"][host_key]
    if (have or "").lower() != (want or "").lower():
        differences.append("Outlook Anywhere's %s host name is %s, the procedure (%s) wants %s"
                           % (side, have or "not set", step, want))
    if side == "internal":
        have, want = found.get("autodiscover_internal_uri"), wanted.get("autodiscover_internal_uri")
        if (have or "").lower() != (want or "").lower():
            differences.append("the Autodiscover internal URI is %s, the procedure (%s) wants %s"
                               % (have or "not set", step, want))
    return differences
