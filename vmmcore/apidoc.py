"""Generate the plugin API reference of docs/plugins.md from :mod:`vmm.core.api`.

The Protocols there (the device protocol, the buses, guest memory, the interrupt
controller, the ``Vm`` surface) are rendered with their signatures and docstrings
between :data:`BEGIN` and :data:`END`; ``python -m vmm.core.docgen --write`` writes
this part together with the hook reference.
"""

from __future__ import annotations

import inspect

BEGIN = "<!-- BEGIN GENERATED API REFERENCE: python -m vmm.core.docgen --write docs/plugins.md -->"
END = "<!-- END GENERATED API REFERENCE -->"

#: The Protocols in the order the reference shows them, with the name a plugin
#: meets each under.
SHOWN = (
    ("Device", "a device object"),
    ("PluginBus", "vm.mmio, vm.pio"),
    ("PluginMemory", "vm.memory"),
    ("InterruptController", "vm.irqchip"),
    ("PluginVm", "vm"),
)


def members(protocol: type) -> list[tuple[str, object]]:
    """The Protocol's own members (properties and methods) in source order."""
    own = [(name, value) for name, value in vars(protocol).items()
           if not name.startswith("_") and (isinstance(value, property) or callable(value))]
    return sorted(own, key=lambda pair: _line(pair[1]))


def _line(member: object) -> int:
    function = member.fget if isinstance(member, property) else member
    return inspect.getsourcelines(function)[1]  # type: ignore[arg-type]


def _paragraphs(doc: str | None) -> list[str]:
    text = inspect.cleandoc(doc or "")
    return [" ".join(line.strip() for line in block.splitlines())
            for block in text.split("\n\n") if block.strip()]


def _signature(name: str, member: object) -> str:
    if isinstance(member, property):
        returns = inspect.signature(member.fget).return_annotation  # type: ignore[arg-type]
        return f"{name}: {returns}"
    signature = inspect.signature(member)  # type: ignore[arg-type]
    parameters = [p for p in signature.parameters.values() if p.name != "self"]
    shown = signature.replace(parameters=parameters)
    return f"{name}{shown}".replace("'", "")


def render() -> str:
    """The Markdown reference of the plugin API."""
    from vmm.core import api

    out = ["Generated from `vmm/core/api.py`; edit the docstrings there, then run "
           "`python -m vmm.core.docgen --write docs/plugins.md`."]
    for class_name, seen_as in SHOWN:
        protocol = getattr(api, class_name)
        out += ["", f"#### `{class_name}` ({seen_as})", ""]
        out += [paragraph.replace("``", "`") + "\n" for paragraph in _paragraphs(protocol.__doc__)]
        for name, member in members(protocol):
            paragraphs = _paragraphs(member.__doc__)
            text = " ".join(paragraphs).replace("``", "`")
            out.append(f"- `{_signature(name, member)}`: {text}")
    return "\n".join(out) + "\n"
