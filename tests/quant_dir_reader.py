#!/usr/bin/env python3
"""Checks a directory build/it-quantize wrote against the model directory it came from, reading both
model.safetensors files with numpy alone (the layout is irontensor.h's >>checkpoints: QUANTISED
WEIGHTS, written from that description):

    python3 tests/quant_dir_reader.py QUANT_DIR MODEL_DIR

- __metadata__ names the type ("irontensor.weights": bf16, q8_0 or q4_0);
- the same tensor names; the decoder's matrices (projections, the head: lm_head or a tied embedding)
  in the type, everything else as the original's values;
- Q8_0 / Q4_0 matrices are U8 [out, in / 32 * block bytes], byte for byte what ggml's reference
  quantisers (gguf_reader.py's numpy transcription) make of the original's rows along the input
  (GPT-2's Conv1D [in, out] weights transposed first); bf16 ones as numpy rounds the original.
Prints one line per check and "N passed, N failed"; exit status 1 on any failure.
"""
import json
import os
import struct
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from gguf_reader import q4_0_ref, q8_0_ref, safetensors  # noqa: E402

BLOCK_BYTES = {"q8_0": 34, "q4_0": 18}


def raw_tensors(path):
    f = open(path, "rb").read()
    n = struct.unpack("<Q", f[:8])[0]
    h = json.loads(f[8:8 + n])
    meta = h.pop("__metadata__", {})
    return meta, {k: (v["dtype"], v["shape"], f[8 + n + v["data_offsets"][0]:8 + n + v["data_offsets"][1]]) for k, v in h.items()}


def bf16_round(x):  # round to nearest even, as the library and torch do (finite values)
    u = x.astype(np.float32).view(np.uint32).astype(np.uint64)
    u = (u + 0x7FFF + ((u >> 16) & 1)) >> 16
    return (u.astype(np.uint32) << 16).view(np.float32)


def main():
    qdir, mdir = sys.argv[1], sys.argv[2]
    meta, got = raw_tensors(os.path.join(qdir, "model.safetensors"))
    want = safetensors(os.path.join(mdir, "model.safetensors"))
    config = json.load(open(os.path.join(mdir, "config.json")))
    gpt2 = config.get("model_type") == "gpt2"
    tied = config.get("tie_word_embeddings", True)
    kind = meta.get("irontensor.weights")
    passed = failed = 0

    def check(ok, what):
        nonlocal passed, failed
        print(("ok   " if ok else "FAIL ") + what)
        passed, failed = passed + bool(ok), failed + (not ok)

    check(kind in ("bf16", "q8_0", "q4_0"), "irontensor.weights is %r" % kind)
    check(sorted(got) == sorted(want), "the same %d tensor names" % len(want))
    for name in sorted(want):
        if name not in got:
            continue
        dtype, shape, raw = got[name]
        w = want[name]
        conv1d = gpt2 and name.endswith((".c_attn.weight", ".c_proj.weight", ".c_fc.weight"))
        matrix = w.ndim == 2 and (name == "lm_head.weight" or conv1d or (not gpt2 and name.endswith("_proj.weight")) or
                                  (tied and name in ("model.embed_tokens.weight", "transformer.wte.weight", "wte.weight")))
        if not matrix:
            ok = dtype == "F32" and np.array_equal(np.frombuffer(raw, "<f4").reshape(shape), w)
            check(ok, "%s: F32, the original's values" % name)
        elif kind == "bf16":
            ok = dtype == "BF16" and list(shape) == list(w.shape)
            ok = ok and np.array_equal((np.frombuffer(raw, "<u2").astype(np.uint32) << 16).view(np.float32),
                                       bf16_round(w).reshape(-1))
            check(ok, "%s: BF16, the original rounded" % name)
        else:
            rows = w.T if conv1d else w  # [out, in]: blocks along the input
            ref = (q8_0_ref if kind == "q8_0" else q4_0_ref)(np.ascontiguousarray(rows).reshape(-1))
            want_shape = [rows.shape[0], rows.shape[1] // 32 * BLOCK_BYTES[kind]]
            ok = dtype == "U8" and list(shape) == want_shape and raw == ref
            check(ok, "%s: U8 %s, ggml's %s blocks of the original byte for byte" % (name, want_shape, kind))
    print("%d passed, %d failed" % (passed, failed))
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
