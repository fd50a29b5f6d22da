#!/usr/bin/env python3
"""An independent GGUF v3 reader (written from ggml's docs/gguf.md, no ggml code) that checks a file
build/it-export-gguf wrote against the model directory it came from:

    python3 tests/gguf_reader.py FILE.gguf MODEL_DIR

- the header, every metadata key and tensor info parse, offsets are aligned and inside the file;
- general.architecture is llama.cpp's name for config.json's model_type (llama, qwen2, qwen3) and
  its ARCH.* keys equal config.json's values, the tokenizer arrays have one entry per token; a
  SentencePiece ("llama") tokenizer's scores give back tokenizer.json's merges (every split of a
  token into two tokens, ranked by score, then by the ids of the token and its halves);
- every tensor, with the Q/K permutation of convert_hf_to_gguf.py undone, matches model.safetensors:
  F32 exactly, F16 / BF16 as numpy rounds them, Q8_0 / Q4_0 byte for byte as ggml's reference
  quantisers (transcribed to numpy here) make them, and their dequantised values within the block
  error bound; rope_freqs.weight (llama3 rope scaling) is the factors llama.cpp's converter computes
  from config.json's rope parameters.
Prints one line per check and "N passed, N failed"; exit status 1 on any failure.
"""
import json
import struct
import sys

import numpy as np

GGML = {0: "F32", 1: "F16", 2: "Q4_0", 8: "Q8_0", 30: "BF16"}
BLOCK = {"Q8_0": (32, 34), "Q4_0": (32, 18)}


class Reader:
    def __init__(self, data):
        self.d, self.p = data, 0

    def take(self, n):
        if self.p + n > len(self.d):
            raise ValueError("truncated at byte %d (wanted %d more)" % (self.p, n))
        b = self.d[self.p:self.p + n]
        self.p += n
        return b

    def u32(self):
        return struct.unpack("<I", self.take(4))[0]

    def u64(self):
        return struct.unpack("<Q", self.take(8))[0]

    def string(self):
        n = self.u64()
        if n > 1 << 24:
            raise ValueError("string of %d bytes" % n)
        return self.take(n).decode("utf-8")

    def value(self, t):
        fixed = {0: "<B", 1: "<b", 2: "<H", 3: "<h", 4: "<I", 5: "<i", 6: "<f", 7: "<?", 10: "<Q", 11: "<q", 12: "<d"}
        if t in fixed:
            f = fixed[t]
            return struct.unpack(f, self.take(struct.calcsize(f)))[0]
        if t == 8:
            return self.string()
        if t == 9:
            et, n = self.u32(), self.u64()
            if n > 1 << 24:
                raise ValueError("array of %d elements" % n)
            return [self.value(et) for _ in range(n)]
        raise ValueError("unknown metadata value type %d" % t)


def read_gguf(path):
    data = open(path, "rb").read()
    r = Reader(data)
    if r.take(4) != b"GGUF":
        raise ValueError("no GGUF magic")
    version = r.u32()
    n_tensors, n_kv = r.u64(), r.u64()
    meta = {}
    for _ in range(n_kv):
        k = r.string()
        meta[k] = r.value(r.u32())
    infos = []
    for _ in range(n_tensors):
        name = r.string()
        nd = r.u32()
        dims = [r.u64() for _ in range(nd)]
        infos.append((name, dims, r.u32(), r.u64()))
    align = meta.get("general.alignment", 32)
    start = (r.p + align - 1) // align * align
    return version, meta, infos, start, align, data


def safetensors(path):
    f = open(path, "rb").read()
    n = struct.unpack("<Q", f[:8])[0]
    h = json.loads(f[8:8 + n])
    out = {}
    for k, v in h.items():
        if k == "__metadata__":
            continue
        b, e = v["data_offsets"]
        raw = f[8 + n + b:8 + n + e]
        if v["dtype"] == "F32":
            a = np.frombuffer(raw, "<f4")
        elif v["dtype"] == "BF16":
            a = (np.frombuffer(raw, "<u2").astype(np.uint32) << 16).view(np.float32)
        elif v["dtype"] == "F16":
            a = np.frombuffer(raw, "<f2").astype(np.float32)
        else:
            continue
        out[k] = a.reshape(v["shape"])
    return out


