"""PyTorch reference for build/train: the same Llama (RMSNorm pre-norm, half-split RoPE, GQA,
SwiGLU, tied head), the same byte-level data split (last 10% validation, non-overlapping
validation windows), the same init (N(0, 0.02), residual projections / sqrt(2 layers)), the same
AdamW with decay on matrices only, global-norm clipping and warmup + cosine schedule.
Written independently of the C code; used to compare final validation loss and wall time.

  /usr/bin/python3 benchmarks/torch_train.py --data ../shared/data/tinyshakespeare.txt --dim 128 \
      --layers 4 --heads 4 --ffn 384 --steps 300 --batch 16 --seq 128 --lr 1e-3 --beta2 0.95 \
      --wd 0.1 --warmup 20 --min-lr-ratio 0.1 --clip 1.0 --seed 1
"""
import argparse, math, time, sys

try:
    import torch
except ImportError:
    print("torch_train.py: PyTorch is not installed (apt-get install python3-torch); skipped")
    sys.exit(0)


from torch_llama import Llama  # noqa: E402 (after the torch check)


def read_safetensors(path):
    """Our own reader (no safetensors package): {name: float32 tensor}."""
    import json, struct
    raw = open(path, "rb").read()
    n = struct.unpack("<Q", raw[:8])[0]
    header, data = json.loads(raw[8 : 8 + n]), raw[8 + n :]
    out = {}
    for name, m in header.items():
        if name == "__metadata__":
            continue
        assert m["dtype"] == "F32", f"{name}: only F32 init checkpoints are supported"
        b, e = m["data_offsets"]
        out[name] = torch.frombuffer(bytearray(data[b:e]), dtype=torch.float32).reshape(m["shape"])
    return out


def load_init(model, directory):
    """Copies a step-0 checkpoint written by build/paired_export (Hugging Face Llama names)."""
    w = read_safetensors(directory + "/model.safetensors")
    names = {"embed.weight": "model.embed_tokens.weight", "norm.weight": "model.norm.weight"}
    for i in range(len(model.layers)):
        hf = f"model.layers.{i}."
        for ours, theirs in [("attn_norm", "input_layernorm"), ("mlp_norm", "post_attention_layernorm"),
                             ("q", "self_attn.q_proj"), ("k", "self_attn.k_proj"), ("v", "self_attn.v_proj"),
                             ("o", "self_attn.o_proj"), ("gate", "mlp.gate_proj"), ("up", "mlp.up_proj"),
                             ("down", "mlp.down_proj")]:
            names[f"layers.{i}.{ours}.weight"] = hf + theirs + ".weight"
    with torch.no_grad():
        for name, p in model.named_parameters():
            p.copy_(w[names[name]])


def lr_at(a, step):  # linear warmup from lr/warmup, then cosine to lr * min_lr_ratio
    if step < a.warmup:
        return a.lr * (step + 1) / a.warmup
    p = (step - a.warmup) / max(1, a.steps - a.warmup)
    floor = a.lr * a.min_lr_ratio
    return floor + (a.lr - floor) * 0.5 * (1 + math.cos(math.pi * p))


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--data", required=True)
    for name, default in [("dim", 128), ("layers", 4), ("heads", 4), ("kv-heads", 0), ("ffn", 384), ("steps", 300),
                          ("batch", 16), ("seq", 128), ("warmup", 20), ("seed", 1), ("threads", 2),
                          ("eval-batches", 8)]:
        p.add_argument("--" + name, type=int, default=default)
    for name, default in [("lr", 1e-3), ("beta1", 0.9), ("beta2", 0.95), ("wd", 0.1), ("min-lr-ratio", 0.1),
                          ("clip", 1.0), ("theta", 10000.0)]:
        p.add_argument("--" + name, type=float, default=default)
    p.add_argument("--init", help="start from these weights (build/paired_export's OUTDIR/init)")
    p.add_argument("--batches", help="train on these windows (build/paired_export's OUTDIR/batches.bin)")
    a = p.parse_args()
    a.kv_heads = a.kv_heads or a.heads
    a.vocab = 256
    torch.manual_seed(a.seed)
    torch.set_num_threads(a.threads)

    data = torch.tensor(list(open(a.data, "rb").read()), dtype=torch.long)
    n_val = len(data) // 10
    train, val = data[: len(data) - n_val], data[len(data) - n_val :]
    model = Llama(a)
    if a.init:
        load_init(model, a.init)
    batches = None
    if a.batches:
        import array
        words = array.array("i")
        words.frombytes(open(a.batches, "rb").read())
        batches = torch.tensor(words, dtype=torch.long).view(a.steps, a.batch, a.seq + 1)
    decay = [q for q in model.parameters() if q.dim() >= 2]
    no_decay = [q for q in model.parameters() if q.dim() < 2]
    opt = torch.optim.AdamW([{"params": decay, "weight_decay": a.wd}, {"params": no_decay, "weight_decay": 0.0}],
                            lr=a.lr, betas=(a.beta1, a.beta2), eps=1e-8)
    gen = torch.Generator().manual_seed(a.seed)

    def evaluate():
        model.eval()
        windows = (len(val) - 1) // a.seq
        total = 0.0
        with torch.no_grad():
            for i in range(a.eval_batches):
                w = [(i * a.batch + b) % windows for b in range(a.batch)]
                x = torch.stack([val[j * a.seq : j * a.seq + a.seq] for j in w])
                y = torch.stack([val[j * a.seq + 1 : j * a.seq + a.seq + 1] for j in w])
                total += model(x, y).item()
        model.train()
        return total / a.eval_batches

    t0 = time.time()
    loss = None
    for step in range(a.steps):
        for g in opt.param_groups:
            g["lr"] = lr_at(a, step)
        if batches is not None:
            x, y = batches[step, :, :-1], batches[step, :, 1:]
        else:
            starts = torch.randint(0, len(train) - a.seq, (a.batch,), generator=gen)
            x = torch.stack([train[s : s + a.seq] for s in starts])
            y = torch.stack([train[s + 1 : s + a.seq + 1] for s in starts])
        loss = model(x, y)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        if a.clip > 0:
            torch.nn.utils.clip_grad_norm_(model.parameters(), a.clip)
        opt.step()
        if (step + 1) % 50 == 0:
            print(f"step {step + 1}/{a.steps} loss {loss.item():.4f} {time.time() - t0:.1f}s", flush=True)
    elapsed = time.time() - t0
    val_loss = evaluate()
    tok_s = a.steps * a.batch * a.seq / elapsed
    print(f"torch: {elapsed:.1f} s, {elapsed / a.steps * 1000:.0f} ms/step, {tok_s:.0f} tok/s, {a.threads} threads")
    print(f"final step={a.steps} train_loss={loss.item():.4f} val_loss={val_loss:.4f}")


if __name__ == "__main__":
    main()
