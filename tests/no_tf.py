"""Runs a script (or ``-c CODE``) in a Python that cannot import TensorFlow.

    python tests/no_tf.py SCRIPT [ARGS...]
    python tests/no_tf.py -c CODE

A meta-path finder refuses TensorFlow, Keras, tf2onnx, kerasgan and the other
heavy frameworks, as on a deployment machine that has only numpy, onnxruntime
and Pillow. When the environment variable ``NO_TF_REPORT`` names a file, the
top-level third-party modules the program imported are written there at exit.
"""

import atexit
import importlib.abc
import os
import runpy
import sys

BLOCKED = ("tensorflow", "keras", "tf2onnx", "kerasgan", "tensorflow_datasets", "tf_keras",
           "torch", "jax", "onnx")


class _Block(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in BLOCKED:
            raise ImportError(f"{name} is not available on this machine (tests/no_tf.py)")
        return None


sys.meta_path.insert(0, _Block())


def _report():
    path = os.environ.get("NO_TF_REPORT")
    if path:
        stdlib = set(sys.stdlib_module_names)
        mods = sorted({m.split(".")[0] for m in sys.modules} - stdlib - {"__main__"})
        with open(path, "w") as f:
            f.write("\n".join(m for m in mods if not m.startswith("_")) + "\n")


atexit.register(_report)

if __name__ == "__main__":
    if sys.argv[1] == "-c":
        code = sys.argv[2]
        sys.argv = ["-c", *sys.argv[3:]]
        exec(compile(code, "<string>", "exec"), {"__name__": "__main__"})
    else:
        script = os.path.abspath(sys.argv[1])
        sys.argv = sys.argv[1:]
        sys.path[0] = os.path.dirname(script)
        runpy.run_path(script, run_name="__main__")
