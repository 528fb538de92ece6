"""Model registry: HR teachers (IResNet, MobileFaceNet), assistant and LR students.

>>> from lrface.models import create_model, list_models
>>> m = create_model("mobilefacenet_y1")   # doctest: +SKIP
"""
from lrface.models.base import MODELS, FaceModel, ModelCfg, create_model, list_models, preprocess
from lrface.models.taps import CORE_TAPS, FeatureInfo, TapInfo, make_adapter, needs_adapter

__all__ = [
    "MODELS", "FaceModel", "ModelCfg", "create_model", "list_models", "preprocess",
    "CORE_TAPS", "FeatureInfo", "TapInfo", "make_adapter", "needs_adapter",
]
