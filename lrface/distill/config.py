"""The schema of ``lrface-train distill`` configs (YAML -> frozen dataclasses).

Every weight, temperature, size and schedule value of a run lives here or in the ``losses``
mapping, so a run is fully described by its resolved ``config.yaml``. See
``benchmarks/configs/*.yaml`` for examples and :mod:`lrface.config` for loading and
``--set`` overrides.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Dict, Optional, Tuple


@dataclass(frozen=True)
class RootCfg:
    """One training root: ``path/<identity>/<aligned image>`` (see :class:`lrface.data.packed.RootSpec`)."""

    path: str
    name: Optional[str] = None
    labelled: bool = True
    # False: none of this root's identities is held out for validation, so appending the root
    # to a config keeps the validation split (and val scores) of the others comparable.
    val: bool = True


@dataclass(frozen=True)
class SyntheticCfg:
    """Rendered synthetic identities (no real data needed; for smoke tests and demos)."""

    identities: int = 24
    images_per_identity: int = 6
    seed: int = 0


@dataclass(frozen=True)
class ExcludeCfg:
    """Identity-overlap guard against an evaluation set (see :mod:`lrface.distill.overlap`).

    Attributes:
        dataset: evaluation set whose identities must not be trained on (``lfw``), or
            ``none`` to disable the guard (say so when reporting).
        root: its folder (default ``$LRFACE_DATA/<dataset>``).
        by_name: exclude training identities whose folder name matches an evaluation name.
        centroid_threshold: exclude training identities whose teacher-embedding centroid has
            cosine similarity >= this with any evaluation identity's centroid.
        center: compare centroids of mean-centred embeddings (see
            :func:`lrface.distill.overlap.centroids`).
    """

    dataset: str = "lfw"
    root: Optional[str] = None
    by_name: bool = True
    centroid_threshold: float = 0.6
    # subtract the mean unit embedding of training and evaluation faces before the centroids
    # (for teachers whose embeddings share one narrow cone, such as dlib's)
    center: bool = False
    # the model whose embeddings judge the overlap (default: the run's teacher); fixing it keeps
    # the excluded identities, and so the validation split, the same across runs
    model: Optional[str] = None
    # an earlier run's overlap.json: drop exactly the identities it dropped (no recomputation)
    reuse: Optional[str] = None


@dataclass(frozen=True)
class DataCfg:
    roots: Tuple[RootCfg, ...] = ()
    synthetic: Optional[SyntheticCfg] = None
    val_fraction: float = 0.05
    val_pairs: int = 3000
    exclude: ExcludeCfg = field(default_factory=ExcludeCfg)
    cache_dir: Optional[str] = None  # default $LRFACE_CACHE or ~/.cache/lrface
    flip: bool = True  # random horizontal flip (the teacher cache holds both views)
    # Keep a seeded fraction of the training identities (after the validation split, which
    # stays the same): data-scaling experiments (benchmarks/configs/scaling16.yaml).
    train_fraction: float = 1.0


@dataclass(frozen=True)
class ModelSpec:
    """A network of the run: an architecture and optionally weights to start from."""

    arch: str = ""
    weights: Optional[str] = None  # name or .pt with a manifest entry (teacher: required for real runs)
    kwargs: Dict[str, Any] = field(default_factory=dict)
    # run the network at this input side instead of its own (a fully convolutional model
    # adapted to small faces need not see them at the size it was pretrained on)
    input_size: Optional[int] = None


@dataclass(frozen=True)
class DegradeCfg:
    """How the student's LR inputs are made from HR faces: a preset drawn per sample."""

    presets: Tuple[str, ...] = ("area",)
    probs: Optional[Tuple[float, ...]] = None  # default uniform


@dataclass(frozen=True)
class AugmentCfg:
    """Geometric and photometric jitter of the HR face before it is degraded (student input only).

    The teacher's target stays the cached embedding of the un-jittered face, so the student
    learns to give the same embedding to a face a little off the template, as real LR crops are
    (landmarks found at 16 px are a pixel or more off). All draws are seeded per sample and epoch.
    Zero everywhere (the default) is no augmentation.
    """

    shift: float = 0.0  # max translation as a fraction of the face side (0.03 = 3.4 px at 112)
    scale: float = 0.0  # max relative scale change (0.05 = +-5%)
    rotate: float = 0.0  # max rotation in degrees
    gray: float = 0.0  # probability of converting to grey (IR / monochrome cameras)
    contrast: float = 0.0  # max relative contrast/brightness change

    def active(self) -> bool:
        return any(v > 0 for v in (self.shift, self.scale, self.rotate, self.gray, self.contrast))


