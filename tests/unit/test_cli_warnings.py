"""The CLI filters only the known third-party noise; other warnings still reach the user."""

from __future__ import annotations

import warnings

from sensex.interfaces import cli


def _shown(message: str, category: type[Warning], module: str) -> bool:
    with warnings.catch_warnings(record=True) as caught:
        warnings.resetwarnings()
        warnings.simplefilter("always")
        cli._quiet_libraries()
        warnings.warn_explicit(message, category, filename="x.py", lineno=1, module=module)
    return bool(caught)


def test_only_the_torch_lstm_export_warning_is_silenced():
    noise = "Exporting a model to ONNX with a batch_size other than 1, with a variable length with LSTM"
    assert not _shown(noise, UserWarning, "torch.onnx._internal.torchscript_exporter.symbolic_opset9")
    assert _shown(noise, UserWarning, "sensex.models.export")  # same words from elsewhere: shown
    assert _shown("something else", UserWarning, "torch.onnx.utils")
    assert _shown("Mean of empty slice", RuntimeWarning, "numpy")
    assert _shown("a pandas change", FutureWarning, "pandas.core.frame")
