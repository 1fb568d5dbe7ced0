"""Conformance suites: the pytest checks every bonas space, encoding, surrogate, sampler and benchmark passes.

Run them on your own implementation by subclassing one in a ``Test...`` class of your test file and
saying how to build the thing under test; pytest collects the inherited checks::

    from bonas.testing.spaces import SearchSpaceConformance

    class TestMySpace(SearchSpaceConformance):
        def make_space(self):
            return MySpace()

Modules, one suite each:

* :mod:`bonas.testing.spaces`: :class:`~bonas.testing.spaces.SearchSpaceConformance` (round trips,
  seeded sampling and mutation, neighbourhoods, hashing, invalid input, the Optuna mapping).
* :mod:`bonas.testing.encodings`: :class:`~bonas.testing.encodings.EncodingConformance` (fixed width and
  dtype, determinism, isomorphism invariance, refusal of foreign or unfitted input).
* :mod:`bonas.testing.surrogates`: :class:`~bonas.testing.surrogates.SurrogateConformance` (finite
  predictions, ranking of held-out NB201 cells, agreement with the BoTorch posterior, units, refits).
* :mod:`bonas.testing.samplers`: :class:`~bonas.testing.samplers.ArchitectureSamplerConformance` (seeded
  reproducibility, no repeats, resumed and shared studies, minimisation, exhaustion).
* :mod:`bonas.testing.tabular`: :class:`~bonas.testing.tabular.TabularBenchmarkConformance` (finite
  lookups, the optimum, validation, reproducible noise).

The suites are pytest classes, so this package needs pytest, which bonas lists only in its ``dev`` extra:
``pip install pytest`` (or ``pip install "bonas[dev]"``). ``import bonas`` never imports this package,
and nothing else in bonas does. Every random draw in the suites is seeded.
"""

from __future__ import annotations

try:
    import pytest
except ImportError as error:
    raise ImportError(
        "bonas.testing holds pytest suites and needs pytest, which bonas installs only with its dev extra; "
        'run `pip install pytest` (or `pip install "bonas[dev]"`).'
    ) from error

# Plain `assert`s in these modules then fail with pytest's detailed messages, as in a test file. This has
# to run before the modules are imported, which importing any of them through this package guarantees.
pytest.register_assert_rewrite(
    "bonas.testing.encodings",
    "bonas.testing.samplers",
    "bonas.testing.spaces",
    "bonas.testing.surrogates",
    "bonas.testing.tabular",
)

__all__: list[str] = []
