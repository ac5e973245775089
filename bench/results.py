"""bench/RESULTS.md: each benchmark script writes its own section ("## Title" up to the next
"## " heading), keeping the others."""
HEAD = "# Benchmark results\n\nAppended by the scripts in bench/ (`make bench`).\n"


def put_section(path, title, section):
    """Replaces (or appends) the section "## title" of the results file at path."""
    try:
        text = open(path).read()
    except FileNotFoundError:
        text = HEAD
    lines = text.rstrip("\n").split("\n")
    new = section.rstrip("\n").split("\n")
    heading = "## " + title
    if heading in lines:
        start = lines.index(heading)
        end = next((i for i in range(start + 1, len(lines)) if lines[i].startswith("## ")),
                   len(lines))
        lines[start:end] = new + ([""] if end < len(lines) else [])
    else:
        lines += [""] + new
    open(path, "w").write("\n".join(lines).rstrip("\n") + "\n")

