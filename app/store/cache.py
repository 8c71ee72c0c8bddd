"""The facts cache: what one walk of a layer (or one read of a config) found, by digest.

Facts hold no secret values (detectors redact before anything is recorded), so they can be
kept; compressed JSON, because a layer of fifty thousand files is a few megabytes of names.
"""

from __future__ import annotations

import json
import zlib
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from app.store.db import Database
from app.store.schema import FactsRow


class StoreFactsCache:
    def __init__(self, db: Database) -> None:
        self.db = db

    def get(self, kind: str, digest: str) -> dict[str, Any] | None:
        with self.db.session() as session:
            data = session.scalar(
                select(FactsRow.data).where(FactsRow.kind == kind, FactsRow.digest == digest)
            )
        return None if data is None else json.loads(zlib.decompress(data))

    def put(self, kind: str, digest: str, data: dict[str, Any]) -> None:
        blob = zlib.compress(json.dumps(data, separators=(",", ":")).encode(), 6)
        try:
            with self.db.session() as session:
                row = session.scalar(
                    select(FactsRow).where(FactsRow.kind == kind, FactsRow.digest == digest)
                )
                if row is None:
                    session.add(FactsRow(kind=kind, digest=digest, data=blob))
                else:
                    row.data = blob
        except IntegrityError:
            pass  # another worker stored the same facts first
