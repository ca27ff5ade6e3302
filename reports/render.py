"""A tiny document model and its two renderings: one self-contained HTML file, and Markdown.

Sections hold blocks (paragraphs, tables, figures, banners). Every piece of text a block
holds is plain text: the renderers escape all of it, so nothing from the ledger (subjects,
notes, sources, ids) can inject markup. Links are the only markup, and only ``http(s)`` URLs
become links.
"""

from __future__ import annotations

import base64
import html
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from gpt2030.inference.results import atomic_write

if TYPE_CHECKING:
    from gpt2030.reports.png import PendingPNG

URL_RE = re.compile(r"https?://[^\s<>\"'|\]\[)(,;]+[^\s<>\"'|\]\[)(,;.:]")


@dataclass(frozen=True)
class Link:
    """A hyperlink: ``url`` must be http(s)."""

    text: str
    url: str


@dataclass(frozen=True)
class Rich:
    """Text with links: a sequence of plain strings and :class:`Link` s."""

    parts: tuple[str | Link, ...]


@dataclass(frozen=True)
class Cell:
    """A table cell with a style class (``good``, ``bad``, ``num``, ``muted``)."""

    value: str | Link | Rich
    cls: str = ""


CellValue = str | Link | Rich | Cell


def linkify(text: str) -> Rich:
    """Split text into plain parts and links for every http(s) URL in it."""
    parts: list[str | Link] = []
    pos = 0
    for m in URL_RE.finditer(text):
        if m.start() > pos:
            parts.append(text[pos:m.start()])
        parts.append(Link(m.group(0), m.group(0)))
        pos = m.end()
    if pos < len(text):
        parts.append(text[pos:])
    return Rich(tuple(parts))


@dataclass
class Paragraph:
    """A paragraph of plain (or linked) text, with an optional style class (``note``)."""

    text: str | Rich
    cls: str = ""


@dataclass
class Bullets:
    """A bulleted list."""

    items: list[str | Rich]


@dataclass
class Table:
    """A table: column headings, rows of cells, a caption below it."""

    columns: list[str]
    rows: list[list[CellValue]]
    caption: str = ""
    numeric: tuple[int, ...] = ()  # column indices aligned right
    cls: str = ""  # a style class for the table (``evidence``: long rows of ledger text)


@dataclass
class FigureBlock:
    """A PNG figure: a file beside the Markdown, embedded in the HTML."""

    filename: str
    #: the PNG, or one being drawn (a report's figures, until :func:`with_figures_drawn`)
    png: bytes | PendingPNG
    alt: str
    caption: str = ""


@dataclass
class Banner:
    """A coloured verdict box: green when ``ok``, red otherwise, with its reasons."""

    ok: bool
    title: str
    items: list[str] = field(default_factory=list)


@dataclass
class Heading:
    """A sub-heading inside a section."""

    text: str


@dataclass
class Details:
    """A collapsible group of blocks (HTML ``<details>``), closed until the reader opens it.

    Markdown shows the summary as a sub-heading and the blocks beneath it.
    """

    summary: str
    blocks: list = field(default_factory=list)


Block = Paragraph | Bullets | Table | FigureBlock | Banner | Heading | Details


@dataclass
class Section:
    """A numbered section: its anchor in the page, its title and its blocks."""

    anchor: str
    title: str
    blocks: list[Block] = field(default_factory=list)
    cls: str = ""  # a style class for the section (``summary``, ``appendix``)


@dataclass
class Document:
    """A whole page: title, subtitle and sections (see :func:`to_html`, :func:`to_markdown`)."""

    title: str
    subtitle: str
    sections: list[Section]
    #: other files the report owns, written beside it: ``(name, bytes)`` (``evidence.csv``)
    attachments: list[tuple[str, bytes]] = field(default_factory=list)

    def figures(self) -> list[FigureBlock]:
        """Every figure of the page, in order."""
        return figure_blocks(self.sections)


