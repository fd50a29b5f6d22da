#!/usr/bin/python3
"""PyTorch parity for IronTensor-C checkpoints: the Python half of tests/parity (see parity_dump.c).

    /usr/bin/python3 tests/parity/parity_torch.py OUTDIR [OUTDIR ...]
    /usr/bin/python3 tests/parity/parity_torch.py --generate CKPT --prompt TEXT --tokens N --expect FILE
    (any mix of both, in one run: importing torch is the slow part)

The first form reads OUTDIR/dump.safetensors (written by build/parity_dump) and the checkpoint it
names (config.json + model.safetensors). It builds Llama / GPT-2 in plain PyTorch with Hugging Face
semantics, independently of the C code: it needs neither `transformers` nor `safetensors`, both
files are parsed here with struct + json. It computes logits, the mean cross-entropy and every
parameter gradient on the dump's fixed batch (in float64, so the reference carries no rounding of
its own) and checks the library's values: per tensor ||c - ref|| / ||ref|| <= 1e-4, and elementwise
|c - ref| <= 1e-4 |ref| + 1e-4 max|ref| (an absolute floor at the tensor's scale). Greedy decoding
from the dump's prompt must give the same 20 tokens. When the dump has a bf16 checkpoint, the bf16
weights must be the f32 weights rounded to nearest-even, logits from them must match the library's
logits after reloading that checkpoint (1e-4), and the f32 model's logits to bf16 tolerance (1e-2).

The --generate form is the issue's "Done when" check: greedy-decode N tokens from a byte-level
checkpoint (e.g. written by build/train --save) with a window of max-seq tokens, exactly like
build/generate --greedy, and compare the bytes with FILE (that program's stdout).

Prints one line per check, ends with "N passed, N failed", exits 1 on any failure. Exits 0 with a
notice when torch cannot be imported.
"""
import json
import math
import os
import struct
import sys
import zlib

try:
    import torch
    import torch.nn.functional as F
except Exception as e:  # pragma: no cover - the skip path
    print("parity_torch: SKIPPED, cannot import torch (%s)" % e)
    sys.exit(0)

RTOL = 1e-4
BF16_TOL = 1e-2
REF = torch.float64

passed = 0
failed = 0


def check(ok, label, detail=""):
    global passed, failed
    if ok:
        passed += 1
    else:
        failed += 1
    print("%s %s%s" % ("ok  " if ok else "FAIL", label, ("  " + detail) if detail else ""))
    return ok


# ---- safetensors, read here (struct + json) ------------------------------------------------------
def read_safetensors(path):
    """-> (tensors: name -> torch tensor (F32/I32 as is, BF16 converted to float32), metadata, dtypes)."""
    with open(path, "rb") as f:
        raw = f.read()
    if len(raw) < 8:
        raise ValueError("%s: shorter than 8 bytes" % path)
    (n,) = struct.unpack("<Q", raw[:8])
    if n > len(raw) - 8:
        raise ValueError("%s: header length %d beyond the file" % (path, n))
    header = json.loads(raw[8:8 + n].decode("utf-8"))
    data = raw[8 + n:]
    meta = header.pop("__metadata__", {}) or {}
    out, dtypes = {}, {}
    sizes = {"F32": 4, "I32": 4, "BF16": 2}
    spans = []
    for name, info in header.items():
        dt, shape, (b, e) = info["dtype"], info["shape"], info["data_offsets"]
        if dt not in sizes:
            raise ValueError("%s: tensor %s has dtype %s (only F32, BF16, I32)" % (path, name, dt))
        numel = 1
        for d in shape:
            numel *= d
        if not (0 <= b <= e <= len(data)) or e - b != numel * sizes[dt]:
            raise ValueError("%s: tensor %s: offsets [%d, %d] do not fit shape %s %s" % (path, name, b, e, shape, dt))
        spans.append((b, e))
        buf = bytearray(data[b:e])
        if dt == "F32":
            t = torch.frombuffer(buf, dtype=torch.float32) if numel else torch.zeros(0)
        elif dt == "I32":
            t = torch.frombuffer(buf, dtype=torch.int32) if numel else torch.zeros(0, dtype=torch.int32)
        else:  # BF16: the high half of an f32
            h = torch.frombuffer(buf, dtype=torch.int16).to(torch.int32) & 0xFFFF
            t = (h << 16).view(torch.float32)
        out[name] = t.reshape(shape).clone()
        dtypes[name] = dt
    spans.sort()
    pos = 0
    for b, e in spans:
        if b != pos:
            raise ValueError("%s: data region has a gap or overlap at %d" % (path, b))
        pos = e
    if pos != len(data):
        raise ValueError("%s: %d trailing bytes after the last tensor" % (path, len(data) - pos))
    crc = meta.get("irontensor.crc32_data")
    if crc is not None and int(crc, 16) != zlib.crc32(data) & 0xFFFFFFFF:
        raise ValueError("%s: data CRC-32 %s does not match %08x" % (path, crc, zlib.crc32(data) & 0xFFFFFFFF))
    return out, meta, dtypes