@dataclass(frozen=True)
class ViewsCfg:
    """Extra teacher views, consistent between teacher and student (see :mod:`lrface.distill.views`).

    ``count`` jittered copies of every training face (each fixed per face and view, keyed by
    the face's content) are embedded by the teacher once, into the cache, and the student
    trains on them degraded, with the teacher's embedding of the same jittered face as target.
    Every training sample draws one of the 2 + ``count`` cached views uniformly (face, mirror,
    jittered ones). Cost: ``count`` more teacher forwards per face, once. 0 (the default): off.
    """

    count: int = 0
    shift: float = 0.04
    scale: float = 0.06
    rotate: float = 6.0
    contrast: float = 0.2
    gray: float = 0.1
    mirror: float = 0.5  # probability that a jittered view starts from the mirrored face
    seed: int = 0  # not the run's seed: runs with other seeds share the cached views


@dataclass(frozen=True)
class OptimCfg:
    optimizer: str = "sgd"  # sgd | adamw
    lr: float = 0.1
    momentum: float = 0.9
    weight_decay: float = 5e-4
    epochs: int = 10
    batch_size: int = 256
    warmup_epochs: float = 0.5
    min_lr: float = 0.0
    grad_clip: Optional[float] = 5.0


@dataclass(frozen=True)
class DistillConfig:
    """One distillation run: teacher (frozen, HR) -> optional assistant (HR) -> student (LR)."""

    name: str = "distill"
    seed: int = 0
    res: int = 16
    # LR face sizes drawn per sample (uniformly, seeded); empty: every sample at ``res``. With
    # sizes here, ``res`` only names the run's nominal size (manifest, default validation).
    res_mix: Tuple[int, ...] = ()
    # validation sizes (default: ``res``); val_auc is their mean, val_auc_<size> each
    val_res: Tuple[int, ...] = ()
    teacher: Optional[ModelSpec] = field(default_factory=lambda: ModelSpec(arch="mobilefacenet_y1"))
    teacher_taps: Dict[str, int] = field(default_factory=dict)  # tap -> pooled side, cached for map losses
    student: ModelSpec = field(default_factory=ModelSpec)  # default arch: lrstudent<res>
    assistant: Optional[ModelSpec] = None
    losses: Dict[str, Any] = field(default_factory=lambda: {"mimic": {"weight": 1.0, "kind": "cosine"}})
    assistant_losses: Dict[str, Any] = field(default_factory=lambda: {"mimic": {"weight": 1.0, "kind": "cosine"}})
    data: DataCfg = field(default_factory=DataCfg)
    degrade: DegradeCfg = field(default_factory=DegradeCfg)
    augment: AugmentCfg = field(default_factory=AugmentCfg)
    views: ViewsCfg = field(default_factory=ViewsCfg)
    optim: OptimCfg = field(default_factory=OptimCfg)
    log_every: int = 20
    checkpoint_every: int = 200  # steps between resumable checkpoints (and at every epoch end)
    threads: Optional[int] = None  # torch threads (default: torch's choice)
    amp: bool = True  # bf16 autocast on CUDA (ignored on CPU)
    max_steps: Optional[int] = None  # stop after this many steps (speed measurements)
    live_teacher: bool = False  # run the teacher on every batch instead of the cache (to measure the cache)
    # "hr": the teacher's (cached) embedding of the HR face is the target; "lr": the teacher
    # runs on the student's own LR view of the batch (an LR-adapted teacher, e.g. one made by
    # lrface-train adapt, gives exact targets for any view, so augmentation needs no cache)
    teacher_view: str = "hr"
    device: str = "cpu"

    @property
    def student_arch(self) -> str:
        return self.student.arch or f"lrstudent{self.res}"

    @property
    def validation_sizes(self) -> Tuple[int, ...]:
        return tuple(int(r) for r in self.val_res) or (int(self.res),)


@dataclass(frozen=True)
class TeacherConfig:
    """``lrface-train teacher``: ArcFace-style training or fine-tuning of an HR model on
    identity folders (no teacher): a margin head on the embedding, warm-up + cosine schedule,
    bf16 autocast on CUDA. It runs through the same loop as distillation (resume, metrics,
    validation on held-out identities, manifest entry), with ``DIR/teacher.pt`` as product.
    """

    name: str = "teacher"
    seed: int = 0
    arch: str = "iresnet50"
    weights: Optional[str] = None  # start from these weights (fine-tuning); None: random init
    arch_kwargs: Dict[str, Any] = field(default_factory=dict)
    head: Dict[str, Any] = field(default_factory=lambda: {"arcface": {"s": 64.0, "m2": 0.5}})
    data: DataCfg = field(default_factory=DataCfg)
    optim: OptimCfg = field(default_factory=lambda: OptimCfg(lr=0.1, epochs=20, batch_size=128, warmup_epochs=1.0))
    amp: bool = True
    log_every: int = 20
    checkpoint_every: int = 200
    threads: Optional[int] = None
    device: str = "cpu"

    def to_distill(self) -> DistillConfig:
        """The equivalent loop configuration: the model as 'student' at its input size, the
        margin head as the only loss, no teacher."""
        if len(self.head) != 1:
            raise ValueError(f"head: give exactly one margin head (e.g. arcface), got {list(self.head)}")
        (head, opts), = self.head.items()
        from lrface.models.base import create_model

        side = create_model(self.arch, **self.arch_kwargs).input_size[0]
        return DistillConfig(
            name=self.name, seed=self.seed, res=side, teacher=None,
            student=ModelSpec(arch=self.arch, weights=self.weights, kwargs=dict(self.arch_kwargs)),
            losses={head: {"weight": 1.0, **dict(opts or {})}}, assistant_losses={}, data=self.data,
            degrade=DegradeCfg(presets=("area",)), optim=self.optim, log_every=self.log_every,
            checkpoint_every=self.checkpoint_every, threads=self.threads, device=self.device, amp=self.amp,
        )


