"""PyTorch's bf16 mixed precision on the CPU for `make bench`'s bf16 rows (benchmarks/bf16_bench.sh):
the step of benchmarks/torch_tiny.py (the same `tiny` Llama, Lion, clip, cosine schedule, random
ids) with the forward and loss under torch.autocast("cpu", dtype=torch.bfloat16), PyTorch's own
mixed-precision recipe: matrix products in bf16 (oneDNN where the build has it), the weights,
their gradients and Lion's state fp32. Ends with one machine-readable line:
  torch_bf16 step_ms=X tok_s=Y peak_rss_mb=Z onednn=0|1

  /usr/bin/python3 benchmarks/torch_bf16.py [--steps N] [--warmup N] [--vocab V] [--batch B] [--seq T] [--threads K]
"""
import argparse, os, resource, sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
try:
    import torch
except ImportError:
    print("torch_bf16.py: PyTorch is not installed (apt-get install python3-torch); skipped")
    sys.exit(0)

from torch_tiny import train  # noqa: E402 (after the torch check): the fp32 benchmark's model, optimizer and steps


def main():
    p = argparse.ArgumentParser()
    for name, default in [("steps", 10), ("warmup", 3), ("vocab", 32000), ("batch", 16), ("seq", 256), ("threads", 2),
                          ("seed", 1)]:
        p.add_argument("--" + name, type=int, default=default)
    a = p.parse_args()
    a.dim, a.layers, a.heads, a.kv_heads, a.ffn, a.theta, a.max_seq = 256, 4, 4, 4, 512, 10000.0, max(512, a.seq)
    _, step_ms, tok_s, first, last, _ = train(a, torch.bfloat16)
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0
    onednn = int(torch.backends.mkldnn.is_available())
    print(f"PyTorch {torch.__version__} bf16 autocast, {torch.get_num_threads()} threads, batch {a.batch} x seq {a.seq}, "
          f"vocab {a.vocab}, oneDNN {'yes' if onednn else 'no'}")
    print(f"training ({a.warmup} warmup discarded, {a.steps} timed; loss {first:.3f} -> {last:.3f}): "
          f"{step_ms:.1f} ms/step, {tok_s:.0f} tok/s, peak RSS {rss:.1f} MB")
    print(f"torch_bf16 step_ms={step_ms:.1f} tok_s={tok_s:.0f} peak_rss_mb={rss:.1f} onednn={onednn}")


if __name__ == "__main__":
    main()
