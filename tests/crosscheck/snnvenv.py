"""Runs a cross-check inside the build's Python venv (scripts/pyvenv), where
PyPI packages Debian lacks (nir, snntorch, norse …) are installed on top of
Debian's PyTorch. Call reexec(packages) first thing: it installs what is
missing and re-executes the script with the venv's interpreter. A package
that cannot be installed (offline machine, incompatible wheel) is reported
LOUDLY; `have(module)` then says False and the caller skips that part."""
import importlib
import os
import subprocess
import sys


def reexec(packages):
    build = os.environ.get("PHYSNN_BUILD_DIR")
    src = os.environ.get("PHYSNN_SOURCE_DIR")
    if not build or not src:
        sys.exit("PHYSNN_BUILD_DIR and PHYSNN_SOURCE_DIR must be set (meson test sets them)")
    venv = os.path.join(build, "venv")
    if os.environ.get("PHYSNN_IN_VENV") == venv:
        return
    rc = subprocess.call([os.path.join(src, "scripts", "pyvenv"), venv] + list(packages))
    if rc != 0:
        banner("some PyPI packages could not be installed into %s (see above); "
               "the comparisons that need them are SKIPPED" % venv)
    py = os.path.join(venv, "bin", "python")
    if not os.path.exists(py):
        banner("no venv: running with %s, PyPI comparisons SKIPPED" % sys.executable)
        os.environ["PHYSNN_IN_VENV"] = venv
        return
    env = dict(os.environ, PHYSNN_IN_VENV=venv)
    sys.stdout.flush()
    os.execve(py, [py] + sys.argv, env)


def banner(msg):
    line = "!" * 78
    print("%s\n!! SKIP: %s\n%s" % (line, msg, line), flush=True)


def have(module):
    try:
        importlib.import_module(module)
        return True
    except Exception as e:  # noqa: BLE001 - any import failure means "absent"
        banner("cannot import %s (%s: %s)" % (module, type(e).__name__, e))
        return False