def figure_blocks(sections: list[Section]) -> list[FigureBlock]:
    """Every figure of ``sections``, in order (inside collapsed groups too)."""
    found: list[FigureBlock] = []
    for s in sections:
        for b in s.blocks:
            inner = b.blocks if isinstance(b, Details) else [b]
            found.extend(x for x in inner if isinstance(x, FigureBlock))
    return found


def with_figures_drawn(sections: list[Section]) -> list[Section]:
    """``sections`` with every figure's PNG bytes in place (waiting for those being drawn).

    Asked for from the last: the worker makes them from the first, so this process takes
    back and makes the figures at the end of its queue while the worker works, and the two
    meet in the middle (asked for in order, each figure but the worker's next one would be
    begun already, and this process would mostly wait).
    """
    for block in reversed(figure_blocks(sections)):
        if not isinstance(block.png, bytes):
            block.png = block.png.result()
    return sections


# -- HTML --------------------------------------------------------------------------------------

CSS = """
:root { --ink:#1b1f24; --muted:#5b6470; --line:#d6dae0; --bg:#ffffff; --soft:#f4f6f8;
        --good:#1e7b34; --goodbg:#e3f4e7; --bad:#b3261e; --badbg:#fde7e5; --link:#1f5fa8; }
* { box-sizing: border-box; }
body { margin:0; background:var(--bg); color:var(--ink);
       font: 14.5px/1.45 -apple-system, "Segoe UI", Roboto, "Helvetica Neue", Arial, sans-serif; }
main { max-width: 1280px; margin: 0 auto; padding: 24px 28px 64px; }
h1 { font-size: 26px; margin: 0 0 4px; }
h2 { font-size: 20px; margin: 22px 0 8px; padding-bottom: 4px;
     border-bottom: 2px solid var(--line); }
h3 { font-size: 16px; margin: 12px 0 4px; }
.subtitle { color: var(--muted); margin: 0 0 16px; }
nav { font-size: 13px; color: var(--muted); margin-bottom: 8px; }
nav a { margin-right: 10px; white-space: nowrap; }
a { color: var(--link); }
td a { word-break: break-all; }
.banner { border-radius: 6px; padding: 14px 18px; margin: 12px 0 8px; border: 2px solid; }
.banner.good { background: var(--goodbg); border-color: var(--good); color: var(--good); }
.banner.bad { background: var(--badbg); border-color: var(--bad); color: var(--bad); }
.banner strong { font-size: 19px; display: block; }
.banner ul { margin: 6px 0 0; padding-left: 20px; color: var(--ink); }
.tablewrap { overflow-x: auto; margin: 8px 0 14px; }
table { border-collapse: collapse; font-size: 13.5px; width: 100%; }
caption { text-align: left; color: var(--muted); font-size: 13px; padding: 4px 0;
          caption-side: bottom; }
th, td { border-bottom: 1px solid var(--line); padding: 3px 8px; text-align: left;
         vertical-align: top; }
th { background: var(--soft); font-weight: 600; white-space: nowrap; }
td.num, th.num { text-align: right; white-space: nowrap; font-variant-numeric: tabular-nums; }
td.good { color: var(--good); font-weight: 600; }
td.bad { color: var(--bad); font-weight: 600; }
td.far { color: #a15c00; font-weight: 600; }
td.muted, p.muted { color: var(--muted); }
table.evidence { font-size: 12.5px; }
table.evidence td { max-width: 340px; overflow-wrap: break-word; }
table.evidence td:first-child { overflow-wrap: anywhere; min-width: 180px; max-width: 240px;
                                font-size: 11.5px; }
table.evidence td:nth-child(4), table.evidence td:nth-child(6) { white-space: nowrap; }
table.evidence td:nth-child(8) { min-width: 240px; }
figure { margin: 12px 0 20px; }
figure img { max-width: 100%; height: auto; border: 1px solid var(--line); }
figcaption { color: var(--muted); font-size: 13px; }
p.note { background: var(--soft); padding: 8px 12px; border-left: 4px solid var(--line); }
footer { color: var(--muted); font-size: 12px; margin-top: 40px; }
details { border: 1px solid var(--line); border-radius: 4px; margin: 5px 0; padding: 0 10px; }
details > summary { cursor: pointer; padding: 4px 0; font-weight: 600; }
details[open] > summary { border-bottom: 1px solid var(--line); margin-bottom: 6px; }

.figgrid { display: grid; grid-template-columns: 1fr 1fr; gap: 0 16px; }
.figgrid figure { margin: 6px 0 12px; }
@media (max-width: 900px) { .figgrid { grid-template-columns: 1fr; } }
@page { size: A4; margin: 14mm 12mm; }
@media print {
  body { font-size: 10.5pt; background: #fff; }
  main { max-width: none; padding: 0; }
  nav, footer { display: none; }
  a { color: inherit; text-decoration: none; }
  h2 { break-after: avoid; page-break-after: avoid; margin-top: 18px; }
  h3 { break-after: avoid; page-break-after: avoid; }
  figure, .banner, tr { break-inside: avoid; page-break-inside: avoid; }
  figure img { max-height: 120mm; width: auto; border: none; }
  .tablewrap { overflow: visible; }
  table { font-size: 8.5pt; }
  th { background: #eee !important; -webkit-print-color-adjust: exact; print-color-adjust: exact; }
  .banner { -webkit-print-color-adjust: exact; print-color-adjust: exact; }
  td a { word-break: break-all; }
  /* a memo prints everything: closed <details> print open (no script needed) */
  details { border: none; padding: 0; }
  details::details-content { content-visibility: visible; display: block; }
  details > summary { list-style: none; border-bottom: 1px solid var(--line); }
  details > summary::-webkit-details-marker { display: none; }
  .figgrid { grid-template-columns: 1fr 1fr; }
  .figgrid figure img { max-height: none; width: 100%; }
}
/* Browsers without ::details-content (before Chrome 131, Safari 18.4) print closed groups
   closed: say so on the printed page. */
@supports not selector(::details-content) {
  @media print {
    details:not([open]) > summary::after { content: " (closed: open it before printing)"; }
  }
}
"""