@dataclass(frozen=True)
class AdaptConfig:
    """``lrface-train adapt``: fine-tune a pretrained HR model for low-resolution faces.

    The model starts from its pretrained weights and sees low-resolution views of the
    training faces (a size drawn per sample from ``sizes``, a degradation preset drawn from
    ``degrade``, framing jitter from ``augment``), made by the one LR path; its targets are
    the frozen original's embeddings of the same faces at full resolution (cached once), so
    the adapted model stays in the original's embedding space and HR galleries embedded by
    the original match its LR probes. It runs through the distillation loop (teacher cache,
    overlap guard, validation on held-out identities, exact resume, manifest entry), with the
    frozen original as teacher and a trainable copy as student; the product is ``DIR/adapted.pt``.

    Where sizes up to 32 px are the target, a smaller ``input_size`` than the model's own costs
    less and loses nothing a 32 px face carries (measure it: ``benchmarks/configs/adapt_dlib.yaml``).
    """

    name: str = "adapt"
    seed: int = 0
    model: str = ""  # the pretrained HR model: a name with weights or a .pt with a manifest entry
    # start the trainable copy from these weights instead of ``model``'s (same architecture), e.g.
    # an earlier adaptation trained further; the targets stay ``model``'s
    init: Optional[str] = None
    input_size: Optional[int] = None  # the adapted model's input side (default: the model's own)
    sizes: Tuple[int, ...] = (8, 12, 16, 20, 24, 32)
    val_sizes: Tuple[int, ...] = (8, 16, 24)
    losses: Dict[str, Any] = field(default_factory=lambda: {
        "horkd": {"weight": 1.0, "w_first": 1.0, "w_second": 1.0, "w_third": 2.0}})
    data: DataCfg = field(default_factory=DataCfg)
    degrade: DegradeCfg = field(default_factory=lambda: DegradeCfg(presets=("area", "bicubic", "mild")))
    augment: AugmentCfg = field(default_factory=lambda: AugmentCfg(shift=0.03, scale=0.05, rotate=5.0, contrast=0.15,
                                                                   gray=0.1))
    views: ViewsCfg = field(default_factory=ViewsCfg)
    optim: OptimCfg = field(default_factory=lambda: OptimCfg(optimizer="adamw", lr=1e-4, weight_decay=1e-4, epochs=4,
                                                             batch_size=64, warmup_epochs=0.1, grad_clip=5.0))
    log_every: int = 20
    checkpoint_every: int = 200
    threads: Optional[int] = None
    amp: bool = True
    max_steps: Optional[int] = None
    device: str = "cpu"

    def to_distill(self) -> DistillConfig:
        """The equivalent loop configuration: the frozen model as teacher, a copy of it as the
        student at ``input_size``, mixed LR sizes."""
        if not self.model:
            raise ValueError("adapt: set model (the pretrained HR model to adapt, a name or a .pt)")
        if not self.sizes or any(int(s) < 4 for s in self.sizes):
            raise ValueError(f"adapt: sizes must be LR face sizes >= 4 px, got {self.sizes}")
        from lrface.models.weights import load_model

        arch = load_model(self.model).weights.arch
        return DistillConfig(
            name=self.name, seed=self.seed, res=int(sorted(self.sizes)[len(self.sizes) // 2]),
            res_mix=tuple(int(s) for s in self.sizes), val_res=tuple(int(s) for s in self.val_sizes),
            teacher=ModelSpec(arch=arch, weights=self.model),
            student=ModelSpec(arch=arch, weights=self.init or self.model, input_size=self.input_size),
            losses=dict(self.losses), assistant_losses={}, data=self.data, degrade=self.degrade,
            augment=self.augment, views=self.views, optim=self.optim, log_every=self.log_every,
            checkpoint_every=self.checkpoint_every, threads=self.threads, amp=self.amp, max_steps=self.max_steps,
            device=self.device)
