"""A topology as an SVG picture, laid out by Graphviz (``dot``, Debian package ``graphviz``).

The same model as the text diagram (:mod:`pytest_macvlan.topology.diagram`): a :class:`TopologySpec`
plus optional :class:`~pytest_macvlan.topology.diagram.Live` facts of a built topology. Namespaces are
boxes (Graphviz clusters) holding their links (name, kind and mode or VLAN id, addresses, MAC);
edges join veth peers (thick, no arrow), a macvlan or VLAN to its parent (dashed arrow) and a
bridge port to its bridge (dotted; red and labelled where hairpin is on). A namespace's routes,
neighbours and sysctls are a note inside its box.

Emulated parts (the article's LAN and switch, a stand-in public host) are drawn dashed and grey.
A spec marks them with a comment line, which the spec parser ignores (TOML comments carry no
data, so the spec format does not change)::

    # emulated-parts: lan, S20 -- the article's LAN: a bridge in a namespace stands in for the switch

(namespace names or ``netns/link`` references, comma-separated, optionally followed by ``--``
and a reason; a name the spec does not have is a :class:`SpecError`). Prose comments such as
``# Emulated: ...`` are not read. The DOT text reaches ``dot`` on its standard input, every label escaped; no
shell is involved.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from collections.abc import Collection, Iterable
from pathlib import Path

from pytest_macvlan.errors import MacvlanError, SpecError
from pytest_macvlan.spec.model import LinkSpec, TopologySpec
from pytest_macvlan.topology.diagram import Live, LiveLink, kind_text, netns_lines

DOT_TIMEOUT_S = 60.0
_EMULATED = re.compile(r"^[ \t]*#[ \t]*emulated-parts[ \t]*:(?P<names>.*?)(?:--.*)?$", re.MULTILINE)
HAIRPIN_COLOUR = "#c62828"
EMULATED_FILL = "#eeeeee"


class SvgError(MacvlanError, RuntimeError):
    """Graphviz is missing or failed to lay out a topology."""


def emulated_in(text: str, spec: TopologySpec) -> frozenset[str]:
    """The names that ``# emulated-parts: ...`` comment lines in ``text`` mark, checked against ``spec``."""
    known = {ns.name for ns in spec.netns} | {str(link.ref) for link in spec.links}
    names: set[str] = set()
    for match in _EMULATED.finditer(text):
        for name in (n.strip() for n in match.group("names").split(",")):
            if not name:
                continue
            if name not in known:
                raise SpecError(spec.source, "# emulated-parts", f"no namespace or link named {name!r} in this spec")
            names.add(name)
    return frozenset(names)


def emulated_of(spec: TopologySpec) -> frozenset[str]:
    """:func:`emulated_in` of the spec's file (nothing when the spec did not come from a file)."""
    path = Path(spec.source)
    try:
        text = path.read_text(encoding="utf-8") if path.suffix == ".toml" and path.is_file() else ""
    except OSError:
        text = ""
    return emulated_in(text, spec)


def quote(text: str) -> str:
    """A DOT double-quoted string holding ``text`` literally (one line)."""
    flat = " ".join(str(text).split())
    return '"' + flat.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _label(lines: Iterable[str], *, left: bool = False) -> str:
    """A multi-line DOT label: each line escaped, joined by ``\\n`` (``\\l``: left-aligned)."""
    sep = "\\l" if left else "\\n"
    body = sep.join(quote(line)[1:-1] for line in lines if line)
    return f'"{body}{sep if left else ""}"'


def _link_lines(link: LinkSpec, live: LiveLink | None, emulated: bool) -> list[str]:
    lines = [link.name, kind_text(link, live)]
    lines += [str(a) for a in link.addrs]
    mac = live.mac if live is not None else link.address
    if mac:
        lines.append(mac + (f" #{live.ifindex}" if live is not None else ""))
    extras = []
    if link.mtu is not None:
        extras.append(f"mtu {link.mtu}")
    if link.promisc:
        extras.append("promisc")
    if not link.up:
        extras.append("DOWN")
    if link.hairpin:
        extras.append("hairpin on")
    if extras:
        lines.append(", ".join(extras))
    if link.macaddr:
        lines.append("accepts " + ", ".join(link.macaddr))
    if emulated:
        lines.append("(emulated)")
    return lines


