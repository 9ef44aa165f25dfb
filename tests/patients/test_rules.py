import pytest

from yilian.patients.rules import DEFAULT_THRESHOLDS, Thresholds, decide, identifiers_conflict


def test_default_thresholds() -> None:
    assert (DEFAULT_THRESHOLDS.link, DEFAULT_THRESHOLDS.review) == (0.99, 0.5)


@pytest.mark.parametrize(
    ("probability", "expected"),
    [
        (1.0, "link"),
        (0.99, "link"),
        (0.9899, "review"),
        (0.5, "review"),
        (0.4999, "new"),
        (0.0, "new"),
    ],
)
def test_decide_at_default_thresholds(probability: float, expected: str) -> None:
    assert decide(probability) == expected


def test_decide_with_configured_thresholds() -> None:
    strict = Thresholds(link=0.999, review=0.9)
    assert decide(0.995, strict) == "review"
    assert decide(0.85, strict) == "new"
    assert decide(0.85, Thresholds(link=0.8, review=0.8)) == "link"


@pytest.mark.parametrize(("link", "review"), [(0.5, 0.9), (1.5, 0.5), (0.9, -0.1)])
def test_thresholds_must_be_ordered_probabilities(link: float, review: float) -> None:
    with pytest.raises(ValueError, match="thresholds"):
        Thresholds(link=link, review=review)


def test_identifiers_conflict() -> None:
    assert identifiers_conflict("A", "B")
    assert not identifiers_conflict("A", "A")
    assert not identifiers_conflict("A", None)
    assert not identifiers_conflict(None, None)


def test_thresholds_come_from_the_installation_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    from yilian.config import get_settings
    from yilian.patients.service import configured_thresholds

    monkeypatch.setenv("YILIAN_MPI_LINK_THRESHOLD", "0.97")
    monkeypatch.setenv("YILIAN_MPI_REVIEW_THRESHOLD", "0.6")
    get_settings.cache_clear()
    try:
        assert configured_thresholds() == Thresholds(link=0.97, review=0.6)
        monkeypatch.setenv("YILIAN_MPI_REVIEW_THRESHOLD", "0.98")
        get_settings.cache_clear()
        with pytest.raises(ValueError, match="review <= link"):
            configured_thresholds()
    finally:
        monkeypatch.undo()
        get_settings.cache_clear()
    assert configured_thresholds() == DEFAULT_THRESHOLDS