def _esc(text: object) -> str:
    return html.escape(str(text), quote=True)


def _html_inline(value: str | Link | Rich) -> str:
    if isinstance(value, Link):
        if not value.url.lower().startswith(("http://", "https://")):
            return _esc(value.text)
        return f'<a href="{_esc(value.url)}" rel="noopener noreferrer">{_esc(value.text)}</a>'
    if isinstance(value, Rich):
        return "".join(_html_inline(p) for p in value.parts)
    return _esc(value)


def _html_cell(value: CellValue, tag: str, numeric: bool) -> str:
    cls = value.cls if isinstance(value, Cell) else ""
    inner = value.value if isinstance(value, Cell) else value
    classes = " ".join(c for c in (cls, "num" if numeric else "") if c)
    attr = f' class="{_esc(classes)}"' if classes else ""
    return f"<{tag}{attr}>{_html_inline(inner)}</{tag}>"


def _html_block(block: Block) -> str:
    if isinstance(block, Paragraph):
        cls = f' class="{_esc(block.cls)}"' if block.cls else ""
        return f"<p{cls}>{_html_inline(block.text)}</p>"
    if isinstance(block, Heading):
        return f"<h3>{_esc(block.text)}</h3>"
    if isinstance(block, Bullets):
        items = "".join(f"<li>{_html_inline(i)}</li>" for i in block.items)
        return f"<ul>{items}</ul>"
    if isinstance(block, Banner):
        cls = "good" if block.ok else "bad"
        items = "".join(f"<li>{_esc(i)}</li>" for i in block.items)
        lst = f"<ul>{items}</ul>" if items else ""
        return (f'<div class="banner {cls}" role="status">'
                f"<strong>{_esc(block.title)}</strong>{lst}</div>")
    if isinstance(block, Table):
        head = "".join(_html_cell(c, "th", i in block.numeric) for i, c in enumerate(block.columns))
        body = "".join(
            "<tr>" + "".join(_html_cell(c, "td", i in block.numeric) for i, c in enumerate(row))
            + "</tr>" for row in block.rows)
        cap = f"<caption>{_esc(block.caption)}</caption>" if block.caption else ""
        cls = f' class="{_esc(block.cls)}"' if block.cls else ""
        return (f'<div class="tablewrap"><table{cls}>{cap}<thead><tr>{head}</tr></thead>'
                f"<tbody>{body}</tbody></table></div>")
    if isinstance(block, Details):
        inner = _html_blocks(block.blocks)
        return f"<details><summary>{_esc(block.summary)}</summary>{inner}</details>"
    if isinstance(block, FigureBlock):
        data = base64.b64encode(block.png).decode("ascii")
        cap = f"<figcaption>{_esc(block.caption)}</figcaption>" if block.caption else ""
        return (f'<figure><img src="data:image/png;base64,{data}" alt="{_esc(block.alt)}">'
                f"{cap}</figure>")
    raise TypeError(f"unknown block {block!r}")


