"""Packaging: README's commands, CI script, console script and package data."""

import os
import re
import subprocess
import sys
import zipfile

from conftest import REPO


def readme_setup_commands():
    text = open(os.path.join(REPO, "README.md")).read()
    section = text.split("## Set up", 1)[1].split("\n## ", 1)[0]
    return re.findall(r"```(?:bash|sh)?\n(.*?)\n```", section, flags=re.S)


def test_readme_gives_exactly_two_setup_commands_and_ci_runs_the_test_one():
    commands = readme_setup_commands()
    assert len(commands) == 2, commands
    main_job, test_job = commands
    assert "kerasgan train dcgan" in main_job and "--data" not in main_job
    assert "pytest" in test_job
    ci = open(os.path.join(REPO, ".ci", "run")).read()
    assert test_job.strip() in [line.strip() for line in ci.splitlines()]


def test_pyproject_holds_only_the_build_system():
    text = open(os.path.join(REPO, "pyproject.toml")).read()
    sections = re.findall(r"^\[([^\]]+)\]", text, flags=re.M)
    assert sections == ["build-system"]


def test_wheel_ships_data_weights_and_the_console_script(tmp_path):
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q",
         "-w", str(tmp_path), REPO],
        check=True, capture_output=True, timeout=300,
    )
    (wheel,) = [p for p in os.listdir(tmp_path) if p.endswith(".whl")]
    names = zipfile.ZipFile(tmp_path / wheel).namelist()
    for f in ("t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz", "ATTRIBUTION.md"):
        assert f"kerasgan/data/bundled/mnist_10k/{f}" in names
    for f in ("mnist_classifier.weights.h5", "cifar10_classifier.weights.h5", "README.md"):
        assert f"kerasgan/metrics/weights/{f}" in names
    assert "kerasgan/metrics/inception.py" in names and "kerasgan/export/exporters.py" in names
    # the deployment kit (export/) ships as kerasgan.kit, for kerasgan generate / serve
    for f in ("onnx_generator.py", "synthetic.py", "serve.py", "generate.py",
              "requirements.txt", "requirements-serve.txt", "README.md"):
        assert f"kerasgan/kit/{f}" in names, f
    assert not any(n.startswith(("tests/", "zoo/", "export/", "benchmarks/")) for n in names)
    entry_points = zipfile.ZipFile(tmp_path / wheel).read(
        next(n for n in names if n.endswith("entry_points.txt"))).decode()
    assert "kerasgan = kerasgan.cli:main" in entry_points
