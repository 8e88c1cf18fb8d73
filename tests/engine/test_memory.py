import platform
import sys

import numpy as np
import pytest

from syncd.engine.memory import release_freed_memory


@pytest.mark.skipif(
    not sys.platform.startswith("linux") or platform.libc_ver()[0] != "glibc",
    reason="malloc_trim is glibc's",
)
def test_release_freed_memory_trims_on_glibc() -> None:
    garbage = [np.ones(100_000) for _ in range(20)]  # heap-sized pieces, then freed
    del garbage
    assert release_freed_memory() is True
    assert release_freed_memory() is True  # repeatable, cached lookup
