"""Figures of a StyleGAN2 run: losses per epoch, a truncation strip and a
style-mixing grid.

    python benchmarks/stylegan2_figures.py runs/stylegan2-mnist32 --out docs/images/stylegan2_mnist32

writes

- ``<out>_curves.png``: d_loss, g_loss, the R1 and path-length penalties
  and the diversity ratio per epoch (the run's history.csv);
- ``<out>_truncation.png``: the same 10 latents (columns) at
  ``truncation_psi`` 1, 0.7, 0.5 and 0 (rows; 0 is the average image);
- ``<out>_mixing.png``: style mixing with the generator used for sampling
  (the EMA one): the top row and the left column are plain samples of two
  sets of latents; cell ``(i, j)`` takes the first ``--coarse`` per-layer
  latents (4x4 and 8x8: pose, thickness, slant) from column ``j``'s
  latent and the rest (finer layers) from row ``i``'s, with the same
  noise maps everywhere.
"""

import argparse
import os

import numpy as np

from progan_figures import read_history  # this folder is on sys.path when run as a script


def plot_curves(history, path, title):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    epochs = np.arange(1, len(history["d_loss"]) + 1)
    fig, (top, bottom) = plt.subplots(2, 1, figsize=(7, 5.5), sharex=True,
                                      gridspec_kw={"height_ratios": [2, 1]})
    for key in ("d_loss", "g_loss", "r1", "pl"):
        if key in history:
            top.plot(epochs, history[key], marker=".", label=key)
    top.set_ylabel("epoch mean")
    top.grid(alpha=0.3)
    top.legend(loc="best", fontsize=8)
    top.set_title(title)
    if "diversity" in history:
        bottom.plot(epochs, history["diversity"], marker="o", color="k")
    bottom.set_ylabel("diversity (1 = data)")
    bottom.set_xlabel("epoch")
    bottom.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def truncation_strip(gan, path, psis=(1.0, 0.7, 0.5, 0.0), n=10, seed=0, scale=2):
    from kerasgan.images import save_grid

    rows = [gan.generate(n, seed=seed, truncation_psi=psi) for psi in psis]
    save_grid(np.concatenate(rows), path, nrow=n, scale=scale)


def mixing_grid(gan, path, n=6, coarse=3, seed=0, scale=2):
    """``(n + 1) x (n + 1)`` grid: corner blank, top row the column sources,
    left column the row sources, cell ``(i, j)`` = rows' fine styles with
    the columns' first ``coarse`` per-layer latents."""
    from kerasgan.images import save_grid

    generator = gan.sampling_generator
    mapping = generator.get_layer("mapping")
    truncation = generator.get_layer("truncation")
    synthesis = generator.get_layer("synthesis")
    rng = np.random.default_rng(seed)
    latent_dim = int(mapping.inputs[0].shape[-1])
    count = int(synthesis.inputs[0].shape[1])
    noise = [rng.standard_normal((1, *t.shape[1:])).astype("float32")
             for t in synthesis.inputs[1:]]

    def styles(z):
        w = mapping(z, training=False)
        return np.asarray(truncation([w, np.ones(len(z), "float32")]))

    rows_ws = styles(rng.standard_normal((n, latent_dim)).astype("float32"))
    cols_ws = styles(rng.standard_normal((n, latent_dim)).astype("float32"))

    def render(ws):
        batch = [np.repeat(x, len(ws), axis=0) for x in noise]
        return np.clip(np.asarray(synthesis([ws, *batch], training=False)), -1, 1)

    top, left = render(cols_ws), render(rows_ws)
    blank = np.ones_like(top[:1])
    tiles = [blank, top]
    for i in range(n):
        mixed = np.repeat(rows_ws[i:i + 1], n, axis=0).copy()
        mixed[:, :coarse] = cols_ws[:, :coarse]
        tiles += [left[i:i + 1], render(mixed)]
    assert count > coarse
    save_grid(np.concatenate(tiles), path, nrow=n + 1, scale=scale)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("run")
    parser.add_argument("--out", required=True, help="path prefix of the PNGs")
    parser.add_argument("--coarse", type=int, default=3,
                        help="per-layer latents taken from the column sources (of 8 at 32x32)")
    args = parser.parse_args(argv)
    from kerasgan import run as runs

    history = read_history(os.path.join(args.run, "history.csv"))
    os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
    plot_curves(history, f"{args.out}_curves.png", os.path.basename(os.path.normpath(args.run)))
    gan = runs.load_run(args.run)
    truncation_strip(gan, f"{args.out}_truncation.png")
    mixing_grid(gan, f"{args.out}_mixing.png", coarse=args.coarse)
    print(f"wrote {args.out}_curves.png, {args.out}_truncation.png and {args.out}_mixing.png")


if __name__ == "__main__":
    main()
