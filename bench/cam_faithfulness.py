"""Grad-CAM faithfulness of the embedded EfficientNet-Lite0: a deletion check on real photos.

    python bench/cam_faithfulness.py [--random-orders 16] [--json FILE]

For each image, target (the last stage and the head) and fill (mid-gray 0, black -1, in the model's input
space): the top-1 class probability with no cells covered, with the 10% of 16 px cells that the map ranks
highest covered, and with as many random cells covered (mean and range over the random orders); see
``effnetv2.gradcam.deletion_score``. ``cat on gray`` is the image of tests/test_real_weights.py (Chelsea's face
pasted on plain gray, tests/photos.py); the rest are assets/ photos. No timing: the machine's load is irrelevant.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from effnetv2 import load_pretrained, open_image
from effnetv2.gradcam import deletion_score, grad_cam
from effnetv2.samples import ASSETS
from effnetv2.testing.photos import cat_on_gray

ROOT = Path(__file__).resolve().parents[1]

FILLS = {"gray": 0.0, "black": -1.0}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--random-orders", type=int, default=16)
    parser.add_argument("--json", help="also write the rows to this file")
    args = parser.parse_args()
    lite0 = load_pretrained("embedded", device="cpu")
    images = {"cat on gray": cat_on_gray()}
    images.update({name: open_image(ASSETS / name) for name in ("rocket.jpg", "astronaut.jpg", "chelsea.jpg")})
    rows = []
    print("| image | class | target | fill | p | p, top cells covered | drop | random drop: mean (min-max) |")
    print("|---|---|---|---|---|---|---|---|")
    for name, image in images.items():
        x = lite0.transform(image)
        for target in ("stage7", "head"):
            cam = grad_cam(lite0.model, x, target=target)
            for fill_name, fill in FILLS.items():
                s = deletion_score(lite0.model, x, cam, random_orders=args.random_orders, fill=fill)
                drops = [s.prob - p for p in s.prob_random]
                label = lite0.labels[s.class_index]
                rows.append({"image": name, "class": s.class_index, "label": label, "target": target,
                             "fill": fill_name, "prob": s.prob, "prob_top": s.prob_top, "drop_top": s.drop_top,
                             "drop_random": s.drop_random, "drop_random_min": min(drops),
                             "drop_random_max": max(drops)})  # fmt: skip
                print(
                    f"| {name} | {s.class_index} {label} | {target} | {fill_name} | {s.prob:.3f} | {s.prob_top:.3f} "
                    f"| {s.drop_top:+.3f} | {s.drop_random:+.3f} ({min(drops):+.3f} to {max(drops):+.3f}) |"
                )
    if args.json:
        Path(args.json).write_text(json.dumps(rows, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
