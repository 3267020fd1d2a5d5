"""The CPU configuration chosen before TensorFlow starts (kerasgan/cpu.py),
and the end of ``fit`` without tf.data's autotune stall."""

import json
import os
import subprocess
import sys
import time

import numpy as np
import pytest
import tensorflow as tf
import keras

from kerasgan import cpu, models

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

ZEN1 = cpu.CPUInfo("AMD EPYC 7551", "x86_64", {"sse4_2", "avx", "avx2", "fma"}, 2, 2)
ICELAKE = cpu.CPUInfo("Xeon", "x86_64", {"avx2", "fma", "avx512f", "avx512_vnni"}, 8, 8)
SAPPHIRE = cpu.CPUInfo("Xeon", "x86_64", {"avx2", "fma", "avx512f", "avx512_vnni",
                                           "avx512_bf16", "amx_tile", "amx_bf16"}, 4, 4)
OLD_X86 = cpu.CPUInfo("Core 2", "x86_64", {"sse4_1"}, 2, 2)
ARM = cpu.CPUInfo("Neoverse", "aarch64", {"asimd", "bf16"}, 4, 4)


def test_avx2_cpu_gets_onednn_before_tensorflow_and_no_xla():
    plan = cpu.choose(ZEN1, environ={})
    assert plan["onednn"] == dict(plan["onednn"], value=True, source="kerasgan")
    assert plan["env"] == {"TF_ENABLE_ONEDNN_OPTS": "1"}
    assert plan["xla"]["value"] is False
    assert plan["bfloat16"]["value"] is False and "AVX512_BF16" in plan["bfloat16"]["why"]
    assert plan["float16"]["value"] is False


def test_tensorflow_default_is_kept_where_it_already_uses_onednn():
    for info in (ICELAKE, SAPPHIRE):
        plan = cpu.choose(info, environ={})
        assert plan["onednn"]["value"] is True and plan["onednn"]["source"] == "tensorflow"
        assert plan["env"] == {}
        assert plan["xla"]["value"] is False
    assert cpu.choose(SAPPHIRE, environ={})["bfloat16"]["value"] is True
    assert cpu.choose(ICELAKE, environ={})["bfloat16"]["value"] is False


def test_users_settings_win():
    plan = cpu.choose(ZEN1, environ={"TF_ENABLE_ONEDNN_OPTS": "0", "TF_NUM_INTRAOP_THREADS": "1"})
    assert plan["onednn"] == dict(plan["onednn"], value=False, source="user")
    assert plan["intra_op_threads"] == dict(plan["intra_op_threads"], value="1", source="user")
    assert plan["env"] == {}
    # XLA did not pay against Eigen's kernels either (docs/cpu.md)
    assert plan["xla"]["value"] is False
    off = cpu.choose(ZEN1, environ={"KERASGAN_CPU_CONFIG": "off"})
    assert off["env"] == {} and off["onednn"]["value"] is False
    assert off["xla"]["value"] is None and "disabled" in off


def test_other_machines_keep_tensorflows_defaults():
    for info in (OLD_X86, ARM):
        plan = cpu.choose(info, environ={})
        assert plan["env"] == {} and plan["onednn"]["source"] == "tensorflow"
        assert plan["xla"]["value"] is False
    unknown = cpu.CPUInfo("?", "x86_64", set(), 2, 2)
    assert cpu.choose(unknown, environ={})["env"] == {}


def test_container_quota_sets_threads():
    boxed = cpu.CPUInfo("Xeon", "x86_64", {"avx2", "fma", "avx512_vnni"}, 2, 64)
    plan = cpu.choose(boxed, environ={})
    assert plan["env"] == {"TF_NUM_INTRAOP_THREADS": "2", "TF_NUM_INTEROP_THREADS": "2"}
    assert plan["intra_op_threads"]["source"] == "kerasgan"


def test_this_machine_is_read():
    info = cpu.cpu_info()
    assert info.cpus >= 1 and info.visible_cpus >= info.cpus
    if sys.platform.startswith("linux") and info.x86:
        assert "sse2" in info.features  # every x86-64 CPU has it
    plan = cpu.plan()
    assert plan["applied"] is True  # conftest imports kerasgan before tensorflow
    assert cpu.record()["onednn_active"] == plan["onednn"]["value"]
    assert cpu.summary().startswith("kerasgan: CPU ")


def _python(code, env=None, timeout=240):
    full = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3", PYTHONPATH=REPO)
    for key in ("TF_ENABLE_ONEDNN_OPTS", "TF_NUM_INTRAOP_THREADS", "TF_NUM_INTEROP_THREADS",
                "KERASGAN_CPU_CONFIG"):
        full.pop(key, None)
    full.update(env or {})
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         env=full, timeout=timeout, cwd=REPO)
    assert out.returncode == 0, out.stderr[-3000:]
    return out


# A process on an AVX2-only CPU, played by replacing the probe before kerasgan's
# package import runs configure(): TensorFlow must then really run oneDNN.
_AVX2_PROCESS = """
import importlib.util, json, sys
spec = importlib.util.spec_from_file_location("kerasgan.cpu", "kerasgan/cpu.py")
cpu = importlib.util.module_from_spec(spec); sys.modules["kerasgan.cpu"] = cpu
spec.loader.exec_module(cpu)
cpu.cpu_info = lambda: cpu.CPUInfo("AVX2 only", "x86_64", {{"avx2", "fma"}}, 2, 2)
{before}
import kerasgan
import tensorflow as tf
from tensorflow.python.util import _pywrap_util_port
print(json.dumps({{"plan": cpu.record(), "mkl": _pywrap_util_port.IsMklEnabled(),
                  "summary": cpu.summary()}}))
"""


