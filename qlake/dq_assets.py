"""Offline Data Docs: the scripts, styles and fonts GX's pages load from public CDNs ship with qlake.

GX 1.x hard-codes CDN links in its page templates and writes them again on every build, so
:func:`localize_site` runs after each build (``Validator.publish``): it copies ``qlake/report_assets/vendor``
(minified files from the npm registry, with their licences; see its README) into the site's ``static/vendor``
and rewrites every page to reference the local copies. What cannot be had locally is dropped: the tracking
logo is replaced by GX's own local logo, SRI/crossorigin attributes (a file:// page cannot satisfy CORS) and
links to GX's web site (kept as plain text). The result makes no network request when opened from disk.
"""

from __future__ import annotations

import os
import re
import shutil
from pathlib import Path

from qlake.gx_store import ARCHIVE

VENDOR = Path(__file__).resolve().parent / "report_assets" / "vendor"

# CDN address (as GX's templates write it) -> file under static/vendor/
CDN_FILES = {
    "https://cdn.jsdelivr.net/npm/vega@5": "vega.min.js",
    "https://cdn.jsdelivr.net/npm/vega-lite@5": "vega-lite.min.js",
    "https://cdn.jsdelivr.net/npm/vega-embed@6": "vega-embed.min.js",
    "https://cdnjs.cloudflare.com/ajax/libs/font-awesome/6.6.0/css/all.min.css": "fontawesome/css/all.min.css",
    "https://code.jquery.com/jquery-3.7.1.min.js": "jquery.min.js",
    "https://cdnjs.cloudflare.com/ajax/libs/popper.js/1.12.9/umd/popper.min.js": "popper.min.js",
    "https://stackpath.bootstrapcdn.com/bootstrap/4.3.1/js/bootstrap.min.js": "bootstrap.min.js",
    "https://maxcdn.bootstrapcdn.com/bootstrap/4.3.1/css/bootstrap.min.css": "bootstrap.min.css",
    "https://unpkg.com/bootstrap-table@1.19.1/dist/bootstrap-table.min.js": "bootstrap-table.min.js",
    "https://unpkg.com/bootstrap-table@1.19.1/dist/bootstrap-table.min.css": "bootstrap-table.min.css",
    "https://unpkg.com/bootstrap-table@1.19.1/dist/extensions/filter-control/bootstrap-table-filter-control.min.js":
        "bootstrap-table-filter-control.min.js",
    "https://unpkg.com/bootstrap-table@1.19.0/dist/extensions/filter-control/bootstrap-table-filter-control.min.css":
        "bootstrap-table-filter-control.min.css",
    "https://unpkg.com/bootstrap-table@1.19.0/dist/extensions/filter-control/bootstrap-table-filter-control.css":
        "bootstrap-table-filter-control.min.css",
    "https://cdnjs.cloudflare.com/ajax/libs/bootstrap-datepicker/1.9.0/js/bootstrap-datepicker.min.js":
        "bootstrap-datepicker.min.js",
    "https://cdnjs.cloudflare.com/ajax/libs/bootstrap-datepicker/1.9.0/css/bootstrap-datepicker.min.css":
        "bootstrap-datepicker.min.css",
    "https://cdn.jsdelivr.net/npm/@forevolve/bootstrap-dark@1.1.0/dist/css/bootstrap-prefers-dark.css":
        "bootstrap-prefers-dark.min.css",
}
GX_IMAGES = "https://great-expectations-web-assets.s3.us-east-2.amazonaws.com/"

