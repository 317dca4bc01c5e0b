"""A self-contained HTML report: one file, figures embedded as PNG, no scripts, no external resources."""

from __future__ import annotations

import base64
import html
import io
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import pandas as pd

from organoidrx._utils import atomic_write

if TYPE_CHECKING:
    from matplotlib.figure import Figure

__all__ = ["FIGURE_DPI", "HtmlReport", "figure_png"]

_CSS = """
body { font-family: system-ui, -apple-system, 'Segoe UI', sans-serif; margin: 2rem auto; max-width: 1100px;
       color: #1d2430; line-height: 1.45; padding: 0 1rem; }
h1 { font-size: 1.6rem; border-bottom: 2px solid #3b6ea5; padding-bottom: .3rem; }
h2 { font-size: 1.25rem; margin-top: 2rem; color: #3b6ea5; }
h3 { font-size: 1.05rem; margin-top: 1.4rem; }
table { border-collapse: collapse; font-size: .85rem; margin: .6rem 0; }
th, td { border: 1px solid #d0d7e2; padding: .25rem .5rem; text-align: right; }
th { background: #eef2f8; } td:first-child, th:first-child { text-align: left; }
.warn { background: #fff5e0; border-left: 4px solid #e0a030; padding: .4rem .8rem; margin: .3rem 0; }
.note { color: #55607a; font-size: .9rem; }
figure { margin: 1rem 0; } figcaption { font-size: .85rem; color: #55607a; }
img { max-width: 100%; height: auto; }
code { background: #f3f5f9; padding: 0 .2rem; }
.scroll { overflow-x: auto; }
.toc { background: #f6f8fb; border: 1px solid #d0d7e2; padding: .2rem 1rem; margin: 1rem 0; font-size: .9rem; }
.toc h2 { margin-top: .4rem; font-size: 1rem; } .toc ul { margin: .2rem 0; padding-left: 1.2rem; }
.toc ul ul { columns: 3; font-size: .85rem; }
table.key td { white-space: nowrap; } table.key th { max-width: 7rem; }
details summary { cursor: pointer; color: #8a5a00; margin: .3rem 0; }
table.bars td:nth-child(2) { text-align: left; max-width: 34rem; overflow-wrap: anywhere; }
.bar { position: relative; width: 14rem; height: .8rem; background: #f3f5f9; }
.bar span { position: absolute; top: 0; height: 100%; }
.bar i { position: absolute; left: 50%; top: -.1rem; height: 1rem; border-left: 1px solid #55607a; }
"""


#: Resolution of every PNG figure; fixed so that the same inputs give byte-identical images.
FIGURE_DPI = 110


def figure_png(figure: Figure) -> bytes:
    """PNG bytes of a matplotlib figure at :data:`FIGURE_DPI`, without the software/version metadata chunk.

    The same figure drawn from the same data gives the same bytes, run after run.
    """
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=FIGURE_DPI, bbox_inches="tight", metadata={"Software": None})
    return buffer.getvalue()


