"""The TensorFlow-free deployment kit, importable as ``kerasgan.kit`` when kerasgan is
installed (setup.cfg maps this folder there); copied on its own, its scripts run with
numpy, onnxruntime and Pillow only (see README.md)."""
