"""Routes for reruns and attempts (issue 13): thin faces over :mod:`explorer_magics.rerun`.

* ``GET analyses/{id}/elements/{index}``: one element's status with its attempts;
* ``POST analyses/{id}/rerun`` ``{"failed": true}`` or ``{"indices": [...]}``: rerun in place (202).
"""

from __future__ import annotations

from typing import Any

import tornado.web

from explorer_magics.errors import InvalidAnalysis
from explorer_magics.rerun import element_info

from .handlers import BaseHandler, _element_index


class ElementInfoHandler(BaseHandler):
    """``GET analyses/{id}/elements/{index}`` (status, reason, times, cached source, attempts);
    ``DELETE`` terminates the element (as before)."""

    @tornado.web.authenticated
    async def get(self, analysis_id: str, index: str) -> None:
        analysis = await self.explorer.poller.analysis(analysis_id)
        info = await self.run(element_info, analysis, _element_index(index))
        self.send_json(info)

    @tornado.web.authenticated
    async def delete(self, analysis_id: str, index: str) -> None:
        analysis = await self.explorer.poller.analysis(analysis_id)
        await self.run(analysis.terminate, _element_index(index))
        self.explorer.changed(analysis_id)
        self.send_json({"ok": True}, status=202)


class RerunHandler(BaseHandler):
    """``POST analyses/{id}/rerun``: submit again the FAILED elements, or exactly ``indices``."""

    @tornado.web.authenticated
    async def post(self, analysis_id: str) -> None:
        body = self.json_body()
        unknown = sorted(set(body) - {"failed", "indices"})
        if unknown:
            raise InvalidAnalysis(
                f'Unknown field(s) {", ".join(unknown)}; send {{"failed": true}} or {{"indices": [...]}}.'
            )
        indices: Any = body.get("indices")
        failed = body.get("failed", indices is None)
        if indices is not None and not isinstance(indices, list):
            raise InvalidAnalysis("indices must be a list of element numbers, e.g. [1, 5, 6].")
        if not isinstance(failed, bool):
            raise InvalidAnalysis("failed must be true or false.")
        if indices is None and not failed:
            raise InvalidAnalysis('Say what to rerun: {"failed": true} or {"indices": [...]}.')
        analysis = await self.explorer.poller.analysis(analysis_id)
        chosen = await self.run(_rerun, analysis, failed, indices)
        self.explorer.changed(analysis_id)
        self.send_json({"id": analysis_id, "indices": chosen, "count": len(chosen)}, status=202)


def _rerun(analysis: Any, failed: bool, indices: list[int] | None) -> list[int]:
    from explorer_magics.rerun import rerun_elements

    return list(rerun_elements(analysis, failed=failed, indices=indices, quiet=True))