def _html_blocks(blocks: list[Block]) -> str:
    """Blocks in order; two or more figures in a row share a grid (two per row when wide)."""
    out: list[str] = []
    run: list[FigureBlock] = []

    def flush() -> None:
        if len(run) > 1:
            out.append('<div class="figgrid">' + "".join(_html_block(f) for f in run)
                       + "</div>")
        else:
            out.extend(_html_block(f) for f in run)
        run.clear()

    for b in blocks:
        if isinstance(b, FigureBlock):
            run.append(b)
            continue
        flush()
        out.append(_html_block(b))
    flush()
    return "".join(out)


def to_html(doc: Document) -> str:
    """One self-contained HTML page: inline CSS, figures as data URIs, no scripts."""
    nav = " ".join(f'<a href="#{_esc(s.anchor)}">{_esc(s.title)}</a>' for s in doc.sections)
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f"<title>{_esc(doc.title)}</title>",
        f"<style>{CSS}</style></head><body><main>",
        f"<h1>{_esc(doc.title)}</h1>",
        f'<p class="subtitle">{_esc(doc.subtitle)}</p>',
        f"<nav>{nav}</nav>",
    ]
    for s in doc.sections:
        cls = f' class="{_esc(s.cls)}"' if s.cls else ""
        parts.append(f'<section id="{_esc(s.anchor)}"{cls}><h2>{_esc(s.title)}</h2>')
        parts.append(_html_blocks(s.blocks))
        parts.append("</section>")
    parts.append("<footer>Generated by gpt2030 report. Self-contained: opens offline.</footer>")
    parts.append("</main></body></html>")
    return "\n".join(parts) + "\n"


# -- Markdown ----------------------------------------------------------------------------------


def md_escape(text: object) -> str:
    """Text safe in a Markdown table cell: HTML-escaped, pipes escaped, one line."""
    s = html.escape(str(text), quote=False)
    s = s.replace("\\", "\\\\").replace("|", "\\|").replace("`", "\\`")
    s = s.replace("[", "\\[").replace("]", "\\]").replace("*", "\\*").replace("_", "\\_")
    return " ".join(s.splitlines())


def _md_inline(value: str | Link | Rich) -> str:
    if isinstance(value, Link):
        url = value.url.replace("(", "%28").replace(")", "%29").replace("|", "%7C")
        url = url.replace(" ", "%20").replace("<", "%3C").replace(">", "%3E")
        if not url.lower().startswith(("http://", "https://")):
            return md_escape(value.text)
        return f"[{md_escape(value.text)}]({url})"
    if isinstance(value, Rich):
        return "".join(_md_inline(p) for p in value.parts)
    return md_escape(value)


