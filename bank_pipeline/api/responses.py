"""JSON bodies for the hottest reads, written without building their pydantic models.

The routes still declare their response models, so the OpenAPI document is unchanged; returning a `Response` skips
FastAPI's validate-then-serialise of the model, which cost ~8 % of the API's CPU per request. orjson writes the
queries' dataclasses and dicts natively, and UTC instants as pydantic does (`2026-01-02T03:04:05.000006Z`); a test
holds each body to what its declared model would have written.

(Having PostgreSQL write a history page as JSON instead was tried: it moved ~0.9 M instructions a page from this
process to PostgreSQL's, json_agg and timestamp output being what they are, and saved nothing on a shared machine.)
"""

from __future__ import annotations

from typing import Any

import orjson
from fastapi import Response

# Dataclasses and datetimes are native to orjson; naive datetimes are UTC here (queries.Entry), and UTC is written Z.
_OPTIONS = orjson.OPT_UTC_Z | orjson.OPT_NAIVE_UTC


class FastJSONResponse(Response):
    media_type = "application/json"

    def render(self, content: Any) -> bytes:
        return orjson.dumps(content, option=_OPTIONS)
