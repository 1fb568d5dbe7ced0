"""Encodings: hand-checked paths and colours, isomorphism invariance, PSD WL kernels, fit/transform contract.

Every encoding variant runs the shared suite (:mod:`bonas.testing.encodings`) on every space, in
:class:`TestEncodingConformance`; the checks below it are this package's own.
"""

from __future__ import annotations

import random
import time
from collections import Counter, defaultdict
from functools import cache, partial

import numpy as np
import pytest
import torch

from bonas.architecture import Architecture
from bonas.encodings import (
    DEFAULT_MAX_PATHS,
    AdjacencyEncoding,
    Encoding,
    EncodingNotFittedError,
    PathEncoding,
    WLEncoding,
    cell_paths,
    encoding_names,
    make_encoding,
    wl_colours,
    wl_kernel,
)
from bonas.errors import InvalidArchitectureError, UnknownNameError
from bonas.spaces import DartsSpace, get_space
from bonas.spaces.base import SearchSpace
from bonas.spaces.darts import DARTS_V2, INTERMEDIATE_NODES
from bonas.testing.encodings import EncodingConformance, EncodingFactory, find_isomorphic_groups

#: (name, options) of every encoding variant under test.
VARIANTS = [
    ("adjacency", {}),
    ("path", {}),
    ("path", {"counts": True}),
    ("path-truncated", {}),
    *(("wl", {"h": h}) for h in range(4)),
    ("wl", {"h": 2, "normalize": True}),
]
INVARIANT_VARIANTS = [variant for variant in VARIANTS if variant[0] != "adjacency"]


def variant_id(variant: tuple[str, dict]) -> str:
    name, options = variant
    return name + "".join(f"-{key}={value}" for key, value in options.items())


def samples(space_name: str, n: int, seed: int = 0) -> list[Architecture]:
    """``n`` seeded random architectures of ``space_name`` (a new list each call)."""
    return list(_samples(space_name, n, seed))


@cache
def _samples(space_name: str, n: int, seed: int) -> tuple[Architecture, ...]:
    space = get_space(space_name)
    rng = np.random.default_rng(seed)
    return tuple(space.sample(rng) for _ in range(n))


@cache
def _nb201_all() -> tuple[Architecture, ...]:
    return tuple(get_space("nb201").enumerate())


@pytest.fixture(scope="module")
def nb201_all() -> list[Architecture]:
    return list(_nb201_all())


@cache
def _nb201_isomorphic_groups() -> tuple[tuple[Architecture, ...], ...]:
    """Classes of 2+ distinct NB201 cells with equal canonical hash (a seeded sample of 300)."""
    groups: dict[str, list[Architecture]] = defaultdict(list)
    for architecture in _nb201_all():
        groups[architecture.canonical_hash].append(architecture)
    classes = [tuple(group) for group in groups.values() if len(group) > 1]
    return tuple(random.Random(0).sample(classes, 300))


@pytest.fixture(scope="module")
def nb201_isomorphic_groups() -> list[list[Architecture]]:
    return [list(group) for group in _nb201_isomorphic_groups()]


def swap_nodes_3_and_4(space: DartsSpace, architecture: Architecture) -> Architecture:
    """The same DARTS architecture with intermediate nodes 3 and 4 of each cell renumbered.

    Only valid when node 4 does not take node 3 as an input (then the two are interchangeable).
    """
    genotype = space.genotype(architecture)
    swap = {3: 4, 4: 3}
    cells = []
    for name in ("normal", "reduce"):
        pairs = genotype.cell(name)
        per_node = {node: list(pairs[2 * i : 2 * i + 2]) for i, node in enumerate(INTERMEDIATE_NODES)}
        per_node[3], per_node[4] = per_node[4], per_node[3]
        per_node[5] = [(op, swap.get(source, source)) for op, source in per_node[5]]
        cells.append(
            "[" + ",".join(f"({op},{s})" for node in INTERMEDIATE_NODES for op, s in per_node[node]) + "]"
        )
    return space.parse(f"normal={cells[0]};reduce={cells[1]}")


