import argparse
import importlib.util
import json
from pathlib import Path
from types import SimpleNamespace

import pytest

BENCH = Path(__file__).resolve().parents[2] / "bench"


def _load(name, path):
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_server_counts_are_parsed_and_bounded():
    run = _load("bench_run", BENCH / "run.py")
    assert run._counts("1,5,20") == [1, 5, 20]
    for bad in ("", "a", "0", "100"):
        with pytest.raises(argparse.ArgumentTypeError):
            run._counts(bad)
    assert run.build_parser().parse_args([]).scale == 0.25


def test_from_json_renders_and_rewrites_the_readme(tmp_path, capsys):
    run = _load("bench_run", BENCH / "run.py")
    results = tmp_path / "results.json"
    results.write_text(json.dumps({"command": "python tests/bench/run.py --servers 1", "results": [], "targets": [],
                                   "latency": {"realistic": True, "scale": 0.25}}))
    readme = tmp_path / "README.md"
    readme.write_text("# x\n<!-- bench:begin -->\nold\n<!-- bench:end -->\ntail\n")
    assert run.main(["--from-json", str(results), "--readme", str(readme)]) == 0
    text = readme.read_text()
    assert "old" not in text and "Command: python tests/bench/run.py --servers 1" in text and text.endswith("tail\n")
    assert "x scale 0.25" in capsys.readouterr().out


class _Task:
    def __init__(self, name, action):
        self._uuid, self._name, self.action, self.resolved_action = name, name, action, action

    def get_name(self):
        return self._name


class _Host:
    def __init__(self, name):
        self._name = name

    def get_name(self):
        return self._name


def test_recorder_writes_every_result(tmp_path, monkeypatch):
    out = tmp_path / "record.json"
    monkeypatch.setenv("MAILOPS_BENCH_RECORD", str(out))
    recorder = _load("bench_recorder", BENCH / "callback_plugins" / "bench_recorder.py").CallbackModule()
    task = _Task("Set the URLs", "mailops.exchange.exchange_vdir_url")
    host = _Host("EX01")
    recorder.v2_playbook_on_task_start(task, False)
    recorder.v2_runner_on_start(host, task)
    recorder.v2_runner_on_ok(SimpleNamespace(_task=task, _host=host, _result={"changed": True}))
    loop = _Task("Add domains", "mailops.exchange.exchange_accepted_domain")
    recorder.v2_runner_on_failed(SimpleNamespace(_task=loop, _host=host, _result={"results": [{}, {}]}))
    recorder.v2_runner_on_skipped(SimpleNamespace(_task=loop, _host=_Host("EX02"), _result={}))
    recorder.v2_playbook_on_stats(None)
    results = json.loads(out.read_text())["results"]
    assert [(r["host"], r["status"], r["changed"], r["items"]) for r in results] == [
        ("EX01", "ok", True, None), ("EX01", "failed", False, 2), ("EX02", "skipped", False, None)]
    assert results[0]["action"] == "mailops.exchange.exchange_vdir_url" and results[0]["seconds"] >= 0
