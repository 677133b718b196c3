"""Data Docs page views that compile GX's Jinja templates once per process.

GX's views build a Jinja Environment of their own each, so every gate's Data Docs compiled the same
templates again: 1.6 s of a small day's 3 s of Data Docs (153 compilations per run). The compiled
code is shared here instead (Jinja's bytecode cache, keyed by template and source checksum);
rendering stays GX's. Imported by GX when it builds a site (gates._docs_site names these classes),
never before, so that importing clicklake does not import GX."""

from __future__ import annotations

import threading

from great_expectations.render.view import DefaultJinjaIndexPageView, DefaultJinjaPageView
from jinja2 import BytecodeCache


class _CompiledTemplates(BytecodeCache):
    """Keeps code objects in memory (no marshalling): the templates are the installed GX's."""

    def __init__(self) -> None:
        self._code: dict[tuple[str, str], object] = {}
        self._lock = threading.Lock()

    def load_bytecode(self, bucket) -> None:
        code = self._code.get((bucket.key, bucket.checksum))
        if code is not None:
            bucket.code = code

    def dump_bytecode(self, bucket) -> None:
        with self._lock:
            self._code[(bucket.key, bucket.checksum)] = bucket.code

    def templates_held(self) -> int:
        """Templates compiled so far. (Not __len__: an empty cache would then be false.)"""
        return len(self._code)


COMPILED_TEMPLATES = _CompiledTemplates()


class _SharingCompiledTemplates:
    """Before a GX view class: its Jinja environment takes compiled templates from COMPILED_TEMPLATES."""

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.env.bytecode_cache = COMPILED_TEMPLATES


class PageView(_SharingCompiledTemplates, DefaultJinjaPageView):
    pass


class IndexPageView(_SharingCompiledTemplates, DefaultJinjaIndexPageView):
    pass
