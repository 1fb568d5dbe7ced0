"""Architecture pictures: every space's cells drawn to a PNG, a space without cells refused."""

from __future__ import annotations

import numpy as np
import pytest

from bonas.drawing import draw_architecture
from bonas.errors import BonasError
from bonas.spaces import get_space
from bonas.testing.samplers import tiny_space

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


@pytest.mark.parametrize("space_name", ["nb201", "darts", "nbgraph"])
def test_draws_every_cell_to_a_png(tmp_path, space_name: str) -> None:
    architecture = get_space(space_name).sample(np.random.default_rng(0))
    path = draw_architecture(architecture, tmp_path / "sub" / "cell.png")
    data = path.read_bytes()
    assert data.startswith(PNG_MAGIC) and len(data) > 5000


def test_a_space_without_cells_has_no_picture(tmp_path) -> None:
    architecture = tiny_space().sample(np.random.default_rng(0))
    with pytest.raises(BonasError, match="has no cell graph"):
        draw_architecture(architecture, tmp_path / "x.png")
