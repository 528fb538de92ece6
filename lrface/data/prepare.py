"""Turn a raw identity-folder dataset into aligned 112x112 crops (``lrface-prepare``).

``SRC/<identity>/<image>`` -> ``DST/<identity>/<stem>.jpg`` plus ``DST/manifest.csv`` with one
row per file found in an identity folder (``source,output,status,score`` and extra columns).
``source`` is the file's path relative to SRC and ``output`` the crop's path relative to DST
(both ``<identity>/<file>``, POSIX separators), so ``DST / output`` opens the crop. Status is
``ok``, ``no_face`` or ``unreadable``.

No file is dropped silently. Whether a file is an image is decided by its content, not its
name: a JPEG saved without an extension is aligned like any other. Every other file in an
identity folder (``.DS_Store``, ``notes.txt``, AppleDouble ``._x.jpg``) gets an ``unreadable``
row whose message says why. Entries that cannot have a row (sub-folders of an identity
folder, loose files directly in SRC, hidden folders) are counted in the summary's
``skipped`` with a reason.

Robustness, because real datasets are dirty and runs get killed:

* every crop is written atomically (temp file + rename), and its manifest row is appended
  and flushed only after the crop is on disk, so a killed run never leaves a half-written
  image or a row pointing at nothing;
* a rerun resumes: finished rows are kept (``ok`` rows only if their crop still exists), a
  torn last line is dropped, and only the rest is processed;
* a bad image becomes a row with a status and a message, never a crash of the run;
* settings are recorded in ``DST/prepare.json``; resuming with different settings is refused
  rather than silently mixing two kinds of crops.
"""
from __future__ import annotations

import csv
import io
import json
import logging
import multiprocessing as mp
import os
import time
from collections import Counter
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Dict, Iterable, Iterator, List, Optional, Sequence, Tuple, Union

import numpy as np

from lrface.data.folder import Sample, raise_no_images
from lrface.errors import DatasetLayoutError, ImageReadError
from lrface.face.io import IMAGE_SUFFIXES
from lrface.face.pipeline import DEFAULT_PAD_RETRY

log = logging.getLogger(__name__)

PathLike = Union[str, Path]
MANIFEST = "manifest.csv"
SETTINGS = "prepare.json"
#: Contract columns first (the public contract, docs/api.md), then extras useful for auditing and re-alignment.
COLUMNS = ["source", "output", "status", "score", "num_faces", "landmarks", "message"]
STATUSES = ("ok", "no_face", "unreadable")
CHUNK = 32  # images per detector batch


@dataclass(frozen=True)
class PrepareSettings:
    """Everything that changes what a crop looks like; a resumed run must match it."""

    size: Tuple[int, int] = (112, 112)
    policy: str = "largest"
    min_face_size: int = 20
    thresholds: Tuple[float, float, float] = (0.6, 0.7, 0.7)
    pad_retry: Tuple[float, ...] = DEFAULT_PAD_RETRY
    quality: int = 95
    landmarks_file: Optional[str] = None


@dataclass
class PrepareSummary:
    """What a run did; also written to ``DST/prepare.json``."""

    total: int
    counts: Dict[str, int]
    processed: int  # rows produced by this run (the rest were resumed)
    seconds: float
    images_per_second: float
    dst: str
    settings: Dict[str, object] = field(default_factory=dict)
    #: entries under SRC that got no manifest row, by reason (sub-folders, loose files, ...)
    skipped: Dict[str, int] = field(default_factory=dict)
    #: rows for files that are not images at all (counted in ``counts["unreadable"]`` too)
    not_images: int = 0

    @property
    def ok_fraction(self) -> float:
        return self.counts.get("ok", 0) / self.total if self.total else 0.0

    def format(self) -> str:
        parts = ", ".join(f"{s}={self.counts.get(s, 0)}" for s in STATUSES)
        return (
            f"{self.total} images: {parts} ({100 * self.ok_fraction:.2f}% aligned); "
            f"this run processed {self.processed} in {self.seconds:.1f}s "
            f"({self.images_per_second:.1f} images/s); manifest: {Path(self.dst) / MANIFEST}"
            + (f"; {self.not_images} of the unreadable are not image files" if self.not_images else "")
            + (f"; skipped without a row: {_fmt_skipped(self.skipped)}" if self.skipped else "")
        )


def _fmt_skipped(skipped: Dict[str, int]) -> str:
    return ", ".join(f"{n} {reason}" for reason, n in sorted(skipped.items()))


# --------------------------------------------------------------------------- scanning

