"""`sensex predict` prints a no call as NO CALL, never as the direction it leans to."""

from __future__ import annotations

import pytest

from sensex.interfaces import cli
from sensex.serving.forecast import Forecast
from sensex.serving.model_server import ModelServer


def _forecast(no_call: bool) -> dict:
    return Forecast(direction="UP", probability=0.53, confidence="Low" if no_call else "Medium", risk="Medium",
                    model_version="3", as_of="2021-12-30", target_date="2021-12-31", data_source="csv",
                    synthetic=False, stale=False, note="A note.", interval=[0.47, 0.59] if no_call else [0.51, 0.55],
                    no_call=no_call, skill="shown").model_dump()


@pytest.mark.parametrize("no_call, says", [(True, "SENSEX 2021-12-31: NO CALL (leans UP) P(UP)=0.530"),
                                           (False, "SENSEX 2021-12-31: UP P(UP)=0.530")])
def test_predict_prints_a_no_call_as_no_call(home, monkeypatch, capsys, no_call, says):
    monkeypatch.setattr(ModelServer, "predict", lambda self, as_of=None: _forecast(no_call))
    assert cli.run(["predict"]) == 0
    line = capsys.readouterr().out.splitlines()[0]
    assert line.startswith(says), line
