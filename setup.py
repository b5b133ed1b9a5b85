"""C extensions. Everything else about the package is in pyproject.toml.

The hot loops of the source side (splitting text-protocol result sets, walking binlog row
images) are C: on a 2-core machine the reader, the writer and MariaDB share the CPU, and the
Python versions cost ~1.5 us per row (docs/architecture.md, "Native code"). Each extension has
a pure-Python twin that the tests compare it with value by value; the twin is also what runs
where no C compiler was found at install time (`optional=True`: the build warns, then goes on).
"""

from setuptools import Extension, setup

_FLAGS = ["-O3", "-std=c11", "-Wall", "-Wextra", "-Werror=implicit-function-declaration"]

setup(
    ext_modules=[
        Extension(
            "zeroetl.native._textrows",
            ["src/zeroetl/native/textrows.c"],
            extra_compile_args=_FLAGS,
            optional=True,
        ),
        Extension(
            "zeroetl.native._binrows",
            ["src/zeroetl/native/binrows.c"],
            extra_compile_args=_FLAGS,
            optional=True,
        ),
        Extension(
            "zeroetl.native._binframe",
            ["src/zeroetl/native/binframe.c"],
            extra_compile_args=_FLAGS,
            libraries=["z"],
            optional=True,
        ),
    ]
)
