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
    """

    dataset: str = "lfw"
    root: Optional[str] = None
    by_name: bool = True
    centroid_threshold: float = 0.6


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
    device: str = "cpu"

    @property
    def student_arch(self) -> str:
        return self.student.arch or f"lrstudent{self.res}"


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