def darts_isomorphic_pairs(n: int) -> list[tuple[Architecture, Architecture]]:
    space = DartsSpace()
    rng = np.random.default_rng(1)
    pairs = []
    while len(pairs) < n:
        architecture = space.sample(rng)
        genotype = space.genotype(architecture)
        if any(source == 3 for name in ("normal", "reduce") for _, source in genotype.cell(name)[4:6]):
            continue
        pairs.append((architecture, swap_nodes_3_and_4(space, architecture)))
    return pairs


def active_features(encoding: Encoding, row: torch.Tensor) -> dict[str, float]:
    return {name: float(v) for name, v in zip(encoding.feature_names, row, strict=True) if v != 0}


@cache
def _isomorphic_groups(space_name: str) -> tuple[tuple[Architecture, ...], ...]:
    """The suite's isomorphs, once per space: 300 whole NB201 classes, constructed DARTS pairs (random
    DARTS draws almost never collide), and the suite's own search elsewhere."""
    if space_name == "nb201":
        return _nb201_isomorphic_groups()
    if space_name == "darts":
        return tuple(darts_isomorphic_pairs(20))
    return tuple(tuple(group) for group in find_isomorphic_groups(get_space(space_name)))


class TestEncodingConformance(EncodingConformance):
    @pytest.fixture(params=VARIANTS, ids=variant_id)
    def encoding_factory(self, request: pytest.FixtureRequest) -> EncodingFactory:
        name, options = request.param
        return partial(make_encoding, name, **options)

    def isomorphic_groups(self, space: SearchSpace) -> list[list[Architecture]]:
        return [list(group) for group in _isomorphic_groups(space.name)]

    def test_every_architecture_has_a_feature(
        self, space: SearchSpace, encoding_factory: EncodingFactory
    ) -> None:
        encoding = encoding_factory()
        if encoding.name == "path-truncated":
            pytest.skip("the 30 most frequent paths may miss all of a rare architecture's")
        fit, _ = self.fit_and_new(space)
        assert (encoding.fit_transform(fit).abs().sum(dim=1) > 0).all()


# -- Paths, by hand --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        # Node 1 feeds only node 2, which reaches the output through nothing: only the skip survives.
        ("|nor_conv_3x3~0|+|none~0|none~1|+|skip_connect~0|none~1|none~2|", {("input", "skip_connect"): 1}),
        (
            "|nor_conv_3x3~0|+|none~0|skip_connect~1|+|none~0|none~1|avg_pool_3x3~2|",
            {("input", "nor_conv_3x3", "skip_connect", "avg_pool_3x3"): 1},
        ),
        (
            "|nor_conv_3x3~0|+|nor_conv_1x1~0|skip_connect~1|+|avg_pool_3x3~0|nor_conv_1x1~1|skip_connect~2|",
            {
                ("input", "avg_pool_3x3"): 1,
                ("input", "nor_conv_3x3", "nor_conv_1x1"): 1,
                ("input", "nor_conv_3x3", "skip_connect", "skip_connect"): 1,
                ("input", "nor_conv_1x1", "skip_connect"): 1,
            },
        ),
        # Two node paths spell the same sequence: counted twice.
        (
            "|skip_connect~0|+|skip_connect~0|none~1|+|none~0|nor_conv_3x3~1|nor_conv_3x3~2|",
            {("input", "skip_connect", "nor_conv_3x3"): 2},
        ),
        ("|none~0|+|none~0|none~1|+|none~0|none~1|none~2|", {}),
    ],
)
def test_nb201_paths_by_hand(
    text: str, expected: dict[tuple[str, ...], int], nb201_all: list[Architecture]
) -> None:
    space = get_space("nb201")
    architecture = space.parse(text)
    assert cell_paths(architecture.cell()) == Counter(expected)

    encoding = PathEncoding().fit(nb201_all)
    row = encoding.transform([architecture])[0]
    assert active_features(encoding, row) == {"cell:" + ">".join(path): 1.0 for path in expected}
    counted = PathEncoding(counts=True).fit([architecture, space.parse(BEST_NB201)])
    assert active_features(counted, counted.transform([architecture])[0]) == {
        "cell:" + ">".join(path): float(count) for path, count in expected.items()
    }


