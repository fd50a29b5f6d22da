#!/usr/bin/env python3
"""Question -> answer pairs templated over tinyshakespeare's lines, as JSONL for build/finetune.

    python3 benchmarks/shakespeare_qa.py CORPUS OUT_DIR [N_TRAIN] [N_VALID] [TASK]

TASK "follows" (default) asks for the word that follows a given word of a quoted line:

    {"prompt": "Line: \"To be, or not to be\"\nWhich word follows \"or\"?\nAnswer:", "completion": " not"}

(the asked-for word occurs once in the line), TASK "first" for the line's first word:

    {"prompt": "Line: \"To be, or not to be\"\nWhich word opens the line?\nAnswer:", "completion": " To"}

Either way the answer is determined by the prompt: a model can only get it right by reading the
line (copying), not by remembering the play. Train pairs
come from the corpus's first 90% of lines, validation pairs from the last 10%: the validation
lines were never seen in fine-tuning. Deterministic (a fixed seed). Writes OUT_DIR/train.jsonl
and OUT_DIR/valid.jsonl; the corpus itself is not copied into the repository."""
import json
import random
import re
import sys


def words_of(line):
    # a word is its letters (and inner apostrophes): "be," -> "be"
    return [w for w in (re.sub(r"[^A-Za-z']", "", t).strip("'") for t in line.split()) if w]


def pairs(lines, rng, count, task):
    out = []
    while len(out) < count:
        line = rng.choice(lines)
        words = words_of(line)
        if task == "first":
            out.append({"prompt": 'Line: "%s"\nWhich word opens the line?\nAnswer:' % line, "completion": " " + words[0]})
            continue
        # an asked-for word that occurs once, so exactly one answer is right
        picks = [i for i in range(len(words) - 1) if words.count(words[i]) == 1]
        if not picks:
            continue
        i = rng.choice(picks)
        out.append({"prompt": 'Line: "%s"\nWhich word follows "%s"?\nAnswer:' % (line, words[i]),
                    "completion": " " + words[i + 1]})
    return out


def main():
    corpus, out_dir = sys.argv[1], sys.argv[2]
    n_train = int(sys.argv[3]) if len(sys.argv) > 3 else 4000
    n_valid = int(sys.argv[4]) if len(sys.argv) > 4 else 200
    task = sys.argv[5] if len(sys.argv) > 5 else "follows"
    if task not in ("follows", "first"):
        sys.exit("shakespeare_qa.py: TASK must be follows or first")
    lines = [l.strip() for l in open(corpus, encoding="utf-8", errors="replace")]
    # spoken lines of 5 to 12 words (not speaker names such as "ROMEO:", not stage directions)
    lines = [l for l in lines if 5 <= len(words_of(l)) <= 12 and not l.endswith(":")]
    cut = len(lines) * 9 // 10
    rng = random.Random(1234)
    for name, part, n in (("train", lines[:cut], n_train), ("valid", lines[cut:], n_valid)):
        with open("%s/%s.jsonl" % (out_dir, name), "w") as f:
            for p in pairs(part, rng, n, task):
                f.write(json.dumps(p) + "\n")


if __name__ == "__main__":
    main()