@dataclass
class HtmlReport:
    """Accumulate headings, text, tables and figures; ``write`` produces one standalone HTML file.

    Examples
    --------
    >>> report = HtmlReport("organoidrx run")
    >>> report.heading("Summary")
    >>> report.paragraph("Three drugs were analysed.")
    >>> "Three drugs" in report.render()
    True
    """

    title: str
    toc: bool = True
    _parts: list[str] = field(default_factory=list)
    _pending: dict[int, tuple[str, str, str]] = field(default_factory=dict)
    _headings: list[tuple[int, str, str]] = field(default_factory=list)

    def heading(self, text: str, level: int = 2) -> None:
        """Add a section heading (``level`` 2 or 3); it is listed in the table of contents."""
        base = "".join(c if c.isalnum() else "-" for c in text.lower()).strip("-") or "section"
        taken = {slug for _, _, slug in self._headings}
        slug, suffix = base, 2
        while slug in taken:
            slug, suffix = f"{base}-{suffix}", suffix + 1
        self._headings.append((level, text, slug))
        self._parts.append(f'<h{level} id="{html.escape(slug)}">{html.escape(text)}</h{level}>')

    def _contents(self) -> str:
        """The table of contents: every level-2 heading, with its level-3 headings nested under it."""
        if not self.toc or not self._headings:
            return ""
        items: list[str] = []
        open_sub = False
        for level, text, slug in self._headings:
            link = f'<a href="#{html.escape(slug)}">{html.escape(text)}</a>'
            if level <= 2:
                if open_sub:
                    items.append("</ul></li>")
                    open_sub = False
                elif items:
                    items.append("</li>")
                items.append(f"<li>{link}")
            else:
                if not open_sub:
                    items.append("<ul>")
                    open_sub = True
                items.append(f"<li>{link}</li>")
        items.append("</ul></li>" if open_sub else "</li>")
        return f'<nav class="toc"><h2>Contents</h2><ul>{"".join(items)}</ul></nav>'

    def paragraph(self, text: str, *, css_class: str | None = None) -> None:
        """Add a paragraph of plain text (escaped)."""
        attr = f' class="{css_class}"' if css_class else ""
        self._parts.append(f"<p{attr}>{html.escape(text)}</p>")

    def bullets(self, items: list[str], *, css_class: str | None = None) -> None:
        """Add a bulleted list of plain-text items (escaped)."""
        attr = f' class="{css_class}"' if css_class else ""
        rows = "".join(f"<li>{html.escape(item)}</li>" for item in items)
        self._parts.append(f"<ul{attr}>{rows}</ul>")

    def warnings(self, messages: list[str], *, shown: int = 6) -> None:
        """Add each message as a highlighted warning box; beyond the first ``shown``, in a folded list."""
        boxes = [f'<div class="warn">{html.escape(message)}</div>' for message in messages]
        self._parts.extend(boxes[:shown])
        if len(boxes) > shown:
            self._parts.append(
                f"<details><summary>{len(boxes) - shown} more warnings</summary>{''.join(boxes[shown:])}</details>"
            )

    def table(
        self,
        frame: pd.DataFrame,
        *,
        max_rows: int = 50,
        caption: str | None = None,
        digits: int = 4,
        css_class: str | None = None,
    ) -> None:
        """Add a DataFrame as an HTML table (first ``max_rows`` rows; the caption says when rows were cut)."""
        shown = frame.head(max_rows)
        body = shown.to_html(
            index=False,
            float_format=lambda v: f"{v:.{digits}g}",
            na_rep="",
            border=0,
            classes=css_class,
        )
        note = caption or ""
        if len(frame) > max_rows:
            note = (
                f"{note} (first {max_rows} of {len(frame)} rows; the full table is in the TSV file)".strip()
            )
        if note:
            body += f'<p class="note">{html.escape(note)}</p>'
        self._parts.append(f'<div class="scroll">{body}</div>')

    def bar_table(
        self,
        frame: pd.DataFrame,
        *,
        label: str,
        value: str,
        highlight: int = 0,
        caption: str | None = None,
    ) -> None:
        """Add a table of ``label`` and ``value`` with a bar per row drawn in CSS (no image to render).

        Bars are proportional to ``|value|``, extending right for positive and left for negative values; the first
        ``highlight`` rows are drawn dark, the rest light.
        """
        values = pd.to_numeric(frame[value], errors="coerce").to_numpy(dtype=float)
        finite = values[pd.notna(values)]
        largest = float(abs(finite).max()) if len(finite) and abs(finite).max() > 0 else 1.0
        rows = []
        for i, (name, number) in enumerate(zip(frame[label].astype(str), values, strict=True)):
            width = 0.0 if number != number else 50.0 * abs(number) / largest
            left = 50.0 - width if number < 0 else 50.0
            color = ("#c0392b" if number >= 0 else "#1f77b4") if i < highlight else "#c7ccd4"
            shown = "NA" if number != number else f"{number:.3g}"
            bar = (
                f'<div class="bar"><span style="left:{left:.2f}%;width:{width:.2f}%;background:{color}"></span>'
                "<i></i></div>"
            )
            rows.append(
                f"<tr><td>{i + 1}</td><td>{html.escape(name)}</td><td>{shown}</td><td>{bar}</td></tr>"
            )
        head = f"<tr><th>rank</th><th>{html.escape(label)}</th><th>{html.escape(value)}</th><th></th></tr>"
        body = f'<table class="bars">{head}{"".join(rows)}</table>'
        if caption:
            body += f'<p class="note">{html.escape(caption)}</p>'
        self._parts.append(f'<div class="scroll">{body}</div>')

    def figure(self, figure: Figure, *, caption: str = "", alt: str = "") -> None:
        """Embed a matplotlib figure as a base64 PNG."""
        self.image(figure_png(figure), caption=caption, alt=alt)

    def image(self, png: bytes, *, caption: str = "", alt: str = "") -> None:
        """Embed PNG bytes (e.g. from :func:`figure_png`) as a base64 data URI."""
        data = base64.b64encode(png).decode("ascii")
        alt_text = html.escape(alt or caption or "figure")
        self._parts.append(
            f'<figure><img alt="{alt_text}" src="data:image/png;base64,{data}">'
            f"<figcaption>{html.escape(caption)}</figcaption></figure>"
        )

    def image_placeholder(self, key: str, *, caption: str = "", alt: str = "") -> None:
        """Reserve the place of a figure whose PNG bytes are given later to :meth:`fill_images` under ``key``."""
        self._pending[len(self._parts)] = (key, caption, alt)
        self._parts.append("")

    def fill_images(self, images: dict[str, bytes]) -> None:
        """Embed the PNG bytes of every placeholder (``images[key]``)."""
        for position, (key, caption, alt) in sorted(self._pending.items()):
            self.image(images[key], caption=caption, alt=alt)
            self._parts[position] = self._parts.pop()
        self._pending.clear()

    def render(self) -> str:
        """The whole document as a string."""
        if self._pending:
            raise RuntimeError(f"{len(self._pending)} figures were never given (fill_images)")
        body = "\n".join(self._parts)
        return (
            '<!DOCTYPE html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n'
            f"<title>{html.escape(self.title)}</title>\n<style>{_CSS}</style>\n</head>\n<body>\n"
            f"<h1>{html.escape(self.title)}</h1>\n{self._contents()}\n{body}\n</body>\n</html>\n"
        )

    def write(self, path: str | Path) -> Path:
        """Write the report atomically and return its path."""
        path = Path(path)
        with atomic_write(path, encoding="utf-8") as handle:
            handle.write(self.render())
        return path
