"""The generated sync client and engines are current; the twins expose the same API."""

from __future__ import annotations

import importlib.util
import inspect
from pathlib import Path
from types import ModuleType

import pytest

from fhir_ivc.client import AsyncFhirClient, FhirClient

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def unasync() -> ModuleType:
    spec = importlib.util.spec_from_file_location("unasync", ROOT / "scripts" / "unasync.py")
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_sync_twins_are_up_to_date(unasync, capsys):
    assert unasync.main(["--check"]) == 0
    out = capsys.readouterr().out
    assert "client/_sync.py is up to date" in out
    assert "exchange/_sync.py is up to date" in out


def test_check_fails_on_a_stale_copy(unasync, tmp_path, monkeypatch, capsys):
    stale = tmp_path / "src" / "fhir_ivc" / "client" / "_sync.py"
    stale.parent.mkdir(parents=True)
    stale.write_text("# hand-edited\n")
    source = ROOT / "src" / "fhir_ivc" / "client" / "_async.py"
    monkeypatch.setattr(unasync, "PAIRS", [(source, stale)])
    assert unasync.main(["--check"]) == 1
    out = capsys.readouterr().out
    assert "-# hand-edited" in out
    assert "is stale: run python scripts/unasync.py" in out
    assert unasync.main([]) == 0  # regenerate
    assert unasync.main(["--check"]) == 0
    assert "class FhirClient" in stale.read_text()


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        ("class AsyncFhirClient:\n", "class FhirClient:\n"),
        ("    async def read(self) -> JsonDict:\n", "    def read(self) -> JsonDict:\n"),
        (
            "        response = await self._http.send(r)\n",
            "        response = self._http.send(r)\n",
        ),
        ("        async with x as y:\n", "        with x as y:\n"),
        ("        async for page in pages:\n", "        for page in pages:\n"),
        ("    ) -> AsyncIterator[JsonDict]:\n", "    ) -> Iterator[JsonDict]:\n"),
        ("self._http = httpx.AsyncClient(\n", "self._http = httpx.Client(\n"),
        ("transport: httpx.AsyncBaseTransport | None\n", "transport: httpx.BaseTransport | None\n"),
        ("    async def __aenter__(self) -> Self:\n", "    def __enter__(self) -> Self:\n"),
        ("        await self.aclose()\n", "        self.close()\n"),
        ("sleep: AsyncSleep | None = None\n", "sleep: Sleep | None = None\n"),
        ("await anyio.sleep(1)\n", "time.sleep(1)\n"),
        ("await amap_bounded(f, x)\n", "map_bounded(f, x)\n"),
        ("Callable[[float], Awaitable[None]]\n", "Callable[[float], None]\n"),
        ("asynchronous aclosed awaited\n", "asynchronous aclosed awaited\n"),  # whole words only
    ],
)
def test_unasync_line(unasync, line, expected):
    assert unasync.unasync_line(line) == expected


def test_both_clients_have_the_same_methods():
    sync_names = {n for n in vars(FhirClient) if not n.startswith("_")}
    async_names = {n for n in vars(AsyncFhirClient) if not n.startswith("_")}
    assert sync_names - {"close"} == async_names - {"aclose"}
    assert "close" in sync_names
    assert "aclose" in async_names
    for name in sorted(async_names - {"aclose", "base_url"}):
        async_method = getattr(AsyncFhirClient, name)
        sync_method = getattr(FhirClient, name)
        assert inspect.iscoroutinefunction(async_method) or inspect.isasyncgenfunction(
            async_method
        ), name
        assert not inspect.iscoroutinefunction(sync_method), name
        assert list(inspect.signature(async_method).parameters) == list(
            inspect.signature(sync_method).parameters
        ), name


def test_both_engines_have_the_same_functions():
    from fhir_ivc.exchange import _async, _sync

    assert _async.__all__ == _sync.__all__
    for name in _async.__all__:
        async_fn, sync_fn = getattr(_async, name), getattr(_sync, name)
        assert inspect.iscoroutinefunction(async_fn), name
        assert not inspect.iscoroutinefunction(sync_fn), name
        assert list(inspect.signature(async_fn).parameters) == list(
            inspect.signature(sync_fn).parameters
        ), name
