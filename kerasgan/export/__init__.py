"""Export generators to ONNX and SavedModel, with parity checked on every export.

::

    kerasgan.export.export_onnx(gan, "generator.onnx")
    kerasgan.export.export_saved_model(gan, "generator_savedmodel/")
    kerasgan.export.read_metadata("generator.onnx")

What an exported generator looks like, whatever the family:

- **inputs**, named, with a dynamic batch axis: ``z`` ``(batch, latent_dim)``
  float32, plus ``labels`` ``(batch,)`` int32 for conditional families. All
  randomness is an input: nothing is sampled inside the graph, so the caller's
  seed decides the images (see :mod:`kerasgan.sampling` for the seed rule that
  Keras and the deployment kit share).
- **output** ``images``: ``(batch, H, W, C)`` float32 NHWC in [-1, 1]; map to
  pixels with ``round((x + 1) * 127.5)``.
- **metadata**: family, latent_dim, num_classes, image shape, value range,
  layout, dataset, input specs, whether the EMA weights were used, the
  kerasgan / TensorFlow / Keras (and tf2onnx, opset) versions and the sha256 of
  the weights; in the ONNX ``metadata_props`` and in ``kerasgan.json`` inside
  the SavedModel folder.

Every export is checked before it is written (``check=False`` skips it): the
Keras generator, the exported model (ONNX Runtime, or the loaded SavedModel
signature) must agree within ``atol`` (1e-4) on fresh random inputs at batch
sizes 1, 7 and 64, and an ONNX model must pass
``onnx.checker.check_model(full_check=True)``. Files are written atomically:
after any failure nothing half-written is left at the target.
"""

from kerasgan.export.exporters import (  # noqa: F401
    DEFAULT_OPSET,
    ExportError,
    export,
    export_onnx,
    export_saved_model,
    read_metadata,
    weights_sha256,
)

__all__ = [
    "DEFAULT_OPSET",
    "ExportError",
    "export",
    "export_onnx",
    "export_saved_model",
    "read_metadata",
    "weights_sha256",
]
