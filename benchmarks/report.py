"""Shared by the benchmark scripts: the machine line and the sections of docs/benchmarks.md."""

from __future__ import annotations

import os
import platform
import re
import time
from pathlib import Path

DOC = Path(__file__).resolve().parent.parent / "docs" / "benchmarks.md"


def machine_description() -> str:
    """CPU model, cores, memory, OS, Python and the numeric libraries, on one line."""
    import lightgbm
    import numpy
    import pandas
    import scipy

    cpuinfo, meminfo = Path("/proc/cpuinfo"), Path("/proc/meminfo")
    cpu = platform.processor() or platform.machine()
    if cpuinfo.exists():
        names = [
            line.split(":", 1)[1].strip()
            for line in cpuinfo.read_text().splitlines()
            if line.startswith("model name")
        ]
        cpu = names[0] if names else cpu
    memory = ""
    if meminfo.exists():
        memory = f", {int(meminfo.read_text().split()[1]) / 2**20:.0f} GB RAM"
    return (
        f"{cpu}, {os.cpu_count()} cores{memory}; {platform.system()} {platform.release()}; "
        f"Python {platform.python_version()}, numpy {numpy.__version__}, scipy "
        f"{scipy.__version__}, pandas {pandas.__version__}, lightgbm {lightgbm.__version__}; "
        f"measured {time.strftime('%Y-%m-%d %H:%M')} UTC"
    )


def write_section(name: str, title: str, body: str, doc: Path = DOC) -> None:
    """Replace (or append) the ``name`` section of ``doc``, between its markers."""
    begin, end = f"<!-- {name}:begin -->", f"<!-- {name}:end -->"
    text = doc.read_text()
    if begin not in text:
        text = text.rstrip() + f"\n\n## {title}\n\n{begin}\n{end}\n"
    pattern = re.compile(re.escape(begin) + ".*?" + re.escape(end), re.S)
    doc.write_text(pattern.sub(lambda _: f"{begin}\n{body}\n{end}", text))
