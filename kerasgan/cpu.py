"""The CPU configuration kerasgan picks before TensorFlow starts.

TensorFlow 2.21 turns its oneDNN kernels on by default only on x86 CPUs with
AVX512_VNNI, AVX512_BF16, AVX_VNNI or AMX; on the many CPUs with AVX2 and FMA
but none of those (most laptops, older servers, AMD Zen 1-3) it runs its slower
Eigen kernels. oneDNN must be chosen through ``TF_ENABLE_ONEDNN_OPTS`` *before*
TensorFlow is imported, so ``import kerasgan`` (and the ``kerasgan`` command)
calls :func:`configure` first thing. It decides, from the CPU found:

- **oneDNN** on for x86-64 CPUs with AVX2 and FMA (1.26-1.62x faster training
  than Eigen on an AVX2-only AMD EPYC, issue 23; 1.24-1.48x on the AVX-512
  machine of ``docs/cpu.md``, where it is TensorFlow's default anyway);
- **threads**: intra-op threads = the CPUs this process may use, counting a
  container's CPU quota (TensorFlow counts the CPUs it sees, and oversubscribes
  a quota-limited container); inter-op threads as TensorFlow's default, except
  in a container whose quota is below the CPUs it sees;
- **XLA** (``compile(jit_compile=...)`` left at its default): off. Measured
  0.73-0.83x of oneDNN's speed and 0.95-1.03x of Eigen's (docs/cpu.md), so it
  pays nowhere kerasgan could check; the plan records the choice and its reason;
- whether **bfloat16 / float16** mixed precision is sensible: bfloat16 needs
  AVX512_BF16 or AMX to be fast (emulated, 0.17x float32 on an AVX2 CPU), float16
  needs AVX512_FP16 / AMX-FP16. The precision is never changed for you (it
  changes the results); a slow one gets a warning naming the missing feature.

The user's explicit settings always win: ``TF_ENABLE_ONEDNN_OPTS``,
``TF_NUM_INTRAOP_THREADS``, ``TF_NUM_INTEROP_THREADS`` in the environment,
``jit_compile=`` / ``--jit-compile``, ``--precision``. ``KERASGAN_CPU_CONFIG=off``
keeps TensorFlow's defaults for everything. The choice is printed once (at the
first ``fit``) and recorded in ``run.json``; :func:`plan` returns it.

When TensorFlow was imported before kerasgan, the environment settings come too
late: :func:`plan` says so and what to do (``import kerasgan`` first, or set
the variables yourself).

This module must not import TensorFlow.
"""

import os
import platform
import sys

__all__ = ["CPUInfo", "choose", "configure", "cpu_info", "plan", "summary",
           "announce", "precision_warning", "warn_precision", "jit_compile_default", "record"]

#: CPU features with which TensorFlow 2.21 turns oneDNN on by itself (x86).
TF_ONEDNN_DEFAULT_FEATURES = ("avx512_vnni", "avx512_bf16", "avx_vnni", "amx_tile",
                              "amx_bf16", "amx_int8")
#: features that make bfloat16 / float16 arithmetic native (x86 names).
BF16_FEATURES = ("avx512_bf16", "amx_bf16")
FP16_FEATURES = ("avx512_fp16", "amx_fp16")
#: the features worth naming in the one-line summary.
NAMED_FEATURES = ("avx2", "fma", "avx512f", "avx512_vnni", "avx512_bf16", "avx512_fp16",
                  "avx_vnni", "amx_tile", "amx_bf16", "amx_fp16")

# Measured ratios quoted in warnings and in the plan (see docs/cpu.md).
BF16_EMULATED_RATIO = "about 0.17x"
FP16_NO_XLA_RATIO = "about 0.01x"

OFF_VALUES = ("0", "off", "false", "no")


class CPUInfo:
    """What this process's CPU offers: ``model``, ``machine`` (x86_64,
    arm64...), ``features`` (lower-case flag names as Linux spells them; an
    empty set when they cannot be read), ``cpus`` (CPUs this process may use,
    a container's quota counted) and ``visible_cpus`` (those it sees)."""

    def __init__(self, model, machine, features, cpus, visible_cpus):
        self.model = model
        self.machine = machine
        self.features = frozenset(features)
        self.cpus = cpus
        self.visible_cpus = visible_cpus

    @property
    def x86(self):
        return self.machine.lower() in ("x86_64", "amd64", "i686", "x86")

    def has(self, *names):
        return any(n in self.features for n in names)

    def __repr__(self):
        return (f"CPUInfo(model={self.model!r}, machine={self.machine!r}, cpus={self.cpus}, "
                f"features={sorted(f for f in self.features if f in NAMED_FEATURES)})")


