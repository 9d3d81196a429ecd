"""What happens when a SensorThings request has written to the catalog, before its commit: created
Observations are sent as readings, and new Datastream keys become known to ingestion when it commits.
(After the commit, `RegistryPublisher` publishes the changed entities to the registry topics.)"""

from sqlalchemy import event
from sqlalchemy.orm import Session

from iotstream.registry.datastreams import DatastreamKeys
from iotstream.registry.sensorthings.entities import STREAMS
from iotstream.registry.sensorthings.sending import ObservationSender
from iotstream.registry.sensorthings.write import Written

__all__ = ["RegistryWrites"]


class RegistryWrites:
    def __init__(self, keys: DatastreamKeys, sender: ObservationSender) -> None:
        self._keys = keys
        self._sender = sender

    def apply(self, session: Session, written: Written, *, partial: bool = False) -> list[str]:
        created = [row.key for kind, row in written.changed if kind in STREAMS]
        if created:  # known once committed; the request's own readings need not wait (`registered`)
            event.listen(session, "after_commit", lambda _session: self._keys.add(created), once=True)
        try:
            return self._sender.send(session, written, partial=partial)
        finally:
            if written.deleted:
                self._keys.reload()
