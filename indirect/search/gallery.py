"""``gallery.html``: one self-contained page, each query beside its raw and notion-space neighbours.

Thumbnails are embedded as ``data:`` URIs and the page holds no script and no reference to any
other file, so it opens offline from wherever it is copied. Every file name and label is
HTML-escaped: names come from the user's disk and must never become markup.
"""
from __future__ import annotations

import base64
import io
from html import escape
from pathlib import Path

from indirect.embedding.images import open_rgb
from indirect.search.results import Hit, QueryResult

THUMB = 112
STYLE = """
body{font-family:system-ui,sans-serif;margin:16px;background:#fafafa;color:#222}
h1{font-size:20px} .meta{color:#555;font-size:13px;margin-bottom:12px}
section{background:#fff;border:1px solid #ddd;border-radius:6px;padding:10px;margin:14px 0}
.qhead{display:flex;gap:10px;align-items:center;margin-bottom:8px}
.spaces{display:grid;grid-template-columns:1fr 1fr;gap:12px}
.space h3{font-size:14px;margin:4px 0} .row{display:flex;flex-wrap:wrap;gap:6px}
figure{margin:0;width:%(t)dpx;flex-shrink:0;font-size:11px;text-align:center;word-break:break-all}
figure img{width:%(t)dpx;height:%(t)dpx;object-fit:contain;background:#eee;border:3px solid transparent;box-sizing:border-box}
figure.agree img{border-color:#1a9641} figure.disagree img{border-color:#d7191c}
.label{color:#333;font-weight:600} .dist{color:#777}
.textquery{font-size:18px;padding:8px 12px;background:#eef;border-radius:4px}
""" % {"t": THUMB}


def thumbnail_uri(path: Path | None, size: int = THUMB) -> str | None:
    """A PNG thumbnail of ``path`` as a data: URI, or None when the file cannot be read."""
    if path is None:
        return None
    try:
        image = open_rgb(path)   # as the model saw it: EXIF turn applied, 16-bit scaled, not clipped
        image.thumbnail((size, size))
        buffer = io.BytesIO()
        image.save(buffer, format="PNG", optimize=True)
    except (OSError, ValueError):
        return None
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")


def write_gallery(results: list[QueryResult], path: Path, title: str = "Notion-space neighbours",
                  meta: str = "") -> Path:
    """Write the gallery of ``results`` to ``path``: per query, raw neighbours left, notion-space
    neighbours right; with labels, neighbours sharing the query's label are outlined green, the
    others red."""
    cache: dict = {}

    def uri(p):
        if p not in cache:
            cache[p] = thumbnail_uri(p)
        return cache[p]

    sections = [_section(n, r, uri) for n, r in enumerate(results, 1)]
    page = (f"<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>{escape(title)}</title>"
            f"<style>{STYLE}</style></head><body>\n<h1>{escape(title)}</h1>\n"
            f"<div class=\"meta\">{escape(meta)}</div>\n" + "\n".join(sections) + "\n</body></html>\n")
    path = Path(path)
    path.write_text(page, encoding="utf-8")
    return path


def _figure(hit_or_query, uri, css: str = "", caption_extra: str = "") -> str:
    name = hit_or_query.id if isinstance(hit_or_query, Hit) else hit_or_query.query
    src = uri(hit_or_query.path)
    image = (f"<img src=\"{src}\" alt=\"{escape(name)}\">" if src
             else f"<div class=\"missing\">(unreadable)</div>")
    label = f"<div class=\"label\">{escape(hit_or_query.label)}</div>" if hit_or_query.label is not None else ""
    return f"<figure class=\"{css}\">{image}<figcaption>{escape(name)}{label}{caption_extra}</figcaption></figure>"


def _hits(result: QueryResult, space: str, uri) -> str:
    cells = []
    for hit in getattr(result, space):
        css = "" if result.label is None or hit.label is None else ("agree" if hit.label == result.label else "disagree")
        cells.append(_figure(hit, uri, css, f"<div class=\"dist\">{hit.distance:.3f}</div>"))
    agreement = result.agreement(space)
    share = f" ({agreement:.0%} share the query's label)" if agreement is not None else ""
    heading = "raw backbone space" if space == "raw" else "notion space (projected)"
    return (f"<div class=\"space {space}\"><h3>{heading}{escape(share)}</h3>"
            f"<div class=\"row\">{''.join(cells)}</div></div>")


def _section(number: int, result: QueryResult, uri) -> str:
    if result.kind == "text":
        head = f"<div class=\"textquery\">text: &ldquo;{escape(result.query)}&rdquo;</div>"
    elif result.path is not None:
        head = _figure(result, uri, "query")
    else:
        head = f"<div class=\"textquery\">{escape(result.kind)}: {escape(result.query)}</div>"
    return (f"<section id=\"q{number}\"><div class=\"qhead\"><b>query {number}</b>{head}</div>"
            f"<div class=\"spaces\">{_hits(result, 'raw', uri)}{_hits(result, 'projected', uri)}</div></section>")
