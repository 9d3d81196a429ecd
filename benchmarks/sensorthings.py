"""SensorThings query latency: `$filter` + `$expand` over 10,000 Things and 100,000 Datastreams.

    python benchmarks/sensorthings.py [--quick] [--things 10000] [--postgres URL] [--sqlite-only]

Fills the catalog (10 Datastreams, one Location per Thing; Things spread over 50 buildings and 10
floors; 5 units) with set-based SQL, starts the platform on it — the start publishes the whole
catalog to the registry topics, timed as `reconcile_s` — and sends each query `--repeats` times over
HTTP, checking every answer. Reported: server time (Server-Timing) p50/p95 and the round-trip p95,
for the embedded SQLite catalog and for PostgreSQL (started from its binaries unless --postgres).
Prints one final JSON line and writes benchmarks/results/sensorthings.json.
"""

import argparse
import json
import os
import platform
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import psycopg
import sqlalchemy
from _timing import checked_get, percentiles
from _versions import library_versions  # benchmarks/ is the script's directory

from iotstream.config import load_settings
from iotstream.embedded import EmbeddedPlatform
from iotstream.registry.catalog import open_catalog

RESULTS = Path(__file__).with_name("results")
PER_THING = 10


def main() -> None:
    args = _arguments()
    load_before = os.getloadavg()
    things = args.things or (1_000 if args.quick else 10_000)
    result: dict[str, Any] = {
        "benchmark": "sensorthings",
        "things": things,
        "datastreams": things * PER_THING,
    }
    with tempfile.TemporaryDirectory() as tmp:
        result["sqlite"] = _measure(f"sqlite:///{tmp}/registry.db", Path(tmp) / "sqlite", things, args)
        if not args.sqlite_only:
            result["postgres"] = _on_postgres(args, Path(tmp) / "postgres", things)
    result["machine"] = {
        "cpus": os.cpu_count(),
        "loadavg_before": [round(x, 2) for x in load_before],
        "python": platform.python_version(),
        "libraries": library_versions(),
        "sqlalchemy": sqlalchemy.__version__,
    }
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "sensorthings.json").write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result))


def _on_postgres(args: argparse.Namespace, data_dir: Path, things: int) -> dict[str, Any]:
    server = None
    url = args.postgres
    if url is None:
        from tests.servers import start_postgres

        server, url = start_postgres(durable=True)
    try:
        name = f"sta_bench_{int(time.time() * 1000)}"
        with psycopg.connect(url, autocommit=True) as admin:
            admin.execute(f"CREATE DATABASE {name}")  # type: ignore[arg-type]
        return _measure(url.rsplit("/", 1)[0] + f"/{name}", data_dir, things, args)
    finally:
        if server is not None:
            server.cleanup()


def _measure(registry_url: str, data_dir: Path, things: int, args: argparse.Namespace) -> dict[str, Any]:
    began = time.perf_counter()
    catalog = open_catalog(registry_url)
    with catalog.engine.begin() as connection:
        _fill(connection, things)
    catalog.close()
    filled_s = time.perf_counter() - began
    settings = load_settings(data_dir=data_dir, api={"port": 0}, registry={"url": registry_url})
    began = time.perf_counter()
    with EmbeddedPlatform(settings) as running, httpx.Client(timeout=120) as client:
        reconcile_s = time.perf_counter() - began
        assert running.api is not None  # noqa: S101
        requests = _queries(client, f"{running.api.url}/v1.1", things)
        timings = {name: percentiles(request, args.repeats) for name, request in requests.items()}
    kind = registry_url.split(":", 1)[0]
    for name, timing in timings.items():
        print(
            f"{kind} {name}: server p50 {timing['server_p50']} ms, p95 {timing['server_p95']} ms", flush=True
        )
    return {"fill_s": round(filled_s, 1), "reconcile_s": round(reconcile_s, 1), "timings_ms": timings}


# Set-based INSERT … SELECT over a counter `i`; <json>…</json> marks JSON text, cast on PostgreSQL.
_FILL = (
    (
        "INSERT INTO sensors (id, name, description, encoding_type, metadata)"
        " SELECT i, 'sensor-' || i, '', 'text/plain', <json>'\"datasheet\"'</json> FROM <counter>",
        "10",
    ),
    (
        "INSERT INTO observed_properties (id, name, definition, description)"
        " SELECT i, 'property-' || i, 'http://example.org/p/' || i, '' FROM <counter>",
        "20",
    ),
    (
        "INSERT INTO things (id, name, description, properties) SELECT i, 'thing-' || i, 'a device',"
        " <json>'{\"building\": \"b' || (i % 50) || '\", \"floor\": ' || (i % 10) || '}'</json>"
        " FROM <counter>",
        "<things>",
    ),
    (
        "INSERT INTO locations (id, name, description, encoding_type, location)"
        " SELECT i, 'room-' || i, '', 'application/geo+json', <json>'{\"type\": \"Point\","
        " \"coordinates\": [' || (i % 360 - 180) || ', ' || (i % 180 - 90) || ']}'</json> FROM <counter>",
        "<things>",
    ),
    ("INSERT INTO thing_locations (thing_id, location_id) SELECT i, i FROM <counter>", "<things>"),
    (
        "INSERT INTO datastreams (id, key, name, description, observation_type, unit_of_measurement,"
        " placeholder, thing_id, sensor_id, observed_property_id)"
        " SELECT i, 'thing-' || ((i - 1) / <per> + 1) || '-ds-' || ((i - 1) % <per>),"
        " 'thing-' || ((i - 1) / <per> + 1) || '-ds-' || ((i - 1) % <per>), '', 'OM_Measurement',"
        ' <json>\'{"name": "u", "symbol": "\' || CASE i % 5 WHEN 0 THEN \'degC\' WHEN 1 THEN \'%\''
        " WHEN 2 THEN 'hPa' WHEN 3 THEN 'lx' ELSE 'ppm' END || '\", \"definition\": \"\"}'</json>,"
        " false, (i - 1) / <per> + 1, i % 10 + 1, i % 20 + 1 FROM <counter>",
        "<datastreams>",
    ),
)
_COUNTERS = {
    "sqlite": (
        "WITH RECURSIVE counter(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM counter WHERE i < <n>) ",
        "counter",
        ("", ""),
    ),
    "postgresql": ("", "generate_series(1, <n>) AS n(i)", ("CAST(", " AS jsonb)")),
}
_SEQUENCES = "SELECT setval('<table>_id_seq', (SELECT max(id) FROM <table>))"


