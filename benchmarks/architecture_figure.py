"""Draws docs/images/architecture.png: kerasgan's import layers, lowest at the
bottom, each module in its layer, the TensorFlow-specific ones marked.

The layers are read from tests/test_layering.py (the test that enforces them),
so the picture and the rule cannot drift apart.

    python benchmarks/architecture_figure.py [--out docs/images/architecture.png]
"""

import argparse
import importlib.util
import os

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
from matplotlib.patches import FancyBboxPatch  # noqa: E402

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

#: modules that call TensorFlow directly in the training core (the rest of the
#: networks and losses are written with keras.ops)
TENSORFLOW = {"distribute", "core/tf_step", "penalties"}


def _layers():
    spec = importlib.util.spec_from_file_location(
        "test_layering", os.path.join(REPO, "tests", "test_layering.py"))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.LAYERS


def _members(names):
    """The modules and packages of a layer, as paths under kerasgan/."""
    out = []
    for name in sorted(names):
        if not name:
            out.append("__init__ (package root)")
        elif name == "core":
            out += ["core/adversarial", "core/image_to_image", "core/tf_step", "core/predict"]
        elif name == "__main__":
            continue
        elif os.path.isdir(os.path.join(REPO, "kerasgan", name)):
            out.append(name + "/")
        elif os.path.exists(os.path.join(REPO, "kerasgan", name + ".py")):
            out.append(name)
    return out


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default=os.path.join(REPO, "docs", "images", "architecture.png"))
    args = parser.parse_args()
    layers = [(title, _members(names)) for title, names in _layers()]
    layers = [(t, m) for t, m in layers if m]
    fig, ax = plt.subplots(figsize=(10, 0.62 * len(layers) + 1.2))
    for row, (title, members) in enumerate(layers):
        y = row * 0.62
        ax.add_patch(FancyBboxPatch((0.0, y), 2.7, 0.5, boxstyle="round,pad=0.02",
                                    facecolor="#dde6f0", edgecolor="#445"))
        ax.text(1.35, y + 0.25, title, ha="center", va="center", fontsize=9, weight="bold")
        x = 2.9
        for member in members:
            width = 0.115 * len(member) + 0.3
            tf_specific = member.rstrip("/") in TENSORFLOW
            ax.add_patch(FancyBboxPatch((x, y + 0.05), width, 0.4, boxstyle="round,pad=0.02",
                                        facecolor="#f6c9a9" if tf_specific else "#eef5e6",
                                        edgecolor="#666"))
            ax.text(x + width / 2, y + 0.25, member, ha="center", va="center", fontsize=8.5,
                    family="monospace")
            x += width + 0.12
    ax.annotate("", xy=(-0.25, 0.0), xytext=(-0.25, 0.62 * len(layers) - 0.12),
                arrowprops={"arrowstyle": "->", "color": "#444"})
    ax.text(-0.38, 0.31 * len(layers), "imports point down only", rotation=90, ha="center",
            va="center", fontsize=9)
    ax.add_patch(FancyBboxPatch((2.9, -0.55), 0.3, 0.25, facecolor="#f6c9a9", edgecolor="#666",
                                boxstyle="round,pad=0.02"))
    ax.text(3.3, -0.43, "calls TensorFlow directly (tapes, replica context, all-reduce): "
            "where another Keras backend's step would go", va="center", fontsize=8.5)
    ax.add_patch(FancyBboxPatch((2.9, -0.9), 0.3, 0.25, facecolor="#eef5e6", edgecolor="#666",
                                boxstyle="round,pad=0.02"))
    ax.text(3.3, -0.78, "backend-agnostic or not part of the step (keras.ops, numpy, files)",
            va="center", fontsize=8.5)
    ax.set_xlim(-0.6, 14.5)
    ax.set_ylim(-1.0, 0.62 * len(layers))
    ax.axis("off")
    ax.set_title("kerasgan: import layers (tests/test_layering.py enforces them)", fontsize=11)
    fig.tight_layout()
    os.makedirs(os.path.dirname(args.out), exist_ok=True)
    fig.savefig(args.out, dpi=110)
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
