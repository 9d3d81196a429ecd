"""The client against a stand-in platform (`httpx.MockTransport`, no sockets): paging, retries with
backoff, refusals sorted by what to do, store and forward, and command tickets; sync and asyncio."""

import asyncio
from pathlib import Path
from typing import Any

import httpx
import msgspec
import pytest

from iotstream.client import AsyncClient, AuthError, Client, NotFoundError, RejectedError, UnreachableError
from iotstream.client._time import iso

T0 = 1_714_557_600_000
URL = "http://platform.test"


class FakePlatform:
    """Answers the routes the client uses; `down` refuses connections, `busy` answers 503 that often."""

    def __init__(self) -> None:
        self.stored: list[dict[str, Any]] = []
        self.posts = 0
        self.down = False
        self.busy = 0
        self.busy_status = 503
        self.command_states = ["queued", "sent", "delivered", "succeeded"]
        self.commands: list[dict[str, Any]] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        if self.down:
            raise httpx.ConnectError("connection refused", request=request)
        if self.busy:
            self.busy -= 1
            return httpx.Response(self.busy_status, headers={"Retry-After": "0"}, json={"detail": "busy"})
        route = (request.method, request.url.path)
        if route == ("POST", "/api/v1/readings"):
            return self._accept(msgspec.json.decode(request.content))
        if route == ("GET", "/api/v1/readings"):
            return self._page(request.url.params)
        if route == ("POST", "/api/v1/commands"):
            self.commands.append(msgspec.json.decode(request.content))
            return httpx.Response(202, json={"ticket": "t-1"})
        if request.url.path.startswith("/api/v1/commands/"):
            return self._command(request.url.path.rsplit("/", 1)[1])
        if route == ("GET", "/api/v1/aggregates"):
            return httpx.Response(401, json={"detail": "credentials needed"})
        return httpx.Response(404, json={"detail": f"no route {request.url.path}"})

    def _accept(self, readings: list[dict[str, Any]]) -> httpx.Response:
        self.posts += 1
        rejected = [{"index": i, "error": "bad value"} for i, r in enumerate(readings) if r["value"] == "bad"]
        self.stored += [r for r in readings if r["value"] != "bad"]
        return httpx.Response(202, json={"accepted": len(readings) - len(rejected), "rejected": rejected})

    def _page(self, params: httpx.QueryParams) -> httpx.Response:
        after, limit = int(params.get("after", -1)), int(params["limit"])
        rows = [r for r in self.stored if r["time"] > after][:limit]
        body = [{"time": iso(r["time"]), "value": r["value"], "id": str(r["time"])} for r in rows]
        headers = {}
        if len(rows) == limit:
            headers["Link"] = f'<http://elsewhere:1/api/v1/readings?after={rows[-1]["time"]}>; rel="next"'
        return httpx.Response(200, json=body, headers=headers)

    def _command(self, ticket: str) -> httpx.Response:
        state = self.command_states.pop(0) if len(self.command_states) > 1 else self.command_states[0]
        document = {
            "ticket": ticket,
            "state": state,
            "device": "d",
            "command": {"action": "read", "path": "/1"},
        }
        document |= {"created": iso(T0), "expires": iso(T0 + 30_000), "updated": iso(T0)}
        return httpx.Response(200, json=document | ({"value": 42} if state == "succeeded" else {}))


@pytest.fixture
def platform() -> FakePlatform:
    return FakePlatform()


def client_of(platform: FakePlatform, **options: Any) -> Client:
    return Client(URL, "secret", transport=httpx.MockTransport(platform), **options)


def test_readings_are_paged_through_to_the_end_into_a_frame(platform: FakePlatform) -> None:
    with client_of(platform) as client:
        assert client.send_many([("s", i, T0 + i) for i in range(25)]) == []
        frame = client.readings("s", page_size=10)
        polars = client.readings("s", page_size=7, frame="polars")
    assert str(frame["time"].dtype) == "datetime64[ms, UTC]"
    assert list(frame["time"].astype("int64")) == [T0 + i for i in range(25)]
    assert list(frame["value"]) == list(range(25))
    assert polars["value"].to_list() == list(range(25))
    assert str(polars["time"].dtype) == "Datetime(time_unit='ms', time_zone='UTC')"


