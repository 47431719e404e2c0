"""`sensex app` readies the first page while the browser loads: the warm-up thread's backend,
model loaded, is the one the first script run takes; anything else gets a backend of its own."""

import gc
import socket

import pytest

from sensex.core.settings import get_settings
from sensex.interfaces.app import backend, warmup

pytestmark = pytest.mark.integration


@pytest.fixture
def listening():
    """A port that accepts connections, as Streamlit's server once it has started."""
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen(8)
        yield server.getsockname()[1]
    gc.unfreeze()  # the warm-up freezes what it loaded; the test process keeps collecting it


@pytest.fixture
def in_home(monkeypatch):
    def use(settings):
        monkeypatch.setenv("SENSEX_HOME", str(settings.home))
        get_settings.cache_clear()
        return get_settings()
    yield use
    get_settings.cache_clear()


def test_the_first_run_takes_the_backend_warmed_with_its_model(trained_home, listening, in_home):
    settings = in_home(trained_home["settings"])
    warmup.start("127.0.0.1", listening)
    taken = warmup.backend_for(settings)  # waits for the warm-up
    assert isinstance(taken, backend.LocalBackend)
    assert taken.server.bundle is not None and taken.server.model_info["version"] == trained_home["promoted"]["version"]
    assert taken.server._latest is not None  # the latest inputs are read: the forecast is one ONNX call
    assert warmup.take() is None  # taken once: a cleared Streamlit cache makes a new backend
    assert warmup.backend_for(settings) is not taken


def test_a_backend_warmed_for_another_home_is_not_used(trained_home, home, listening, in_home):
    in_home(trained_home["settings"])
    warmup.start("127.0.0.1", listening)
    other = in_home(home)
    taken = warmup.backend_for(other)
    assert taken.settings.home == other.home
    assert warmup.take() is None


def test_without_a_model_the_warm_up_leaves_the_error_to_the_page(home, listening, in_home):
    settings = in_home(home)
    warmup.start("127.0.0.1", listening)
    taken = warmup.backend_for(settings)
    assert isinstance(taken, backend.LocalBackend) and taken.server.bundle is None