def q8_0_ref(x):  # ggml's quantize_row_q8_0_ref, block by block, in float32
    x = x.reshape(-1, 32).astype(np.float32)
    amax = np.abs(x).max(axis=1)
    d = (amax / np.float32(127)).astype(np.float32)
    with np.errstate(divide="ignore"):
        idv = np.where(d != 0, np.float32(1) / d, np.float32(0)).astype(np.float32)
    v = (x * idv[:, None]).astype(np.float32)
    q = (np.sign(v) * np.floor(np.abs(v) + np.float32(0.5))).astype(np.int8)  # roundf: half away from zero
    out = np.zeros((x.shape[0], 34), np.uint8)
    out[:, :2] = d.astype("<f2").view(np.uint8).reshape(-1, 2)
    out[:, 2:] = q.view(np.uint8)
    return out.tobytes()


def q4_0_ref(x):  # ggml's quantize_row_q4_0_ref
    x = x.reshape(-1, 32).astype(np.float32)
    idx = np.abs(x).argmax(axis=1)  # the first of equal magnitudes, as the C loop keeps it
    mx = x[np.arange(x.shape[0]), idx]
    d = (mx / np.float32(-8)).astype(np.float32)
    with np.errstate(divide="ignore"):
        idv = np.where(d != 0, np.float32(1) / d, np.float32(0)).astype(np.float32)
    v = (x * idv[:, None] + np.float32(8.5)).astype(np.float32)
    q = np.minimum(15, np.trunc(v).astype(np.int8)).astype(np.uint8)
    out = np.zeros((x.shape[0], 18), np.uint8)
    out[:, :2] = d.astype("<f2").view(np.uint8).reshape(-1, 2)
    out[:, 2:] = q[:, :16] | (q[:, 16:] << 4)
    return out.tobytes()


def dequant(kind, raw, n):
    if kind == "F32":
        return np.frombuffer(raw, "<f4", n)
    if kind == "F16":
        return np.frombuffer(raw, "<f2", n).astype(np.float32)
    if kind == "BF16":
        return (np.frombuffer(raw, "<u2", n).astype(np.uint32) << 16).view(np.float32)
    b = np.frombuffer(raw, np.uint8).reshape(-1, BLOCK[kind][1])
    d = b[:, :2].copy().view("<f2").astype(np.float32)
    if kind == "Q8_0":
        q = b[:, 2:].view(np.int8).astype(np.float32)
    else:
        q = np.concatenate([(b[:, 2:] & 15), (b[:, 2:] >> 4)], axis=1).astype(np.float32) - 8
    return (d * q).reshape(-1)


def optional_json(path):  # None when the model directory has no such file
    try:
        return json.load(open(path, encoding="utf-8"))
    except FileNotFoundError:
        return None