def read_config(ckpt):
    with open(os.path.join(ckpt, "config.json")) as f:
        j = json.load(f)
    mt = j.get("model_type")
    if mt == "llama":
        C, H = j["hidden_size"], j["num_attention_heads"]
        return dict(arch="llama", V=j["vocab_size"], C=C, L=j["num_hidden_layers"], H=H,
                    KV=j.get("num_key_value_heads") or H, D=j.get("head_dim") or C // H, F=j["intermediate_size"],
                    S=j.get("max_position_embeddings", 2048), eps=j.get("rms_norm_eps", 1e-6),
                    theta=j.get("rope_theta", 10000.0), tied=j.get("tie_word_embeddings", False))
    if mt == "gpt2":
        C = j["n_embd"]
        if j.get("activation_function", "gelu_new") != "gelu_new":
            raise ValueError("activation_function %s" % j["activation_function"])
        return dict(arch="gpt2", V=j["vocab_size"], C=C, L=j["n_layer"], H=j["n_head"], KV=j["n_head"],
                    D=C // j["n_head"], F=j.get("n_inner") or 4 * C, S=j["n_positions"],
                    eps=j.get("layer_norm_epsilon", 1e-5), tied=j.get("tie_word_embeddings", True))
    raise ValueError("model_type %r" % mt)


def expected_shapes(c):
    V, C, F_, L = c["V"], c["C"], c["F"], c["L"]
    s = {}
    if c["arch"] == "llama":
        kv = c["KV"] * c["D"]
        s["model.embed_tokens.weight"] = [V, C]
        for l in range(L):
            p = "model.layers.%d." % l
            s[p + "input_layernorm.weight"] = [C]
            s[p + "self_attn.q_proj.weight"] = [c["H"] * c["D"], C]
            s[p + "self_attn.k_proj.weight"] = [kv, C]
            s[p + "self_attn.v_proj.weight"] = [kv, C]
            s[p + "self_attn.o_proj.weight"] = [C, c["H"] * c["D"]]
            s[p + "post_attention_layernorm.weight"] = [C]
            s[p + "mlp.gate_proj.weight"] = [F_, C]
            s[p + "mlp.up_proj.weight"] = [F_, C]
            s[p + "mlp.down_proj.weight"] = [C, F_]
        s["model.norm.weight"] = [C]
    else:
        s["transformer.wte.weight"] = [V, C]
        s["transformer.wpe.weight"] = [c["S"], C]
        for l in range(L):
            p = "transformer.h.%d." % l
            s.update({p + "ln_1.weight": [C], p + "ln_1.bias": [C], p + "attn.c_attn.weight": [C, 3 * C],
                      p + "attn.c_attn.bias": [3 * C], p + "attn.c_proj.weight": [C, C], p + "attn.c_proj.bias": [C],
                      p + "ln_2.weight": [C], p + "ln_2.bias": [C], p + "mlp.c_fc.weight": [C, F_],
                      p + "mlp.c_fc.bias": [F_], p + "mlp.c_proj.weight": [F_, C], p + "mlp.c_proj.bias": [C]})
        s["transformer.ln_f.weight"] = [C]
        s["transformer.ln_f.bias"] = [C]
    if not c["tied"]:
        s["lm_head.weight"] = [V, C]
    return s


