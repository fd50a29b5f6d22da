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
    import torch.nn as nn
    import torch.nn.functional as F
except ImportError:
    print("torch_train.py: PyTorch is not installed (apt-get install python3-torch); skipped")
    sys.exit(0)


class Rms(nn.Module):
    def __init__(self, dim, eps):
        super().__init__()
        self.weight = nn.Parameter(torch.ones(dim))
        self.eps = eps

    def forward(self, x):
        return x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + self.eps) * self.weight


def rope(x, theta):  # x [B, T, H, D]; pairs (i, i + D/2)
    B, T, H, D = x.shape
    inv = theta ** (-torch.arange(0, D // 2, dtype=torch.float64) * 2.0 / D)
    ang = torch.arange(T, dtype=torch.float64)[:, None] * inv[None, :]
    cos, sin = ang.cos().float()[None, :, None, :], ang.sin().float()[None, :, None, :]
    x0, x1 = x[..., : D // 2], x[..., D // 2 :]
    return torch.cat([x0 * cos - x1 * sin, x0 * sin + x1 * cos], dim=-1)


class Layer(nn.Module):
    def __init__(self, a):
        super().__init__()
        hd = a.dim // a.heads
        self.a, self.hd = a, hd
        self.attn_norm, self.mlp_norm = Rms(a.dim, 1e-5), Rms(a.dim, 1e-5)
        self.q = nn.Linear(a.dim, a.heads * hd, bias=False)
        self.k = nn.Linear(a.dim, a.kv_heads * hd, bias=False)
        self.v = nn.Linear(a.dim, a.kv_heads * hd, bias=False)
        self.o = nn.Linear(a.heads * hd, a.dim, bias=False)
        self.gate = nn.Linear(a.dim, a.ffn, bias=False)
        self.up = nn.Linear(a.dim, a.ffn, bias=False)
        self.down = nn.Linear(a.ffn, a.dim, bias=False)

    def forward(self, x, mask):
        a, B, T = self.a, x.shape[0], x.shape[1]
        h = self.attn_norm(x)
        q = rope(self.q(h).view(B, T, a.heads, self.hd), a.theta).transpose(1, 2)
        k = rope(self.k(h).view(B, T, a.kv_heads, self.hd), a.theta).transpose(1, 2)
        v = self.v(h).view(B, T, a.kv_heads, self.hd).transpose(1, 2)
        rep = a.heads // a.kv_heads
        k, v = k.repeat_interleave(rep, dim=1), v.repeat_interleave(rep, dim=1)
        att = (q @ k.transpose(-1, -2)) / math.sqrt(self.hd) + mask
        y = (att.softmax(-1) @ v).transpose(1, 2).reshape(B, T, a.dim)
        x = x + self.o(y)
        h = self.mlp_norm(x)
        return x + self.down(F.silu(self.gate(h)) * self.up(h))


class Llama(nn.Module):
    def __init__(self, a):
        super().__init__()
        self.embed = nn.Embedding(a.vocab, a.dim)
        self.layers = nn.ModuleList([Layer(a) for _ in range(a.layers)])
        self.norm = Rms(a.dim, 1e-5)
        for name, p in self.named_parameters():
            if p.dim() >= 2:
                nn.init.normal_(p, 0.0, 0.02)
                if name.endswith("o.weight") or name.endswith("down.weight"):
                    p.data /= math.sqrt(2 * a.layers)

    def forward(self, idx, targets):
        T = idx.shape[1]
        mask = torch.full((T, T), float("-inf")).triu(1)
        x = self.embed(idx)
        for layer in self.layers:
            x = layer(x, mask)
        logits = self.norm(x) @ self.embed.weight.t()  # tied head
        return F.cross_entropy(logits.view(-1, logits.shape[-1]), targets.reshape(-1))


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
    a = p.parse_args()
    a.kv_heads = a.kv_heads or a.heads
    a.vocab = 256
    torch.manual_seed(a.seed)
    torch.set_num_threads(a.threads)

    data = torch.tensor(list(open(a.data, "rb").read()), dtype=torch.long)
    n_val = len(data) // 10
    train, val = data[: len(data) - n_val], data[len(data) - n_val :]
    model = Llama(a)
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
