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
