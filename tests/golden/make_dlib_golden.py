"""Golden descriptors of dlib's face ResNet, and the script that (re)writes them.

``tests/test_dlib.py`` checks lrface's port of dlib's face recognition ResNet v1 against dlib
itself (``dlib-bin``) where dlib is installed; where it is not, against ``dlib_golden.npz``
(next to this file): face chips and the descriptors dlib computed for them with this script.

The chips are 150x150 RGB, cut by dlib's own pipeline (HOG face detector, the public-domain
5-point landmark model, ``get_face_chip`` with padding 0.25) from the two public-domain
portraits the demo uses (Grace Hopper, matplotlib's ``grace_hopper.jpg``; astronaut Eileen
Collins, scikit-image's ``astronaut.png``), each also mirrored, plus two of lrface's synthetic
faces warped onto the chip by lrface's fixed ArcFace-to-chip similarity. No dataset image is
stored.

Regenerate ON PURPOSE only (needs ``dlib-bin``, matplotlib, scikit-image and dlib's model files,
see :mod:`lrface.models.dlib_weights`):

    python tests/golden/make_dlib_golden.py            # rewrite dlib_golden.npz
    python tests/golden/make_dlib_golden.py --check    # compare only, exit 1 on mismatch
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
OUT = HERE / "dlib_golden.npz"


def chips() -> np.ndarray:
    """The golden chips (N, 150, 150, 3) uint8, made with dlib's own chip pipeline."""
    import dlib

    from lrface.data.synthetic import SyntheticFaces
    from lrface.demo_photos import portraits
    from lrface.face.io import read_image
    from lrface.models.dlib_weights import LANDMARKS5_FILE, find_dlib_file
    from lrface.models.inputs import chip_view

    sp = dlib.shape_predictor(str(find_dlib_file(LANDMARKS5_FILE)))
    det = dlib.get_frontal_face_detector()
    out = []
    for _, path in sorted(portraits().items()):
        img = read_image(path)
        for mirrored in (False, True):
            im = np.ascontiguousarray(img[:, ::-1]) if mirrored else img
            found = det(im, 1)
            if not len(found):
                raise SystemExit(f"dlib found no face in {path}")
            shape = sp(im, max(found, key=lambda r: r.area()))
            out.append(np.asarray(dlib.get_face_chip(im, shape, size=150, padding=0.25)))
    faces, _ = SyntheticFaces(num_identities=2, images_per_identity=1, seed=0).arrays()
    out.extend(chip_view(faces, (150, 150)))
    return np.stack(out).astype(np.uint8)


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--check", action="store_true", help="compare with the stored file, write nothing")
    args = p.parse_args()
    import dlib

    from lrface.models.dlib_weights import RESNET_FILE, find_dlib_file

    c = chips()
    net = dlib.face_recognition_model_v1(str(find_dlib_file(RESNET_FILE)))
    desc = np.array([np.array(net.compute_face_descriptor(x)) for x in c], np.float32)
    if args.check:
        ref = np.load(OUT)
        ok = np.array_equal(ref["chips"], c) and np.allclose(ref["descriptors"], desc, atol=1e-6)
        print("golden file matches" if ok else "golden file DIFFERS")
        return 0 if ok else 1
    np.savez_compressed(OUT, chips=c, descriptors=desc, dlib_version=np.array(dlib.__version__))
    print(f"wrote {OUT}: {len(c)} chips, dlib {dlib.__version__}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