def load_checkpoint(ckpt):
    c = read_config(ckpt)
    w, _, dtypes = read_safetensors(os.path.join(ckpt, "model.safetensors"))
    if c["arch"] == "gpt2":  # transformers also accepts GPT-2 names without the prefix
        w = {("transformer." + k if not k.startswith("transformer.") and k != "lm_head.weight" else k): v for k, v in w.items()}
    want = expected_shapes(c)
    if set(w) != set(want):
        raise ValueError("%s: tensors missing %s, unexpected %s" % (ckpt, sorted(set(want) - set(w)), sorted(set(w) - set(want))))
    for k, shape in want.items():
        if list(w[k].shape) != shape:
            raise ValueError("%s: %s has shape %s, config implies %s" % (ckpt, k, list(w[k].shape), shape))
    return c, w, dtypes


# ---- the models, Hugging Face semantics ----------------------------------------------------------
def rms_norm(x, w, eps):  # LlamaRMSNorm
    return w * (x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + eps))


def rotate_half(x):
    x1, x2 = x[..., : x.shape[-1] // 2], x[..., x.shape[-1] // 2:]
    return torch.cat((-x2, x1), dim=-1)


def causal_attention(q, k, v):  # [B, H, T, D] each
    T, D = q.shape[-2], q.shape[-1]
    s = (q @ k.transpose(-1, -2)) / math.sqrt(D)
    mask = torch.ones(T, T, dtype=torch.bool).triu(1)
    s = s.masked_fill(mask, float("-inf"))
    return torch.softmax(s, dim=-1) @ v


def llama_forward(c, w, tokens):
    B, T = tokens.shape
    H, KV, D = c["H"], c["KV"], c["D"]
    x = w["model.embed_tokens.weight"][tokens.long()]
    inv_freq = 1.0 / (c["theta"] ** (torch.arange(0, D, 2, dtype=REF) / D))
    freqs = torch.arange(T, dtype=REF)[:, None] * inv_freq[None, :]
    emb = torch.cat((freqs, freqs), dim=-1)
    cos, sin = emb.cos().to(x.dtype), emb.sin().to(x.dtype)
    for l in range(c["L"]):
        p = "model.layers.%d." % l
        h = rms_norm(x, w[p + "input_layernorm.weight"], c["eps"])
        q = (h @ w[p + "self_attn.q_proj.weight"].T).view(B, T, H, D).transpose(1, 2)
        k = (h @ w[p + "self_attn.k_proj.weight"].T).view(B, T, KV, D).transpose(1, 2)
        v = (h @ w[p + "self_attn.v_proj.weight"].T).view(B, T, KV, D).transpose(1, 2)
        q = q * cos + rotate_half(q) * sin
        k = k * cos + rotate_half(k) * sin
        k = k.repeat_interleave(H // KV, dim=1)  # repeat_kv
        v = v.repeat_interleave(H // KV, dim=1)
        a = causal_attention(q, k, v).transpose(1, 2).reshape(B, T, H * D)
        x = x + a @ w[p + "self_attn.o_proj.weight"].T
        h = rms_norm(x, w[p + "post_attention_layernorm.weight"], c["eps"])
        m = F.silu(h @ w[p + "mlp.gate_proj.weight"].T) * (h @ w[p + "mlp.up_proj.weight"].T)
        x = x + m @ w[p + "mlp.down_proj.weight"].T
    x = rms_norm(x, w["model.norm.weight"], c["eps"])
    head = w["model.embed_tokens.weight"] if c["tied"] else w["lm_head.weight"]
    return x @ head.T


def gelu_new(x):
    return 0.5 * x * (1.0 + torch.tanh(math.sqrt(2.0 / math.pi) * (x + 0.044715 * torch.pow(x, 3.0))))


def gpt2_forward(c, w, tokens):
    B, T = tokens.shape
    C, H, D = c["C"], c["H"], c["D"]
    x = w["transformer.wte.weight"][tokens.long()] + w["transformer.wpe.weight"][torch.arange(T)]
    for l in range(c["L"]):
        p = "transformer.h.%d." % l
        h = F.layer_norm(x, (C,), w[p + "ln_1.weight"], w[p + "ln_1.bias"], c["eps"])
        qkv = h @ w[p + "attn.c_attn.weight"] + w[p + "attn.c_attn.bias"]  # Conv1D: x W + b, W [in, out]
        q, k, v = qkv.split(C, dim=2)
        q, k, v = (t.view(B, T, H, D).transpose(1, 2) for t in (q, k, v))
        a = causal_attention(q, k, v).transpose(1, 2).reshape(B, T, C)
        x = x + a @ w[p + "attn.c_proj.weight"] + w[p + "attn.c_proj.bias"]
        h = F.layer_norm(x, (C,), w[p + "ln_2.weight"], w[p + "ln_2.bias"], c["eps"])
        h = gelu_new(h @ w[p + "mlp.c_fc.weight"] + w[p + "mlp.c_fc.bias"])
        x = x + h @ w[p + "mlp.c_proj.weight"] + w[p + "mlp.c_proj.bias"]
    x = F.layer_norm(x, (C,), w["transformer.ln_f.weight"], w["transformer.ln_f.bias"], c["eps"])
    head = w["transformer.wte.weight"] if c["tied"] else w["lm_head.weight"]
    return x @ head.T


def forward(c, w, tokens):
    return (llama_forward if c["arch"] == "llama" else gpt2_forward)(c, w, tokens)


def as_ref(w, grad=False):
    return {k: v.to(REF).requires_grad_(grad) for k, v in w.items()}


# ---- comparisons -----------------------------------------------------------------------------------
def compare(label, got, ref, rtol=RTOL):
    got, ref = got.to(REF).detach(), ref.to(REF).detach()
    if got.shape != ref.shape:
        return check(False, label, "shape %s vs reference %s" % (list(got.shape), list(ref.shape)))
    diff = (got - ref).abs()
    rnorm = ref.norm().item()
    rel = (got - ref).norm().item() / rnorm if rnorm > 0 else (got - ref).norm().item()
    floor = rtol * ref.abs().max().item()
    bad = int((diff > rtol * ref.abs() + floor).sum().item())
    return check(rel <= rtol and bad == 0, label,
                 "rel %.2e, max abs err %.2e (|ref| max %.2e), %d elements out of tolerance" % (rel, diff.max().item(), ref.abs().max().item(), bad))


def greedy(c, w, prompt, n, window=None):
    """Greedy tokens and, for each, the gap between the best and the second-best logit."""
    ctx, out, gaps = list(prompt), [], []
    with torch.no_grad():
        for _ in range(n):
            win = ctx[-window:] if window else ctx
            logits = forward(c, w, torch.tensor([win], dtype=torch.int64))[0, -1]
            top = torch.topk(logits, 2)
            nxt = int(torch.argmax(logits).item())
            out.append(nxt)
            gaps.append((top.values[0] - top.values[1]).item())
            ctx.append(nxt)
    return out, gaps


def run_dump(outdir):
    dump, meta, _ = read_safetensors(os.path.join(outdir, "dump.safetensors"))
    name = meta.get("variant", outdir)
    ck = meta["checkpoint"]
    ck = ck if os.path.isabs(ck) else os.path.join(outdir, ck)
    ck = ck if os.path.isdir(ck) else meta["checkpoint"]  # --from-checkpoint paths are relative to the cwd
    try:
        c, w32, dtypes = load_checkpoint(ck)
    except Exception as e:
        check(False, "%s: read %s" % (name, ck), str(e))
        return
    check(True, "%s: read %s (%s, %d tensors, %s)" % (name, ck, c["arch"], len(w32), "tied" if c["tied"] else "untied"))
    tokens, targets = dump["tokens"], dump["targets"].long()
    ignore = int(meta.get("ignore_index", "-1"))
    V = c["V"]

    w = as_ref(w32, grad=True)
    logits = forward(c, w, tokens)
    loss = F.cross_entropy(logits.reshape(-1, V), targets.reshape(-1), ignore_index=ignore)
    loss.backward()
    compare("%s: logits %s" % (name, list(logits.shape)), dump["logits"], logits)
    compare("%s: loss (ref %.6f, C %.6f)" % (name, loss.item(), dump["loss"].item()), dump["loss"], loss.reshape(1))

    grads = {k[5:]: v for k, v in dump.items() if k.startswith("grad.")}
    check(set(grads) == set(w), "%s: a gradient for every checkpoint tensor (%d)" % (name, len(w)),
          "missing %s, extra %s" % (sorted(set(w) - set(grads)), sorted(set(grads) - set(w))) if set(grads) != set(w) else "")
    worst = (0.0, "")
    for k in sorted(w):
        if k in grads:
            g = w[k].grad
            rel = (grads[k].to(REF) - g).norm().item() / max(g.norm().item(), 1e-300)
            worst = max(worst, (rel, k))
            compare("%s: grad %s %s" % (name, k, list(g.shape)), grads[k], g)
    print("     %s: worst gradient %s rel %.2e" % (name, worst[1], worst[0]))

    prompt = [int(t) for t in dump["prompt"].tolist()]
    want = [int(t) for t in dump["greedy"].tolist()]
    got, gaps = greedy(c, as_ref(w32), prompt, len(want))
    first = next((i for i in range(len(want)) if got[i] != want[i]), None)
    check(first is None, "%s: greedy decode of %d tokens from prompt %s" % (name, len(want), prompt),
          "C %s, torch %s" % (want, got) if first is not None else "smallest top-1/top-2 gap %.3g" % min(gaps))
    if first is not None:
        print("     first difference at step %d, torch's top-1/top-2 gap there %.3g" % (first, gaps[first]))

    if "logits_bf16" in dump:
        ckb = os.path.join(outdir, meta.get("checkpoint_bf16", "ckpt_bf16"))
        try:
            cb, wb, dtb = load_checkpoint(ckb)
        except Exception as e:
            check(False, "%s: read bf16 %s" % (name, ckb), str(e))
            return
        check(all(d == "BF16" for d in dtb.values()) and cb == c, "%s: bf16 checkpoint read (%d BF16 tensors, same config)" % (name, len(wb)))
        rounded = all(torch.equal(wb[k], w32[k].to(torch.bfloat16).to(torch.float32)) for k in w32)
        check(rounded, "%s: bf16 weights = f32 weights rounded to nearest even" % name)
        with torch.no_grad():
            lb = forward(cb, as_ref(wb), tokens)
        compare("%s: logits from the bf16 checkpoint vs the library's after reloading it" % name, dump["logits_bf16"], lb)
        compare("%s: logits from the bf16 checkpoint vs the f32 model (bf16 tolerance %g)" % (name, BF16_TOL), lb, dump["logits"].to(REF), rtol=BF16_TOL)


def run_generate(ckpt, prompt, n, expect_path):
    c, w32, _ = load_checkpoint(ckpt)
    if os.path.exists(os.path.join(ckpt, "tokenizer.bin")):
        print("parity_torch: %s has a BPE tokenizer; the generate check needs a byte-level checkpoint, skipped" % ckpt)
        return
    ids = list(prompt.encode("utf-8"))
    got, gaps = greedy(c, as_ref(w32), ids, n, window=c["S"])
    text = bytes(ids) + bytes(t for t in got if t < 256) + b"\n"
    with open(expect_path, "rb") as f:
        want = f.read()
    check(text == want, "%s: %d greedy tokens in torch = build/generate --greedy (smallest top-1/top-2 gap %.3g)" % (ckpt, n, min(gaps)),
          "" if text == want else "torch %r, generate %r" % (text, want))


def main(argv):
    torch.manual_seed(0)
    args, jobs = argv[1:], []
    while args:  # OUTDIR ... and --generate CKPT --prompt TEXT --tokens N --expect FILE, in any order
        if args[0] == "--generate":
            opts = dict(zip(args[2:8:2], args[3:8:2]))
            if len(args) < 8 or set(opts) != {"--prompt", "--tokens", "--expect"}:
                print("parity_torch: --generate CKPT --prompt TEXT --tokens N --expect FILE")
                return 2
            jobs.append(("generate", args[1], opts))
            args = args[8:]
        else:
            jobs.append(("dump", args[0], None))
            args = args[1:]
    if not jobs:
        print(__doc__)
        return 2
    for kind, path, opts in jobs:
        try:
            if kind == "dump":
                run_dump(path)
            else:
                run_generate(path, opts["--prompt"], int(opts["--tokens"]), opts["--expect"])
        except Exception as e:  # any crash is a failed check, not a traceback
            check(False, "%s %s" % (kind, path), "%s: %s" % (type(e).__name__, e))
    print("%d passed, %d failed" % (passed, failed))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
