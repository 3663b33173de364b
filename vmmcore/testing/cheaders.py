"""Compare cffi struct layouts and ioctl numbers with a C compiler's view of the
kernel's own headers (``<linux/kvm.h>`` from linux-libc-dev, or a cross header).

Every field of every struct is checked, recursing into named struct members
(``kvm_run.io.port``): size, offset and field size, plus any ioctl number. The C
program is generated from the cffi declarations, so a field added to a cdef is
checked without touching the test.
"""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import cffi


def layout_expressions(ffi: cffi.FFI, ctype: str) -> dict[str, int]:
    """C expressions (``sizeof``/``offsetof``) for ``ctype`` and their cffi values."""
    expressions = {f"sizeof({ctype})": ffi.sizeof(ctype)}

    def walk(struct_type: Any, prefix: str, base: int) -> None:
        for name, field in struct_type.fields or ():
            path = f"{prefix}{name}"
            offset = base + field.offset
            expressions[f"offsetof({ctype}, {path})"] = offset
            if field.type.kind != "array" or field.type.length is not None:
                expressions[f"sizeof((({ctype} *)0)->{path})"] = ffi.sizeof(field.type)
            if field.type.kind == "struct" and not field.type.cname.startswith("struct $"):
                walk(field.type, f"{path}.", offset)

    walk(ffi.typeof(ctype), "", 0)
    return expressions


def compiler_values(headers: Iterable[str], expressions: Iterable[str],
                    compiler: str = "gcc", cflags: Iterable[str] = ()) -> dict[str, int]:
    """Compile and run a program printing each expression; raise RuntimeError when
    the compiler or a header is missing (the caller decides to skip). ``cflags``
    reach the compiler (``-I/usr/aarch64-linux-gnu/include`` for a cross header)."""
    if shutil.which(compiler) is None:
        raise RuntimeError(f"{compiler} is not installed")
    expressions = list(expressions)
    includes = "".join(f"#include <{header}>\n" for header in headers)
    body = "".join(f'    printf("%llu\\n", (unsigned long long)({expr}));\n' for expr in expressions)
    source = f"#include <stddef.h>\n#include <stdio.h>\n{includes}int main(void)\n{{\n{body}    return 0;\n}}\n"
    with tempfile.TemporaryDirectory() as workdir:
        c_file = Path(workdir) / "layout.c"
        binary = Path(workdir) / "layout"
        c_file.write_text(source)
        result = subprocess.run([compiler, *cflags, "-o", str(binary), str(c_file)],
                                capture_output=True, text=True)
        if result.returncode != 0:
            raise RuntimeError(f"{compiler} could not compile against {list(headers)}: "
                               f"{result.stderr.strip().splitlines()[:3]}")
        output = subprocess.run([str(binary)], capture_output=True, text=True, check=True).stdout
    return dict(zip(expressions, (int(line) for line in output.split()), strict=True))


def mismatches(expected: dict[str, int], actual: dict[str, int]) -> list[str]:
    """Human-readable differences between cffi's values and the compiler's."""
    return [f"{expr}: cffi says {value}, the C headers say {actual.get(expr)}"
            for expr, value in expected.items() if actual.get(expr) != value]
