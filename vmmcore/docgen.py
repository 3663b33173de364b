"""Generate the hook reference of docs/plugins.md from hookspecs.py's docstrings.

``python -m vmm.core.docgen`` prints the reference; ``python -m vmm.core.docgen
--write docs/plugins.md`` replaces the part of that file between the markers
:data:`BEGIN` and :data:`END`. A test regenerates it and fails when the committed
file differs, so the guide can't drift from the contract.

The reference follows hookspecs.py: its banner comments become sections, each hook
shows its signature, how its results combine, whether it is ``firstresult``, and
its docstring with the ``:param:`` fields as a list.
"""

from __future__ import annotations

import argparse
import inspect
import re
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

BEGIN = "<!-- BEGIN GENERATED HOOK REFERENCE: python -m vmm.core.docgen --write docs/plugins.md -->"
END = "<!-- END GENERATED HOOK REFERENCE -->"

#: The fixed phrases a hookspec uses to say how results combine (see hookspecs.py).
RESULT_PHRASES = (
    "Stops at first non-None result",
    "Called for every plugin",
    "All results are OR-ed",
    "All results are collected",
)

_BANNER = re.compile(r"^# -{10,}\n# (?P<title>[^\n]+)\n# -{10,}$", re.MULTILINE)
_PARAM = re.compile(r"^:param (?P<name>\w+):\s*(?P<text>.*)$")


@dataclass
class HookDoc:
    """One hookspec as the reference shows it."""

    name: str
    section: str
    signature: str
    firstresult: bool
    summary: str
    body: list[str]
    params: dict[str, str]
    parameters: list[str]

    @property
    def result_phrase(self) -> str | None:
        text = " ".join(self.body)
        return next((phrase for phrase in RESULT_PHRASES if phrase in text), None)


def problems(hook: HookDoc, doc: str) -> list[str]:
    """What ``hook``'s documentation lacks (empty when it follows the conventions).

    :param hook: the collected hookspec.
    :param doc: its raw docstring (to check that the summary is one line).
    """
    found: list[str] = []
    if not hook.name.startswith("vmm_"):
        found.append("its name needs the vmm_ prefix")
    lines = inspect.cleandoc(doc).splitlines() if doc else []
    if not lines or not lines[0].strip():
        found.append("no summary line")
    elif len(lines) > 1 and lines[1].strip():
        found.append("the summary must fit on one line, then a blank line")
    elif not lines[0].rstrip().endswith("."):
        found.append("end the summary with a period")
    text = " ".join(hook.body)
    if not any("Called " in p and not p.startswith(RESULT_PHRASES[1]) for p in hook.body):
        found.append('no sentence saying when it is called ("Called once ...")')
    phrases = [phrase for phrase in RESULT_PHRASES if phrase in text]
    if len(phrases) != 1:
        found.append(f"say how results combine with exactly one of {RESULT_PHRASES}")
    if (RESULT_PHRASES[0] in text) != hook.firstresult:
        found.append(f"firstresult={hook.firstresult} must match saying {RESULT_PHRASES[0]!r}")
    missing = [name for name in hook.parameters if not hook.params.get(name, "").strip()]
    if missing:
        found.append(f"add ':param NAME:' for {', '.join(missing)}")
    unknown = sorted(set(hook.params) - set(hook.parameters))
    if unknown:
        found.append(f"':param:' for parameters it doesn't have: {', '.join(unknown)}")
    return found


def _sections(source: str) -> list[tuple[int, str]]:
    return [(match.start(), match.group("title")) for match in _BANNER.finditer(source)]


def _split_docstring(doc: str) -> tuple[str, list[str], dict[str, str]]:
    """Summary (first paragraph), other paragraphs, and ``:param:`` texts."""
    paragraphs: list[list[str]] = [[]]
    for line in inspect.cleandoc(doc).splitlines():
        if line.strip():
            paragraphs[-1].append(line.strip())
        elif paragraphs[-1]:
            paragraphs.append([])
    params: dict[str, str] = {}
    body: list[str] = []
    last_param: str | None = None
    for paragraph in paragraphs[1:]:
        prose: list[str] = []
        for line in paragraph:
            match = _PARAM.match(line)
            if match:
                last_param = match.group("name")
                params[last_param] = match.group("text")
            elif last_param is not None and not prose:
                params[last_param] += " " + line  # a continued :param: line
            else:
                prose.append(line)
        if prose:
            body.append(" ".join(prose))
    summary_lines = paragraphs[0]
    return " ".join(summary_lines), body, params