BEST_NB201 = "|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|skip_connect~0|nor_conv_3x3~1|nor_conv_1x1~2|"


def test_paths_of_other_spaces_by_hand() -> None:
    darts = get_space("darts").parse(DARTS_V2)
    # Normal cell of DARTS_V2: node 2 <- sep(0), sep(1); 3 <- sep(0), sep(1); 4 <- skip(0), sep(1);
    # 5 <- skip(0), dil(2); every node 2..5 feeds the output.
    assert cell_paths(darts.cell("normal")) == Counter(
        {
            ("input0", "sep_conv_3x3"): 2,
            ("input0", "skip_connect"): 2,
            ("input0", "sep_conv_3x3", "dil_conv_3x3"): 1,
            ("input1", "sep_conv_3x3"): 3,
            ("input1", "sep_conv_3x3", "dil_conv_3x3"): 1,
        }
    )
    nbgraph = get_space("nbgraph").parse("link=0,0,1,2|ops=gcn,gat,skip,fc")
    # The skip layer is contracted into a wire: its path ends at the gcn it copies.
    assert cell_paths(nbgraph.cell()) == Counter({("input", "gcn"): 1, ("input", "gat", "fc"): 1})
    mlp = get_space("mlp").from_params({"n_layers": 2, "width_1": 64, "width_2": 128})
    assert cell_paths(mlp.cell()) == Counter({("input", "linear_64", "linear_128"): 1})

    encoding = PathEncoding().fit([darts])
    assert set(encoding.feature_names) == {
        f"{cell}:{'>'.join(path)}" for cell in ("normal", "reduce") for path in cell_paths(darts.cell(cell))
    }


def test_full_nb201_path_vocabulary_is_every_sequence_of_nonzero_operations(
    nb201_all: list[Architecture],
) -> None:
    encoding = PathEncoding().fit(nb201_all)
    assert encoding.dim == 4 + 4**2 + 4**3
    assert all("none" not in name for name in encoding.feature_names)


def test_truncated_path_encoding_keeps_the_most_frequent_paths() -> None:
    architectures = samples("nb201", 200)
    frequency = Counter(path for a in architectures for path in cell_paths(a.cell()))
    full = PathEncoding().fit(architectures)
    k = 12
    truncated = PathEncoding(max_paths=k).fit(architectures)
    assert truncated.name == "path-truncated"
    assert truncated.dim == k
    assert truncated.feature_names == full.feature_names[:k]
    kept = {tuple(name.removeprefix("cell:").split(">")) for name in truncated.feature_names}
    dropped = set(frequency) - kept
    assert min(frequency[path] for path in kept) >= max(frequency[path] for path in dropped)
    assert [frequency[tuple(n.removeprefix("cell:").split(">"))] for n in full.feature_names] == sorted(
        frequency.values(), reverse=True
    )
    encoded = truncated.transform(architectures)
    assert torch.equal(encoded, full.transform(architectures)[:, :k])
    assert PathEncoding(max_paths=10_000).fit(architectures).dim == full.dim


# -- WL colours ------------------------------------------------------------------------------------------


def test_wl_colours_by_hand() -> None:
    cell = (
        get_space("nb201")
        .parse("|avg_pool_3x3~0|+|nor_conv_3x3~0|none~1|+|skip_connect~0|none~1|none~2|")
        .cell()
    )
    # Pruned graph: input -> avg_pool -> sum1 (dead end, pruned) ... only input -> skip -> output survives.
    assert wl_colours(cell, 2) == Counter(
        {
            (0, "input"): 1,
            (0, "skip_connect"): 1,
            (0, "output"): 1,
            (1, "input"): 1,
            (1, "skip_connect(input)"): 1,
            (1, "output(skip_connect)"): 1,
            (2, "input"): 1,
            (2, "skip_connect(input)"): 1,
            (2, "output(skip_connect(input))"): 1,
        }
    )
    two = (
        get_space("nb201")
        .parse("|nor_conv_3x3~0|+|none~0|none~1|+|avg_pool_3x3~0|skip_connect~1|none~2|")
        .cell()
    )
    assert wl_colours(two, 1)[(1, "sum(nor_conv_3x3)")] == 1
    assert wl_colours(two, 1)[(1, "output(avg_pool_3x3,skip_connect)")] == 1