def _md_block(block: Block) -> str:
    if isinstance(block, Paragraph):
        return _md_inline(block.text)
    if isinstance(block, Heading):
        return f"### {md_escape(block.text)}"
    if isinstance(block, Bullets):
        return "\n".join(f"- {_md_inline(i)}" for i in block.items)
    if isinstance(block, Banner):
        lines = [f"> **{md_escape(block.title)}**"]
        lines += [f"> - {md_escape(i)}" for i in block.items]
        return "\n".join(lines)
    if isinstance(block, Table):
        def cell(c: CellValue) -> str:
            return _md_inline(c.value if isinstance(c, Cell) else c) or " "
        head = "| " + " | ".join(md_escape(c) for c in block.columns) + " |"
        align = "|" + "|".join("---:" if i in block.numeric else "---"
                               for i in range(len(block.columns))) + "|"
        rows = ["| " + " | ".join(cell(c) for c in row) + " |" for row in block.rows]
        cap = [f"\n*{md_escape(block.caption)}*"] if block.caption else []
        return "\n".join([head, align, *rows, *cap])
    if isinstance(block, Details):
        return "\n\n".join([f"### {md_escape(block.summary)}",
                             *(_md_block(b) for b in block.blocks)])
    if isinstance(block, FigureBlock):
        line = f"![{md_escape(block.alt)}]({block.filename})"
        return line + (f"\n\n*{md_escape(block.caption)}*" if block.caption else "")
    raise TypeError(f"unknown block {block!r}")


def to_markdown(doc: Document) -> str:
    """Markdown with the figures as PNG files beside it."""
    parts = [f"# {md_escape(doc.title)}", md_escape(doc.subtitle)]
    for s in doc.sections:
        parts.append(f"## {md_escape(s.title)}")
        parts.extend(_md_block(b) for b in s.blocks)
    return "\n\n".join(parts) + "\n"


# -- writing -----------------------------------------------------------------------------------


class OutputFolderError(ValueError):
    """An output folder the report must not be written into (nothing was written)."""


def is_home(folder: Path) -> bool:
    """Whether ``folder`` is a gpt2030 home: it holds ``observations/ledger.csv`` or ``runs/``."""
    return (folder / "observations" / "ledger.csv").exists() or (folder / "runs").is_dir()


def write_document(doc: Document, out_dir: Path) -> Path:
    """Write ``report.html``, ``report.md``, the figures and attachments into ``out_dir``.

    The folder is created if needed and never removed or replaced: only the files the
    report owns (``report.html``, ``report.md``, its figure files and its attachments such
    as ``evidence.csv``) are written, each
    atomically (a reader sees the old file or the new one), figures first and the HTML
    last. Anything else in the folder is left alone. Returns the path of ``report.html``.

    Raises
    ------
    OutputFolderError
        ``out_dir`` is a file (or a link to one), or a gpt2030 home folder, or one of the
        files the report would write is a folder.
    """
    out_dir = Path(out_dir)
    if out_dir.exists() and not out_dir.is_dir():
        raise OutputFolderError(f"{out_dir} is a file, not a folder: give a folder for the "
                                "report (it is created if missing)")
    if out_dir.is_dir() and is_home(out_dir):
        raise OutputFolderError(f"{out_dir} is a gpt2030 home (it holds the ledger or runs): "
                                "give another folder for the report")
    files = [(fig.filename, fig.png) for fig in doc.figures()]
    files += list(doc.attachments)
    files += [("report.md", to_markdown(doc).encode("utf-8")),
              ("report.html", to_html(doc).encode("utf-8"))]
    for name, _ in files:
        path = out_dir / name
        if path.is_symlink() or (path.exists() and not path.is_file()):
            raise OutputFolderError(f"{path} is a folder, a link or a device, not a report "
                                    "file: nothing was written")
    out_dir.mkdir(parents=True, exist_ok=True)
    for name, data in files:
        atomic_write(out_dir / name, data)
    return out_dir / "report.html"
