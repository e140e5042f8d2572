"""The predicted label map's argmax over classes: a running maximum class by class against ``torch.argmax(0)``.

    python benchmarks/bench_argmax.py [--classes 19] [--height 1024] [--width 2048] [--repeats 5]

Both run on the same ``[C, H, W]`` float32 logits on the CPU, side by side; the best of ``--repeats`` each. Prints
the seconds of each, their ratio, and whether the two maps are identical.
"""
import argparse
import time

import torch

from segal.annotation.predictions import first_argmax


def best_seconds(function, repeats: int) -> float:
    function()  # warm-up
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        function()
        times.append(time.perf_counter() - started)
    return min(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--classes", type=int, default=19)
    parser.add_argument("--height", type=int, default=1024)
    parser.add_argument("--width", type=int, default=2048)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    logits = torch.randn(args.classes, args.height, args.width, generator=torch.Generator().manual_seed(0))
    across = best_seconds(lambda: logits.argmax(0), args.repeats)
    running = best_seconds(lambda: first_argmax(logits), args.repeats)
    same = torch.equal(first_argmax(logits).long(), logits.argmax(0))
    print(f"{args.classes}x{args.height}x{args.width} logits, {torch.get_num_threads()} threads: argmax(0) "
          f"{across:.3f} s, running maximum {running:.3f} s (x{across / running:.2f} faster); identical: {same}")


if __name__ == "__main__":
    main()
