"""Under CI=true a test whose dependency is absent fails; elsewhere it skips.

The helper (tests/_requires.py, re-exported by conftest) is run for real: a
bare pytest in a subprocess (no conftest, no cache, no TensorFlow) collects a
tiny test file that asks for a module and a path that do not exist, once with
CI=true and once without CI, and its exit status and report are checked.
"""

import os
import subprocess
import sys
import textwrap

TESTS = os.path.dirname(os.path.abspath(__file__))

MISSING_MODULE = "kerasgan_ci_truth_no_such_module"

TEST_FILE = textwrap.dedent(f'''
    import os
    import sys

    from _requires import require


    def test_missing_module():
        require({MISSING_MODULE!r}, "reason-module: pip install it")


    def test_missing_path(tmp_path):
        require(str(tmp_path / "no-such-data"), "reason-path: the real data")


    def test_present_module_and_path(tmp_path):
        assert require("json", "json").dumps([1]) == "[1]"
        assert require(str(tmp_path), "a folder") == str(tmp_path)
        assert "tensorflow" not in sys.modules  # the helper needs no TensorFlow
''')

MODULE_LEVEL_FILE = textwrap.dedent(f'''
    from _requires import require

    thing = require({MISSING_MODULE!r}, "reason-module-level")


    def test_never_collected():
        pass
''')


def run_pytest(folder, ci, files):
    """Exit status and output of a bare pytest over ``files`` (name -> source)
    in ``folder``, with ``CI`` set to ``ci`` (None: unset)."""
    folder.mkdir()
    (folder / "pytest.ini").write_text("[pytest]\n")  # not the repo's setup.cfg (addopts)
    for name, source in files.items():
        (folder / name).write_text(source)
    # bare: no CI, and none of an outer pytest-xdist worker's variables
    env = {k: v for k, v in os.environ.items()
           if k != "CI" and not k.startswith(("PYTEST_XDIST", "PYTEST_CURRENT"))}
    env["PYTHONPATH"] = os.pathsep.join([TESTS] + [p for p in [env.get("PYTHONPATH")] if p])
    if ci is not None:
        env["CI"] = ci
    proc = subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "--noconftest", "-rfEs",
         str(folder)],
        cwd=folder, env=env, capture_output=True, text=True, timeout=120,
    )
    out = proc.stdout + proc.stderr
    # the summary is stdout's last line (a plugin's warnings go to stderr)
    return proc.returncode, out, proc.stdout.strip().splitlines()[-1]


def test_absent_dependency_fails_under_ci(tmp_path):
    rc, out, summary = run_pytest(tmp_path / "in_test", "true", {"test_needs.py": TEST_FILE})
    assert rc == 1, out
    assert "2 failed, 1 passed" in summary and "skipped" not in summary, out
    assert "FAILED test_needs.py::test_missing_module" in out, out
    assert "FAILED test_needs.py::test_missing_path" in out, out
    assert "CI=true, so this is a failure, not a skip: reason-module: pip install it" in out, out
    assert f"No module named '{MISSING_MODULE}'" in out, out
    assert "reason-path: the real data (not found: " in out, out

    # at module level: a collection error (pytest stops, exit status 2), not a skipped module
    rc, out, summary = run_pytest(tmp_path / "module", "true",
                                  {"test_module_level.py": MODULE_LEVEL_FILE})
    assert rc == 2, out
    assert "1 error" in summary and "skipped" not in summary, out
    assert "ERROR test_module_level.py" in out and "reason-module-level" in out, out


def test_absent_dependency_skips_elsewhere(tmp_path):
    files = {"test_needs.py": TEST_FILE, "test_module_level.py": MODULE_LEVEL_FILE}
    for ci in (None, "false"):
        rc, out, summary = run_pytest(tmp_path / str(ci), ci, files)
        assert rc == 0, out
        # the two in-test cases and the whole module skip; the present case passes
        assert "1 passed, 3 skipped" in summary, (ci, out)
        assert "failed" not in summary and "error" not in summary, out
        # each skip is reported at the test's own line (the helper hides its frames)
        for where, reason in (("test_needs.py:9", "reason-module: pip install it"),
                              ("test_needs.py:13", "reason-path: the real data"),
                              ("test_module_level.py:4", "reason-module-level")):
            assert f"SKIPPED [1] {where}: {reason}" in out, (reason, out)
        assert "CI=true" not in out, out
