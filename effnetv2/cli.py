"""``python -m effnetv2 COMMAND``: the same functions the app and the tests use, from a shell.

Every failure a user can cause prints one line on stderr and exits non-zero; no tracebacks.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

from .errors import EffNetV2Error

PROG = "python -m effnetv2"
REVISION_HELP = "a branch, tag or commit of the Hub repo (default: $EFFNETV2_REVISION, else main)"

Handler = Callable[[argparse.Namespace], int]


def first_line(exc: BaseException) -> str:
    """An error's message as one line (its first), or its type's name when it has none."""
    return str(exc).splitlines()[0] if str(exc).strip() else type(exc).__name__


def error_line(command: str, exc: BaseException) -> str:
    """The one line a failed command prints on stderr: ``python -m effnetv2 CMD: error: MESSAGE``."""
    return f"{PROG} {command}: error: {first_line(exc)}"


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
    from .config import Blocks
    from .stats import stats

    s = stats(args.model, Blocks.parse(args.model, args.blocks), args.image_size)
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


def _checkpoint(args: argparse.Namespace) -> str:
    """``--checkpoint`` as given. Without one: the default checkpoint, or the embedded Lite0 when the default's
    weights are not on this machine (no --weights, --revision or EFFNETV2_WEIGHTS for it), with a note on stderr.
    """
    from .checkpoints import DEFAULT_CHECKPOINT
    from .hub import default_or_embedded

    if args.checkpoint is not None or args.weights is not None or args.revision is not None:
        return args.checkpoint or DEFAULT_CHECKPOINT
    ckpt, notice = default_or_embedded(DEFAULT_CHECKPOINT)
    if notice:
        print(f"{PROG} {args.command}: note: {notice}", file=sys.stderr)
    return ckpt.name


def _file_error(image: str, exc: BaseException) -> str:
    """One line for a file that failed, naming it once (image errors already start with the path as given, or
    with the file's name)."""
    message = first_line(exc)
    return message if message.startswith((f"{image}:", Path(image).name)) else f"{image}: {message}"


def cmd_predict(args: argparse.Namespace) -> int:
    """Every file gets its result or one line naming it, whatever went wrong with it; the run goes on, and
    ``--json`` prints every result and every error (also when the checkpoint cannot be loaded, or on Ctrl-C)."""
    from .hub import load_pretrained
    from .inference import check_topk, predict

    _quiet_hub_client()
    results: list[dict] = []
    try:
        pretrained = load_pretrained(
            _checkpoint(args), weights=args.weights, revision=args.revision, device=args.device, size=args.size
        )
        check_topk(args.topk, pretrained.checkpoint.num_classes)  # before reading any image
    except (EffNetV2Error, ValueError, OSError) as exc:
        if args.json:  # every file failed for the same reason: the JSON says so for each
            print(json.dumps([{"image": image, "error": first_line(exc)} for image in args.image]))
        raise
    failed = 0
    try:
        for image in args.image:  # one at a time: a bad file names itself, and memory stays flat
            try:
                top = [p.to_dict() for p in predict(pretrained, [image], args.topk)[0]]
            except Exception as exc:  # whatever one file does, the others keep their results
                failed += 1
                line = _file_error(image, exc)
                print(f"{PROG} predict: error: {line}", file=sys.stderr)
                results.append({"image": image, "error": line})
                continue
            results.append({"image": image, "top": top})
            if not args.json:
                print(image)
                for rank, p in enumerate(top, start=1):
                    print(f"  {rank:>2}. {p['index']:>4}  {p['label']:<32} {100 * p['prob']:6.2f}%")
    finally:  # also on Ctrl-C: what was computed is printed
        if args.json:
            print(json.dumps(results))
    return 2 if failed else 0


def _stderr_progress(enabled: bool = True):
    """Progress for long runs on stderr: one rewritten line on a terminal, a line per quarter otherwise."""
    if not enabled:
        return None
    tty = sys.stderr.isatty()
    last = [-1]

    def show(fraction: float, text: str) -> None:
        if tty:
            print(f"\r[{100 * fraction:3.0f}%] {text:<60}", end="\n" if fraction >= 1 else "", file=sys.stderr)
        elif int(fraction * 4) > last[0]:
            last[0] = int(fraction * 4)
            print(f"[{100 * fraction:3.0f}%] {text}", file=sys.stderr)

    return show


def _print_latency(lat) -> None:
    c = lat.context
    if lat.conditions is not None:
        print(lat.conditions.noise.line())
    print(
        f"{c.model}  blocks={c.blocks}  {c.device}  {c.dtype}  threads={c.threads}  batch={c.batch}  "
        f"image={c.image_size}px  runs={lat.runs} (after {lat.warmup} warm-up)"
    )
    head = f"{'stage':<7} {'median ms':>10} {'95% interval':>17} {'p10 ms':>9} {'p90 ms':>9} {'params':>9} {'MACs':>9}"
    print(head)
    print("-" * len(head))
    for s in lat.stages:
        print(
            f"{s.name:<7} {s.median_ms:>10.3f} {_interval(s.low_ms, s.high_ms):>17} {s.p10_ms:>9.3f} {s.p90_ms:>9.3f} "
            f"{_fmt_count(s.params):>9} {s.macs / 1e9:>8.3f}G"
        )
    verdict = "agree" if lat.agrees else "DISAGREE"
    t = lat.total
    print(
        f"end-to-end {lat.total_ms:.3f} ms (95% interval {_interval(t.low_ms, t.high_ms)}, p10 {t.p10_ms:.3f}, p90 "
        f"{t.p90_ms:.3f}); stage sum {lat.stage_sum_ms:.3f} ms = {100 * lat.ratio:.1f}% ({verdict} within 10%)"
    )


def _interval(low: float, high: float) -> str:
    return f"{low:.3f}-{high:.3f}"


def cmd_bench(args: argparse.Namespace) -> int:
    from .config import Blocks
    from .profiling import benchmark

    result = benchmark(
        args.model,
        blocks=Blocks.parse(args.model, args.blocks),
        image_size=args.image_size,
        batch=args.batch,
        runs=args.runs,
        warmup=args.warmup,
        device=args.device,
        dtype=args.dtype,
        channels_last=args.channels_last,
        train=args.train,
        threads=args.threads,
        progress=_stderr_progress(),
    )
    if args.json:
        print(json.dumps(result.to_dict()))
        return 0
    _print_latency(result.latency)
    if result.throughput is not None:
        t = result.throughput
        low, high = t.images_per_s_interval
        print(
            f"training: {t.images_per_s:.1f} images/s (95% interval {low:.1f}-{high:.1f}; batch {t.context.batch}, "
            f"forward + backward + SGD step, median of {t.steps} steps: {t.step.median_ms:.1f} ms)"
        )
    return 0


def _png_out(text: str) -> Path:
    out = Path(text)
    if out.suffix.lower() != ".png":
        raise ValueError(f"--out must be a .png file, got {text!r}")
    if not out.parent.is_dir():
        raise FileNotFoundError(f"--out: no such folder {str(out.parent)!r}")
    return out


def _check_scored(args: argparse.Namespace) -> None:
    """The explanation options' bounds, before any model is loaded or image read."""
    from .bounds import CELL, CURVE_STEPS, IG_STEPS, RANDOM_ORDERS

    for bound, value in ((CELL, args.cell), (CURVE_STEPS, args.steps), (RANDOM_ORDERS, args.random_orders),
                         (IG_STEPS, args.ig_steps)):  # fmt: skip
        bound.check(value)
    if not 0.0 <= args.opacity <= 1.0:
        raise ValueError(f"opacity must be from 0 to 1, got {args.opacity!r}")


def cmd_cam(args: argparse.Namespace) -> int:
    from .explain import check_method
    from .gradcam import grad_cam
    from .hub import load_pretrained
    from .images import open_image

    _quiet_hub_client()
    method = check_method(args.method)
    if args.out is None and not args.metrics:
        raise ValueError("give --out FILE.png for the overlay, or --metrics (with --json: one JSON object)")
    out = None if args.out is None else _png_out(args.out)
    _check_scored(args)
    pretrained = load_pretrained(_checkpoint(args), weights=args.weights, revision=args.revision, device=args.device)
    crop = pretrained.transform.crop(open_image(args.image))
    if method != "gradcam" or args.metrics:
        return _explained(args, method, pretrained, crop, out)
    result = grad_cam(
        pretrained.model,
        pretrained.transform.to_tensor(crop),
        target=args.stage,
        classes=args.class_index,
        relu=not args.signed,
        image=crop,
        opacity=args.opacity,
        colormap=args.colormap,
        labels=pretrained.labels,
    )
    result.overlays[0].save(out)
    c, label, p = result.classes[0], result.labels[0], result.scores[0]
    print(f"{args.image}: Grad-CAM of class {c} ({label}, p={100 * p:.2f}%) at {result.target} -> {out}")
    return 0


def _explained(args: argparse.Namespace, method: str, pretrained, crop, out: Path | None) -> int:
    """``cam`` with ``--method`` other than gradcam, or ``--metrics``: :mod:`effnetv2.explain`."""
    import time

    from .explain import Perturber, draw, explain, score

    if args.signed:
        raise ValueError("--signed is for the plain Grad-CAM overlay (no --method, no --metrics)")
    start = time.perf_counter()
    x = pretrained.transform.to_tensor(crop)
    e = explain(pretrained.model, x, method, args.stage, class_index=args.class_index, labels=pretrained.labels,
                ig_steps=args.ig_steps)  # fmt: skip
    if args.metrics:
        p = Perturber(pretrained.model, x, e.class_index, cell=args.cell, steps=args.steps)
        scores = {**score(e, p, p.random(args.random_orders)).to_dict(), "seconds": time.perf_counter() - start}
    if out is not None:
        draw(e, crop, opacity=args.opacity, colormap=args.colormap or "jet").save(out)
    if args.metrics and args.json:
        print(json.dumps(scores))
        return 0
    where = f" -> {out}" if out is not None else ""
    print(f"{args.image}: {method} of class {e.class_index} ({e.label}, p={100 * e.prob:.2f}%) at {e.stage}{where}")
    if args.metrics:
        print("deletion area {deletion_auc:.3f} (random {random_deletion_auc:.3f}), insertion area "
              "{insertion_auc:.3f} (random {random_insertion_auc:.3f}), {seconds:.1f} s".format(**scores))  # fmt: skip
    return 0


def _out_folder(text: str) -> Path:
    """``explain --out``, checked before the atlas is computed (minutes of work, lost when the folder turns out
    unusable at the end): a folder that exists or can be made, in which this process can write. One line for each
    way it cannot: empty (``Path("")`` is the current folder), a file on the way, a link to nothing, no write
    permission (or a read-only file system)."""
    import tempfile

    if not text.strip():
        raise ValueError("--out must name a folder, got ''")
    folder = Path(text)
    nearest = folder
    while not nearest.exists():  # the nearest folder that exists: where the new folders will be made
        if nearest.is_symlink():
            raise FileNotFoundError(
                f"--out: {str(nearest)!r} is a link to {str(nearest.readlink())!r}, which does not exist"
            )
        nearest = nearest.parent
    if not nearest.is_dir():
        raise NotADirectoryError(f"--out: {str(nearest)!r} is a file, not a folder")
    try:
        with tempfile.TemporaryFile(dir=nearest):
            pass
    except OSError as exc:
        raise PermissionError(
            f"--out: cannot write in {str(nearest)!r}: {(exc.strerror or str(exc)).lower()}"
        ) from None
    return folder


def cmd_explain(args: argparse.Namespace) -> int:
    """The atlas: one overlay per method and stage in ``--out``, and ``scores.json`` with every score."""
    from .explain import atlas, draw
    from .hub import load_pretrained
    from .images import open_image

    _quiet_hub_client()
    folder = _out_folder(args.out)
    _check_scored(args)
    pretrained = load_pretrained(_checkpoint(args), weights=args.weights, revision=args.revision, device=args.device)
    crop = pretrained.transform.crop(open_image(args.image))
    result = atlas(
        pretrained.model, pretrained.transform.to_tensor(crop), _listed(args.methods), _listed(args.stages),
        class_index=args.class_index, labels=pretrained.labels, cell=args.cell, steps=args.steps,
        random_orders=args.random_orders, ig_steps=args.ig_steps, progress=_stderr_progress(not args.quiet),
    )  # fmt: skip
    folder.mkdir(parents=True, exist_ok=True)
    for e in result.explanations:
        draw(e, crop, opacity=args.opacity).save(folder / f"{e.method}_{e.stage}.png")
    (folder / "scores.json").write_text(json.dumps(result.to_dict(), indent=1))
    r = result.random
    print(f"{args.image}: class {result.scores[0].class_index} ({result.scores[0].label}); random orders: "
          f"deletion {r.deletion_auc:.3f}, insertion {r.insertion_auc:.3f}")  # fmt: skip
    for s in result.scores:
        print(
            f"  {s.method:<10} {s.stage:<7} deletion {s.curves.deletion_auc:.3f}  "
            f"insertion {s.curves.insertion_auc:.3f}"
        )
    print(f"{len(result.scores)} overlays and scores.json in {folder} ({result.seconds:.1f} s)")
    return 0


def _listed(text: str | None) -> list[str] | None:
    return None if text is None else [p.strip() for p in text.split(",") if p.strip()]


def cmd_compare(args: argparse.Namespace) -> int:
    from .compare import compare
    from .config import Blocks

    result = compare(
        args.model,
        [Blocks.parse(args.model, b) for b in args.blocks],
        baseline_blocks=Blocks.parse(args.model, args.baseline) if args.baseline else None,
        image_size=args.image_size,
        batch=args.batch,
        runs=args.runs,
        warmup=args.warmup,
        device=args.device,
        dtype=args.dtype,
        train=not args.no_train,
        train_batch=args.train_batch,
        train_steps=args.train_steps,
        threads=args.threads,
        progress=_stderr_progress(),
    )
    if args.json:
        print(json.dumps(result.to_dict()))
        return 0
    c, runs = result.baseline.latency.context, result.baseline.latency.runs
    if result.conditions is not None:
        print(result.conditions.noise.line())
    print(f"{c.model}  {c.device}  {c.dtype}  threads={c.threads}  batch={c.batch}  rounds={runs}")
    rows = result.rows
    print(f"{'':<24}" + "".join(f"{r.label:>20}" for r in rows))
    print(f"{'params':<24}" + "".join(f"{_fmt_count(r.params):>20}" for r in rows))
    print(f"{'MACs':<24}" + "".join(f"{r.macs / 1e9:>19.3f}G" for r in rows))
    for i, stage in enumerate(result.baseline.latency.stages):
        print(f"{stage.name + ' ms':<24}" + "".join(f"{r.latency.stages[i].median_ms:>20.3f}" for r in rows))
    print(f"{'end-to-end ms':<24}" + "".join(f"{r.latency.total_ms:>20.3f}" for r in rows))
    print(f"{'  95% interval':<24}" + "".join(f"{_interval(r.latency.total.low_ms, r.latency.total.high_ms):>20}"
                                            for r in rows))  # fmt: skip
    if result.baseline.throughput is not None:
        print(f"{'train images/s':<24}" + "".join(f"{r.images_per_s:>20.1f}" for r in rows))
    for i, v in enumerate(result.variants):
        delta = result.deltas(v)
        note = f"  [{v.note}]" if v.note else ""
        print(f"{v.label} vs baseline: params {delta.params.pct:+.1f}%, MACs {delta.macs.pct:+.1f}%{note}")
        for diff in result.verdicts(i):
            if diff is not None:
                print(f"  {diff.sentence()}")
    if result.baseline.note:
        print(f"baseline: {result.baseline.note}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    from .config import list_models

    parser = _Parser(prog=PROG, description="EfficientNetV2 Explorer: models, weights, analysis.")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)

    info = sub.add_parser("info", help="stage table with parameters and MACs per stage")
    info.add_argument("model", help=f"one of: {', '.join(list_models())}")
    info.add_argument("--blocks", help="one letter per stage: F = Fused-MBConv, M = MBConv (e.g. FFFMMM)")
    info.add_argument("--image-size", type=_positive_int, help="input size in pixels (default: the model's)")
    info.add_argument("--json", action="store_true", help="print one JSON object")
    info.set_defaults(handler=cmd_info)

    from .checkpoints import ALIASES, DEFAULT_CHECKPOINT, EMBEDDED_CHECKPOINT

    names = f"a checkpoint name (e.g. {DEFAULT_CHECKPOINT}) or an alias: {', '.join(ALIASES)}"
    default = (
        f"default: {DEFAULT_CHECKPOINT}, or {EMBEDDED_CHECKPOINT} (installed with a pip package, no Hub) when "
        "the default's weights are not on this machine"
    )
    dl = sub.add_parser(
        "download", help="fetch pretrained weights into the Hugging Face cache (for offline use); embedded: verify"
    )
    dl.add_argument("checkpoint", nargs="+", help=names)
    dl.add_argument("--revision", help=REVISION_HELP)
    dl.add_argument("--force", action="store_true", help="download again, replacing a corrupt cached copy")
    dl.set_defaults(handler=cmd_download)

    pr = sub.add_parser("predict", help="top-k ImageNet classes of images with pretrained weights")
    pr.add_argument("image", nargs="+", help="image files (any format PIL reads); a bad one does not stop the rest")
    pr.add_argument("--checkpoint", help=f"{names} ({default})")
    pr.add_argument("--weights", help="a local .safetensors file instead of the Hub")
    pr.add_argument("--revision", help=REVISION_HELP)
    pr.add_argument("--size", choices=("test", "train"), default="test", help="eval image size (default: test)")
    pr.add_argument("--topk", type=_positive_int, default=5, help="classes per image (default: 5)")
    pr.add_argument("--device", default="auto", help="auto (default: CUDA if available), cpu, cuda, cuda:N")
    pr.add_argument(
        "--json",
        action="store_true",
        help='print [{"image", "top": [{"index", "label", "prob"}]} or {"image", "error"}]',
    )
    pr.set_defaults(handler=cmd_predict)

    from .bounds import BATCH, RUNS, TRAIN_BATCH, WARMUP
    from .devices import DEVICE_CHOICES, DTYPES
    from .measure import AUTO, LATENCY_SCHEDULE, TRAINING_SCHEDULE, parse_threads

    def measured(p: argparse.ArgumentParser, runs: int, what: str = "timed runs", warmup: int = WARMUP.default) -> None:
        p.add_argument("--batch", type=_positive_int, default=1, help=f"images per forward pass (max {BATCH.high})")
        p.add_argument("--runs", type=_positive_int, default=runs, help=f"{what} (default {runs}, max {RUNS.high})")
        p.add_argument(
            "--warmup",
            type=int,
            default=warmup,
            help=f"untimed runs first, at least (more while runs still speed up; default {warmup}, max {WARMUP.high})",
        )
        p.add_argument("--device", default="auto", help=f"{', '.join(DEVICE_CHOICES)} or cuda:N (default auto)")
        p.add_argument("--dtype", choices=tuple(DTYPES), default="fp32", help="autocast precision (default fp32)")
        p.add_argument(
            "--threads",
            type=parse_threads,
            default=AUTO,
            help="CPU threads: a count, or auto (1 or all, whichever runs faster right now; default auto)",
        )

    be = sub.add_parser(
        "bench", help="per-stage latency (median with its 95%% interval, p10/p90) and optional training throughput"
    )
    be.add_argument("model", help=f"one of: {', '.join(list_models())}")
    be.add_argument("--blocks", help="one letter per stage: F = Fused-MBConv, M = MBConv")
    be.add_argument("--image-size", type=_positive_int, help="input size in pixels (default: the model's)")
    measured(be, 20)
    be.add_argument("--channels-last", action="store_true", help="NHWC memory format for model and input")
    be.add_argument("--train", action="store_true", help="also forward + backward images/s")
    be.add_argument("--json", action="store_true", help="print one JSON object")
    be.set_defaults(handler=cmd_bench)

    from .bounds import CELL, CURVE_STEPS, IG_STEPS, RANDOM_ORDERS
    from .explain import METHODS

    def scored(p: argparse.ArgumentParser) -> None:
        p.add_argument("--class", dest="class_index", type=int, help="class index (default: the top-1 class)")
        p.add_argument(
            "--cell",
            type=int,
            default=CELL.default,
            help=f"cell side in px for deletion/insertion ({CELL.low}-{CELL.high}, default {CELL.default})",
        )
        p.add_argument(
            "--steps",
            type=int,
            default=CURVE_STEPS.default,
            help=f"points per curve after the first ({CURVE_STEPS.low}-{CURVE_STEPS.high}, "
            f"default {CURVE_STEPS.default})",
        )
        p.add_argument(
            "--random-orders",
            type=int,
            default=RANDOM_ORDERS.default,
            help=f"random cell orders of the baseline (default {RANDOM_ORDERS.default})",
        )
        p.add_argument(
            "--ig-steps",
            type=int,
            default=IG_STEPS.default,
            help=f"integrated-gradients steps ({IG_STEPS.low}-{IG_STEPS.high}, default {IG_STEPS.default})",
        )
        p.add_argument("--opacity", type=float, default=0.5, help="of the map over the image, 0-1 (default 0.5)")
        p.add_argument("--device", default="auto", help=f"{', '.join(DEVICE_CHOICES)} or cuda:N (default auto)")

    cam = sub.add_parser(
        "cam", help="an explanation (Grad-CAM by default) over the crop the model sees, and its scores"
    )
    cam.add_argument("image", help="an image file (any format PIL reads)")
    cam.add_argument("--checkpoint", help=f"{names} ({default})")
    cam.add_argument("--weights", help="a local .safetensors file instead of the Hub")
    cam.add_argument("--revision", help=REVISION_HELP)
    cam.add_argument("--method", default="gradcam", help=f"{', '.join(METHODS)} (default gradcam)")
    cam.add_argument(
        "--stage", help="input (occlusion, ig), stem, stage1 ... stageN or head (default: the last stage; input "
        "for occlusion and ig)"
    )  # fmt: skip
    scored(cam)
    cam.add_argument("--signed", action="store_true", help="signed map (evidence against shows too; gradcam only)")
    cam.add_argument("--colormap", help="a matplotlib colormap (default: jet; RdBu_r for --signed)")
    cam.add_argument("--metrics", action="store_true", help="deletion and insertion areas vs random cell orders")
    cam.add_argument(
        "--json", action="store_true", help='with --metrics: print {"method", "stage", "class", "label", '
        '"deletion_auc", "insertion_auc", "random_deletion_auc", "random_insertion_auc", "seconds"}'
    )  # fmt: skip
    cam.add_argument("--out", help="the overlay, a .png file (optional with --metrics)")
    cam.set_defaults(handler=cmd_cam)

    ex = sub.add_parser("explain", help="the atlas: every method x stage overlay and scores.json with every score")
    ex.add_argument("image", help="an image file (any format PIL reads)")
    ex.add_argument("--out", required=True, help="a folder for METHOD_STAGE.png and scores.json")
    ex.add_argument("--checkpoint", help=f"{names} ({default})")
    ex.add_argument("--weights", help="a local .safetensors file instead of the Hub")
    ex.add_argument("--revision", help=REVISION_HELP)
    ex.add_argument("--methods", help=f"comma-separated, of {', '.join(METHODS)} (default: all)")
    ex.add_argument("--stages", help="comma-separated: input, stem, stage1 ... head (default: the last stage of "
                    "each of the three coarsest resolutions)")  # fmt: skip
    scored(ex)
    ex.add_argument("--quiet", action="store_true", help="no progress on stderr")
    ex.set_defaults(handler=cmd_explain)

    co = sub.add_parser(
        "compare", help="baseline vs blocks variants, timed interleaved: params, MACs, latency and training speed, "
        "each difference with a 95%% interval and a verdict"
    )  # fmt: skip
    co.add_argument("model", help=f"one of: {', '.join(list_models())}")
    co.add_argument("--blocks", action="append", required=True, help="a variant's letters (repeat for more)")
    co.add_argument("--baseline", help="the baseline's letters (default: the published ones)")
    co.add_argument("--image-size", type=_positive_int, help="input size in pixels (default: the model's)")
    measured(co, LATENCY_SCHEDULE.max_rounds, "the most interleaved rounds (fewer once every interval is tight)", 1)
    co.add_argument(
        "--train-steps",
        type=_positive_int,
        default=TRAINING_SCHEDULE.max_rounds,
        help=f"the most interleaved training rounds (default {TRAINING_SCHEDULE.max_rounds})",
    )
    co.add_argument(
        "--train-batch",
        type=_positive_int,
        default=TRAIN_BATCH.default,
        help=f"batch of the training steps (default {TRAIN_BATCH.default})",
    )
    co.add_argument("--no-train", action="store_true", help="skip the training-throughput measurement")
    co.add_argument("--json", action="store_true", help="print one JSON object")
    co.set_defaults(handler=cmd_compare)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    handler: Handler = args.handler
    try:
        return handler(args)
    except (EffNetV2Error, ValueError, OSError) as exc:
        print(error_line(args.command, exc), file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
