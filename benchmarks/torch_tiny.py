"""PyTorch side of `make bench`: IronTensor's protocol (DESIGN section 7) on the same `tiny` Llama that
build/bench runs - RMSNorm pre-norm, half-split RoPE, GQA, SwiGLU, tied head, fp32 - with the same
step: random token ids, Lion (lr 3e-4, betas 0.9/0.99, wd 0.1 on matrices), global-norm clip 1.0,
cosine schedule with 5 warmup steps, 5 warmup steps discarded, then N timed steps. Then greedy
generation of 100 tokens with a KV cache after 5- and 20-token prompts (prompt as one batch).
Written independently of the C code. Ends with one machine-readable line (step_ms is the mean of the
timed steps, step_median_ms and the min / max their median and spread):
  torch step_ms=X tok_s=Y peak_rss_mb=Z decode_tok_s=D ttft5_ms=A ttft20_ms=B step_median_ms=M step_min_ms=.. step_max_ms=..

  /usr/bin/python3 benchmarks/torch_tiny.py [--quick] [--steps N] [--vocab V] [--batch B] [--seq T] [--threads K]
"""
import argparse, math, resource, statistics, sys, time

try:
    import torch
except ImportError:
    print("torch_tiny.py: PyTorch is not installed (apt-get install python3-torch); skipped")
    sys.exit(0)


from torch_llama import Llama  # noqa: E402 (after the torch check)


class Lion(torch.optim.Optimizer):
    """Chen et al. 2023: c = b1 m + (1 - b1) g; p -= lr (sign(c) + wd p); m = b2 m + (1 - b2) g."""

    def __init__(self, params, lr, betas, weight_decay):
        super().__init__(params, dict(lr=lr, betas=betas, weight_decay=weight_decay))

    @torch.no_grad()
    def step(self):
        for group in self.param_groups:
            b1, b2 = group["betas"]
            for p in group["params"]:
                if p.grad is None:
                    continue
                st = self.state[p]
                if not st:
                    st["m"] = torch.zeros_like(p)
                m = st["m"]
                c = m.mul(b1).add_(p.grad, alpha=1 - b1)
                p.mul_(1 - group["lr"] * group["weight_decay"]).add_(c.sign_(), alpha=-group["lr"])
                m.mul_(b2).add_(p.grad, alpha=1 - b2)


def lr_at(step, base, warmup, total):  # linear warmup from base/warmup, then cosine to 0
    if step < warmup:
        return base * (step + 1) / warmup
    p = min(1.0, (step - warmup) / max(1, total - warmup))
    return base * 0.5 * (1 + math.cos(math.pi * p))


@torch.no_grad()
def generate(model, prompt, n_gen, max_seq):
    a = model.a
    hd = a.dim // a.heads
    caches = [(torch.zeros(1, a.kv_heads, max_seq, hd), torch.zeros(1, a.kv_heads, max_seq, hd)) for _ in model.layers]
    t0 = time.perf_counter()
    h = model.hidden(prompt[None, :], 0, caches)
    tok = int((h[0, -1] @ model.embed.weight.t()).argmax())
    t1 = time.perf_counter()
    pos = prompt.shape[0]
    for _ in range(n_gen - 1):
        h = model.hidden(torch.tensor([[tok]]), pos, caches)
        tok = int((h[0, -1] @ model.embed.weight.t()).argmax())
        pos += 1
    t2 = time.perf_counter()
    return (t1 - t0) * 1e3, (n_gen - 1) / (t2 - t1)


def train(a, autocast_dtype=None):
    """The benchmark's training steps; autocast_dtype (torch.bfloat16) runs forward and loss under
    torch.autocast on the CPU (benchmarks/torch_bf16.py). Returns the model, ms per timed step,
    tokens/s, the first and last loss and the timed steps' seconds."""
    torch.manual_seed(a.seed)
    torch.set_num_threads(a.threads)
    model = Llama(a)
    decay = [q for q in model.parameters() if q.dim() >= 2]
    no_decay = [q for q in model.parameters() if q.dim() < 2]
    opt = Lion([{"params": decay, "weight_decay": 0.1}, {"params": no_decay, "weight_decay": 0.0}], lr=3e-4,
               betas=(0.9, 0.99), weight_decay=0.1)
    total = a.warmup + a.steps
    elapsed, first, last, times = 0.0, None, None, []
    for step in range(total):
        x = torch.randint(0, a.vocab, (a.batch, a.seq))
        y = torch.randint(0, a.vocab, (a.batch, a.seq))
        for g in opt.param_groups:
            g["lr"] = lr_at(step, 3e-4, 5, total)
        t0 = time.perf_counter()
        with torch.autocast("cpu", dtype=autocast_dtype or torch.bfloat16, enabled=autocast_dtype is not None):
            loss = model(x, y)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        if step >= a.warmup:
            times.append(time.perf_counter() - t0)
            elapsed += times[-1]
        last = loss.item()
        first = last if first is None else first
    return model, elapsed / a.steps * 1e3, a.batch * a.seq * a.steps / elapsed, first, last, times


def main():
    p = argparse.ArgumentParser()
    for name, default in [("steps", 50), ("warmup", 5), ("vocab", 32000), ("batch", 16), ("seq", 256), ("threads", 2),
                          ("gen", 100), ("seed", 1)]:
        p.add_argument("--" + name, type=int, default=default)
    p.add_argument("--quick", action="store_true")
    a = p.parse_args()
    if a.quick:
        a.steps, a.warmup = 5, 2
    a.dim, a.layers, a.heads, a.kv_heads, a.ffn, a.theta, a.max_seq = 256, 4, 4, 4, 512, 10000.0, max(512, a.seq)
    model, step_ms, tok_s, first, last, times = train(a)
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0
    print(f"PyTorch {torch.__version__}, {torch.get_num_threads()} threads, batch {a.batch} x seq {a.seq}, vocab {a.vocab}")
    print(f"training ({a.warmup} warmup discarded, {a.steps} timed; loss {first:.3f} -> {last:.3f}): "
          f"{step_ms:.1f} ms/step, {tok_s:.0f} tok/s, peak RSS {rss:.1f} MB")
    model.eval()
    prompt = torch.randint(0, a.vocab, (20,))
    rates, ttfts = [], []
    for n in (5, 20):
        generate(model, prompt[:n], 4, a.max_seq)
        ttft, rate = generate(model, prompt[:n], a.gen, a.max_seq)
        ttfts.append(ttft)
        rates.append(rate)
        print(f"inference prompt {n}: TTFT {ttft:.2f} ms, {rate:.1f} tok/s")
    print(f"torch step_ms={step_ms:.1f} tok_s={tok_s:.0f} peak_rss_mb={rss:.1f} decode_tok_s={sum(rates) / 2:.1f} "
          f"ttft5_ms={ttfts[0]:.2f} ttft20_ms={ttfts[1]:.2f} step_median_ms={statistics.median(times) * 1e3:.1f} "
          f"step_min_ms={min(times) * 1e3:.1f} step_max_ms={max(times) * 1e3:.1f}")


if __name__ == "__main__":
    main()
