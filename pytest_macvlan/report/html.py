"""One self-contained HTML page: the claims x kernels matrix and the frames behind each verdict.

Input is the per-run claims JSON (``pytest-macvlan/claims/1``, a matrix of one kernel) or the
matrix JSON (``pytest-macvlan/matrix/1``), read by :mod:`pytest_macvlan.report.matrixfile`.
The page needs no server, no network and no script: rows are claims grouped "the article" /
"beyond the article", columns are kernels, each cell is coloured by its verdict and links
(``#e-ROW-COL``, shown with CSS ``:target``) to that run's evidence: the test's location, each
capture's frames (tcpdump style) with its pcap file, and the topology picture (pcaps and
pictures are relative links to the files next to the JSON, never inlined). A checkbox keeps
only the rows whose verdict varies across kernels.

Everything from the JSON is escaped; links are made relative to the page and URL-quoted, so a
path cannot become a ``javascript:`` URL. A Content-Security-Policy allows no script and no
request beyond the page's own files. Frames beyond what fits in :data:`BUDGET` bytes are left
to the pcaps (the page says how many it shows).
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from html import escape
from pathlib import Path
from urllib.parse import quote

from pytest_macvlan.report.matrixfile import (
    PARTS,
    VERDICTS,
    Capture,
    Claim,
    Kernel,
    Matrix,
    Result,
    load,
    verdict_class,
)

BUDGET = 2_000_000 - 50_000  # bytes of HTML; the limit is 2 MB, with room to spare
FRAME_CHARS = 300  # a longer frame summary is cut
FRAMES_MAX = 500  # frames shown per capture, at most (a pcap has them all)
TIP_CHARS = 120  # of a verdict's detail in a cell's tooltip (the evidence shows all of it)
_DIRECTION = re.compile(r"^(\S+(?: (?!in |out )\S+)?) +(in|out)((?: .*)?)$")
DIR_TAG = {"in": "i", "out": "b"}  # the direction word's element in a frame line (styled by CSS)
COLOURS: dict[str, str] = {  # the cell colour of each class; the browser test reads these
    "holds": "#a5d6a7",
    "precise": "#80cbc4",
    "differs": "#ffcc80",
    "fails": "#ef9a9a",
    "skipped": "#d6d6d6",
    "notrun": "#ffffff",
    "unknown": "#ce93d8",
}

CSS = """
body{font:14px/1.4 system-ui,sans-serif;margin:1em 2em;color:#222}
h1{font-size:1.4em;margin:.2em 0} .meta{color:#555}
table.m{border-collapse:collapse;margin-top:.6em}
.m th,.m td{border:1px solid #bbb;padding:3px 6px;vertical-align:top}
.m thead th{position:sticky;top:0;background:#f4f4f4;z-index:1}
.m th.k{min-width:7em;text-align:center} .rel{font-weight:normal;font-size:.85em;color:#444}
tr.group th{background:#e8eaf6;text-align:left;font-size:1.05em}
td.c{padding:0;text-align:center;min-width:7em}
td.c a{display:block;padding:6px 4px;color:#111;text-decoration:none}
td.c a:hover,td.c a:focus{outline:3px solid #222;outline-offset:-3px}
td.claim{max-width:36em;overflow-wrap:anywhere} .ev h2,.ev p{overflow-wrap:anywhere}
blockquote{margin:.2em 0 0 1em;color:#333} .gloss{margin:0 0 0 1em;color:#555;font-style:italic}
.src{color:#555;font-size:.9em} .ln{font-weight:bold}
#only-varies:checked~.wrap tr.same{display:none}
body:has(.ev:target){margin-right:calc(46% + 1em)} body:has(.ev:target) .wrap{overflow-x:auto}
.ev{display:none;position:fixed;top:0;right:0;width:46%;height:100%;overflow:auto;box-sizing:border-box;
 background:#fff;border-left:3px solid #555;padding:1em 1.2em;box-shadow:-4px 0 12px #0003;z-index:2}
.ev:target{display:block} .ev img{max-width:100%;border:1px solid #ccc}
.ev pre{background:#f7f7f7;padding:.5em;overflow:auto;font-size:12px;white-space:pre-wrap;overflow-wrap:anywhere}
.ev pre i{color:#1565c0;font-style:normal} .ev pre b{color:#c62828;font-weight:normal} .close{float:right}
.badge{display:inline-block;padding:1px 8px;border-radius:3px}
"""


def _colour_css() -> str:
    return "".join(f".v-{css}{{background:{colour}}}" for css, colour in COLOURS.items()) + ".v-notrun{color:#777}"


def _e(text: object) -> str:
    return escape(str(text), quote=True)


def _href(path: str | None, base: Path, page_dir: Path) -> str | None:
    """``path`` (relative to the JSON's directory) relative to the page, URL-quoted."""
    if not path:
        return None
    target = Path(path) if Path(path).is_absolute() else base / path
    rel = Path(os.path.relpath(target, page_dir)).as_posix()
    return quote(rel, safe="/")


def _frame_line(line: str) -> str:
    """One frame, escaped, its direction word (``in``/``out``, after the time and maybe a label) marked."""
    line = line if len(line) <= FRAME_CHARS else line[: FRAME_CHARS - 1] + "\u2026"
    match = _DIRECTION.match(line)
    if match is None:
        return _e(line)
    head, word, rest = match.groups()
    return f"{_e(head)} <{DIR_TAG[word]}>{word}</{DIR_TAG[word]}>{_e(rest)}"


def _capture(cap: Capture, base: Path, page_dir: Path, cap_frames: int) -> Iterator[str]:
    yield f'<div class="cap"><h4>{_e(cap.label)}</h4><p>in {cap.n_in} &middot; out {cap.n_out}'
    if cap.dropped:
        yield f" &middot; kernel dropped {cap.dropped}"
    href = _href(cap.pcap, base, page_dir)
    if href:
        yield f' &middot; <a class="pcap" href="{_e(href)}">{_e(Path(cap.pcap or "").name)}</a>'
    yield "</p>"
    shown = cap.frames[:cap_frames]
    if shown:
        yield "<pre>" + "\n".join(_frame_line(f) for f in shown) + "</pre>"
    if len(cap.frames) > len(shown):
        yield f'<p class="src">{len(cap.frames) - len(shown)} more frame(s) in the pcap</p>'
    elif not cap.frames:
        yield '<p class="src">no frames</p>'
    yield "</div>"


def _evidence(m: Matrix, r: int, c: int, page_dir: Path, cap_frames: int) -> Iterator[str]:
    claim, kernel = m.claims[r], m.kernels[c]
    res = claim.results.get(kernel.name) or Result("not run", "no result from this kernel")
    css = verdict_class(res.verdict)
    yield f'<section class="ev" id="e-{r}-{c}" aria-label="evidence">'
    yield '<a class="close" href="#matrix">close &#x2715;</a>'
    yield f"<h2>{_e(claim.text)}</h2>"
    yield f'<p><span class="badge v-{css}">{_e(res.verdict)}</span> {_e(res.detail)}</p>'
    yield f"<p>kernel <b>{_e(kernel.name)}</b> {_e(kernel.release)} (firewall {_e(kernel.firewall)})</p>"
    yield f'<p>test <code class="loc">{_e(claim.location or claim.nodeid)}</code> <code>{_e(claim.nodeid)}</code></p>'
    if claim.article:
        yield f'<p>the article, <a href="#r-{r}">{_e(claim.article)}</a> (quoted in the row)</p>'
    yield f"<h3>captures ({len(res.evidence)})</h3>"
    for cap in res.evidence:
        yield from _capture(cap, m.base, page_dir, cap_frames)
    if res.topology or res.svg:
        yield f"<h3>topology {_e(res.topology or '')}</h3>"
        href = _href(res.svg, m.base, page_dir)
        if href:
            alt = f"topology {res.topology or ''}"
            yield f'<a href="{_e(href)}"><img class="topo" src="{_e(href)}" alt="{_e(alt)}" loading="lazy"></a>'
    yield "</section>"


def _claim_cell(claim: Claim) -> str:
    out = [f'<b>{_e(claim.text)}</b> <span class="src">{_e(claim.scenario)}</span>']
    if claim.article:
        out.append(f'<br><span class="ln">{_e(claim.article)}</span>')
        if claim.quote:
            out.append(f'<blockquote lang="zh">{_e(claim.quote)}</blockquote>')
        if claim.gloss:
            out.append(f'<p class="gloss">{_e(claim.gloss)}</p>')
    elif claim.source:
        out.append(f'<br><span class="src">source: {_e(claim.source)}</span>')
    return "".join(out)


def _tally(m: Matrix, kernel: Kernel) -> str:
    found = [verdict_class(r.verdict) if (r := c.results.get(kernel.name)) else "notrun" for c in m.claims]
    labels = {css: word for word, css in VERDICTS.items()} | {"unknown": "other"}
    return ", ".join(f"{found.count(css)} {labels[css]}" for css in COLOURS if css in found)


def _page(m: Matrix, page_dir: Path, cap_frames: int, capped: bool) -> str:
    n_varies = sum(c.varies for c in m.claims)
    on = f"kernel {_e(m.kernels[0].name)}" if len(m.kernels) == 1 else f"{len(m.kernels)} kernels"
    out = [
        '<!DOCTYPE html><html lang="en"><head><meta charset="utf-8">',
        '<meta http-equiv="Content-Security-Policy" content="default-src \'none\'; '
        "style-src 'unsafe-inline'; img-src 'self' file: data:\">",
        '<meta name="viewport" content="width=device-width,initial-scale=1">',
        f"<title>pytest-macvlan: the article's claims on {on}</title>",
        f"<style>{CSS}{_colour_css()}</style></head><body>",
        f"<h1>The article's claims on {on}</h1>",
        f'<p class="meta">generated {_e(m.generated)} &middot; {len(m.claims)} claims, '
        f"{n_varies} vary across kernels. Click a cell for its evidence.</p><ul class=meta>",
    ]
    out += [f"<li><b>{_e(k.name)}</b> {_e(k.release)}: {_e(_tally(m, k))}</li>" for k in m.kernels]
    out.append("</ul>")
    if capped:
        out.append(f'<p class="meta">Frames: at most {cap_frames} per capture shown here; all are in the pcaps.</p>')
    out.append('<input type="checkbox" id="only-varies">')
    out.append('<label for="only-varies">only rows whose verdict varies across kernels</label>')
    out.append('<div class="wrap"><table class="m" id="matrix"><thead><tr><th>claim</th>')
    for k in m.kernels:
        extra = [k.firewall]
        if k.exit is not None:
            extra.append(f"exit {k.exit}")
        if k.duration_s is not None:
            extra.append(f"{k.duration_s:.1f} s")
        rel = f"{_e(k.release)}<br>{_e(' · '.join(extra))}"
        out.append(f'<th class="k">{_e(k.name)}<br><span class="rel">{rel}</span></th>')
    out.append("</tr></thead><tbody>")
    for part, title in PARTS:
        rows = [r for r, c in enumerate(m.claims) if c.part == part]
        if not rows:
            continue
        out.append(f'<tr class="group"><th colspan="{len(m.kernels) + 1}">{title} ({len(rows)})</th></tr>')
        for r in rows:
            claim = m.claims[r]
            row_class = "varies" if claim.varies else "same"
            out.append(f'<tr class="{row_class}" id="r-{r}"><td class="claim">{_claim_cell(claim)}</td>')
            for c, k in enumerate(m.kernels):
                res = claim.results.get(k.name)
                verdict = res.verdict if res is not None else "not run"
                css = verdict_class(verdict)
                word = verdict.split(":", 1)[0]
                tip = f"{verdict}: {res.detail[:TIP_CHARS]}" if res is not None and res.detail else verdict
                out.append(
                    f'<td class="c v-{css}" data-verdict="{_e(verdict)}" data-class="{css}">'
                    f'<a href="#e-{r}-{c}" title="{_e(tip)}">{_e(word)}</a></td>'
                )
            out.append("</tr>")
    out.append("</tbody></table></div>")
    for r in range(len(m.claims)):
        for c in range(len(m.kernels)):
            out.extend(_evidence(m, r, c, page_dir, cap_frames))
    out.append("</body></html>\n")
    return "\n".join(out)


def _frames_costs(m: Matrix, most: int) -> list[list[int]]:
    """Per capture, the bytes its first 1, 2, ... ``most`` frames add to the page (running sums)."""
    out: list[list[int]] = []
    for claim in m.claims:
        for res in claim.results.values():
            for cap in res.evidence:
                total, sums = 0, []
                for frame in cap.frames[:most]:
                    total += len(_frame_line(frame).encode("utf-8")) + 1
                    sums.append(total)
                out.append(sums)
    return out


def render(m: Matrix, page_dir: Path, budget: int = BUDGET) -> str:
    """The page, to be written in ``page_dir``.

    Every frame (up to :data:`FRAMES_MAX` per capture) is shown when the page fits ``budget``
    bytes; otherwise each capture shows its first N frames, N as large as fits (the rest are in
    its pcap; the page says so).
    """
    longest = max((len(cap.frames) for c in m.claims for r in c.results.values() for cap in r.evidence), default=0)
    most = min(longest, FRAMES_MAX)
    costs = _frames_costs(m, most)

    def cost(cap_frames: int) -> int:
        return sum(sums[min(cap_frames, len(sums)) - 1] for sums in costs if sums and cap_frames)

    base = len(_page(m, page_dir, 0, capped=True).encode("utf-8"))  # the page without frames
    low, high = 0, most  # the largest cap whose frames fit
    while low < high:
        mid = (low + high + 1) // 2
        low, high = (mid, high) if base + cost(mid) <= budget else (low, mid - 1)
    page = ""
    for cap_frames in range(low, -1, -1):
        page = _page(m, page_dir, cap_frames, capped=longest > cap_frames)
        if len(page.encode("utf-8")) <= budget:
            break
    return page


def write_html(json_path: str | os.PathLike[str], out_path: str | os.PathLike[str]) -> Path:
    """Render a claims or matrix JSON file into the page ``out_path``; returns its path."""
    m = load(json_path)
    out = Path(out_path)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(render(m, out.resolve().parent), encoding="utf-8")
    return out


def write_matrix_html(matrix_json_path: str | os.PathLike[str], out_path: str | os.PathLike[str]) -> Path:
    """For ``pytest-macvlan matrix --matrix-html PATH``: the page of a matrix JSON file."""
    return write_html(matrix_json_path, out_path)