def test_onednn_is_really_turned_on_before_tensorflow_starts():
    out = json.loads(_python(_AVX2_PROCESS.format(before="")).stdout.splitlines()[-1])
    assert out["plan"]["onednn"]["source"] == "kerasgan" and out["plan"]["applied"] is True
    assert out["mkl"] is True and out["plan"]["onednn_active"] is True


def test_tensorflow_imported_first_is_reported_with_the_fix():
    out = json.loads(_python(_AVX2_PROCESS.format(before="import tensorflow")).stdout.splitlines()[-1])
    plan = out["plan"]
    # TensorFlow on this machine may run oneDNN by its own rule; what matters is
    # that kerasgan says it could not choose, and how to fix it
    assert plan["applied"] is False
    assert "TensorFlow was imported before kerasgan" in plan["not_applied"]
    assert "TF_ENABLE_ONEDNN_OPTS=1" in plan["not_applied"]
    assert "import kerasgan before tensorflow" in out["summary"]


def test_fit_prints_the_choice_once_and_explicit_jit_compile_wins():
    code = """
import numpy as np, kerasgan, sys
gan = kerasgan.models.get("dcgan", **kerasgan.models.get_class("dcgan").tiny_config, seed=0)
gan.compile()
x = np.zeros((8, 8, 8, 1), "float32")
gan.fit(x, batch_size=4, epochs=1, verbose=0)
gan.fit(x, batch_size=4, epochs=1, verbose=0)
explicit = kerasgan.models.get("dcgan", **kerasgan.models.get_class("dcgan").tiny_config, seed=0)
explicit.compile(jit_compile=True)
print("JIT", bool(gan.jit_compile), bool(explicit.jit_compile))
"""
    off = _python(code, env={"TF_ENABLE_ONEDNN_OPTS": "0"})
    assert "JIT False True" in off.stdout
    assert off.stderr.count("kerasgan: CPU ") == 1
    assert "oneDNN off (yours)" in off.stderr and "XLA off (chosen)" in off.stderr


def test_mixed_bfloat16_warns_where_bfloat16_is_emulated(capsys):
    saved = dict(cpu._PLAN)
    try:
        cpu._PLAN.update(cpu.choose(ZEN1, environ={}))
        cpu._WARNED.discard("mixed_bfloat16")
        message = cpu.warn_precision("mixed_bfloat16")
        assert "AVX512_BF16" in message and "0.17x" in message
        cpu.warn_precision("mixed_bfloat16")
        assert capsys.readouterr().err.count("mixed_bfloat16 on this CPU") == 1
        cpu._PLAN.update(cpu.choose(SAPPHIRE, environ={}))
        assert cpu.precision_warning("mixed_bfloat16") is None
        assert cpu.precision_warning("float32") is None
    finally:
        cpu._PLAN.clear()
        cpu._PLAN.update(saved)
        cpu._WARNED.discard("mixed_bfloat16")


# ---------------------------------------------------------------- the fit stall
class _LastBatch(keras.callbacks.Callback):
    def on_train_batch_end(self, batch, logs=None):
        self.at = time.perf_counter()


def _tails(gan, make_dataset, steps_list):
    tails = []
    for steps in steps_list:
        last = _LastBatch()
        gan.fit(make_dataset(), epochs=1, steps_per_epoch=steps, verbose=0, callbacks=[last])
        tails.append(time.perf_counter() - last.at)
    return tails


@pytest.fixture(scope="module")
def stall_gan():
    cls = models.get_class("dcgan")
    gan = models.get("dcgan", **dict(cls.tiny_config, image_shape=(16, 16, 1), width=16), seed=0)
    gan.compile()
    return gan


def test_fit_on_a_kerasgan_pipeline_returns_right_after_its_last_step(stall_gan):
    from kerasgan.data import ImageSource

    images = np.random.default_rng(0).uniform(0, 255, (512, 16, 16, 1)).astype("uint8")
    source = ImageSource(images)
    # fits of 0.5-3 s: with the autotuner on, the end of most of them waits
    # for its next wake-up (10 ms x 2^k after the iterator started)
    tails = _tails(stall_gan, lambda: source.dataset(32, seed=0, repeat=True),
                   [40, 70, 100, 130, 160])
    assert max(tails) < 0.3, tails


def test_fit_on_a_users_autotuned_pipeline_returns_right_after_its_last_step(stall_gan):
    images = np.random.default_rng(1).uniform(-1, 1, (512, 16, 16, 1)).astype("float32")

    def make():
        ds = tf.data.Dataset.from_tensor_slices(images).repeat().batch(32)
        ds = ds.map(lambda x: tf.clip_by_value(x, -1, 1), num_parallel_calls=tf.data.AUTOTUNE)
        return ds.prefetch(tf.data.AUTOTUNE)

    tails = _tails(stall_gan, make, [35, 55, 80, 110, 150, 190])
    assert max(tails) < 0.3, tails
    # an explicit choice of the user's is kept
    options = tf.data.Options()
    options.autotune.enabled = True
    from kerasgan.core.tf_step import without_autotune

    mine = make().with_options(options)
    assert without_autotune(mine).options().autotune.enabled is True
    assert without_autotune(make()).options().autotune.enabled is False


def test_resuming_under_another_cpu_configuration_warns(tmp_path, capsys):
    from kerasgan.run import _warn_other_cpu_configuration

    now = cpu.record()
    _warn_other_cpu_configuration(str(tmp_path), dict(now))
    assert "another CPU configuration" not in capsys.readouterr().err
    other = dict(now, onednn_active=not now["onednn_active"])
    _warn_other_cpu_configuration(str(tmp_path), other)
    err = capsys.readouterr().err
    assert "started under another CPU configuration" in err and "oneDNN" in err
    assert "bit for bit" in err
