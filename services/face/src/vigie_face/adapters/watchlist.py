"""The watchlist as this replica holds it: entries of vigie.watchlist.v1 (the compacted topic is
the source of truth), their templates decrypted into the 1:N index, and the reason an entry
cannot be used (key destroyed, wrong model, malformed) when it cannot."""

from __future__ import annotations

import logging
from datetime import UTC

import numpy as np
from vigie.face.v1.watchlist_pb2 import WatchlistEntry
from vigie_core.view import CompactedView
from vigie_face.adapters.keystore import KeyStore, KeyStoreError, decrypt_template
from vigie_face.domain.watchlist import Template, WatchlistIndex

log = logging.getLogger(__name__)


class WatchlistView(CompactedView[WatchlistEntry]):
    """A CompactedView of the watchlist topic that keeps the index in step with it."""

    def __init__(self) -> None:
        super().__init__()
        self.index: WatchlistIndex | None = None
        self.keystore: KeyStore | None = None
        self.template_model_id = ""
        self.unusable: dict[str, str] = {}

    def attach(self, index: WatchlistIndex, keystore: KeyStore | None,
               template_model_id: str) -> None:
        """Start indexing (models loaded): every entry seen so far is indexed now."""
        self.index, self.keystore, self.template_model_id = index, keystore, template_model_id
        for entry in list(self):
            self._index(entry.subject_id, entry)

    def apply(self, key: str, message: WatchlistEntry | None) -> None:
        super().apply(key, message)
        self._index(key, message)

    def entries(self) -> dict[str, WatchlistEntry]:
        return {e.subject_id: e for e in self}

    def _index(self, subject_id: str, entry: WatchlistEntry | None) -> None:
        self.unusable.pop(subject_id, None)
        if self.index is None:
            return
        self.index.remove(subject_id)
        if entry is None:
            return
        if entry.template_model_id != self.template_model_id:
            self.unusable[subject_id] = (f"template of model {entry.template_model_id}, this "
                                         f"replica embeds with {self.template_model_id}")
            return
        if self.keystore is None:
            self.unusable[subject_id] = "no key store"
            return
        try:
            key = self.keystore.get(entry.key_id)
            raw = decrypt_template(key, entry.encrypted_template, subject_id,
                                   entry.template_model_id)
        except KeyStoreError as exc:
            self.unusable[subject_id] = str(exc)
            log.warning("watchlist entry %s unusable: %s", subject_id, exc)
            return
        vector = np.frombuffer(raw, np.float32).copy()
        if vector.shape != (self.index.dim,):
            self.unusable[subject_id] = f"template of {vector.size} values"
            return
        self.index.upsert(Template(subject_id, vector, entry.consent.expires_at.ToDatetime(UTC),
                                   frozenset(entry.camera_ids), entry.category))
