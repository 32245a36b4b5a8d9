"""Data Docs page views whose Jinja templates are compiled once per process, not once per build.

GX builds its Data Docs with a fresh site builder, and so fresh views and a fresh Jinja environment, on every
build: it lexes, parses and compiles its page templates each time, ~0.35 s of the resident GX worker's CPU an
hour (py-spy, 2026-12-07), on the two cores the hourly run needs at the same moment. These views are GX's own,
with one process-wide bytecode cache: a template's compiled code is kept under its name and source checksum
(Jinja's bucket key), so a changed template is compiled again. :class:`qlake.quality_gx.Validator` names them in
the site's configuration each time it opens the context. Imports GX: loaded where GX is.
"""

from __future__ import annotations

from jinja2 import BytecodeCache
from great_expectations.render.view import DefaultJinjaIndexPageView, DefaultJinjaPageView


class _InMemoryBytecode(BytecodeCache):
    def __init__(self) -> None:
        self._code: dict[str, bytes] = {}

    def load_bytecode(self, bucket) -> None:
        if bucket.key in self._code:
            bucket.bytecode_from_string(self._code[bucket.key])

    def dump_bytecode(self, bucket) -> None:
        self._code[bucket.key] = bucket.bytecode_to_string()


_BYTECODE = _InMemoryBytecode()


# GX passes a view only the settings its __init__ names (it reads the signature): the parameters are spelled out.
class PageView(DefaultJinjaPageView):
    def __init__(self, custom_styles_directory=None, custom_views_directory=None) -> None:
        super().__init__(custom_styles_directory, custom_views_directory)
        self.env.bytecode_cache = _BYTECODE


class IndexPageView(DefaultJinjaIndexPageView):
    def __init__(self, custom_styles_directory=None, custom_views_directory=None) -> None:
        super().__init__(custom_styles_directory, custom_views_directory)
        self.env.bytecode_cache = _BYTECODE


def site_views() -> dict:
    """The site configuration's part that names these views (merged into GX's defaults by its site builder)."""
    page = {"module_name": __name__, "class_name": PageView.__name__}
    return {
        "site_index_builder": {"class_name": "DefaultSiteIndexBuilder",
                               "view": {"module_name": __name__, "class_name": IndexPageView.__name__}},
        "site_section_builders": {section: {"view": page} for section in ("expectations", "validations")},
    }
