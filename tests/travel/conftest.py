"""Fixtures for the travel layer: an HTTP client and the local OSRM and Google stand-ins."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator

import httpx
import pytest

from tests.travel.fakes import Clock, FakeGoogle, FakeOsrm, FakeServer

API_KEY = "test-maps-key"


@pytest.fixture
async def client() -> AsyncIterator[httpx.AsyncClient]:
    # trust_env=False: a proxy from the environment must not sit between us and 127.0.0.1.
    async with httpx.AsyncClient(trust_env=False) as client:
        yield client


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def osrm_fake() -> FakeOsrm:
    return FakeOsrm()


@pytest.fixture
def osrm(osrm_fake: FakeOsrm) -> Iterator[FakeServer]:
    server = FakeServer(osrm_fake)
    yield server
    server.close()


@pytest.fixture
def google_fake(clock: Clock) -> FakeGoogle:
    return FakeGoogle(key=API_KEY, clock=clock)


@pytest.fixture
def google(google_fake: FakeGoogle) -> Iterator[FakeServer]:
    server = FakeServer(google_fake)
    yield server
    server.close()
