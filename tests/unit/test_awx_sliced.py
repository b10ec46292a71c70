# -*- coding: utf-8 -*-
# Copyright: mailops.exchange contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""awx/configure.yml's sliced job template (issue 16): the whole procedure with job_slice_count, created only when
asked for, and the example variables ask for it."""

import os

import yaml

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


class _Loader(yaml.SafeLoader):
    pass


_Loader.add_constructor("!unsafe", lambda loader, node: loader.construct_scalar(node))


def _play():
    with open(os.path.join(ROOT, "awx", "configure.yml")) as handle:
        return yaml.load(handle, Loader=_Loader)[0]


def test_the_sliced_template_runs_the_whole_procedure_with_job_slice_count():
    play = _play()
    sliced = [task for task in play["tasks"]
              if "awx.awx.job_template" in task and "job_slice_count" in task["awx.awx.job_template"]]
    assert len(sliced) == 1
    template = sliced[0]["awx.awx.job_template"]
    assert template["playbook"] == "site.yml"
    assert "job_tags" not in template  # every step, the organisation-wide ones included
    assert template["job_slice_count"] == "{{ mailops_awx_job_slice_count | int }}"
    assert sliced[0]["when"] == "mailops_awx_job_slice_count | int > 1"
    # Off unless asked for; the example asks for 4 slices.
    assert play["vars"]["mailops_awx_job_slice_count"] == 1
    with open(os.path.join(ROOT, "awx", "vars.example.yml")) as handle:
        assert yaml.load(handle, Loader=_Loader)["mailops_awx_job_slice_count"] == 4
    # The other templates are not sliced.
    others = [task["awx.awx.job_template"] for task in play["tasks"]
              if "awx.awx.job_template" in task and task not in sliced]
    assert others and not any("job_slice_count" in template for template in others)