_ATTR = re.compile(r'''\b(src|href|action)=(["'])(https?://[^"']*)\2''', re.IGNORECASE)
_CSS_URL = re.compile(r"""url\(\s*(["']?)https?://[^)]*\)""", re.IGNORECASE)  # the dark-mode logo
# GX's validation pages point their favicon one folder too high; every static/ reference is made from the root.
_STATIC = re.compile(r'''\b((?:src|href)=["'])(?:\.\./)*static/''')
# From the start of a whitespace run only: tried inside GX's deep indentation, it re-scanned each run from every
# position (15 ms a validation page, 2 ms so).
_SRI = re.compile(r'''(?<!\s)\s+(integrity|crossorigin)=(["'])[^"']*\2''', re.IGNORECASE)
# A URL the browser would fetch: an attribute or a CSS url(), not text, an xmlns or a data: URI.
REMOTE_REFERENCE = re.compile(
    r'''(?:\b(?:src|href|action|srcset|poster|data)\s*=\s*["']?\s*|url\(\s*["']?|@import\s+["'])(?:https?:)?//''',
    re.IGNORECASE,
)


def localize_page(html: str, to_root: str) -> str:
    """``html`` with every CDN reference pointing into ``<site>/static/vendor`` (``to_root``: the page's path
    back to the site root, e.g. ``../../``) and every other remote reference removed."""
    def local(match: re.Match) -> str:
        attr, quote, url = match.group(1), match.group(2), match.group(3)
        if url in CDN_FILES:
            return f"{attr}={quote}{to_root}static/vendor/{CDN_FILES[url]}{quote}"
        if url.startswith(GX_IMAGES):
            image = url[len(GX_IMAGES):].split("?", 1)[0]  # drop the tracking query string
            return f"{attr}={quote}{to_root}static/images/{image}{quote}"
        return ""  # a link to the web (GX docs, newsletter): the text stays, the page fetches nothing
    html = _STATIC.sub(lambda m: f"{m.group(1)}{to_root}static/", html)
    return _CSS_URL.sub("none", _SRI.sub("", _ATTR.sub(local, html)))


def localize_site(site: Path, since: float | None = None) -> int:
    """Copy the vendored assets into ``site/static/vendor`` and rewrite the site's pages (only those written at or
    after ``since``, a time.time(): an hourly build rewrites a few pages of thousands); return pages changed.
    Idempotent: a page already rewritten is left as it is."""
    site = Path(site)
    if not site.is_dir():
        return 0
    vendor = site / "static" / "vendor"
    if since is None or not vendor.is_dir():
        shutil.copytree(VENDOR, vendor, dirs_exist_ok=True)
    changed = 0
    pages = _pages(site, skip={"static"} if since is None else {"static", ARCHIVE})
    pages += sorted((site / "static" / "styles").glob("*.css"))
    for page in pages:
        if since is not None and page.stat().st_mtime < since - 1:  # 1 s: coarse file-system clocks
            continue
        text = page.read_text(encoding="utf-8")
        depth = len(page.relative_to(site).parts) - 1  # a stylesheet has no CDN link: its depth is unused
        new = localize_page(text, "../" * depth)
        if new != text:
            page.write_text(new, encoding="utf-8")
            changed += 1
    return changed


def _pages(site: Path, skip: set[str]) -> list[Path]:
    """The site's HTML pages, not looking into the top-level folders in ``skip`` (after a build: the archived
    pages, rewritten before they were archived, so the walk follows the kept runs, not the lake's age)."""
    pages = []
    for folder, subfolders, files in os.walk(site):
        if Path(folder) == site:
            subfolders[:] = [name for name in subfolders if name not in skip]
        pages += [Path(folder, name) for name in files if name.endswith(".html")]
    return pages


def remote_references(folder: Path) -> list[str]:
    """``file: snippet`` for every reference to a non-local URL in the HTML/CSS/JS under ``folder``; empty
    when the pages can be read offline."""
    found = []
    for path in sorted(Path(folder).rglob("*")):
        if path.suffix not in (".html", ".css", ".js"):
            continue
        if path.suffix == ".js" and "vendor" in path.relative_to(folder).parts:
            continue  # library code: its strings name URLs (docs, schemas) that nothing here makes it load
        text = path.read_text(encoding="utf-8", errors="replace")
        found += [f"{path}: {text[m.start():m.end() + 60]!r}" for m in REMOTE_REFERENCE.finditer(text)]
    return found