#: Leading bytes of the formats :func:`lrface.face.io.read_image` decodes.
_MAGIC: Tuple[Tuple[bytes, str], ...] = (
    (b"\xff\xd8\xff", "JPEG"),
    (b"\x89PNG\r\n\x1a\n", "PNG"),
    (b"GIF87a", "GIF"),
    (b"GIF89a", "GIF"),
    (b"BM", "BMP"),
    (b"II*\x00", "TIFF"),
    (b"MM\x00*", "TIFF"),
)
#: Message prefix of rows for files that are not images (so they can be counted apart).
NOT_IMAGE = "not an image file"


def sniff_image(path: PathLike) -> Optional[str]:
    """Image format named by a file's first bytes (``"JPEG"``, ``"PNG"``, ...), or ``None``.

    Covers the formats :func:`lrface.face.io.read_image` decodes: JPEG, PNG, GIF, BMP, TIFF,
    WebP and PGM/PPM/PBM. Reads 16 bytes; unreadable files give ``None``.

    Example:
        >>> sniff_image("raw/alice/IMG_0001")  # a JPEG without a suffix  # doctest: +SKIP
        'JPEG'
    """
    try:
        with open(path, "rb") as f:
            head = f.read(16)
    except OSError:
        return None
    for magic, fmt in _MAGIC:
        if head.startswith(magic):
            return fmt
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "WEBP"
    if len(head) >= 3 and head[:1] == b"P" and head[1:2] in b"123456" and head[2:3].isspace():
        return "PNM"
    return None


def scan_sources(root: PathLike) -> Tuple[List[Sample], Dict[str, str], Dict[str, int]]:
    """Every file of ``root/<identity>/`` as a sample, sorted by identity then name.

    Returns:
        ``(samples, rejected, skipped)``: ``rejected`` maps the relpath of each file that is
        not an image (hidden, or content not an image format) to the reason, so it gets an
        ``unreadable`` row; ``skipped`` counts entries that cannot get a row, by reason.
        A file with an image suffix is always a sample (the reader reports what is wrong
        with it); a file without one is a sample when its first bytes name an image format.

    Raises:
        DatasetLayoutError: ``root`` is missing, not a folder, has images directly in it
            instead of identity folders, or has no files in identity folders at all.
    """
    root = Path(root)
    if not root.exists():
        raise DatasetLayoutError(f"dataset folder not found: {root} (expected {root}/<identity>/<image>)")
    if not root.is_dir():
        raise DatasetLayoutError(f"{root} is not a folder (expected {root}/<identity>/<image>)")
    samples: List[Sample] = []
    rejected: Dict[str, str] = {}
    skipped: Counter = Counter()
    loose: List[str] = []
    for entry in sorted(root.iterdir()):
        if entry.is_dir() and entry.name.startswith("."):
            skipped["hidden folders in SRC"] += 1
            continue
        if not entry.is_dir():
            if entry.suffix.lower() in IMAGE_SUFFIXES and not entry.name.startswith("."):
                loose.append(entry.name)
            skipped["files directly in SRC (not in an identity folder)"] += 1
            continue
        for f in sorted(entry.iterdir()):
            rel = f"{entry.name}/{f.name}"
            if f.is_dir():
                skipped["sub-folders inside identity folders"] += 1
                continue
            if not (f.is_file() or f.is_symlink()):  # sockets, fifos: never opened
                skipped["special files (not regular files)"] += 1
                continue
            # Broken symlinks are kept so they get an "unreadable" row from the reader.
            if f.name.startswith("."):
                rejected[rel] = f"{NOT_IMAGE}: hidden file (name starts with '.'), not processed"
            elif f.suffix.lower() not in IMAGE_SUFFIXES:
                fmt = sniff_image(f) if f.is_file() else None
                if fmt is None:
                    rejected[rel] = (f"{NOT_IMAGE}: {f.suffix or 'no'} suffix and the content is not "
                                     "JPEG, PNG, GIF, BMP, TIFF, WebP or PNM")
            samples.append(Sample(entry.name, f.absolute(), rel))
    if not samples:
        raise_no_images(root, loose)
    if len(rejected) == len(samples):
        raise DatasetLayoutError(
            f"no images found under {root} (only {len(rejected)} other files, e.g. {next(iter(rejected))}); "
            f"expected {root}/<identity>/<image>"
        )
    return samples, rejected, dict(skipped)


# --------------------------------------------------------------------------- manifest I/O


