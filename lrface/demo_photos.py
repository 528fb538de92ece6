"""The README's main job on photos that installed packages already ship: no dataset needed.

Two public-domain portraits serve as "ID photos": Grace Hopper (``grace_hopper.jpg`` in
matplotlib's sample data) and astronaut Eileen Collins (``astronaut.png`` in scikit-image's
data folder; read as a file, scikit-image is never imported). From each, "camera" probes are
made the way surveillance footage looks: the photo mirrored and tilted a little, shrunk so
the face is 12-24 px across, blurred, noised and JPEG-compressed; and tight LR face crops
from the ``surveillance`` degradation preset. Each probe is verified against both ID photos
and searched in the two-person gallery with the shipped models, choosing the model by the
face's measured size.

The probes come from the same photos as the gallery, so the scores here show the workflow,
not the accuracy: those figures are in docs/results.md (LFW, other photos of each person).
"""
from __future__ import annotations

import importlib.util
from pathlib import Path
from typing import Dict, List, Optional, Tuple

import cv2
import numpy as np

__all__ = ["portraits", "camera_frame", "run_recognition_demo"]


def _skimage_file(name: str) -> Optional[Path]:
    spec = importlib.util.find_spec("skimage")
    if spec is None or not spec.submodule_search_locations:
        return None
    path = Path(list(spec.submodule_search_locations)[0]) / "data" / name
    return path if path.is_file() else None


def portraits() -> Dict[str, Path]:
    """``{person: photo path}`` of the embedded portraits that are installed.

    Raises:
        FileNotFoundError: neither matplotlib nor scikit-image is installed
            (``pip install "lrface[demo]"``).
    """
    out: Dict[str, Path] = {}
    try:
        import matplotlib

        p = Path(matplotlib.get_data_path()) / "sample_data" / "grace_hopper.jpg"
        if p.is_file():
            out["Grace_Hopper"] = p
    except ImportError:
        pass
    p2 = _skimage_file("astronaut.png")
    if p2 is not None:
        out["Eileen_Collins"] = p2
    if len(out) < 2:
        raise FileNotFoundError(
            2, "the demo portraits come with matplotlib and scikit-image: pip install \"lrface[demo]\" "
            f"(found: {', '.join(out) or 'none'})", "grace_hopper.jpg / astronaut.png")
    return out


def camera_frame(photo: np.ndarray, face_px: float, measured_px: float, seed: int) -> np.ndarray:
    """A surveillance-like frame of ``photo``: mirrored, tilted by up to 4 degrees, shrunk so
    the face (``measured_px`` across in the photo) is ``face_px`` across, blurred, noised and
    JPEG-compressed (quality 60), all seeded."""
    rng = np.random.default_rng(seed)
    img = np.ascontiguousarray(photo[:, ::-1])
    h, w = img.shape[:2]
    m = cv2.getRotationMatrix2D((w / 2, h / 2), float(rng.uniform(-4, 4)), 1.0)
    img = cv2.warpAffine(img, m, (w, h), borderMode=cv2.BORDER_REFLECT_101)
    s = face_px / measured_px
    img = cv2.resize(img, (max(8, round(w * s)), max(8, round(h * s))), interpolation=cv2.INTER_AREA)
    img = cv2.GaussianBlur(img, (0, 0), 0.6)
    img = np.clip(img + rng.normal(0, 3.0, img.shape), 0, 255).astype(np.uint8)
    ok, buf = cv2.imencode(".jpg", img[:, :, ::-1], [cv2.IMWRITE_JPEG_QUALITY, 60])
    return cv2.imdecode(buf, cv2.IMREAD_COLOR)[:, :, ::-1].copy()