def test_a_busy_platform_is_waited_for_and_refusals_say_what_to_do(platform: FakePlatform) -> None:
    with client_of(platform) as client:
        platform.busy = 2
        client.send("s", 1.5, T0)
        assert (platform.posts, platform.stored) == (1, [{"datastream": "s", "time": T0, "value": 1.5}])
        with pytest.raises(AuthError, match="401: credentials needed"):
            client.aggregates("s")
        with pytest.raises(NotFoundError, match="no route /api/v1/series"):
            client.series("s")
        with pytest.raises(RejectedError, match="bad value"):
            client.send("s", "bad", T0 + 1)
        rejected = client.send_many([("s", 2, T0 + 2), ("s", "bad", T0 + 3)])
        assert [(r.reading["time"], r.reason) for r in rejected] == [(T0 + 3, "bad value")]


@pytest.mark.parametrize("status", [502, 504])
def test_a_proxy_answering_for_a_platform_that_is_away_is_waited_out(
    platform: FakePlatform, status: int
) -> None:
    with client_of(platform) as client:
        platform.busy, platform.busy_status = 2, status
        client.send("s", 1.5, T0)
        assert platform.stored == [{"datastream": "s", "time": T0, "value": 1.5}]


def test_without_a_buffer_a_platform_that_stays_away_is_an_unreachable_error(platform: FakePlatform) -> None:
    platform.down = True
    with client_of(platform, give_up_after_s=0.5) as client, pytest.raises(UnreachableError, match="gave up"):
        client.send("s", 1, T0)


def test_with_a_buffer_readings_wait_on_disk_and_go_in_order_once(
    platform: FakePlatform, tmp_path: Path
) -> None:
    with client_of(platform, buffer=tmp_path / "buffer", batch_size=4) as client:
        client.send("s", -1, T0 - 1)  # the platform is there: sent at once, not only buffered
        assert (client.buffered, len(platform.stored), platform.posts) == (0, 1, 1)
        platform.down, platform.stored, platform.posts = True, [], 0
        for i in range(5):
            client.send("s", i, T0 + i)  # the first fails; the others only go to disk during the pause
        client.send_many([("s", i, T0 + i) for i in range(5, 10)])
        assert (client.buffered, platform.stored) == (10, [])
        assert client.flush(timeout_s=0) == 10  # still paused: not even tried
        platform.down = False
        assert client.flush(timeout_s=5) == 0
        assert client.flush(timeout_s=5) == 0
    assert [r["value"] for r in platform.stored] == list(range(10))
    assert platform.posts == 3  # 4 + 4 + 2: each reading once


def test_a_ticket_is_followed_until_the_command_is_final(platform: FakePlatform) -> None:
    with client_of(platform) as client:
        ticket = client.command("d", "read", "/1", timeout_s=1.5)
        outcome = ticket.wait(timeout_s=5)
    assert platform.commands == [{"device": "d", "action": "read", "path": "/1", "timeout": "1500ms"}]
    assert (ticket.id, outcome.state, outcome.value, outcome.final) == ("t-1", "succeeded", 42, True)


def test_the_async_client_sends_buffers_and_pages_alike(platform: FakePlatform, tmp_path: Path) -> None:
    async def main() -> list[int]:
        transport = httpx.MockTransport(platform)
        async with AsyncClient(URL, buffer=tmp_path / "b", transport=transport, batch_size=3) as client:
            platform.down = True
            await client.send_many([("s", i, T0 + i) for i in range(7)])
            assert client.buffered == 7
            platform.down = False
            assert await client.flush(timeout_s=5) == 0
            frame = await client.readings("s", page_size=2)
            return [int(v) for v in frame["value"]]

    assert asyncio.run(main()) == list(range(7))
    assert platform.posts == 3
