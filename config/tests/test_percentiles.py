"""The benchmarks' shared figures: nearest-rank percentiles and the non-2xx part of an answer tally."""

from config.percentiles import not_2xx, percentile, percentiles


def test_percentile_is_nearest_rank():
    values = [5.0, 1.0, 4.0, 2.0, 3.0]
    assert percentile(values, 0.5) == 3.0
    assert percentile(values, 0.99) == 5.0
    assert percentile(values, 0.0) == 1.0
    assert percentile([], 0.5) == 0.0


def test_percentiles_round_alike():
    assert percentiles([1.234, 2.345, 3.456], (0.5, 0.99), digits=1) == (2.3, 3.5)
    assert percentiles([], (0.5, 0.95), digits=2) == (0.0, 0.0)


def test_not_2xx_keeps_errors_and_transport_failures():
    assert not_2xx({"200": 5, "202": 1, "429": 2, "ReadError": 1}) == {"429": 2, "ReadError": 1}
    assert not_2xx({"200": 3}) == {}
