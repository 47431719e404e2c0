"""The dashboard's Members page through Streamlit's AppTest: the sector forecasts beside
the index forecast, the treemap coloured by P(UP), the ranked members with their test record; and
a sentence, not a traceback, when the served model has no member forecasts."""


import pytest
from app_pages import fresh_app_caches, run_app, texts, use_home, visit  # noqa: F401 - fresh_app_caches is autouse
from streamlit.testing.v1 import AppTest

from sensex.interfaces.app import member_charts

pytestmark = pytest.mark.integration


@pytest.fixture
def app_home(trained_home, monkeypatch):
    use_home(monkeypatch, trained_home["settings"].home)
    return trained_home["settings"]


def members_page() -> AppTest:
    return visit(run_app(), "views/members.py")


def test_the_members_page_shows_sectors_treemap_and_ranked_members(app_home):
    at = members_page()
    assert "Members and sectors" in [h.value for h in at.header]
    shown = {m.label: m.value for m in at.metric}
    assert shown["Index P(UP)"].endswith("%") and "of 30" in shown["Members up (P > 50%)"]
    assert len(at.get("plotly_chart")) == 2  # sector bars and the treemap
    table = at.dataframe[0].value
    assert len(table) == 30 and list(table["rank"][:3]) == [1, 2, 3]
    assert {"test AUC", "test hit rate", "test sessions"} <= set(table.columns)
    assert "daily rank IC" in " ".join(m.value for m in at.markdown)
    # Why every member may lean one way while the index makes no call.
    assert "Member and sector forecasts are separate outputs of the model, each calibrated on its own" in texts(at.caption)


def test_without_member_forecasts_the_page_says_so(app_home, monkeypatch):
    from sensex.serving.model_server import ModelServer

    original = ModelServer.predict

    def without_members(self, *args, **kwargs):
        forecast = dict(original(self, *args, **kwargs))
        forecast.pop("members", None)
        forecast.pop("sectors", None)
        return forecast

    monkeypatch.setattr(ModelServer, "predict", without_members)
    at = members_page()
    assert "has no member forecasts" in " ".join(i.value for i in at.info)
    assert not at.get("plotly_chart")


def test_the_treemap_colours_by_probability_around_one_half():
    members = [{"symbol": "A", "sector": "Banks", "probability": 0.6, "rank": 1},
               {"symbol": "B", "sector": "IT", "probability": 0.45, "rank": 2},
               {"symbol": "C", "sector": "IT", "probability": None, "rank": None}]
    figure = member_charts.probability_treemap(members)
    trace = figure.data[0]
    assert list(trace.labels) == ["members", "Banks", "IT", "A", "B"]  # C has no data: left out
    assert trace.marker.cmid == 0.5 and trace.marker.cmin == pytest.approx(0.4)


def test_sector_bars_start_at_one_half_on_an_axis_centred_there():
    figure = member_charts.sector_probability_bars([{"sector": "Banks", "probability": 0.53},
                                                    {"sector": "IT", "probability": 0.47},
                                                    {"sector": "Energy", "probability": 0.541}])
    trace = figure.data[0]
    assert trace.base == 0.5  # each bar runs from the 50% line to its P(UP), not from 0 off the axis
    assert list(trace.y) == ["IT", "Banks", "Energy"]
    assert [round(x + trace.base, 3) for x in trace.x] == [0.47, 0.53, 0.541]
    low, high = figure.layout.xaxis.range
    assert low + high == pytest.approx(1.0) and high - 0.5 >= 0.041  # symmetric around 50%, every bar inside
