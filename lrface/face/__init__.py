"""The face pipeline: ``io`` (read any image as RGB uint8), ``detect`` (MTCNN),
``align`` (ArcFace five-point templates), ``degrade`` (the one low-resolution function) and
``pipeline`` (detect + pick + align in one call). See docs/pipeline.md.

Submodules are imported explicitly (``from lrface.face.degrade import degrade``) so that
reading or degrading images never imports torch.
"""
