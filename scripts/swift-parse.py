#!/usr/bin/env python3
"""Parses every .swift file given (or found under the given folders) with
tree-sitter-swift and fails on a syntax error: an ERROR or MISSING node.
Not a type check (there is no Swift compiler on Linux): it catches what a
hand edit or a generator change breaks in the grammar.
Usage: swift-parse.py PATH...   (run by scripts/test.sh in its own venv)"""
import pathlib
import re
import sys

import tree_sitter
import tree_sitter_swift

SKIP = {"target", ".git", ".build", "node_modules"}


def swift_files(paths):
    for p in map(pathlib.Path, paths):
        if p.is_file():
            yield p
            continue
        for f in sorted(p.rglob("*.swift")):
            if not SKIP.intersection(f.relative_to(p).parts):
                yield f


IF, END, ATTRIBUTE = (re.compile(rb"\s*" + p) for p in (rb"#if\b", rb"#endif\b", rb"@\w"))


def attribute_only_ifs_opened(source):
    """The text with each `#if`/`#endif` pair that wraps only attributes
    (UniFFI's `#if swift(>=5.8) @_documentation(...) #endif`) blanked out,
    line numbers kept. Valid Swift, but tree-sitter-swift 0.7.4 has no rule
    for a conditional attribute and reports it as an ERROR."""
    lines = source.split(b"\n")
    i = 0
    while i < len(lines):
        if IF.match(lines[i]):
            j = i + 1
            while j < len(lines) and (ATTRIBUTE.match(lines[j]) or not lines[j].strip()):
                j += 1
            if j > i + 1 and j < len(lines) and END.match(lines[j]):
                lines[i] = lines[j] = b""
                i = j
        i += 1
    return b"\n".join(lines)


EMPTY_TUPLE = re.compile(rb"(\{|\breturn\b|=)(\s*)\(\)(\s*)(\}|$)", re.M)


def empty_tuples_named(source):
    """`()` as a value (UniFFI's `let writeReturn = { () }`) written as
    `Void()`, the same value: tree-sitter-swift 0.7.4 parses `()` only as a
    type or a call's arguments."""
    return EMPTY_TUPLE.sub(rb"\1\2Void()\3\4", source)


def accepted(source):
    """The text tree-sitter-swift parses: valid Swift that its grammar lacks
    a rule for, written the way it has one (line numbers kept)."""
    return empty_tuples_named(attribute_only_ifs_opened(source))


def problems(tree):
    """(line, column, what) of each ERROR or MISSING node, outermost first."""
    stack = [tree.root_node]
    while stack:
        node = stack.pop()
        if node.is_missing:
            yield node.start_point, f"missing {node.type}"
        elif node.is_error:
            yield node.start_point, "syntax error"
            continue  # its children are part of the same error
        if node.has_error:
            stack.extend(reversed(node.children))


def main(argv):
    parser = tree_sitter.Parser(tree_sitter.Language(tree_sitter_swift.language()))
    files = list(swift_files(argv or ["."]))
    if not files:
        print("swift-parse: no .swift file found", file=sys.stderr)
        return 1
    bad = 0
    for f in files:
        tree = parser.parse(accepted(f.read_bytes()))
        found = list(problems(tree)) if tree.root_node.has_error else []
        for (row, col), what in found[:10]:
            print(f"{f}:{row + 1}:{col + 1}: {what}", file=sys.stderr)
        bad += bool(found)
    print(f"swift-parse: {len(files)} files, {bad} with syntax errors")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