def _read_manifest(path: Path) -> List[Dict[str, str]]:
    """Rows of an existing manifest; a torn last line (killed mid-write) is dropped."""
    if not path.exists():
        return []
    text = path.read_text(encoding="utf-8")
    if text and not text.endswith("\n"):
        text = text[: text.rfind("\n") + 1]
    rows = [r for r in csv.DictReader(io.StringIO(text)) if r.get("source") and r.get("status") in STATUSES]
    for r in rows:
        # Manifests written before 0.1.1 held the bare file name; make it relative to DST.
        out = r.get("output") or ""
        if out and "/" not in out:
            r["output"] = f"{r['source'].split('/')[0]}/{out}"
    return rows


def _write_rows_atomic(path: Path, rows: Iterable[Dict[str, object]]) -> None:
    tmp = path.with_name(f".{path.name}.tmp{os.getpid()}")
    with open(tmp, "w", newline="", encoding="utf-8") as f:
        w = csv.DictWriter(f, fieldnames=COLUMNS, extrasaction="ignore")
        w.writeheader()
        w.writerows(rows)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


def _load_landmarks(path: PathLike) -> Dict[str, np.ndarray]:
    """``path,x1,y1,...,x5,y5`` CSV (paths relative to SRC) -> {relpath: (5, 2)}."""
    p = Path(path)
    if not p.is_file():
        raise DatasetLayoutError(f"landmarks file not found: {p} (expected CSV path,x1,y1,...,x5,y5)")
    out: Dict[str, np.ndarray] = {}
    with open(p, newline="", encoding="utf-8") as f:
        reader = csv.DictReader(f)
        need = ["path"] + [f"{a}{i}" for i in range(1, 6) for a in "xy"]
        missing = [c for c in need if c not in (reader.fieldnames or [])]
        if missing:
            raise DatasetLayoutError(f"{p}: missing columns {missing}; expected {','.join(need)}")
        for row in reader:
            try:
                pts = np.array([[float(row[f"x{i}"]), float(row[f"y{i}"])] for i in range(1, 6)])
            except ValueError as e:
                raise DatasetLayoutError(f"{p}: bad landmark values for {row['path']!r}: {e}") from None
            out[Path(row["path"]).as_posix()] = pts
    return out


# --------------------------------------------------------------------------- worker side

_DETECTOR = None


def _worker_init(settings: PrepareSettings, threads: int) -> None:
    """Per-process setup: one detector and a bounded thread count so workers don't oversubscribe."""
    global _DETECTOR
    import torch

    torch.set_num_threads(max(1, threads))
    from lrface.face.detect import MTCNN

    _DETECTOR = MTCNN(min_face_size=settings.min_face_size, thresholds=settings.thresholds)


def _fmt_landmarks(lm: np.ndarray) -> str:
    return " ".join(f"{v:.2f}" for v in np.asarray(lm, dtype=np.float64).ravel())


Task = Tuple[str, str, str, Optional[np.ndarray], PrepareSettings]


def _row(relpath: str, **kw: object) -> Dict[str, object]:
    row: Dict[str, object] = {c: "" for c in COLUMNS}
    row["source"] = relpath
    row.update(kw)
    return row