def _read(path):
    try:
        with open(path, encoding="utf-8", errors="replace") as f:
            return f.read()
    except OSError:
        return None


def _cgroup_cpus():
    """The CPU quota of this process's cgroup (v2 ``cpu.max`` or v1 CFS), in
    whole CPUs rounded up, or None when there is none."""
    text = _read("/sys/fs/cgroup/cpu.max")
    if text:
        parts = text.split()
        if len(parts) == 2 and parts[0] != "max":
            try:
                return max(1, -(-int(parts[0]) // int(parts[1])))
            except (ValueError, ZeroDivisionError):
                return None
        return None
    quota = _read("/sys/fs/cgroup/cpu/cpu.cfs_quota_us")
    period = _read("/sys/fs/cgroup/cpu/cpu.cfs_period_us")
    try:
        q, p = int(quota), int(period)
    except (TypeError, ValueError):
        return None
    return max(1, -(-q // p)) if q > 0 and p > 0 else None


def _sysctl(name):
    import subprocess

    try:
        out = subprocess.run(["sysctl", "-n", name], capture_output=True, text=True, timeout=5)
    except (OSError, subprocess.SubprocessError):
        return ""
    return out.stdout.strip() if out.returncode == 0 else ""


def cpu_info():
    """Reads the CPU: ``/proc/cpuinfo`` on Linux, ``sysctl`` on macOS; other
    systems get an empty feature set (then TensorFlow's defaults are kept)."""
    machine = platform.machine() or "unknown"
    model, features = platform.processor() or "unknown CPU", set()
    text = _read("/proc/cpuinfo") if sys.platform.startswith("linux") else None
    if text:
        named = False
        for line in text.splitlines():
            key, _, value = line.partition(":")
            key = key.strip().lower()
            if key in ("model name", "cpu model", "hardware") and not named:
                model, named = value.strip(), True
            elif key in ("flags", "features") and not features:
                features = set(value.split())
    elif sys.platform == "darwin":
        model = _sysctl("machdep.cpu.brand_string") or model
        for name in ("machdep.cpu.features", "machdep.cpu.leaf7_features"):
            features |= {f.lower().replace(".", "_") for f in _sysctl(name).split()}
        # macOS spells AVX512 features "avx512vnni", "avx512bf16"...
        features |= {f.replace("avx512", "avx512_") for f in features
                     if f.startswith("avx512") and f[6:] in ("vnni", "bf16", "fp16")}
    if hasattr(os, "sched_getaffinity"):
        visible = len(os.sched_getaffinity(0))
    else:
        visible = os.cpu_count() or 1
    quota = _cgroup_cpus() if sys.platform.startswith("linux") else None
    cpus = min(visible, quota) if quota else visible
    return CPUInfo(model, machine, features, cpus, visible)


def _env_flag(value):
    return value.strip().lower() not in OFF_VALUES


def choose(info=None, environ=None):
    """The configuration for ``info`` (default: this CPU) given the
    environment ``environ`` (default ``os.environ``): a dict with ``onednn``,
    ``intra_op_threads``, ``inter_op_threads``, ``xla``, ``bfloat16`` and
    ``float16`` entries, each ``{"value": ..., "source": "user" |
    "kerasgan" | "tensorflow", "why": ...}``, and ``env``: the variables to
    set before TensorFlow imports. Pure: reads nothing but its arguments."""
    info = info or cpu_info()
    environ = os.environ if environ is None else environ
    env = {}
    plan = {"cpu": info.model, "machine": info.machine, "cpus": info.cpus,
            "features": sorted(f for f in info.features if f in NAMED_FEATURES)}
    auto = _env_flag(environ.get("KERASGAN_CPU_CONFIG", "on"))
    if not auto:
        plan["disabled"] = "KERASGAN_CPU_CONFIG=off: TensorFlow's defaults are kept"

    # oneDNN
    tf_default = info.x86 and info.has(*TF_ONEDNN_DEFAULT_FEATURES)
    if "TF_ENABLE_ONEDNN_OPTS" in environ:
        onednn = {"value": _env_flag(environ["TF_ENABLE_ONEDNN_OPTS"]), "source": "user",
                  "why": f"TF_ENABLE_ONEDNN_OPTS={environ['TF_ENABLE_ONEDNN_OPTS']}"}
    elif tf_default:
        onednn = {"value": True, "source": "tensorflow",
                  "why": "TensorFlow's default on CPUs with AVX512_VNNI, AVX512_BF16, "
                         "AVX_VNNI or AMX"}
    elif auto and info.x86 and info.has("avx2") and info.has("fma"):
        onednn = {"value": True, "source": "kerasgan",
                  "why": "AVX2 + FMA without AVX512_VNNI/AVX512_BF16/AVX_VNNI/AMX: "
                         "TensorFlow would use its slower Eigen kernels"}
        env["TF_ENABLE_ONEDNN_OPTS"] = "1"
    else:
        onednn = {"value": tf_default, "source": "tensorflow",
                  "why": ("no AVX2 + FMA" if info.x86 else f"{info.machine}: TensorFlow's "
                          "default for this architecture") if info.features or not info.x86
                  else "the CPU's features could not be read"}
    plan["onednn"] = onednn

    # threads
    for key, var in (("intra_op_threads", "TF_NUM_INTRAOP_THREADS"),
                     ("inter_op_threads", "TF_NUM_INTEROP_THREADS")):
        if var in environ:
            plan[key] = {"value": environ[var], "source": "user", "why": f"{var}={environ[var]}"}
        elif auto and info.cpus < info.visible_cpus:
            plan[key] = {"value": info.cpus, "source": "kerasgan",
                         "why": f"container CPU quota {info.cpus} < {info.visible_cpus} "
                                "CPUs visible"}
            env[var] = str(info.cpus)
        else:
            plan[key] = {"value": info.cpus, "source": "tensorflow",
                         "why": "one per usable CPU (TensorFlow's default)"}

    # XLA: measured slower than oneDNN (0.73-0.83x) and no faster than Eigen
    # (0.95-1.03x) on the machine of docs/cpu.md; off, as Keras has it on CPUs
    if not auto:
        plan["xla"] = {"value": None, "source": "tensorflow", "why": "Keras' default "
                       "(off on a CPU-only machine)"}
    else:
        plan["xla"] = {"value": False, "source": "kerasgan",
                       "why": "XLA's CPU code was 0.73-0.83x oneDNN's and 0.95-1.03x "
                              "Eigen's (docs/cpu.md)"}

    # precisions: reported and warned about, never switched on
    plan["bfloat16"] = ({"value": True, "source": "kerasgan", "why": "native bfloat16 (AVX512_BF16/AMX)"}
                        if info.has(*BF16_FEATURES) else
                        {"value": False, "source": "kerasgan",
                         "why": "no AVX512_BF16 or AMX-BF16: emulated, "
                                f"{BF16_EMULATED_RATIO} float32's speed"})
    plan["float16"] = ({"value": True, "source": "kerasgan", "why": "native float16 (AVX512_FP16/AMX-FP16)"}
                       if info.has(*FP16_FEATURES) else
                       {"value": False, "source": "kerasgan",
                        "why": "no AVX512_FP16 or AMX-FP16: TensorFlow has no fast CPU "
                               f"float16 convolution gradient ({FP16_NO_XLA_RATIO} float32's "
                               "speed without XLA)"})
    plan["env"] = env
    return plan


_PLAN = None
_ANNOUNCED = False
_WARNED = set()


def configure(environ=None):
    """Chooses the configuration for this CPU and sets its environment
    variables, if TensorFlow is not imported yet. Idempotent; returns the plan
    (see :func:`choose`), with ``applied`` (bool) and, when something could
    not be applied, ``not_applied``: the sentence saying how to fix it."""
    global _PLAN
    if _PLAN is not None:
        return _PLAN
    environ = os.environ if environ is None else environ
    try:
        result = choose(environ=environ)
    except Exception as e:  # never let a CPU probe stop the import
        result = {"cpu": "unknown", "error": f"{type(e).__name__}: {e}", "env": {},
                  "xla": {"value": None, "source": "tensorflow", "why": "probe failed"}}
    wanted = result.get("env", {})
    if wanted and "tensorflow" in sys.modules:
        result["applied"] = False
        settings = " ".join(f"{k}={v}" for k, v in sorted(wanted.items()))
        result["not_applied"] = (
            f"TensorFlow was imported before kerasgan, so {settings} came too late "
            f"(oneDNN / threads stay TensorFlow's): import kerasgan before tensorflow, "
            f"or set {settings} in the environment")
        # what TensorFlow actually runs with
        if "TF_ENABLE_ONEDNN_OPTS" in wanted:
            active = bool(onednn_active())
            result["onednn"] = dict(result["onednn"], value=active, source="tensorflow",
                                    why="TensorFlow was imported first")
    else:
        for key, value in wanted.items():
            environ[key] = value
        result["applied"] = True
    _PLAN = result
    return result


def plan():
    """The configuration chosen for this process (see :func:`configure`)."""
    return configure()


def summary(p=None):
    """One line: the CPU, its notable features and what was chosen."""
    p = p or plan()
    if "error" in p:
        return f"kerasgan: CPU not recognised ({p['error']}): TensorFlow's defaults kept"

    def src(entry):
        return {"user": "yours", "kerasgan": "chosen", "tensorflow": "TF default"}[entry["source"]]

    feats = " ".join(p["features"]) or "features unknown"
    xla = p["xla"]["value"]
    active = onednn_active()
    onednn = p["onednn"]["value"] if active is None else active
    parts = [f"oneDNN {'on' if onednn else 'off'} ({src(p['onednn'])})",
             f"{p['intra_op_threads']['value']} intra-op threads ({src(p['intra_op_threads'])})",
             f"XLA {'default' if xla is None else 'on' if xla else 'off'} ({src(p['xla'])})",
             f"bfloat16 {'fast' if p['bfloat16']['value'] else 'slow (emulated)'}"]
    line = f"kerasgan: CPU {p['cpu']} [{p['machine']}; {feats}]: " + ", ".join(parts)
    if p.get("disabled"):
        line += f"; {p['disabled']}"
    if p.get("not_applied"):
        line += f". {p['not_applied']}"
    return line


def announce(file=None, quiet=False):
    """Prints :func:`summary` once per process (to stderr); ``quiet``: marks
    it said without printing (``kerasgan train --quiet``)."""
    global _ANNOUNCED
    if _ANNOUNCED:
        return
    _ANNOUNCED = True
    if not quiet:
        print(summary(), file=file or sys.stderr, flush=True)


def onednn_active():
    """Whether the imported TensorFlow runs its oneDNN kernels (None when
    TensorFlow is not imported or does not say)."""
    if "tensorflow" not in sys.modules:
        return None
    try:
        from tensorflow.python.util import _pywrap_util_port

        return bool(_pywrap_util_port.IsMklEnabled())
    except (ImportError, AttributeError):
        return None


def record():
    """The plan as ``run.json`` keeps it (without the environment dict), with
    ``onednn_active``: what TensorFlow reports it runs."""
    out = {k: v for k, v in plan().items() if k != "env"}
    out["onednn_active"] = onednn_active()
    return out


def jit_compile_default():
    """``jit_compile`` for a ``compile()`` that left it at its default, on a
    CPU-only machine: the plan's XLA choice (None: Keras' own default)."""
    return plan().get("xla", {}).get("value")


def precision_warning(policy):
    """A one-line warning when the mixed-precision ``policy`` will be slow on
    this CPU (None when it will not, or for float32)."""
    p = plan()
    if "error" in p:
        return None
    if policy == "mixed_bfloat16" and not p["bfloat16"]["value"]:
        return (f"kerasgan: warning: mixed_bfloat16 on this CPU ({p['cpu']}) is slow: "
                f"{p['bfloat16']['why']}; use float32 on this machine (see docs/mixed_precision.md)")
    if policy == "mixed_float16" and not p["float16"]["value"]:
        return (f"kerasgan: warning: mixed_float16 on this CPU ({p['cpu']}) is slow: "
                f"{p['float16']['why']}; use float32, or mixed_bfloat16 where bfloat16 is "
                "native (see docs/mixed_precision.md)")
    return None


def warn_precision(policy, file=None):
    """Prints :func:`precision_warning` for ``policy`` once per process;
    returns the warning (or None)."""
    message = precision_warning(policy)
    if message and policy not in _WARNED:
        _WARNED.add(policy)
        print(message, file=file or sys.stderr, flush=True)
    return message
