"""Import TensorFlow so that TF_CPP_MIN_LOG_LEVEL also covers the lines printed while it loads.

TensorFlow 2.21 logs its oneDNN notice (``I0000 ... port.cc:153] oneDNN custom operations are on ...``), preceded by
absl's "All log messages before absl::InitializeLog() is called are written to STDERR", before its logging is set
up, so TF_CPP_MIN_LOG_LEVEL does not filter them. When that variable asks for quiet (>= 1) and TensorFlow is not yet
imported, the import runs with file descriptor 2 redirected to a temporary file; afterwards every line is written
back except the C++ log lines below the requested level and absl's preamble. Nothing else is lost: Python warnings,
errors and a failing import's output come back unchanged. This module must not import TensorFlow at module level.
"""
import os
import re
import sys
import tempfile

_ABSL_PREAMBLE = "WARNING: All log messages before absl::InitializeLog() is called are written to STDERR"
# Severity letters of the C++ log lines ("I1203 12:00:00.000 123 file.cc:1] ..." or "I0000 00:00:17963... ]").
_SEVERITY = {"I": 0, "W": 1, "E": 2}
_LOG_LINE = re.compile(r"^([IWE])\d{4} \S+\s+\d+ \S+:\d+\] ")


def _requested_level() -> int:
    try:
        return int(os.environ.get("TF_CPP_MIN_LOG_LEVEL", "0"))
    except ValueError:
        return 0


def filter_log_lines(text: str, min_level: int) -> str:
    """Drops C++ log lines with severity below `min_level` (0 INFO, 1 WARNING, 2 ERROR) and absl's preamble."""
    kept = []
    for line in text.splitlines(keepends=True):
        if line.rstrip("\n") == _ABSL_PREAMBLE:
            continue
        m = _LOG_LINE.match(line)
        if m and _SEVERITY[m.group(1)] < min_level:
            continue
        kept.append(line)
    return "".join(kept)


def import_tensorflow():
    """Returns the tensorflow module, imported with its load-time log lines filtered as TF_CPP_MIN_LOG_LEVEL asks."""
    level = _requested_level()
    if "tensorflow" in sys.modules or level < 1:
        import tensorflow
        return tensorflow
    try:
        stderr_fd = sys.stderr.fileno() if sys.stderr is not None else 2
    except (AttributeError, OSError, ValueError):  # a stderr without a descriptor (captured by a test runner)
        stderr_fd = 2
    try:
        saved = os.dup(stderr_fd)
    except OSError:  # no descriptor 2 at all: nothing to filter
        import tensorflow
        return tensorflow
    with tempfile.TemporaryFile(mode="w+b") as capture:
        try:
            if sys.stderr is not None:
                sys.stderr.flush()
            os.dup2(capture.fileno(), stderr_fd)
            try:
                import tensorflow
            finally:
                if sys.stderr is not None:
                    try:
                        sys.stderr.flush()
                    except (OSError, ValueError):
                        pass
                os.dup2(saved, stderr_fd)
        finally:
            os.close(saved)
            capture.seek(0)
            text = capture.read().decode("utf-8", errors="replace")
            rest = filter_log_lines(text, level)
            if rest:
                os.write(stderr_fd, rest.encode("utf-8"))
    return tensorflow