def describe(name: str, function: Callable[..., Any], section: str = "",
             project: str = "vmm") -> HookDoc:
    """The documentation of one hookspec function."""
    summary, body, params = _split_docstring(function.__doc__ or "")
    opts = getattr(function, f"{project}_spec", None) or {}
    parameters = list(inspect.signature(function).parameters)
    return HookDoc(
        name=name,
        section=section,
        signature=f"{name}({', '.join(parameters)})",
        firstresult=bool(opts.get("firstresult")),
        summary=summary,
        body=body,
        params=params,
        parameters=parameters,
    )


def collect(module: ModuleType | None = None) -> list[HookDoc]:
    """Every hookspec of ``module`` (default: hookspecs) in source order."""
    if module is None:
        from vmm import hookspecs

        module = hookspecs
    source = inspect.getsource(module)
    sections = _sections(source)
    line_starts = [0]
    for text in source.splitlines(keepends=True):
        line_starts.append(line_starts[-1] + len(text))
    found: list[tuple[int, HookDoc]] = []
    for name, function in vars(module).items():
        if not callable(function) or not hasattr(function, f"{module.NAME}_spec"):
            continue
        line = inspect.getsourcelines(function)[1]
        offset = line_starts[line - 1]
        section = next((title for start, title in reversed(sections) if start < offset), "")
        found.append((line, describe(name, function, section, module.NAME)))
    return [hook for _, hook in sorted(found, key=lambda pair: pair[0])]


def _markdown(text: str) -> str:
    """reST inline literals (double backquotes) as Markdown code spans."""
    return text.replace("``", "`")


def render(hooks: list[HookDoc]) -> str:
    """The Markdown reference of ``hooks``, grouped by section."""
    out: list[str] = [
        "Generated from `hookspecs.py`; edit the docstrings there, then run "
        "`python -m vmm.core.docgen --write docs/plugins.md`.",
        "",
        "| hook | results |",
        "|---|---|",
    ]
    out += [f"| [`{hook.name}`](#{hook.name}) | {hook.result_phrase or '?'} |" for hook in hooks]
    section = None
    for hook in hooks:
        if hook.section != section:
            section = hook.section
            out += ["", f"### {section}"]
        flags = " (firstresult)" if hook.firstresult else ""
        out += ["", f"#### `{hook.name}`", "", f"`{hook.signature}`{flags}", "",
                _markdown(hook.summary)]
        for paragraph in hook.body:
            out += ["", _markdown(paragraph)]
        if hook.params:
            out.append("")
            out += [f"- `{name}`: {_markdown(text)}" for name, text in hook.params.items()]
    return "\n".join(out) + "\n"


def splice(document: str, reference: str, begin_marker: str = BEGIN,
           end_marker: str = END) -> str:
    """``document`` with the text between the markers replaced by ``reference``."""
    begin, end = document.find(begin_marker), document.find(end_marker)
    if begin < 0 or end < begin:
        raise ValueError(f"the document has no {begin_marker!r} ... {end_marker!r} markers")
    return (document[: begin + len(begin_marker)] + "\n\n" + reference + "\n"
            + document[end:])


def generate(document: str) -> str:
    """``document`` with both generated parts current: the plugin API reference
    (:mod:`vmm.core.apidoc`) and the hook reference."""
    from . import apidoc

    document = splice(document, apidoc.render(), apidoc.BEGIN, apidoc.END)
    return splice(document, render(collect()))


def main(argv: list[str] | None = None) -> int:
    """Print the reference, or write it into a document between the markers."""
    parser = argparse.ArgumentParser(prog="python -m vmm.core.docgen", description=__doc__.split("\n")[0])
    parser.add_argument("--write", metavar="FILE", type=Path,
                        help="replace the generated part of FILE instead of printing")
    args = parser.parse_args(argv)
    reference = render(collect())
    if args.write is None:
        sys.stdout.write(reference)
        return 0
    try:
        document = args.write.read_text()
        args.write.write_text(generate(document))
    except (OSError, ValueError) as error:
        print(f"docgen: error: {error}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