def _process_chunk(tasks: List[Task]) -> List[Dict[str, object]]:
    """Manifest rows for a chunk of images; detection runs batched over the chunk.

    Never raises for a bad image: each row says what happened. Crops are written (atomically)
    before their rows are returned, so a returned ``ok`` row always points at a whole file.
    """
    from lrface.face.align import align
    from lrface.face.io import read_image, write_image
    from lrface.face.pipeline import detect_and_align_batch

    rows: List[Optional[Dict[str, object]]] = [None] * len(tasks)
    crops: Dict[int, Tuple[np.ndarray, np.ndarray, str, object]] = {}
    to_detect: List[Tuple[int, np.ndarray]] = []
    for i, (relpath, src, _out, landmarks, settings) in enumerate(tasks):
        try:
            image = read_image(src)
        except ImageReadError as e:
            rows[i] = _row(relpath, status="unreadable", message=str(e))
            continue
        if landmarks is None:
            to_detect.append((i, image))
            continue
        try:
            crops[i] = (align(image, landmarks, settings.size), landmarks, "", "")
        except ValueError as e:  # degenerate or non-finite landmarks from the file
            rows[i] = _row(relpath, status="unreadable", message=f"bad landmarks: {e}")
    if to_detect:
        s = tasks[0][4]
        try:
            found = detect_and_align_batch([im for _, im in to_detect], detector=_DETECTOR, policy=s.policy,
                                           size=s.size, pad_retry=s.pad_retry)
        except Exception:  # one pathological image must not cost the chunk: retry one by one
            found = []
            for _, im in to_detect:
                try:
                    found.append(detect_and_align_batch([im], detector=_DETECTOR, policy=s.policy,
                                                        size=s.size, pad_retry=s.pad_retry)[0])
                except Exception as e:  # noqa: BLE001 - recorded in the manifest, never fatal
                    log.warning("detection failed: %r", e)
                    found.append(e)
        for (i, _), res in zip(to_detect, found):
            relpath = tasks[i][0]
            if isinstance(res, Exception):
                rows[i] = _row(relpath, status="unreadable",
                               message=f"processing failed: {type(res).__name__}: {res}")
            elif res is None:
                rows[i] = _row(relpath, status="no_face", num_faces=0, message="no face detected")
            else:
                crops[i] = (res.image, res.face.landmarks, f"{res.face.score:.4f}", res.num_faces)
    for i, (crop, lm, score, n) in crops.items():
        relpath, _src, out, _lm, settings = tasks[i]
        write_image(out, crop, quality=settings.quality)
        out_rel = f"{Path(out).parent.name}/{Path(out).name}"  # DST/<identity>/<file> -> relative to DST
        rows[i] = _row(relpath, status="ok", output=out_rel, score=score, num_faces=n,
                       landmarks=_fmt_landmarks(lm))
    return [r for r in rows if r is not None]


# --------------------------------------------------------------------------- driver


def _output_names(samples: Sequence[Sample]) -> Dict[str, str]:
    """``<identity>/<stem>.jpg``; sources sharing a stem (a.png, a.jpg) keep their suffix."""
    stems = Counter((s.identity, s.path.stem) for s in samples)
    names = {}
    for s in samples:
        stem = s.path.stem if stems[(s.identity, s.path.stem)] == 1 else s.path.name
        names[s.relpath] = f"{s.identity}/{stem}.jpg"
    return names


def _check_settings(dst: Path, settings: PrepareSettings, overwrite: bool) -> None:
    path = dst / SETTINGS
    if overwrite or not path.exists() or not (dst / MANIFEST).exists():
        return
    try:
        old = json.loads(path.read_text()).get("settings", {})
    except (OSError, ValueError):
        return
    new = json.loads(json.dumps(asdict(settings)))
    diff = {k: (old.get(k), v) for k, v in new.items() if old.get(k) != v}
    if diff:
        raise ValueError(
            f"{dst} was prepared with different settings {diff} (old, new); "
            "use another DST or pass --overwrite to start again"
        )


