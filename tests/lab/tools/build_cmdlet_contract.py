#!/usr/bin/env python3
"""Regenerate the lab's cmdlet contract (``exchange_lab/data/exchange-cmdlets.json``) from Microsoft's cmdlet docs.

Input: a checkout (or an extract) of https://github.com/MicrosoftDocs/office-docs-powershell; for each cmdlet the
file ``exchange/exchange-ps/ExchangePowerShell/<Cmdlet>.md`` is read. Output: the JSON layout the lab loads::

    {"source": "MicrosoftDocs/office-docs-powershell exchange/exchange-ps/ExchangePowerShell/ at <commit>",
     "cmdlets": {"<Cmdlet>": {"applicable": ["2013", ...],
                              "parameter_sets": {"<set>": ["<Param>", ...]},
                              "parameters": {"<Param>": {"type": ..., "required": ..., "position": ...,
                                                         "pipeline_input": ..., "parameter_sets": ...,
                                                         "applicable": [...]}}}}}

Rules (they reproduce the checked-in file exactly; see data/README.md):

- ``applicable`` (cmdlet): the front matter's ``applicable:`` line; per parameter the ``> Applicable:`` line under
  its ``### -Name`` heading. Only on-premises versions are kept, ``Exchange Server 2013`` -> ``2013``,
  ``Exchange Server SE`` -> ``SE``, in the documentation's order; a parameter documented only for Exchange Online
  keeps an empty list (the lab then never offers it).
- ``parameter_sets``: one entry per ``### <set>`` heading of the SYNTAX section (``Default`` when the section has a
  single unnamed block), in the documentation's order; its value is the sorted, de-duplicated list of every
  ``-Word`` token of the syntax block. That includes the cmdlet's noun (``Set-ReceiveConnector`` yields
  ``ReceiveConnector``), as the original extraction did; the lab ignores names that are not parameters.
- ``parameters``: every ``### -Name`` heading of the PARAMETERS section, in the documentation's order, with the
  values of its ```` ```yaml ```` block kept verbatim as strings (``Type``, ``Required``, ``Position``,
  ``Accept pipeline input``, ``Parameter Sets``) — documentation typos included (Set-Mailbox
  ``-MessageTracking`` says ``Required: FalseNamed``).
- Cmdlets are written in sorted order, ``json.dumps(indent=1)``, no trailing newline.

Usage::

    python tests/lab/tools/build_cmdlet_contract.py --docs /path/to/office-docs-powershell \\
        --commit 93336da2bca96c31c0fc8acc52658a30ef8a6c94 --out tests/lab/exchange_lab/data/exchange-cmdlets.json

The cmdlet list comes from ``--cmdlets FILE`` (one name a line), else from the existing ``--out`` file. ``--check``
compares instead of writing (exit 1 and a summary of differences). Standard library only.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from pathlib import Path

DOCS_SUBDIR = "exchange/exchange-ps/ExchangePowerShell"
SOURCE_FORMAT = "MicrosoftDocs/office-docs-powershell " + DOCS_SUBDIR + "/ at {commit}"
VERSION_PREFIX = "Exchange Server "

# The yaml block's keys and the JSON's names for them, in the JSON's order.
YAML_FIELDS = (
    ("Type", "type"),
    ("Required", "required"),
    ("Position", "position"),
    ("Accept pipeline input", "pipeline_input"),
    ("Parameter Sets", "parameter_sets"),
)

_FRONT_MATTER = re.compile(r"\A---\s*\n(.*?)\n---\s*\n", re.S)
_SECTION = re.compile(r"^## (\S.*?)\s*$", re.M)
_SUBHEADING = re.compile(r"^### (.+?)\s*$", re.M)
_FENCE = re.compile(r"^```[^\n]*$", re.M)
_YAML_BLOCK = re.compile(r"^```yaml\s*\n(.*?)^```", re.M | re.S)
_APPLICABLE_LINE = re.compile(r"^>\s*Applicable:\s*(.*?)\s*$", re.M)
_SYNTAX_TOKEN = re.compile(r"-(\w+)")


def normalise_versions(text: str) -> list[str]:
    """``Exchange Server 2016, Exchange Server SE, Exchange Online`` -> ``["2016", "SE"]``."""
    versions = []
    for item in text.split(","):
        item = item.strip()
        if item.startswith(VERSION_PREFIX):
            versions.append(item[len(VERSION_PREFIX):].strip())
    return versions


def _sections(text: str) -> dict[str, str]:
    """The ``## NAME`` sections of a document (fenced code cannot hold one in these docs)."""
    matches = list(_SECTION.finditer(text))
    return {
        m.group(1): text[m.end(): matches[i + 1].start() if i + 1 < len(matches) else len(text)]
        for i, m in enumerate(matches)
    }


def _subsections(text: str) -> list[tuple[str | None, str]]:
    """``(heading, body)`` for each ``### heading``; text before the first heading comes as ``(None, body)``."""
    matches = list(_SUBHEADING.finditer(text))
    parts = []
    head = text[: matches[0].start()] if matches else text
    if head.strip():
        parts.append((None, head))
    for i, m in enumerate(matches):
        end = matches[i + 1].start() if i + 1 < len(matches) else len(text)
        parts.append((m.group(1), text[m.end(): end]))
    return parts


def _syntax_block(body: str) -> str | None:
    """The syntax code of one SYNTAX subsection: from its opening fence to the closing fence, or to the end of the
    subsection when the docs forgot to close it (e.g. Set-Mailbox's ProvideConsent, New-Mailbox's
    SupervisoryReviewPolicyMailbox at the recorded commit)."""
    opening = _FENCE.search(body)
    if not opening:
        return None
    rest = body[opening.end():]
    closing = _FENCE.search(rest)
    return rest[: closing.start()] if closing else rest


