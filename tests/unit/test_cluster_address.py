"""Which cluster `RAY_ADDRESS` names (`sensex.models.cluster`), without starting Ray."""

from __future__ import annotations

import pytest

from sensex.models import cluster


@pytest.mark.parametrize(("address", "loopback"), [
    ("127.0.0.1:6379", True), ("localhost:6379", True), ("ray://127.0.0.1:10001", True), ("[::1]:6379", True),
    ("10.0.0.5:6379", False), ("ray-head:6379", False), ("ray://ray-head:10001", False),
])
def test_a_cluster_on_loopback_is_joined_from_loopback(address, loopback):
    assert cluster._on_loopback(address) is loopback


@pytest.mark.parametrize(("value", "joined"), [("", None), ("local", None), (" 10.0.0.5:6379 ", "10.0.0.5:6379")])
def test_no_address_or_local_means_a_local_instance(monkeypatch, value, joined):
    monkeypatch.setenv(cluster.ADDRESS_ENV, value)
    assert cluster.address() == joined

