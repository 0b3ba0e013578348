from __future__ import annotations

import platform
import subprocess
import sys

import pytest


@pytest.mark.skipif(platform.libc_ver()[0] != "glibc", reason="mallopt is glibc's")
def test_tune_allocator_takes_effect_once_on_glibc():
    code = (
        "from deceptio.runtime import tune_allocator\n"
        "import deceptio.runtime as r\n"
        "print(tune_allocator(), tune_allocator(), r._applied)\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.split() == ["True", "True", "True"]


def test_importing_the_library_leaves_the_allocator_alone():
    code = "import deceptio, deceptio.serving.detector, deceptio.runtime as r; print(r._applied)"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "None"
