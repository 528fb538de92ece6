"""Procedural synthetic face identities, so training, distillation, benchmarks and demos run offline.

An *identity* is a parameter vector (head shape, skin tone, eyes, brows, nose, mouth, hair
style and colour, beard, glasses, moles) drawn from a keyed RNG; a *sample* of it varies pose
(roll, yaw, pitch, scale), expression (smile, open mouth, eye openness, brow raise), lighting
(direction, ambient level, brightness, colour temperature), background and sensor noise.

* :func:`render_face` gives a pre-aligned crop whose five landmarks sit on the ArcFace template
  (up to the sample's residual alignment jitter) plus the true landmarks. Faces below 112 px
  are the 112 px face passed through :func:`lrface.face.degrade.degrade` (preset ``"area"``
  by default), the one LR pipeline, never a second resampling path.
* :func:`render_scene` gives an unaligned "photo": the face at a random place, angle and size in
  a larger canvas, with its landmarks in canvas coordinates.
* :class:`SyntheticFaces` is a map-style dataset over aligned crops;
  :func:`write_identity_folders` writes a raw identity-folder tree (the input of
  ``lrface-prepare``) with a ``landmarks.csv``.

Every item is a pure function of ``(seed, identity, sample)`` (numpy ``SeedSequence``), so it
does not depend on how many items are requested or in which order.

Modules: ``params`` (identity/sample parameter draws), ``render`` (drawing primitives and posed
geometry), ``shapes`` (face parts), ``shading`` (lighting, noise), ``faces`` (:func:`render_face`,
:func:`render_scene`), ``dataset`` (:class:`SyntheticFaces`, :func:`write_identity_folders`).

Example:
    >>> ds = SyntheticFaces(num_identities=3, images_per_identity=2, size=32)
    >>> img, label = ds[5]
    >>> img.shape, img.dtype, label
    ((32, 32, 3), dtype('uint8'), 2)
"""
from lrface.data.synthetic.dataset import SyntheticFaces, write_identity_folders
from lrface.data.synthetic.faces import HR_SIZE, render_face, render_scene

__all__ = ["HR_SIZE", "SyntheticFaces", "render_face", "render_scene", "write_identity_folders"]
