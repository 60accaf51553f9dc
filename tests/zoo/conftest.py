"""Fixtures of the zoo tests: an isolated registry and cache, a real local HTTP server, no network."""

from __future__ import annotations

import socket

import pytest

from semser_tf.zoo import registry as registry_module
from tests.zoo.zoo_helpers import ZooServer


@pytest.fixture
def zoo_env(tmp_path, monkeypatch):
    """An isolated registry folder (on SEMSER_ZOO_PATH) and the zoo's cache folder
    (``$SEMSER_TF_CACHE/zoo``)."""
    registry = tmp_path / "registry"
    cache = tmp_path / "cache"
    registry.mkdir()
    monkeypatch.setenv("SEMSER_ZOO_PATH", str(registry))
    monkeypatch.setenv("SEMSER_TF_CACHE", str(cache))
    monkeypatch.delenv("KERAS_HOME", raising=False)
    monkeypatch.setattr(registry_module, "_user_paths", [])
    return registry, cache / "zoo"


@pytest.fixture
def http_server():
    server = ZooServer()
    try:
        yield server
    finally:
        server.close()


@pytest.fixture
def no_network(monkeypatch):
    """Make every network access fail loudly (urllib and raw sockets)."""

    def refuse(*args, **kwargs):
        raise AssertionError("network access attempted in an offline test")

    import urllib.request

    monkeypatch.setattr(urllib.request, "urlopen", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)
    monkeypatch.setattr(socket.socket, "connect", refuse)
    return refuse
