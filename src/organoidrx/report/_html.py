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
    _parts: list[str] = field(default_factory=list)

    def heading(self, text: str, level: int = 2) -> None:
        """Add a section heading (``level`` 2 or 3)."""
        slug = "".join(c if c.isalnum() else "-" for c in text.lower()).strip("-")
        self._parts.append(f'<h{level} id="{html.escape(slug)}">{html.escape(text)}</h{level}>')

    def paragraph(self, text: str, *, css_class: str | None = None) -> None:
        """Add a paragraph of plain text (escaped)."""
        attr = f' class="{css_class}"' if css_class else ""
        self._parts.append(f"<p{attr}>{html.escape(text)}</p>")

    def bullets(self, items: list[str], *, css_class: str | None = None) -> None:
        """Add a bulleted list of plain-text items (escaped)."""
        attr = f' class="{css_class}"' if css_class else ""
        rows = "".join(f"<li>{html.escape(item)}</li>" for item in items)
        self._parts.append(f"<ul{attr}>{rows}</ul>")

    def warnings(self, messages: list[str]) -> None:
        """Add each message as a highlighted warning box."""
        for message in messages:
            self._parts.append(f'<div class="warn">{html.escape(message)}</div>')

    def table(
        self, frame: pd.DataFrame, *, max_rows: int = 50, caption: str | None = None, digits: int = 4
    ) -> None:
        """Add a DataFrame as an HTML table (first ``max_rows`` rows; the caption says when rows were cut)."""
        shown = frame.head(max_rows)
        body = shown.to_html(index=False, float_format=lambda v: f"{v:.{digits}g}", na_rep="", border=0)
        note = caption or ""
        if len(frame) > max_rows:
            note = (
                f"{note} (first {max_rows} of {len(frame)} rows; the full table is in the TSV file)".strip()
            )
        if note:
            body += f'<p class="note">{html.escape(note)}</p>'
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

    def render(self) -> str:
        """The whole document as a string."""
        body = "\n".join(self._parts)
        return (
            '<!DOCTYPE html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n'
            f"<title>{html.escape(self.title)}</title>\n<style>{_CSS}</style>\n</head>\n<body>\n"
            f"<h1>{html.escape(self.title)}</h1>\n{body}\n</body>\n</html>\n"
        )

    def write(self, path: str | Path) -> Path:
        """Write the report atomically and return its path."""
        path = Path(path)
        with atomic_write(path, encoding="utf-8") as handle:
            handle.write(self.render())
        return path
