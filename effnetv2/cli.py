"""``python -m effnetv2 COMMAND``: the same functions the app and the tests use, from a shell.

Every failure a user can cause prints one line on stderr and exits non-zero; no tracebacks.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable, Sequence

from .errors import EffNetV2Error

Handler = Callable[[argparse.Namespace], int]


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # one line, not argparse's usage block
        self.exit(2, f"{self.prog}: error: {message}\n")


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a number of at least 1, got {value}")
    return value


def _fmt_count(n: int) -> str:
    return f"{n / 1e6:.2f}M" if n >= 1e6 else f"{n / 1e3:.1f}K"


def cmd_info(args: argparse.Namespace) -> int:
    from .stats import stats

    s = stats(args.model, args.blocks, args.image_size)
    if args.json:
        print(json.dumps(s.to_dict()))
        return 0
    print(
        f"{s.model}  blocks={s.blocks}  image={s.image_size}px  params={_fmt_count(s.params)}  MACs={s.macs / 1e9:.2f}G"
    )
    head = f"{'stage':<7} {'operator':<24} {'stride':>6} {'channels':>8} {'layers':>6} {'params':>9} {'MACs':>9}"
    print(head)
    print("-" * len(head))
    for r in s.stages:
        print(
            f"{r.name:<7} {r.block:<24} {r.stride:>6} {r.channels:>8} {r.layers:>6} {_fmt_count(r.params):>9} "
            f"{r.macs / 1e9:>8.3f}G"
        )
    return 0


def _quiet_hub_client() -> None:
    """huggingface_hub logs each connection retry as a warning; the CLI reports failures in one line instead."""
    import os

    if "HF_HUB_VERBOSITY" not in os.environ:
        from huggingface_hub.utils import logging as hf_logging

        hf_logging.set_verbosity_error()


def cmd_download(args: argparse.Namespace) -> int:
    from .hub import download

    _quiet_hub_client()

    for name in args.checkpoint:
        print(download(name, revision=args.revision, force=args.force))
    return 0


def cmd_predict(args: argparse.Namespace) -> int:
    from .hub import load_pretrained
    from .inference import check_topk, predict

    _quiet_hub_client()
    pretrained = load_pretrained(
        args.checkpoint, weights=args.weights, revision=args.revision, device=args.device, size=args.size
    )
    check_topk(args.topk, pretrained.checkpoint.num_classes)  # before reading any image
    results = []
    for image in args.image:  # one at a time: a bad file names itself, and memory stays flat
        results.append({"image": image, "top": [p.to_dict() for p in predict(pretrained, [image], args.topk)[0]]})
        if not args.json:
            print(image)
            for rank, p in enumerate(results[-1]["top"], start=1):
                print(f"  {rank:>2}. {p['index']:>4}  {p['label']:<32} {100 * p['prob']:6.2f}%")
    if args.json:
        print(json.dumps(results))
    return 0


def build_parser() -> argparse.ArgumentParser:
    from .config import list_models

    parser = _Parser(prog="python -m effnetv2", description="EfficientNetV2 Explorer: models, weights, analysis.")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)

    info = sub.add_parser("info", help="stage table with parameters and MACs per stage")
    info.add_argument("model", help=f"one of: {', '.join(list_models())}")
    info.add_argument("--blocks", help="one letter per stage: F = Fused-MBConv, M = MBConv (e.g. FFFMMM)")
    info.add_argument("--image-size", type=_positive_int, help="input size in pixels (default: the model's)")
    info.add_argument("--json", action="store_true", help="print one JSON object")
    info.set_defaults(handler=cmd_info)

    from .checkpoints import ALIASES, DEFAULT_CHECKPOINT

    names = f"a timm name (e.g. {DEFAULT_CHECKPOINT}) or an alias: {', '.join(ALIASES)}"
    dl = sub.add_parser("download", help="fetch pretrained weights into the Hugging Face cache (for offline use)")
    dl.add_argument("checkpoint", nargs="+", help=names)
    dl.add_argument("--revision", help="a branch, tag or commit of the Hub repo (default: main)")
    dl.add_argument("--force", action="store_true", help="download again, replacing a corrupt cached copy")
    dl.set_defaults(handler=cmd_download)

    pr = sub.add_parser("predict", help="top-k ImageNet classes of images with pretrained weights")
    pr.add_argument("image", nargs="+", help="image files (any format PIL reads)")
    pr.add_argument("--checkpoint", default=DEFAULT_CHECKPOINT, help=f"{names} (default: {DEFAULT_CHECKPOINT})")
    pr.add_argument("--weights", help="a local .safetensors file instead of the Hub")
    pr.add_argument("--revision", help="a branch, tag or commit of the Hub repo (default: main)")
    pr.add_argument("--size", choices=("test", "train"), default="test", help="eval image size (default: test)")
    pr.add_argument("--topk", type=_positive_int, default=5, help="classes per image (default: 5)")
    pr.add_argument("--device", default="auto", help="auto (default: CUDA if available), cpu, cuda, cuda:N")
    pr.add_argument("--json", action="store_true", help='print [{"image", "top": [{"index", "label", "prob"}]}]')
    pr.set_defaults(handler=cmd_predict)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    handler: Handler = args.handler
    try:
        return handler(args)
    except (EffNetV2Error, ValueError, OSError) as exc:
        message = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        print(f"{parser.prog} {args.command}: error: {message}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
