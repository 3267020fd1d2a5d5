"""Figures of a ProGAN run: losses and the level of detail per epoch, and a
strip of sample grids across the growth stages.

    python benchmarks/progan_figures.py runs/progan-mnist32 --out docs/images/progan_mnist32

writes ``<out>_curves.png`` (d_loss, g_loss, gp, drift and lod, from the run's
history.csv) and ``<out>_growth.png`` (the epoch sample grids the run wrote,
one row of 8 samples per chosen epoch, labelled with the epoch's lod).
"""

import argparse
import csv
import os

import numpy as np


def read_history(path):
    with open(path) as f:
        rows = list(csv.DictReader(f))
    history = {}
    for row in rows:
        for key, value in row.items():
            if key.startswith("val_") or value in ("", "NA"):
                continue
            history.setdefault(key, []).append(float(value))
    return history


def plot_curves(history, path, title):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    epochs = np.arange(1, len(history["lod"]) + 1)
    fig, (top, bottom) = plt.subplots(2, 1, figsize=(7, 5.5), sharex=True,
                                      gridspec_kw={"height_ratios": [2, 1]})
    for key in ("d_loss", "g_loss", "gp"):
        top.plot(epochs, history[key], marker=".", label=key)
    top.plot(epochs, np.asarray(history["drift"]) * 0.1, marker=".", label="drift / 10")
    top.set_ylabel("epoch mean")
    top.grid(alpha=0.3)
    top.legend(loc="best", fontsize=8)
    top.set_title(title)
    bottom.plot(epochs, history["lod"], marker="o", color="k")
    bottom.set_ylabel("lod (end of epoch)")
    bottom.set_xlabel("epoch")
    bottom.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def growth_strip(run_dir, history, epochs, path, per_row=8):
    """One row per epoch: the first ``per_row`` samples of its sample grid."""
    from PIL import Image, ImageDraw

    rows = []
    for epoch in epochs:
        grid = Image.open(os.path.join(run_dir, "samples", f"epoch_{epoch:04d}.png")).convert("L")
        rows.append((epoch, grid))
    # the run's grids are 8x8 tiles with a 2-pixel border
    w = rows[0][1].width
    tile = (w - 2) // per_row
    label_w = 90
    out = Image.new("L", (label_w + per_row * tile + 2, len(rows) * tile + 2), 255)
    draw = ImageDraw.Draw(out)
    for i, (epoch, grid) in enumerate(rows):
        strip = grid.crop((0, 0, per_row * tile + 2, tile + 2))
        out.paste(strip, (label_w, i * tile))
        draw.text((4, i * tile + tile // 3), f"ep {epoch}\nlod {history['lod'][epoch - 1]:.2f}",
                  fill=0)
    out.save(path)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("run")
    parser.add_argument("--out", required=True, help="path prefix of the PNGs")
    parser.add_argument("--epochs", help="comma-separated epochs for the growth strip "
                                         "(default: 5 spread over the run)")
    args = parser.parse_args(argv)
    history = read_history(os.path.join(args.run, "history.csv"))
    n = len(history["lod"])
    epochs = ([int(e) for e in args.epochs.split(",")] if args.epochs
              else sorted({int(round(x)) for x in np.linspace(1, n, 5)}))
    os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
    plot_curves(history, f"{args.out}_curves.png", os.path.basename(os.path.normpath(args.run)))
    growth_strip(args.run, history, epochs, f"{args.out}_growth.png")
    print(f"wrote {args.out}_curves.png and {args.out}_growth.png")


if __name__ == "__main__":
    main()
