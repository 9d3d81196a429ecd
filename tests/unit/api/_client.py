"""Requests to routes in-process through httpx's ASGI transport (FastAPI's TestClient cannot be
imported under `filterwarnings = error`: Starlette warns about its httpx dependency)."""

import asyncio
from typing import Any

import httpx
from fastapi import APIRouter, FastAPI

__all__ = ["RouteClient"]


class RouteClient:
    """One router on an app whose `state.services` is what the routes read; one event loop per request."""

    def __init__(self, router: APIRouter, services: Any) -> None:
        self.app = FastAPI()
        self.app.state.services = services
        self.app.include_router(router)

    def request(self, method: str, url: str, **options: Any) -> httpx.Response:
        async def send() -> httpx.Response:
            transport = httpx.ASGITransport(app=self.app)
            async with httpx.AsyncClient(transport=transport, base_url="http://iotstream") as client:
                return await client.request(method, url, **options)

        return asyncio.run(send())

    def get(self, url: str, **options: Any) -> httpx.Response:
        return self.request("GET", url, **options)

    def post(self, url: str, **options: Any) -> httpx.Response:
        return self.request("POST", url, **options)