def reference_wl_kernel(cells_x: list, cells_y: list, h: int) -> float:
    """WL subtree kernel by textbook relabelling (colour = index of (colour, sorted in-colours))."""
    graphs = [cell.operation_graph() for cell in cells_x + cells_y]
    colours = [{v: ("label", g.nodes[v]["label"]) for v in g} for g in graphs]
    histograms = [Counter((0, c) for c in colour.values()) for colour in colours]
    for iteration in range(1, h + 1):
        table: dict = {}
        colours = [
            {
                v: table.setdefault(
                    (colour[v], tuple(sorted(colour[p] for p in g.predecessors(v)))), len(table)
                )
                for v in g
            }
            for g, colour in zip(graphs, colours, strict=True)
        ]
        for histogram, colour in zip(histograms, colours, strict=True):
            histogram.update((iteration, c) for c in colour.values())
    x = sum((histograms[: len(cells_x)]), Counter())
    y = sum((histograms[len(cells_x) :]), Counter())
    return float(sum(count * y[key] for key, count in x.items()))


@pytest.mark.parametrize("h", [0, 1, 2, 3])
def test_wl_features_give_the_textbook_wl_kernel(h: int) -> None:
    architectures = samples("nb201", 12, seed=h)
    encoded = WLEncoding(h=h).fit_transform(architectures)
    kernel = wl_kernel(encoded)
    for i in range(0, 12, 3):
        for j in range(12):
            expected = reference_wl_kernel([architectures[i].cell()], [architectures[j].cell()], h)
            assert kernel[i, j].item() == pytest.approx(expected)


@pytest.mark.parametrize("normalize", [False, True])
@pytest.mark.parametrize("h", [0, 1, 2, 3])
@pytest.mark.parametrize(("space_name", "n"), [("nb201", 100), ("darts", 50)])
def test_wl_kernel_is_symmetric_psd(space_name: str, n: int, h: int, normalize: bool) -> None:
    encoded = WLEncoding(h=h, normalize=normalize).fit_transform(samples(space_name, n, seed=7))
    kernel = wl_kernel(encoded)
    assert torch.equal(kernel, kernel.T)  # wl_kernel symmetrises x @ x.T
    eigenvalues = np.linalg.eigvalsh(kernel.numpy())  # torch's eigvalsh is ~20x slower on small matrices
    assert eigenvalues.min() >= -1e-8 * eigenvalues.max()
    if normalize:
        nonzero = encoded.abs().sum(dim=1) > 0
        assert torch.allclose(kernel.diagonal()[nonzero], torch.ones(int(nonzero.sum()), dtype=torch.float64))


def test_normalised_cross_kernel_is_exact_when_fitted_on_one_side() -> None:
    train, candidates = samples("darts", 20, seed=2), samples("darts", 30, seed=3)
    partial_fit = WLEncoding(h=2, normalize=True).fit(train)
    full_fit = WLEncoding(h=2, normalize=True).fit(train + candidates)
    kernel_partial = wl_kernel(partial_fit.transform(train), partial_fit.transform(candidates))
    kernel_full = wl_kernel(full_fit.transform(train), full_fit.transform(candidates))
    assert torch.allclose(kernel_partial, kernel_full, atol=1e-12)
    assert torch.allclose(partial_fit.squared_norms(candidates), torch.ones(30, dtype=torch.float64))


@pytest.mark.parametrize("variant", INVARIANT_VARIANTS, ids=variant_id)
def test_squared_norms_are_the_diagonal_of_a_fit_on_everything(variant: tuple[str, dict]) -> None:
    name, options = variant
    train, candidates = samples("darts", 15, seed=4), samples("darts", 25, seed=5)
    everything = make_encoding(name, **options).fit(train + candidates)
    diagonal = (everything.transform(candidates) ** 2).sum(dim=1)
    assert torch.allclose(everything.squared_norms(candidates), diagonal)
    if name != "path-truncated":  # its feature map is the paths it keeps, which depend on the fit set
        on_train = make_encoding(name, **options).fit(train)
        assert torch.allclose(on_train.squared_norms(candidates), diagonal)


