"""The README's bf16 quality figure: the loss curves of two build/train runs (loss.csv: step,
train_loss,val_loss) in one SVG, fp32 against bf16 mixed precision. Standard library only.

  python3 benchmarks/bf16_quality.py FP32_DIR/loss.csv BF16_DIR/loss.csv OUT.svg
(benchmarks/bf16_quality.sh runs both trainings and then this.)
"""
import csv, sys


def read(path):
    steps, train, val = [], [], []
    with open(path) as f:
        for row in csv.DictReader(f):
            steps.append(int(row["step"]))
            train.append(float(row["train_loss"]))
            val.append(float(row["val_loss"]) if row["val_loss"] else None)
    return steps, train, val


def main():
    if len(sys.argv) != 4:
        sys.exit(__doc__)
    runs = [("fp32", "#1f77b4", read(sys.argv[1])), ("bf16 mixed", "#ff7f0e", read(sys.argv[2]))]
    W, H, L, R, T, B = 760, 440, 70, 20, 44, 50
    values = [v for _, _, (s, tr, va) in runs for v in tr + [x for x in va if x is not None]]
    lo, hi = min(values), max(values)
    x_max = max(max(s) for _, _, (s, _, _) in runs)
    px = lambda step: L + (W - L - R) * step / x_max
    py = lambda v: T + (H - T - B) * (hi - v) / (hi - lo)
    out = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{W}" height="{H}" font-family="sans-serif" font-size="12">',
           '<rect width="100%" height="100%" fill="white"/>',
           f'<text x="{W / 2}" y="24" text-anchor="middle" font-size="15">tinyshakespeare, 300 steps: fp32 vs bf16 mixed '
           'precision (thin: train, thick: validation)</text>']
    for k in range(6):
        y, v, x = T + (H - T - B) * k / 5, hi - (hi - lo) * k / 5, L + (W - L - R) * k / 5
        out.append(f'<line x1="{L}" y1="{y:.1f}" x2="{W - R}" y2="{y:.1f}" stroke="#ddd"/>')
        out.append(f'<text x="{L - 6}" y="{y + 4:.1f}" text-anchor="end">{v:.2f}</text>')
        out.append(f'<text x="{x:.1f}" y="{H - B + 18}" text-anchor="middle">{x_max * k / 5:.0f}</text>')
    out.append(f'<text x="{(L + W - R) / 2}" y="{H - 12}" text-anchor="middle">step</text>')
    out.append(f'<text x="16" y="{(T + H - B) / 2}" transform="rotate(-90 16 {(T + H - B) / 2})" '
               'text-anchor="middle">loss (nats/token)</text>')
    for i, (name, color, (steps, train, val)) in enumerate(runs):
        pts = " ".join(f"{px(s):.1f},{py(v):.1f}" for s, v in zip(steps, train))
        out.append(f'<polyline fill="none" stroke="{color}" stroke-width="1" opacity="0.6" points="{pts}"/>')
        pts = " ".join(f"{px(s):.1f},{py(v):.1f}" for s, v in zip(steps, val) if v is not None)
        out.append(f'<polyline fill="none" stroke="{color}" stroke-width="2.5" points="{pts}"/>')
        final = [v for v in val if v is not None][-1]
        out.append(f'<text x="{W - R - 230}" y="{T + 18 + 16 * i}" fill="{color}">{name}: final validation loss '
                   f'{final:.4f}</text>')
    out.append("</svg>")
    with open(sys.argv[3], "w") as f:
        f.write("\n".join(out) + "\n")


if __name__ == "__main__":
    main()
