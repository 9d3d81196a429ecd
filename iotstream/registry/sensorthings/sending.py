"""Observations created through SensorThings (HTTP, CreateObservations, MQTT) become readings on the same
path as `POST /api/v1/readings`: the ingestor validates them and the log acknowledges them before the
request is answered. Their SensorThings extras are written to the catalog in the request's transaction.

A reading the log has acknowledged is never lost; waiting until the store shows it is the caller's
choice, after the commit (`SensorThings.wait_until_stored`).
"""

import threading
import time
from collections.abc import Callable
from typing import Any

import msgspec
from sqlalchemy.orm import Session

from iotstream._units import parse_time_ms
from iotstream.ingest.ingestor import Ingestor
from iotstream.models import Observation
from iotstream.registry import models
from iotstream.registry.sensorthings.errors import BadRequest, Unavailable
from iotstream.registry.sensorthings.observations import observation_id
from iotstream.registry.sensorthings.write import Written
from iotstream.registry.spans import spans_of, widen

__all__ = ["ObservationSender"]

_encoder = msgspec.json.Encoder()


class ObservationSender:
    def __init__(
        self,
        ingestor: Ingestor,
        clock: Callable[[], int] = lambda: time.time_ns() // 1_000_000,
    ) -> None:
        self._ingestor = ingestor
        self._clock = clock

    def send(self, session: Session, written: Written, *, partial: bool = False) -> list[str]:
        """Their ids. One Observation that cannot be stored refuses them all, or with `partial` is
        answered "error: <why>" in its place while the others are sent (CreateObservations)."""
        answers: list[str] = []
        accepted: list[tuple[models.Stream, int, int | None, dict[str, Any]]] = []
        for datastream, body in written.observations:
            try:
                start, end = self._phenomenon(body.get("phenomenonTime"))
            except BadRequest as err:
                if not partial:
                    raise
                answers.append(f"error: {err}")
                continue
            answers.append(observation_id(datastream.id, start))
            accepted.append((datastream, start, end, body))
        readings = [{"datastream": d.key, "time": start, "value": b["result"]} for d, start, _, b in accepted]
        refused = self._submit(readings, partial) if readings else {}
        now = self._clock()
        sent = [
            (datastream, start, end, body)
            for i, (datastream, start, end, body) in enumerate(accepted)
            if i not in refused
        ]
        for datastream, start, end, body in sent:
            self._keep_extras(session, datastream, start, end, body)
        # A client reading its Datastream right after finds its phenomenonTime (ingestion's spans lag).
        widen(session, spans_of(Observation(d.key, start, None, now, "") for d, start, _, _ in sent))
        positions = iter(range(len(accepted)))
        return [a if a.startswith("error") else refused.get(next(positions), a) for a in answers]

    def _phenomenon(self, raw: Any) -> tuple[int, int | None]:
        if raw is None:
            return self._clock(), None
        if not isinstance(raw, str):
            raise BadRequest(f"phenomenonTime must be ISO-8601 text, got {type(raw).__name__}")
        first, _, second = raw.partition("/")
        start = _instant(first)
        end = _instant(second) if second else None
        if end is not None and end < start:
            raise BadRequest(f"phenomenonTime {raw!r} ends before it starts")
        return start, end

    def _keep_extras(
        self,
        session: Session,
        datastream: models.Stream,
        start: int,
        end: int | None,
        body: dict[str, Any],
    ) -> None:
        feature = body.get("FeatureOfInterest")
        extras = models.ObservationExtras(
            datastream_id=datastream.id,
            phenomenon_time_ms=start,
            phenomenon_end_ms=end,
            valid_time=_text(body.get("validTime"), "validTime"),
            result_quality=body.get("resultQuality"),
            parameters=_object(body.get("parameters")),
            feature_of_interest_id=getattr(feature, "id", None),
        )
        if extras.feature_of_interest_id is None and all(
            v is None for v in (end, extras.valid_time, extras.result_quality, extras.parameters)
        ):
            existing = session.get(models.ObservationExtras, (datastream.id, start))
            if existing is not None:  # a new reading for the same instant replaces the old one whole
                session.delete(existing)
            return
        session.merge(extras)

    def _submit(self, readings: list[dict[str, Any]], partial: bool) -> dict[int, str]:
        """Waits until the log has them; → the refused ones by position, "error: <why>" (with
        `partial`; otherwise a refusal is a BadRequest and nothing is sent)."""
        acknowledged = threading.Event()
        failure: list[Exception] = []

        def done(error: Exception | None) -> None:
            if error is not None:
                failure.append(error)
            acknowledged.set()

        result = self._ingestor.submit(_encoder.encode(readings), done, whole=not partial, registered=True)
        if result.rejected and not partial:
            first = result.rejected[0]
            raise BadRequest(f"Observation {first.position}: {first.error}")
        if not acknowledged.wait(30) or failure:
            raise Unavailable(f"the log did not acknowledge the readings: {failure or 'timed out'}")
        return {item.position: f"error: {item.error}" for item in result.rejected}


def _instant(text: str) -> int:
    parsed = parse_time_ms(text, 0)
    if isinstance(parsed, str):
        raise BadRequest(f"phenomenonTime: {parsed}")
    return parsed


def _text(value: Any, name: str) -> str | None:
    if value is not None and not isinstance(value, str):
        raise BadRequest(f"{name} must be ISO-8601 text")
    return value


def _object(value: Any) -> dict[str, Any] | None:
    if value is not None and not isinstance(value, dict):
        raise BadRequest("parameters must be a JSON object")
    return value