def prepare_dataset(
    src: PathLike,
    dst: PathLike,
    *,
    settings: PrepareSettings = PrepareSettings(),
    workers: int = 0,
    limit: Optional[int] = None,
    overwrite: bool = False,
    progress: bool = True,
) -> PrepareSummary:
    """Detect, align and save every image of an identity-folder dataset.

    Args:
        src: ``SRC/<identity>/<image>`` dataset root.
        dst: output root (created); must not be inside ``src``.
        settings: crop size, multi-face policy, detector thresholds, landmark file, JPEG quality.
        workers: worker processes; 0 = one per CPU core, 1 = in this process.
        limit: process at most this many images (the first ones in sorted order).
        overwrite: discard an existing manifest and start from scratch.
        progress: show a tqdm progress bar.

    Returns:
        A :class:`PrepareSummary` over the whole manifest (resumed rows included).

    Example:
        >>> from lrface.data.prepare import prepare_dataset  # doctest: +SKIP
        >>> prepare_dataset("raw/", "aligned/").format()    # doctest: +SKIP
    """
    src, dst = Path(src).resolve(), Path(dst).resolve()
    samples, rejected, skipped = scan_sources(src)
    if dst == src or src in dst.parents:
        raise DatasetLayoutError(f"DST {dst} must not be inside SRC {src}")
    known = {s.relpath for s in samples}  # rows of these survive a --limit run
    if limit is not None:
        samples = samples[: max(0, limit)]
    dst.mkdir(parents=True, exist_ok=True)
    _check_settings(dst, settings, overwrite)
    landmarks = _load_landmarks(settings.landmarks_file) if settings.landmarks_file else {}

    _remove_stale_temp_files(dst)
    manifest = dst / MANIFEST
    kept = [] if overwrite else [
        r for r in _read_manifest(manifest)
        if r["source"] in known and (r["status"] != "ok" or (dst / r["output"]).is_file())
    ]
    done = {r["source"] for r in kept}
    _write_rows_atomic(manifest, kept)  # drops torn lines and stale rows before appending
    _write_settings(dst, settings, None)

    not_images = [_row(s.relpath, status="unreadable", message=rejected[s.relpath])
                  for s in samples if s.relpath in rejected and s.relpath not in done]
    samples = [s for s in samples if s.relpath not in rejected]
    names = _output_names(samples)
    todo = [
        (s.relpath, str(s.path), str(dst / names[s.relpath]), landmarks.get(s.relpath), settings)
        for s in samples if s.relpath not in done
    ]
    for rel in {t[2] for t in todo}:
        Path(rel).parent.mkdir(parents=True, exist_ok=True)
    if done:
        log.info("resuming: %d of %d images already done", len(done), len(samples))

    t0 = time.perf_counter()
    with open(manifest, "a", newline="", encoding="utf-8") as f:
        writer = csv.DictWriter(f, fieldnames=COLUMNS, extrasaction="ignore")
        writer.writerows(not_images)  # decided by the scan: no worker needed
        f.flush()
        for row in _run(todo, workers, settings, progress, len(samples), len(samples) - len(todo)):
            writer.writerow(row)
            f.flush()  # row after crop: a killed run loses at most the rows in flight
    seconds = time.perf_counter() - t0

    # Final, sorted manifest: deterministic output whatever the completion order was.
    rows = sorted(_read_manifest(manifest), key=lambda r: r["source"])
    _write_rows_atomic(manifest, rows)
    summary = PrepareSummary(
        total=len(rows),
        counts={s: sum(r["status"] == s for r in rows) for s in STATUSES},
        processed=len(todo) + len(not_images),
        seconds=seconds,
        images_per_second=len(todo) / seconds if seconds > 0 and todo else 0.0,
        dst=str(dst),
        settings=json.loads(json.dumps(asdict(settings))),
        skipped=skipped,
        not_images=sum(r["status"] == "unreadable" and r.get("message", "").startswith(NOT_IMAGE) for r in rows),
    )
    if skipped:
        log.info("%s: skipped without a manifest row: %s", src, _fmt_skipped(skipped))
    _write_settings(dst, settings, summary)
    return summary


def _remove_stale_temp_files(dst: Path) -> None:
    """Delete ``.<name>.*.tmp`` files a killed run left behind (atomic writes never finished)."""
    for p in dst.rglob(".*"):
        if p.is_file() and ".tmp" in p.name:
            p.unlink(missing_ok=True)


def _write_settings(dst: Path, settings: PrepareSettings, summary: Optional[PrepareSummary]) -> None:
    from lrface import __version__

    payload = {"lrface_version": __version__, "settings": asdict(settings)}
    if summary is not None:
        payload["summary"] = {k: v for k, v in asdict(summary).items() if k != "settings"}
    tmp = dst / f".{SETTINGS}.tmp"
    tmp.write_text(json.dumps(payload, indent=2, default=list))
    os.replace(tmp, dst / SETTINGS)


def _run(todo: list, workers: int, settings: PrepareSettings, progress: bool, total: int,
         initial: int) -> Iterator[Dict[str, object]]:
    from tqdm import tqdm

    n = workers if workers > 0 else (os.cpu_count() or 1)
    n = max(1, min(n, len(todo) or 1))
    bar = tqdm(total=total, initial=initial, unit="img", disable=not progress, desc="prepare",
               dynamic_ncols=True)
    # Chunks: detection is batched within a chunk (a few times faster than image by image),
    # and small enough that a kill loses little work and the bar moves smoothly.
    chunks = [todo[i : i + CHUNK] for i in range(0, len(todo), CHUNK)]
    try:
        if n == 1 or len(todo) < 2 * CHUNK:
            import torch

            # One thread: MTCNN's small tensors run slower with two threads waiting on each
            # other. The caller's setting is restored afterwards.
            threads = torch.get_num_threads()
            _worker_init(settings, 1)
            try:
                for c in chunks:
                    rows = _process_chunk(c)
                    yield from rows
                    bar.update(len(rows))
            finally:
                torch.set_num_threads(threads)
        else:
            # spawn: torch's thread pools are not fork-safe once used.
            ctx = mp.get_context("spawn")
            with ctx.Pool(n, initializer=_worker_init, initargs=(settings, 1)) as pool:
                for rows in pool.imap_unordered(_process_chunk, chunks):
                    yield from rows
                    bar.update(len(rows))
    finally:
        bar.close()