def _fill(connection: sqlalchemy.Connection, things: int) -> None:
    prefix, counter, (open_json, close_json) = _COUNTERS[connection.dialect.name]
    sizes = {"<things>": str(things), "<datastreams>": str(things * PER_THING)}
    for template, size in _FILL:
        statement = (prefix + template).replace("<counter>", counter).replace("<n>", sizes.get(size, size))
        statement = statement.replace("<per>", str(PER_THING))
        statement = statement.replace("<json>", open_json).replace("</json>", close_json)
        connection.execute(sqlalchemy.text(statement))
    if connection.dialect.name == "postgresql":  # explicit ids: move the sequences past them
        for table in ("sensors", "observed_properties", "things", "locations", "datastreams"):
            connection.execute(sqlalchemy.text(_SEQUENCES.replace("<table>", table)))
        # After a bulk load, as autovacuum would within a minute: without statistics PostgreSQL takes
        # `kind IN ('single')` (Datastreams, not MultiDatastreams) for rare and plans a deep page badly.
        connection.execute(sqlalchemy.text("ANALYZE"))


def _queries(client: httpx.Client, base: str, things: int) -> dict[str, Callable[[int], float]]:
    def timed(path: str, check: Callable[[Any], bool], **params: Any) -> float:
        return checked_get(client, base + path, check, params)

    def per_building(i: int) -> float:  # 200 Things of a building, 100 per page, their degC Datastreams
        return timed(
            "/Things",
            lambda body: (
                len(body["value"]) == min(100, things // 50)
                and all(len(t["Datastreams"]) == 2 and t["Locations"] for t in body["value"])
            ),
            **{
                "$filter": f"properties/building eq 'b{i % 50}'",
                "$expand": "Datastreams($filter=unitOfMeasurement/symbol eq 'degC'),Locations",
                "$top": 100,
            },
        )

    def by_thing_and_property(i: int) -> float:  # a navigation path through two links, and two expands
        floor = i % 10
        datastream = ((floor or 10) - 1) * PER_THING + 1 + i % PER_THING  # one that matches, of many
        of_property = f"ObservedProperty/name eq 'property-{datastream % 20 + 1}'"
        return timed(
            "/Datastreams",
            lambda body: (
                0 < len(body["value"]) <= 100 and all("Locations" in d["Thing"] for d in body["value"])
            ),
            **{
                "$filter": f"Thing/properties/floor eq {floor} and {of_property}",
                "$expand": "Thing($expand=Locations),Sensor",
                "$top": 100,
            },
        )

    def any_lambda(i: int) -> float:  # the Thing that has a Datastream of that name
        name = f"thing-{i * 97 % things + 1}-ds-{i % PER_THING}"
        return timed(
            "/Things",
            lambda body: len(body["value"]) == 1 and len(body["value"][0]["Datastreams"]) == PER_THING,
            **{"$filter": f"Datastreams/any(d: d/name eq '{name}')", "$expand": "Datastreams,Locations"},
        )

    def counted_prefix(i: int) -> float:  # a string function, $count over the whole set, ordering
        prefix = f"thing-{i * 31 % things + 1}-"
        return timed(
            "/Datastreams",
            lambda body: body["@iot.count"] == PER_THING,
            **{
                "$filter": f"startswith(name, '{prefix}')",
                "$expand": "Thing",
                "$count": "true",
                "$orderby": "name desc",
            },
        )

    def deep_page(i: int) -> float:  # a page far down the collection
        return timed(
            "/Datastreams",
            lambda body: len(body["value"]) == 100 and "@iot.nextLink" in body,
            **{"$skip": things * PER_THING - 1_000 - i, "$top": 100, "$expand": "Thing"},
        )

    return {
        "things_of_a_building_with_their_degC_datastreams": per_building,
        "datastreams_by_thing_floor_and_observed_property": by_thing_and_property,
        "thing_having_a_named_datastream_any": any_lambda,
        "datastreams_by_name_prefix_counted_ordered": counted_prefix,
        "deep_page_skip": deep_page,
    }


def _arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--quick", action="store_true", help="1,000 Things and 10,000 Datastreams")
    parser.add_argument("--things", type=int)
    parser.add_argument("--repeats", type=int, default=40)
    parser.add_argument("--postgres", help="postgresql:// URL of a server to use (default: start one)")
    parser.add_argument("--sqlite-only", action="store_true", help="leave PostgreSQL out")
    return parser.parse_args()


if __name__ == "__main__":
    main()
