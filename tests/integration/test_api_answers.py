"""The heavy routes' answers kept encoded in the API process (`serving.views.answer_json`): the
same JSON as the views give, and a new answer as soon as what it is made of changes."""

from __future__ import annotations

import json

from fastapi.testclient import TestClient

from sensex.core import jsonlog
from sensex.data import store
from sensex.interfaces.api import create_app
from sensex.serving import views
from sensex.serving.model_server import ModelServer


def test_a_kept_answer_is_the_views_and_follows_the_prediction_log(own_home, universe):
    log = own_home.logs_dir / jsonlog.PREDICTION_LOG
    log.unlink(missing_ok=True)
    views.ANSWERS.clear()
    with TestClient(create_app(own_home)) as client:
        explained = client.get("/explain")
        assert explained.status_code == 200 and explained.headers["content-type"] == "application/json"
        assert client.get("/explain").content == explained.content  # kept: the same bytes
        assert explained.json() == json.loads(json.dumps(ModelServer(own_home).explain()))
        history = client.get("/drift/history", params={"step": 20})
        assert history.status_code == 200 and history.json()["points"]
        assert client.get("/drift/history", params={"step": 20}).content == history.content
        assert client.get("/drift/history", params={"step": 40}).json()["points"] != history.json()["points"]

        before = client.get("/drift").json()
        assert before["live"]["judged"] is False
        # Forecasts logged since (by this or any process): the next /drift reads them.
        closes = store.read(own_home.store_dir, symbols=[universe.index_symbol]).set_index("date")["close"]
        days = [str(d.date()) for d in closes.index[-30:]]
        for as_of, target in zip(days[:-1], days[1:], strict=True):
            jsonlog.append(log, {"prediction": {"probability": 0.6, "direction": "UP"}, "model_version": "1",
                                 "mode": "close", "as_of": as_of, "target_date": target, "back_dated": False})
        after = client.get("/drift").json()
        assert after["live"]["judged"] is True and after["live"]["n"] == 29
        assert after["performance"] == before["performance"] and after["features"] == before["features"]
