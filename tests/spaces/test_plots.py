import numpy as np
import pytest
from matplotlib import pyplot as plt

from unnas.spaces.darts import PRIMITIVES
from unnas.spaces.plots import plot_alpha_evolution


def test_alpha_evolution_plots_each_ops_mean_weight_per_epoch(tmp_path, monkeypatch):
    rng = np.random.default_rng(0)
    history = []
    for epoch in range(3):
        w = rng.random((14, 8))
        history.append({"epoch": epoch, "normal": (w / w.sum(1, keepdims=True)).tolist(), "reduce": np.full((14, 8), 1 / 8).tolist()})
    figures = []
    monkeypatch.setattr(plt, "close", lambda fig: figures.append(fig))
    out = tmp_path / "evo.png"
    plot_alpha_evolution(history, PRIMITIVES, str(out))
    assert out.stat().st_size > 1000
    normal_ax, reduce_ax = figures[0].axes[:2]
    lines = [ln for ln in normal_ax.get_lines() if ln.get_label() in PRIMITIVES]
    assert [ln.get_label() for ln in lines] == list(PRIMITIVES)
    expected = np.array([np.asarray(h["normal"]).mean(0) for h in history])
    for k, ln in enumerate(lines):
        assert list(ln.get_xdata()) == [0, 1, 2]
        np.testing.assert_allclose(ln.get_ydata(), expected[:, k])
    assert all(np.allclose(ln.get_ydata(), 1 / 8) for ln in reduce_ax.get_lines())


def test_alpha_evolution_needs_a_recorded_epoch(tmp_path):
    with pytest.raises(ValueError, match="empty"):
        plot_alpha_evolution([], PRIMITIVES, str(tmp_path / "x.png"))


def test_a_drawn_cell_names_its_inputs_with_subscripts_not_braces():
    import matplotlib.pyplot as plt

    from unnas.spaces.darts.draw import draw_cell

    fig, ax = plt.subplots()
    draw_cell(ax, [("sep_conv_3x3", 0), ("skip_connect", 1)] * 4, [2, 3, 4, 5], "normal")
    names = [t.get_text() for t in ax.texts if "c_" in t.get_text()]
    plt.close(fig)
    assert len(names) == 3 and all(n.startswith("$") and n.endswith("$") for n in names)  # mathtext