def unpermute(w, heads):  # inverse of convert_hf_to_gguf.py's permute
    rows = w.shape[0]
    return w.reshape(heads, rows // heads // 2, 2, *w.shape[1:]).swapaxes(1, 2).reshape(w.shape)


def main():
    path, model_dir = sys.argv[1], sys.argv[2]
    checks = []

    def check(ok, what):
        checks.append(bool(ok))
        print(("ok   " if ok else "FAIL ") + what)

    version, meta, infos, start, align, data = read_gguf(path)
    cfg = json.load(open(model_dir + "/config.json"))
    check(version == 3, "GGUF version %d" % version)
    arch = {"qwen2": "qwen2", "qwen3": "qwen3"}.get(cfg.get("model_type"), "llama")  # llama.cpp's names
    check(meta.get("general.architecture") == arch, "general.architecture %r (%s)" % (meta.get("general.architecture"), arch))
    heads, kv = cfg["num_attention_heads"], cfg.get("num_key_value_heads", cfg["num_attention_heads"])
    want = {"embedding_length": cfg["hidden_size"], "block_count": cfg["num_hidden_layers"],
            "feed_forward_length": cfg["intermediate_size"], "attention.head_count": heads,
            "attention.head_count_kv": kv, "context_length": cfg["max_position_embeddings"],
            "rope.dimension_count": cfg.get("head_dim") or cfg["hidden_size"] // heads,
            "vocab_size": cfg["vocab_size"]}
    for k, v in want.items():
        k = arch + "." + k
        check(meta.get(k) == v, "%s = %r (config.json %r)" % (k, meta.get(k), v))
    check(abs(meta[arch + ".attention.layer_norm_rms_epsilon"] - cfg["rms_norm_eps"]) < 1e-12, "rms eps")
    theta = cfg.get("rope_theta", (cfg.get("rope_parameters") or {}).get("rope_theta", 10000.0))
    check(abs(meta[arch + ".rope.freq_base"] - theta) <= 1e-6 * theta, "rope.freq_base %g" % meta[arch + ".rope.freq_base"])
    if "tokenizer.ggml.tokens" in meta:
        n = len(meta["tokenizer.ggml.tokens"])
        model = meta["tokenizer.ggml.model"]
        spm = model == "llama"  # SentencePiece: scores instead of merges
        check(model in ("gpt2", "llama") and n == cfg["vocab_size"] and len(meta["tokenizer.ggml.token_type"]) == n,
              "tokenizer: %s, %d tokens (the embedding's rows), %d merges" % (model, n, len(meta.get("tokenizer.ggml.merges", []))))
        types = meta["tokenizer.ggml.token_type"]
        toks = meta["tokenizer.ggml.tokens"]
        if spm:
            scores = meta.get("tokenizer.ggml.scores", [])
            check(len(scores) == n and all(np.isfinite(scores)), "one finite score per token")
            check("tokenizer.ggml.merges" not in meta, "no merges (llama.cpp's SPM merges by the scores)")
            check(set(types) <= {1, 2, 3, 4, 5, 6}, "token types are normal, unknown, control, user-defined, unused or byte")
            byte = ["<0x%02X>" % b for b in range(256)]
            check(sorted(toks[i] for i in range(n) if types[i] == 6) == byte, "the byte tokens are <0x00>..<0xFF>")
            check(isinstance(meta.get("tokenizer.ggml.add_space_prefix"), bool), "add_space_prefix is a bool")
            unk = meta.get("tokenizer.ggml.unknown_token_id")
            check(unk is None or types[unk] == 2, "the unknown token has type 2")
        else:
            check(all(" " in m for m in meta["tokenizer.ggml.merges"]), "every merge is 'left right'")
            check(set(types) <= {1, 3, 4, 5}, "token types are normal, control, user-defined or unused")
            check(meta["tokenizer.ggml.pre"] in ("gpt-2", "llama-bpe", "qwen2", "default"), "pre-tokenizer '%s'" % meta["tokenizer.ggml.pre"])
        for k in ("bos", "eos", "padding"):
            if "tokenizer.ggml.%s_token_id" % k in meta:
                check(0 <= meta["tokenizer.ggml.%s_token_id" % k] < n, "%s id inside the tokens" % k)
        for k in ("bos", "eos"):
            if "tokenizer.ggml.add_%s_token" % k in meta:
                check(isinstance(meta["tokenizer.ggml.add_%s_token" % k], bool), "add_%s_token is a bool" % k)
        gen = optional_json(model_dir + "/generation_config.json") or {}
        if gen.get("pad_token_id") is not None:  # it-export-gguf writes generation_config.json's pad id
            check(meta.get("tokenizer.ggml.padding_token_id") == gen["pad_token_id"],
                  "padding_token_id %r (generation_config.json %r)" % (meta.get("tokenizer.ggml.padding_token_id"), gen["pad_token_id"]))
        tj = optional_json(model_dir + "/tokenizer.json")
        if tj:  # the strings and merges of tokenizer.json itself, in id and rank order
            vocab = dict(tj["model"]["vocab"])
            vocab.update({t["content"]: t["id"] for t in tj.get("added_tokens", [])})
            by_id = {i: t for t, i in vocab.items()}
            check(all(toks[i] == by_id.get(i, "[PAD%d]" % i) for i in range(n)), "tokens are tokenizer.json's, in id order")
            unk = vocab.get(tj["model"].get("unk_token")) if spm else None
            special = {t["id"] for t in tj.get("added_tokens", []) if t["special"]} - {unk}
            check(all((types[i] == 3) == (i in special) and (types[i] == 5) == (i not in by_id) for i in range(n)),
                  "control tokens are the special added tokens, unused ones the [PADi]")
            merges = [m if isinstance(m, str) else " ".join(m) for m in tj["model"].get("merges", [])]
            if spm:  # the merges the scores stand for: every split of a normal / byte token into two, by score
                pieces = {toks[i]: i for i in range(n) if types[i] in (1, 6)}
                derived = []
                for t, i in pieces.items():
                    for k in range(1, len(t)):
                        if t[:k] in pieces and t[k:] in pieces:
                            derived.append((-scores[i], i, pieces[t[:k]], pieces[t[k:]], t[:k] + " " + t[k:]))
                check([m[4] for m in sorted(derived)] == merges, "the scores give tokenizer.json's merges, in rank order")
            else:
                check(meta["tokenizer.ggml.merges"] == merges, "merges are tokenizer.json's, in rank order")
    st = safetensors(model_dir + "/model.safetensors")
    names = {"token_embd.weight": "model.embed_tokens.weight", "output_norm.weight": "model.norm.weight",
             "output.weight": "lm_head.weight"}
    parts = {"attn_norm": "input_layernorm", "attn_q": "self_attn.q_proj", "attn_k": "self_attn.k_proj",
             "attn_v": "self_attn.v_proj", "attn_output": "self_attn.o_proj", "ffn_norm": "post_attention_layernorm",
             "ffn_gate": "mlp.gate_proj", "ffn_up": "mlp.up_proj", "ffn_down": "mlp.down_proj",
             "attn_q_norm": "self_attn.q_norm", "attn_k_norm": "self_attn.k_norm"}
    end = len(data)
    for name, dims, t, off in infos:
        kind = GGML.get(t)
        if kind is None:
            check(False, "%s: unexpected type %d" % (name, t))
            continue
        n = int(np.prod(dims))
        nbytes = n * 4 if kind == "F32" else n * 2 if kind in ("F16", "BF16") else n // 32 * BLOCK[kind][1]
        ok = off % align == 0 and start + off + nbytes <= end
        check(ok, "%s %s %s at %d: aligned, inside the file" % (name, kind, dims, off))
        if not ok:
            continue
        raw = data[start + off:start + off + nbytes]
        if name == "rope_freqs.weight":  # llama3 rope scaling: llama.cpp's converter's factors from config.json
            rp = cfg.get("rope_scaling") or cfg.get("rope_parameters") or {}
            dim = cfg.get("head_dim") or cfg["hidden_size"] // heads
            freqs = 1.0 / (theta ** (np.arange(0, dim, 2) / dim))
            factor, low, high = rp.get("factor", 8.0), rp.get("low_freq_factor", 1.0), rp.get("high_freq_factor", 4.0)
            old = rp.get("original_max_position_embeddings", 8192)
            want = []
            for f in freqs:
                wavelen = 2 * np.pi / f
                if wavelen < old / high:
                    want.append(1.0)
                elif wavelen > old / low:
                    want.append(factor)
                else:
                    smooth = (old / wavelen - low) / (high - low)
                    want.append(1 / ((1 - smooth) / factor + smooth))
            check(rp.get("rope_type") == "llama3" and kind == "F32" and list(dims) == [dim // 2] and
                  np.allclose(dequant(kind, raw, n), want, rtol=1e-6, atol=0), "rope_freqs.weight: llama3's factors %s" % want)
            continue
        if name.startswith("blk."):
            layer, part, suffix = name.split(".")[1:4]  # weight or bias (qwen2's q/k/v)
            hf = "model.layers.%s.%s.%s" % (layer, parts[part], suffix)
        else:
            hf = names[name]
        src = st[hf]
        check(list(dims) == list(src.shape[::-1]), "%s dims %s = %s reversed" % (name, dims, list(src.shape)))
        w = dequant(kind, raw, n).reshape(src.shape)
        permuted = arch == "llama"  # qwen2 / qwen3 keep Hugging Face's rows (llama.cpp's NEOX rope)
        if permuted and name.endswith("attn_q.weight"):
            w = unpermute(w, heads)
        elif permuted and name.endswith("attn_k.weight"):
            w = unpermute(w, kv)
        if kind == "F32":
            check(np.array_equal(w, src), "%s equals %s" % (name, hf))
        elif kind == "F16":
            check(np.array_equal(w, src.astype(np.float16).astype(np.float32)), "%s is %s in f16" % (name, hf))
        elif kind == "BF16":
            b = src.astype(np.float32).view(np.uint32)
            r = ((b + 0x7FFF + ((b >> 16) & 1)) >> 16 << 16).view(np.float32)  # nearest even
            check(np.array_equal(w, r), "%s is %s in bf16" % (name, hf))
        else:
            rows = src
            if permuted and (name.endswith("attn_q.weight") or name.endswith("attn_k.weight")):
                h = heads if name.endswith("attn_q.weight") else kv
                rows = src.reshape(h, 2, src.shape[0] // h // 2, *src.shape[1:]).swapaxes(1, 2).reshape(src.shape)
            ref = (q8_0_ref if kind == "Q8_0" else q4_0_ref)(rows)
            check(ref == bytes(raw), "%s blocks are ggml's reference %s of %s" % (name, kind, hf))
            amax = np.abs(src.reshape(-1, 32)).max(axis=1, keepdims=True)
            d = amax / 127 if kind == "Q8_0" else amax / 8  # |error| <= d / 2 (Q8_0) or d (Q4_0's clamp at 7 d),
            ulp = np.maximum(d / 2048, 2.0 ** -25)  # plus the fp16 scale's rounding times the largest |q|
            bound = (0.5 * d + 127 * ulp if kind == "Q8_0" else d + 8 * ulp) * (1 + 1e-6)
            check(np.all(np.abs((w - src).reshape(-1, 32)) <= bound), "%s within its block error bound" % name)
    print("%d passed, %d failed" % (sum(checks), len(checks) - sum(checks)))
    return 0 if all(checks) else 1


if __name__ == "__main__":
    sys.exit(main())