def dot_source(spec: TopologySpec, live: Live | None = None, emulated: Collection[str] = ()) -> str:
    """The Graphviz DOT text of ``spec``; ``emulated`` names namespaces or ``netns/link`` refs."""
    live = live or Live()
    ids = {link.ref: f"n{i}" for i, link in enumerate(spec.links)}
    out = [
        "digraph topology {",
        f"graph [rankdir=LR, compound=true, fontname=Helvetica, fontsize=12, labelloc=t, "
        f"label={quote('topology ' + Path(spec.source).name)}, nodesep=0.25, ranksep=0.7];",
        'node [shape=box, style="rounded,filled", fillcolor="#ffffff", fontname=Helvetica, fontsize=10];',
        "edge [fontname=Helvetica, fontsize=9];",
    ]
    for c, ns in enumerate(spec.netns):
        ns_emulated = ns.name in emulated
        head = f"netns {ns.name}" + (" (emulated)" if ns_emulated else "")
        kept = live.netns_names.get(ns.name)
        if kept:
            head += f" = {kept}"
        style = f'style="rounded,dashed,filled", fillcolor="{EMULATED_FILL}"' if ns_emulated else 'style="rounded"'
        out.append(f'subgraph cluster_{c} {{ label={quote(head)}; {style}; color="#555555";')
        for link in spec.links:
            if link.netns != ns.name:
                continue
            marked = ns_emulated or str(link.ref) in emulated
            attrs = [f"label={_label(_link_lines(link, live.links.get(link.ref), marked))}"]
            if link.kind == "bridge":
                attrs.append('fillcolor="#fff8e1"')
            elif link.kind == "macvlan":
                attrs.append('fillcolor="#e3f2fd"')
            if link.hairpin:
                attrs.append(f'color="{HAIRPIN_COLOUR}", penwidth=2')
            if marked:
                attrs.append('style="rounded,dashed,filled"')
            out.append(f"  {ids[link.ref]} [{', '.join(attrs)}];")
        notes = netns_lines(ns)
        if notes:
            label = _label(notes, left=True)
            out.append(f'  note{c} [shape=note, fontsize=8, style=filled, fillcolor="#fafafa", label={label}];')
        out.append("}")
    for link in spec.links:
        me = ids[link.ref]
        if link.peer is not None and not link.is_peer and link.peer in ids:
            out.append(f'{me} -> {ids[link.peer]} [dir=none, penwidth=2.5, color="#37474f", label="veth"];')
        if link.parent is not None and link.parent in ids:
            word = link.kind if link.kind != "vlan" else f"vlan {link.vlan_id}"
            out.append(f"{me} -> {ids[link.parent]} [style=dashed, label={quote(word)}];")
        if link.master is not None:
            bridge = next((ids[b.ref] for b in spec.links if b.netns == link.netns and b.name == link.master), None)
            if bridge is not None:
                red = f', color="{HAIRPIN_COLOUR}", fontcolor="{HAIRPIN_COLOUR}", penwidth=2'
                hairpin = red if link.hairpin else ""
                label = "port, hairpin" if link.hairpin else "port"
                out.append(f'{me} -> {bridge} [style=dotted, arrowhead=none, label="{label}"{hairpin}];')
    out.append("}")
    return "\n".join(out) + "\n"


def render_dot(source: str, *, dot: str | None = None, timeout: float = DOT_TIMEOUT_S) -> str:
    """SVG text laid out by Graphviz from DOT ``source`` (given on ``dot``'s standard input)."""
    exe = dot or shutil.which("dot")
    if exe is None:
        raise SvgError("Graphviz's `dot` is not installed (Debian package graphviz): no topology picture")
    try:
        proc = subprocess.run(
            [exe, "-Tsvg"], input=source.encode("utf-8"), capture_output=True, timeout=timeout, check=False
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise SvgError(f"Graphviz `dot` failed: {exc}") from None
    if proc.returncode != 0:
        raise SvgError(f"Graphviz `dot` exited {proc.returncode}: {proc.stderr.decode(errors='replace').strip()}")
    svg = proc.stdout.decode("utf-8")
    # No DOCTYPE: it names an external DTD, and the page must not refer to anything outside it.
    return re.sub(r"<!DOCTYPE[^>]*>\s*", "", svg, count=1)


def render(spec: TopologySpec, live: Live | None = None, emulated: Collection[str] | None = None) -> str:
    """The SVG picture of ``spec`` (``emulated`` defaults to the spec file's ``# emulated-parts:`` lines)."""
    marks = emulated_of(spec) if emulated is None else emulated
    return render_dot(dot_source(spec, live, marks))


def inline(svg: str) -> str:
    """``svg`` without its XML declaration and comments, to be put inside an HTML page."""
    start = svg.find("<svg")
    return re.sub(r"<!--.*?-->\s*", "", svg[start:] if start >= 0 else svg, flags=re.DOTALL)


def write_svg(spec: TopologySpec, path: str | Path, live: Live | None = None) -> Path:
    """Write the picture of ``spec`` to ``path``; returns the path."""
    target = Path(path)
    svg = render(spec, live)
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(svg, encoding="utf-8")
    return target