def test_large_dense_tensors_are_announced(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setattr("bonas.encodings.base.LARGE_TENSOR_BYTES", 1000)
    encoding = WLEncoding(h=2).fit(samples("nb201", 30))
    with caplog.at_level("WARNING", logger="bonas.encodings"):
        encoding.transform(samples("nb201", 30))
    assert "dense 30 x" in caplog.text and "fit on fewer architectures" in caplog.text


# -- Isomorphism invariance ------------------------------------------------------------------------------


def test_adjacency_is_not_invariant(nb201_isomorphic_groups: list[list[Architecture]]) -> None:
    encoding = AdjacencyEncoding()
    assert not encoding.invariant
    members = [architecture for group in nb201_isomorphic_groups for architecture in group]
    encoded = encoding.fit_transform(members)
    # The groups hold distinct parameter sets, and the adjacency one-hot tells those apart.
    assert len({tuple(row.tolist()) for row in encoded}) == len(members)


@pytest.mark.parametrize("variant", INVARIANT_VARIANTS, ids=variant_id)
def test_swapping_interchangeable_darts_nodes_keeps_rows(variant: tuple[str, dict]) -> None:
    pairs = darts_isomorphic_pairs(20)
    for a, b in pairs:
        assert a != b
        assert a.canonical_hash == b.canonical_hash
    name, options = variant
    encoding = make_encoding(name, **options).fit([a for pair in pairs for a in pair])
    encoded = encoding.transform([a for a, _ in pairs])
    swapped = encoding.transform([b for _, b in pairs])
    assert torch.equal(encoded, swapped)
    assert not torch.equal(
        AdjacencyEncoding().fit([a for p in pairs for a in p]).transform([a for a, _ in pairs]),
        AdjacencyEncoding().fit([a for p in pairs for a in p]).transform([b for _, b in pairs]),
    )


# -- Adjacency layout ------------------------------------------------------------------------------------


def test_adjacency_layout_nb201() -> None:
    space = get_space("nb201")
    encoding = AdjacencyEncoding().fit(samples("nb201", 300))
    assert encoding.dim == 6 + 6 * 5  # upper triangle of 4 nodes + 6 slots x 5 operations
    architecture = space.parse(BEST_NB201)
    features = active_features(encoding, encoding.transform([architecture])[0])
    assert features == {
        **{f"cell:adj:{s}-{t}": 1.0 for s, t in ((0, 1), (0, 2), (1, 2), (0, 3), (1, 3), (2, 3))},
        "cell:op:0-1=nor_conv_3x3": 1.0,
        "cell:op:0-2=nor_conv_3x3": 1.0,
        "cell:op:1-2=nor_conv_3x3": 1.0,
        "cell:op:0-3=skip_connect": 1.0,
        "cell:op:1-3=nor_conv_3x3": 1.0,
        "cell:op:2-3=nor_conv_1x1": 1.0,
    }


def test_adjacency_pads_node_labelled_cells_to_the_most_nodes_seen() -> None:
    space = get_space("mlp")
    one = space.from_params({"n_layers": 1, "width_1": 16})
    three = space.from_params({"n_layers": 3, "width_1": 16, "width_2": 32, "width_3": 512})
    encoding = AdjacencyEncoding().fit([one, three])
    labels = ["input", "linear_16", "linear_32", "linear_512", "output"]
    assert encoding.dim == 10 + 5 * len(labels)
    assert active_features(encoding, encoding.transform([one])[0]) == {
        "graph:adj:0-1": 1.0,
        "graph:adj:1-2": 1.0,
        "graph:node:0=input": 1.0,
        "graph:node:1=linear_16": 1.0,
        "graph:node:2=output": 1.0,
    }
    # A label the fit set never had (linear_64) is ignored; the layout does not move.
    other = space.from_params({"n_layers": 2, "width_1": 64, "width_2": 32})
    assert active_features(encoding, encoding.transform([other])[0]) == {
        "graph:adj:0-1": 1.0,
        "graph:adj:1-2": 1.0,
        "graph:adj:2-3": 1.0,
        "graph:node:0=input": 1.0,
        "graph:node:2=linear_32": 1.0,
        "graph:node:3=output": 1.0,
    }


def test_darts_adjacency_has_both_cells() -> None:
    encoding = AdjacencyEncoding().fit(samples("darts", 100))
    per_cell = 21 + 14 * 7  # upper triangle of 7 nodes + 14 operation slots x 7 operations
    assert encoding.dim == 2 * per_cell
    assert encoding.feature_names[0].startswith("normal:")
    assert encoding.feature_names[per_cell].startswith("reduce:")


# -- The contract ----------------------------------------------------------------------------------------


def test_transform_before_fit_is_refused() -> None:
    encoding = WLEncoding(h=1)
    with pytest.raises(EncodingNotFittedError, match=r"not fitted; call \.fit"):
        encoding.transform(samples("nb201", 2))
    with pytest.raises(EncodingNotFittedError):
        _ = encoding.dim


def test_bad_inputs_are_refused() -> None:
    nb201 = samples("nb201", 3)
    with pytest.raises(ValueError, match="at least one architecture"):
        PathEncoding().fit([])
    with pytest.raises(TypeError, match="wrap a single one"):
        PathEncoding().fit(nb201[0])  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="Architecture objects"):
        PathEncoding().fit(["|none~0|+|none~0|none~1|+|none~0|none~1|none~2|"])  # type: ignore[list-item]
    encoding = PathEncoding().fit(nb201)
    with pytest.raises(InvalidArchitectureError, match="fitted on space 'nb201'"):
        encoding.transform(samples("darts", 1))
    with pytest.raises(InvalidArchitectureError, match="of space"):
        PathEncoding().fit(nb201 + samples("nbgraph", 1))
    with pytest.raises(ValueError, match="h=-1"):
        WLEncoding(h=-1)
    with pytest.raises(ValueError, match="max_paths=0"):
        PathEncoding(max_paths=0)
    from bonas.spaces import Categorical, CategoricalSpace

    graphless = CategoricalSpace("plain", [Categorical("x", (1, 2))]).from_params({"x": 1})
    with pytest.raises(InvalidArchitectureError, match="no cell graph"):
        WLEncoding().fit([graphless])


