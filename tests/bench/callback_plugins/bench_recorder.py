# -*- coding: utf-8 -*-
# Copyright: mailops.exchange contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Record every task result (host, action, changed, failed, skipped, seconds) for tests/bench."""

DOCUMENTATION = r"""
name: bench_recorder
type: aggregate
short_description: Write every task result to the JSON file named by MAILOPS_BENCH_RECORD (tests/bench)
description:
  - Used by the benchmark only; enabled with ANSIBLE_CALLBACKS_ENABLED=bench_recorder.
requirements:
  - MAILOPS_BENCH_RECORD set to the output path
"""

import json
import os
import time

from ansible.plugins.callback import CallbackBase


class CallbackModule(CallbackBase):
    CALLBACK_VERSION = 2.0
    CALLBACK_TYPE = "aggregate"
    CALLBACK_NAME = "bench_recorder"
    CALLBACK_NEEDS_ENABLED = True

    def __init__(self, *args, **kwargs):
        super(CallbackModule, self).__init__(*args, **kwargs)
        self._path = os.environ.get("MAILOPS_BENCH_RECORD")
        self._results = []
        self._task_started = {}

    def v2_playbook_on_task_start(self, task, is_conditional):
        self._task_started[task._uuid] = time.monotonic()

    def v2_runner_on_start(self, host, task):
        self._task_started[(task._uuid, host.get_name())] = time.monotonic()

    def _record(self, result, status):
        task = result._task
        started = self._task_started.get((task._uuid, result._host.get_name()), self._task_started.get(task._uuid))
        res = result._result if isinstance(result._result, dict) else {}
        self._results.append({
            "host": result._host.get_name(),
            "task": task.get_name(),
            "action": task.resolved_action or task.action,
            "status": status,
            "changed": bool(res.get("changed")),
            "seconds": round(time.monotonic() - started, 4) if started else None,
            "items": len(res.get("results", [])) if isinstance(res.get("results"), list) else None,
        })

    def v2_runner_on_ok(self, result):
        self._record(result, "ok")

    def v2_runner_on_failed(self, result, ignore_errors=False):
        self._record(result, "ignored" if ignore_errors else "failed")

    def v2_runner_on_skipped(self, result):
        self._record(result, "skipped")

    def v2_runner_on_unreachable(self, result):
        self._record(result, "unreachable")

    def v2_playbook_on_stats(self, stats):
        if self._path:
            with open(self._path, "w") as handle:
                json.dump({"results": self._results}, handle, indent=1)