def run_recognition_demo(out: Path, sizes: Tuple[int, ...] = (16, 24), crop_sizes: Tuple[int, ...] = (12, 16),
                         far: float = 1e-3) -> Dict[str, object]:
    """Verify and search degraded probes against the ID photos; prints a table, returns a report."""
    from lrface.api import FaceInfo, embed, pair_threshold
    from lrface.gallery import Gallery
    from lrface.face.degrade import degrade
    from lrface.face.io import read_image, write_image
    from lrface.face.pipeline import detect_and_align
    from lrface.models.weights import available_weights

    out.mkdir(parents=True, exist_ok=True)
    photos = portraits()
    people = list(photos)
    gallery_imgs = [read_image(photos[p]) for p in people]
    g_emb, g_info = embed(gallery_imgs, flip=True, return_info=True)
    gallery = Gallery()
    gallery.add(g_emb, people, [i.model for i in g_info])
    print("ID photos (gallery):")
    for p, i in zip(people, g_info):
        print(f"  {p:15s} face {i.face_px:5.0f} px -> {i.model} (quality {i.quality:.2f})")

    probes: List[Tuple[str, str, np.ndarray, bool]] = []  # (name, person, image, is_crop)
    for k, (p, img) in enumerate(zip(people, gallery_imgs)):
        face = detect_and_align(img)
        measured = g_info[k].face_px
        for s in sizes:
            probes.append((f"{p}_frame_{s}px", p, camera_frame(img, s, measured, seed=10 * k + s), False))
        for s in crop_sizes:
            crop = degrade(np.ascontiguousarray(face.image[:, ::-1]), s, "surveillance", seed=k)
            probes.append((f"{p}_crop_{s}px", p, crop, True))
    (out / "probes").mkdir(exist_ok=True)
    for name, _, img, _ in probes:
        write_image(out / "probes" / f"{name}.png", img)

    from lrface.eval.metrics import rate_key

    weights = available_weights()
    rows: List[Dict[str, object]] = []
    print(f"\nprobes vs ID photos: cosine score and decision at the threshold calibrated for FAR {rate_key(far)} "
          "(HR model vs the probe's model); search: open-set top-1")
    print(f"  {'probe':26s} {'face px':>7s}  {'model':10s} {'quality':>7s} {'threshold':>9s}  "
          + "  ".join(f"{p:>19s}" for p in people) + "  search")
    correct = 0
    sheet: List[Tuple[np.ndarray, str, Optional[np.ndarray], str, bool]] = []
    for name, person, img, is_crop in probes:
        e, info = embed(img, align=not is_crop, flip=True, on_no_face="nan", return_info=True)
        i: FaceInfo = info[0]
        if not i.found:
            print(f"  {name:26s} no face found")
            rows.append({"probe": name, "person": person, "found": False})
            sheet.append((img, name, None, "no face found", False))
            continue
        cells, scores = [], {}
        t = None
        for p, ge, gi in zip(people, g_emb, g_info):
            sc = float(e[0] @ ge)
            t = pair_threshold(weights.get(gi.model), weights.get(i.model), far, gi.res, i.res)
            scores[p] = {"score": sc, "threshold": t, "same": None if t is None else sc >= t}
            cells.append(f"{sc:6.3f} {'?' if t is None else ('same' if sc >= t else 'different'):>9s}")
        d = gallery.identify(e, [i], far=far)[0]  # open set: the best match, or "unknown"
        answer = d.label
        correct += answer == person
        print(f"  {name:26s} {i.face_px:7.1f}  {i.model:10s} {i.quality:7.2f} {'-' if t is None else f'{t:.3f}':>9s}  "
              + "  ".join(f"{c:>19s}" for c in cells) + f"  {answer}")
        rows.append({"probe": name, "person": person, "found": True, "face_px": i.face_px, "model": i.model,
                     "res": i.res, "quality": i.quality, "upsampled": i.upsampled, "scores": scores, "search": answer})
        verdict = f"{answer} ({d.score:.3f}" + (f" vs {d.threshold:.3f})" if d.threshold is not None else ")")
        sheet.append((img, f"{name} ({i.face_px:.0f} px, {i.model})", gallery_imgs[people.index(d.best)], verdict,
                      answer == person))
    result_png = out / "results.png"
    draw_results(sheet, result_png)
    print(f"\n{correct} of {len(probes)} probes identified correctly (open set, FAR {rate_key(far)}); "
          f"probes saved in {out / 'probes'}; the picture: {result_png}")
    print("The probes are mirrored, tilted, blurred, noisy, JPEG-compressed copies of the ID photos; "
          "accuracy on other photos of each person is in docs/results.md (LFW).")
    return {"people": people, "gallery_models": [i.model for i in g_info], "probes": rows, "correct": correct,
            "far": far, "picture": str(result_png)}


def draw_results(rows: List[Tuple[np.ndarray, str, Optional[np.ndarray], str, bool]], path: Path,
                 cell: int = 112) -> None:
    """A picture of the demo's answers, one row per probe: the probe as the camera saw it
    (enlarged, pixels kept square), its best gallery match, and the decision (green when right,
    red when wrong or unknown)."""
    from lrface.face.io import write_image

    width = 2 * cell + 420
    canvas = np.full((cell * len(rows) + 8 * (len(rows) + 1), width, 3), 255, np.uint8)
    for k, (probe, label, match, verdict, right) in enumerate(rows):
        y = 8 + k * (cell + 8)
        h, w = probe.shape[:2]
        f = cell / max(h, w)
        big = cv2.resize(probe, (max(1, round(w * f)), max(1, round(h * f))), interpolation=cv2.INTER_NEAREST)
        canvas[y:y + big.shape[0], 4:4 + big.shape[1]] = big
        if match is not None:
            mh, mw = match.shape[:2]
            g = cell / max(mh, mw)
            small = cv2.resize(match, (max(1, round(mw * g)), max(1, round(mh * g))), interpolation=cv2.INTER_AREA)
            canvas[y:y + small.shape[0], cell + 8:cell + 8 + small.shape[1]] = small
        color = (0, 140, 0) if right else (200, 0, 0)
        cv2.putText(canvas, label[:48], (2 * cell + 16, y + 30), cv2.FONT_HERSHEY_SIMPLEX, 0.45, (0, 0, 0), 1,
                    cv2.LINE_AA)
        cv2.putText(canvas, verdict[:48], (2 * cell + 16, y + 60), cv2.FONT_HERSHEY_SIMPLEX, 0.5, color, 1, cv2.LINE_AA)
    write_image(path, canvas)