def parse_cmdlet(text: str, name: str = "?") -> dict:
    """One cmdlet's entry from the text of its ``<Cmdlet>.md``."""
    front = _FRONT_MATTER.match(text)
    if not front:
        raise ValueError(f"{name}: no front matter")
    applicable = None
    for line in front.group(1).splitlines():
        key, sep, value = line.partition(":")
        if sep and key.strip() == "applicable":
            applicable = normalise_versions(value)
    if applicable is None:
        raise ValueError(f"{name}: no 'applicable:' in the front matter")

    sections = _sections(text)
    for required in ("SYNTAX", "PARAMETERS"):
        if required not in sections:
            raise ValueError(f"{name}: no '## {required}' section")

    parameter_sets: dict[str, list[str]] = {}
    for heading, body in _subsections(sections["SYNTAX"]):
        block = _syntax_block(body)
        if block is None:
            continue
        set_name = heading if heading is not None else "Default"
        parameter_sets.setdefault(set_name, []).extend(_SYNTAX_TOKEN.findall(block))
    if not parameter_sets:
        raise ValueError(f"{name}: no syntax block")
    parameter_sets = {key: sorted(set(value)) for key, value in parameter_sets.items()}

    parameters: dict[str, dict] = {}
    for heading, body in _subsections(sections["PARAMETERS"]):
        if heading is None or not heading.startswith("-"):
            continue
        pname = heading[1:].strip()
        yaml = _YAML_BLOCK.search(body)
        if not yaml:
            raise ValueError(f"{name} -{pname}: no yaml block")
        fields = {}
        for line in yaml.group(1).splitlines():
            key, sep, value = line.partition(":")
            if sep:
                fields[key.strip()] = value.strip()
        entry = {}
        for key, json_key in YAML_FIELDS:
            if key not in fields:
                raise ValueError(f"{name} -{pname}: no '{key}:' in the yaml block")
            entry[json_key] = fields[key]
        line = _APPLICABLE_LINE.search(body[: yaml.start()])
        entry["applicable"] = normalise_versions(line.group(1)) if line else []
        parameters[pname] = entry

    return {"applicable": applicable, "parameter_sets": parameter_sets, "parameters": parameters}


def build(docs: Path, cmdlets: list[str], commit: str) -> dict:
    folder = docs / DOCS_SUBDIR
    if not folder.is_dir():
        folder = docs  # an extract holding the .md files directly
    result = {}
    for name in sorted(set(cmdlets)):
        path = folder / f"{name}.md"
        result[name] = parse_cmdlet(path.read_text(encoding="utf-8"), name)
    return {"source": SOURCE_FORMAT.format(commit=commit), "cmdlets": result}


def dumps(contract: dict) -> str:
    """The file's exact text."""
    return json.dumps(contract, indent=1)


def differences(old: dict, new: dict) -> list[str]:
    """Human-readable differences between two contracts, one line per cmdlet/parameter."""
    lines = []
    if old.get("source") != new.get("source"):
        lines.append(f"source: {old.get('source')!r} -> {new.get('source')!r}")
    oc, nc = old.get("cmdlets", {}), new.get("cmdlets", {})
    for name in sorted(set(oc) | set(nc)):
        if name not in nc or name not in oc:
            lines.append(f"{name}: only in {'old' if name in oc else 'new'}")
            continue
        a, b = oc[name], nc[name]
        for key in ("applicable", "parameter_sets"):
            if a.get(key) != b.get(key):
                lines.append(f"{name}: {key} differs")
        pa, pb = a.get("parameters", {}), b.get("parameters", {})
        if list(pa) != list(pb) and set(pa) == set(pb):
            lines.append(f"{name}: parameter order differs")
        for p in sorted(set(pa) | set(pb)):
            if pa.get(p) != pb.get(p):
                lines.append(f"{name} -{p}: {pa.get(p)} -> {pb.get(p)}")
    return lines


def main(argv: list[str] | None = None) -> int:
    default_out = Path(__file__).resolve().parents[1] / "exchange_lab" / "data" / "exchange-cmdlets.json"
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--docs", type=Path, required=True,
                        help="checkout of MicrosoftDocs/office-docs-powershell (or a folder of <Cmdlet>.md files)")
    parser.add_argument("--commit", required=True, help="the docs commit, recorded in the 'source' field")
    parser.add_argument("--out", type=Path, default=default_out, help=f"default: {default_out}")
    parser.add_argument("--cmdlets", type=Path, help="file with one cmdlet name a line (default: those of --out)")
    parser.add_argument("--check", action="store_true", help="compare with --out instead of writing it")
    args = parser.parse_args(argv)

    if args.cmdlets:
        names = [line.strip() for line in args.cmdlets.read_text(encoding="utf-8").splitlines()
                 if line.strip() and not line.lstrip().startswith("#")]
    else:
        names = list(json.loads(args.out.read_text(encoding="utf-8"))["cmdlets"])
    contract = build(args.docs, names, args.commit)
    text = dumps(contract)
    if args.check:
        current = args.out.read_text(encoding="utf-8")
        if current == text:
            count = sum(len(c["parameters"]) for c in contract["cmdlets"].values())
            print(f"identical: {len(contract['cmdlets'])} cmdlets, {count} parameters")
            return 0
        diff = differences(json.loads(current), contract)
        print("\n".join(diff) or "same data, different text (layout)")
        return 1
    args.out.write_text(text, encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