def test_registry() -> None:
    assert encoding_names() == ["adjacency", "path", "path-truncated", "wl"]
    assert make_encoding("path-truncated").max_paths == DEFAULT_MAX_PATHS == 30
    assert make_encoding("path-truncated", max_paths=5).max_paths == 5
    assert make_encoding("path").max_paths is None
    wl = make_encoding("wl", h=3, normalize=True)
    assert isinstance(wl, WLEncoding) and (wl.h, wl.normalize) == (3, True)
    with pytest.raises(UnknownNameError, match=r"Unknown encoding 'bag-of-ops'.*'adjacency'.*'wl'"):
        make_encoding("bag-of-ops")


@pytest.mark.parametrize(
    "variant",
    [("adjacency", {}), ("path", {}), ("path-truncated", {}), ("wl", {"h": 2})],
    ids=variant_id,
)
def test_whole_nb201_space_encodes_in_seconds(
    variant: tuple[str, dict], nb201_all: list[Architecture]
) -> None:
    # Earlier tests may have cached some cells' features already: the printed times are indicative.
    name, options = variant
    start = time.perf_counter()
    encoding = make_encoding(name, **options).fit(nb201_all)
    encoded = encoding.transform(nb201_all)
    first = time.perf_counter() - start
    start = time.perf_counter()
    again = encoding.transform(nb201_all)
    second = time.perf_counter() - start
    print(
        f"\n{variant_id(variant)}: d={encoding.dim}, fit+transform {first:.2f} s, transform again {second:.2f} s"
    )
    assert encoded.shape == (15_625, encoding.dim)
    assert torch.equal(encoded, again)
    assert first < 30 and second < 30
