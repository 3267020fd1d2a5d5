#!/bin/sh
# Image COCO scores of the text runs over sampling temperatures (docs/text.md):
# BLEU-2..5 of 2,000 sentences against the 10,000 test.txt captions, self-BLEU-2..5.
#   sh benchmarks/text_coco_scores.sh runs/text/coco-mle-cli [0.7 0.8 0.9 1.0]
run=$1; shift
temps=${*:-0.7 0.8 0.9 1.0}
for t in $temps; do
  kerasgan evaluate "$run" --metrics bleu,self_bleu --temperature "$t" --num-gen 2000 \
      --seed 0 --out "$run/scores-T$t.json" || exit 1
done
