"""Score spaces: each knows its transform and whether it needs logits; games and trainers ask it."""

import copy
import pickle

import pytest
import torch

from strokelens.errors import StrokelensError
from strokelens.games import check_score
from strokelens.scores import LOG_PROB, LOGIT, PROB, SCORES, ScoreSpace, score_space


def test_each_space_transforms_the_last_dimension() -> None:
    outputs = torch.tensor([[2.0, 0.0, -1.0], [0.5, 0.5, 3.0]])
    assert torch.equal(score_space("logit")(outputs), outputs)
    assert torch.allclose(score_space("prob")(outputs), outputs.softmax(-1))
    assert torch.allclose(score_space("log-prob")(outputs), outputs.log_softmax(-1))
    assert torch.allclose(PROB(outputs).sum(-1), torch.ones(2))


def test_names_and_lookup() -> None:
    assert SCORES == ("logit", "prob", "log-prob")
    assert score_space(PROB) is PROB
    assert [LOGIT.needs_logits, PROB.needs_logits, LOG_PROB.needs_logits] == [False, True, True]
    with pytest.raises(StrokelensError, match="unknown score 'probability'; expected one of logit, prob"):
        score_space("probability")


def test_a_space_pickled_or_copied_is_the_same_space() -> None:
    """Games and trainers travel to worker processes: a space comes back as the one instance."""
    for space in (LOGIT, PROB, LOG_PROB):
        assert pickle.loads(pickle.dumps(space)) is space
        assert copy.deepcopy(space) is space
    own = ScoreSpace("logit", torch.tanh, needs_logits=False)  # a user's, named like a shipped one
    back = pickle.loads(pickle.dumps(own))
    assert back is not LOGIT and back == own


class _RawView:
    outputs_are_logits = False


class _LogitView:
    outputs_are_logits = True


def test_check_score_refuses_probabilities_of_outputs_that_are_not_logits() -> None:
    assert check_score("log-prob", _LogitView()) is LOG_PROB
    assert check_score("logit", _RawView()) is LOGIT
    with pytest.raises(StrokelensError, match="_RawView outputs are not logits, so score 'prob'"):
        check_score("prob", _RawView())
