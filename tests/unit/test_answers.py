"""The API's encoded heavy answers (`serving.answers`): kept by key, for their TTL, bounded, and
never kept under a key that changed while the answer was made."""

from __future__ import annotations

import json

from sensex.serving.answers import Answers


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_an_answer_is_made_once_per_key_and_ttl():
    clock, made = Clock(), []
    answers = Answers(clock=clock)

    def make() -> dict:
        made.append(1)
        return {"n": len(made), "word": "मूल्य"}

    first = answers.get("k", make, ttl=10.0)
    assert json.loads(first) == {"n": 1, "word": "मूल्य"} and answers.get("k", make, ttl=10.0) is first
    assert json.loads(answers.get("other", make, ttl=10.0))["n"] == 2
    clock.now = 10.5  # expired: made again
    assert json.loads(answers.get("k", make, ttl=10.0))["n"] == 3


def test_the_oldest_answer_goes_first_when_full():
    answers, made = Answers(size=2), []

    def make() -> list:
        made.append(1)
        return [len(made)]

    answers.get("a", make, ttl=60)
    answers.get("b", make, ttl=60)
    answers.get("a", make, ttl=60)  # used: "b" is now the oldest
    answers.get("c", make, ttl=60)
    assert len(made) == 3
    answers.get("a", make, ttl=60)
    assert len(made) == 3
    answers.get("b", make, ttl=60)
    assert len(made) == 4


def test_an_answer_made_while_its_key_changed_is_not_kept():
    answers, made = Answers(), []
    keys = iter(["v2"])

    def make() -> dict:
        made.append(1)
        return {"n": len(made)}

    # A model swapped in while the answer was made: returned, not kept under the old key.
    assert json.loads(answers.get("v1", make, ttl=60, still=lambda: next(keys))) == {"n": 1}
    assert json.loads(answers.get("v1", make, ttl=60, still=lambda: "v1")) == {"n": 2}
    assert json.loads(answers.get("v1", make, ttl=60)) == {"n": 2}


def test_an_error_is_never_kept():
    answers = Answers()

    def fail() -> dict:
        raise ValueError("no model")

    for _ in range(2):
        try:
            answers.get("k", fail, ttl=60)
        except ValueError:
            pass
        else:  # pragma: no cover - the test fails here
            raise AssertionError("the error was swallowed")
    assert json.loads(answers.get("k", lambda: {"ok": True}, ttl=60)) == {"ok": True}
