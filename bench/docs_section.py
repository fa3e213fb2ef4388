#!/usr/bin/env python3
"""Replaces (or appends) one "## HEADING" section of a markdown file; the
--write-docs step of the bench/ scripts (through bench_write_docs in
bench/lib.sh). Other sections are left untouched.

docs_section.py DOC HEADING [NAME=VALUE...] <TEMPLATE

TEMPLATE (stdin) is the section's text below its heading, with {NAME}
placeholders filled from the arguments (str.format: {{ and }} stand for
literal braces; an unknown name is an error and DOC is left as it was).
The section runs from its heading line to the next "## " heading or the
end of the file. A missing or empty DOC is started with "# Benchmarks".
The new text replaces DOC in one rename, so DOC is never half written.
"""
import os
import re
import sys
import tempfile


def main():
    if len(sys.argv) < 3:
        sys.exit(__doc__)
    doc, heading = sys.argv[1], sys.argv[2]
    values = {}
    for arg in sys.argv[3:]:
        name, sep, value = arg.partition("=")
        if not sep:
            sys.exit(f"docs_section.py: not NAME=VALUE: {arg!r}")
        values[name] = value
    body = sys.stdin.read().format_map(values)
    section = f"## {heading}\n\n" + body.rstrip("\n") + "\n"

    text = ""
    if os.path.exists(doc):
        with open(doc) as f:
            text = f.read()
    if not text.strip():
        text = "# Benchmarks\n"
    pat = re.compile(r"^## " + re.escape(heading) + r"\n.*?(?=^## |\Z)",
                     re.S | re.M)
    if pat.search(text):
        text = pat.sub(lambda m: section + "\n", text, count=1)
    else:
        text = text.rstrip("\n") + "\n\n" + section
    fd, tmp = tempfile.mkstemp(dir=os.path.dirname(os.path.abspath(doc)),
                               prefix=".docs_section.")
    try:
        with os.fdopen(fd, "w") as f:
            f.write(text.rstrip("\n") + "\n")
        if os.path.exists(doc):
            mode = os.stat(doc).st_mode & 0o7777
        else:
            umask = os.umask(0)
            os.umask(umask)
            mode = 0o666 & ~umask
        os.chmod(tmp, mode)  # mkstemp made it 0600
        os.replace(tmp, doc)
    except BaseException:
        os.unlink(tmp)
        raise


if __name__ == "__main__":
    main()
