"""What happens when a SensorThings request has written to the catalog, before its commit: new
Datastream keys become known to ingestion and created Observations are sent as readings. (After the
commit, `RegistryPublisher` publishes the changed entities to the registry topics.)"""

from sqlalchemy import event
from sqlalchemy.orm import Session

from iotstream.registry.datastreams import DatastreamKeys
from iotstream.registry.sensorthings.sending import ObservationSender
from iotstream.registry.sensorthings.write import Written

__all__ = ["RegistryWrites"]


class RegistryWrites:
    def __init__(self, keys: DatastreamKeys, sender: ObservationSender) -> None:
        self._keys = keys
        self._sender = sender

    def apply(self, session: Session, written: Written, *, partial: bool = False) -> list[str]:
        created = [row.key for kind, row in written.changed if kind in ("Datastreams", "MultiDatastreams")]
        if created:
            self._keys.add(created)
            # Known before the commit, so readings sent in the same request pass; forgotten again if
            # the transaction rolls back, so a later reading of that key registers a placeholder.
            event.listen(session, "after_rollback", lambda _session: self._keys.reload(), once=True)
        try:
            return self._sender.send(session, written, partial=partial)
        finally:
            if written.deleted:
                self._keys.reload()
