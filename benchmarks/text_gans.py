"""Text-GAN benchmarks: the SeqGAN synthetic oracle and Texygen's Image COCO captions.

Trains one family with ``fit`` on 2 CPU cores, resuming from its run folder,
scores it on the way and at the end, and prints a table row.

Oracle (``--task oracle``, data ``../shared/data/seqgan-oracle``): 10,000
training sequences drawn from the oracle LSTM (seed 0), 10,000 fresh ones for
NLL-test (seed 1); NLL-oracle is the oracle's NLL per token of 10,000 sequences
the generator samples (seed 2, temperature 1).

Image COCO (``--task coco``, data ``../shared/data/text/image_coco``): train.txt
(whitespace tokens); BLEU-2..5 of 2,000 generated sentences against all 10,000
test.txt sentences and self-BLEU-2..5 of them (kerasgan.metrics.text: NLTK's
sentence BLEU with method-1 smoothing, averaged, as Texygen).

Examples:
    python benchmarks/text_gans.py --task oracle --family mle --steps 18720
    python benchmarks/text_gans.py --task oracle --family seqgan --init runs/text/oracle-mle \
        --steps 1200 --set pretrain_steps=0 pretrain_d_steps=1000 rollouts=8
    python benchmarks/text_gans.py --task coco --family mle --steps 4000 --temperatures 0.7,0.8,0.9,1.0

Everything lands in ``runs/text/<task>-<family>[-<tag>]/``: ``model.keras``
(saved every ``--eval-every`` steps, atomically), ``log.csv`` and ``result.json``.
"""

import argparse
import csv
import json
import os
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
SHARED = os.path.join(os.path.dirname(ROOT), "shared", "data")
ORACLE = os.path.join(SHARED, "seqgan-oracle", "oracle_lstm.npz")
COCO = os.path.join(SHARED, "text", "image_coco")


def parse_value(text):
    for kind in (int, float):
        try:
            return kind(text)
        except ValueError:
            pass
    return text


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--task", choices=("oracle", "coco"), required=True)
    p.add_argument("--family", required=True)
    p.add_argument("--steps", type=int, required=True, help="total training steps")
    p.add_argument("--batch-size", type=int, default=64)
    p.add_argument("--eval-every", type=int, default=500)
    p.add_argument("--eval-n", type=int, default=2000, help="samples of the intermediate scores")
    p.add_argument("--final-n", type=int, default=10000, help="samples of the final scores")
    p.add_argument("--init", help="run folder whose generator (and vocabulary) to start from")
    p.add_argument("--set", nargs="*", default=[], metavar="KEY=VALUE", help="family options")
    p.add_argument("--tag", default="")
    p.add_argument("--temperatures", default="1.0")
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args(argv)

    import numpy as np
    import keras

    import kerasgan
    from kerasgan.data.text_source import TokenSequenceSource, open_text_source
    from kerasgan.vocabulary import Vocabulary

    name = f"{args.task}-{args.family}" + (f"-{args.tag}" if args.tag else "")
    folder = os.path.join(ROOT, "runs", "text", name)
    os.makedirs(folder, exist_ok=True)
    options = dict(kv.split("=", 1) for kv in args.set)
    options = {k: parse_value(v) for k, v in options.items()}

    if args.task == "oracle":
        from kerasgan.metrics.oracle import OracleLSTM

        oracle = OracleLSTM.load(ORACLE)
        train = oracle.sample(10000, seed=0)
        test = oracle.sample(10000, seed=1)
        source = TokenSequenceSource(train, Vocabulary.numeric_ids(5000), name="oracle")
        shape = dict(vocab_size=5000, seq_len=20)
    else:
        from kerasgan.metrics.text import bleu_scores, self_bleu

        source = open_text_source(COCO, "train")
        with open(os.path.join(COCO, "test.txt"), encoding="utf-8") as f:
            references = [line.split() for line in f if line.strip()]
        shape = dict(vocab_size=len(source.vocabulary), seq_len=source.seq_len,
                     vocabulary=source.vocabulary.to_json())

    path = os.path.join(folder, "model.keras")
    if os.path.exists(path):
        model = keras.models.load_model(path)
        print(f"resumed {name} at step {int(model.steps_done.numpy())}", flush=True)
    else:
        model = kerasgan.models.get(args.family, **shape, seed=args.seed, **options)
        model.compile()
        if args.init:
            init = keras.models.load_model(os.path.join(args.init, "model.keras"))
            model.generator.set_weights(init.generator.get_weights())
            if hasattr(model, "rollout_generator"):
                model.rollout_generator.set_weights(init.generator.get_weights())
            print(f"generator initialised from {args.init}", flush=True)
    per_epoch = len(source) // args.batch_size

    def score(n, temperature=1.0):
        out = {}
        t0 = time.time()
        samples = model.generate(n, seed=2, temperature=temperature)
        if args.task == "oracle":
            out["nll_oracle"] = oracle.nll(samples.ids)
            out["nll_test"] = model.nll(test[:n], temperature=temperature)
        else:
            hyps = [s.split() for s in samples.texts]
            out.update(bleu_scores(hyps, references, orders=(2, 3, 4, 5)))
            sb = self_bleu(hyps, orders=(2, 3, 4, 5))
            out.update({f"self_{k}": v for k, v in sb.items()})
            out["example"] = samples.texts[:5]
        out["score_s"] = round(time.time() - t0, 1)
        return out

    log_path = os.path.join(folder, "log.csv")
    clock = os.path.join(folder, "train_seconds.txt")
    trained = float(open(clock).read()) if os.path.exists(clock) else 0.0
    step = int(model.steps_done.numpy())
    while step < args.steps:
        chunk = min(args.eval_every - step % args.eval_every, args.steps - step)
        epoch, offset = divmod(step, per_epoch)
        ds = source.dataset(args.batch_size, seed=args.seed, repeat=True, start_epoch=epoch,
                            start_step=offset)
        t0 = time.time()
        history = model.fit(ds, steps_per_epoch=chunk, epochs=1, verbose=0).history
        trained += time.time() - t0
        step = int(model.steps_done.numpy())
        row = {"step": step, "phase": model.phase, "train_s": round(trained, 1),
               **{k: round(v[-1], 4) for k, v in history.items()},
               **{k: v for k, v in score(args.eval_n).items() if k != "example"}}
        print(json.dumps(row), flush=True)
        new = not os.path.exists(log_path)
        with open(log_path, "a", newline="") as f:
            w = csv.DictWriter(f, fieldnames=list(row))
            if new:
                w.writeheader()
            w.writerow(row)
        tmp = path + ".tmp.keras"
        model.save(tmp)
        os.replace(tmp, path)
        with open(clock, "w") as f:
            f.write(str(trained))

    result = {"task": args.task, "family": args.family, "steps": step, "train_s": round(trained),
              "options": options, "init": args.init, "batch_size": args.batch_size,
              "final_n": args.final_n, "scores": {}}
    for temperature in [float(t) for t in args.temperatures.split(",")]:
        result["scores"][str(temperature)] = score(args.final_n, temperature)
        print(json.dumps({"temperature": temperature, **result["scores"][str(temperature)]}),
              flush=True)
    with open(os.path.join(folder, "result.json"), "w") as f:
        json.dump(result, f, indent=1)


if __name__ == "__main__":
    sys.exit(main())
