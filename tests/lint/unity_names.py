#!/usr/bin/env python3
"""File-local names must be unique within each unity-built target.

    unity_names.py BUILD_DIR

The unity build (SMARTBUS_UNITY_BUILD, CMakeLists.txt) compiles each target's sources in
batches: CMake writes BUILD_DIR/**/CMakeFiles/<target>.dir/Unity/unity_N_cxx.cxx, which
#includes the batch's .cc files one after the other. A name that two of those files each
declare file-local (in an anonymous namespace, or `static` at namespace scope) is then seen by
both. Two variables or types of the same name fail to compile, but two functions of the same
name with different parameters compile as an overload set: a call in one file could silently
pick the other file's function. So every file-local name declared in more than one source of a
target fails this check, whatever its kind: rename one. Per target, not per batch, so that a
new file or another SMARTBUS_UNITY_BATCH, which move the batch boundaries, cannot bring two of
them together unchecked.

Reads the sources with a small tokenizer (comments, strings and preprocessor lines removed;
braces followed), not a compiler: macros that look like functions (TEST, MATCHER_P: all
capitals) and operators are not counted. Exit 0 ok, 1 a clash, 77 (skipped) when BUILD_DIR has
no unity batches in its compile_commands.json (SMARTBUS_UNITY_BUILD=OFF).
"""
import json
import os
import re
import sys

TOKEN = re.compile(r"""
    (?P<raw>R"(?P<delim>[^(\s]{0,16})\((?:.|\n)*?\)(?P=delim)")
  | (?P<str>"(?:\\.|[^"\\\n])*")
  | (?P<chr>'(?:\\.|[^'\\\n])+')
  | (?P<lcom>//[^\n]*)
  | (?P<bcom>/\*(?:.|\n)*?\*/)
  | (?P<pp>^[ \t]*\#(?:\\\n|[^\n])*)
  | (?P<num>\b\d[\w.']*)
  | (?P<id>[A-Za-z_]\w*)
  | (?P<op>::|->|[{}()\[\];=<>,~&*])
  | (?P<other>\S)
""", re.X | re.M)
UNITY_FILE = re.compile(r"[/\\]Unity[/\\]unity_\d+_cxx\.cxx$")
MACRO = re.compile(r"^[A-Z][A-Z0-9_]*$")
SKIP_WORDS = {"const", "constexpr", "static", "inline", "volatile", "mutable", "extern",
              "thread_local", "consteval", "constinit", "unsigned", "signed", "typename",
              "noexcept", "override", "final", "friend", "virtual", "explicit", "static_assert"}


def tokens(text):
    line, pos = 1, 0
    for m in TOKEN.finditer(text):
        kind = m.lastgroup
        if kind in ("lcom", "bcom", "pp"):
            continue
        if kind == "delim":
            kind = "raw"
        line += text.count("\n", pos, m.start())
        pos = m.start()
        yield kind, m.group(0), line


def ident(w):
    return bool(re.match(r"^[A-Za-z_]\w*$", w)) and w not in SKIP_WORDS


def decl_names(toks):
    """The names a namespace-scope declaration (its tokens up to '{' or ';') declares."""
    words = [t for _, t, _ in toks]
    # Leading template<...> heads.
    while words and words[0] == "template":
        depth, i = 0, 1
        while i < len(words):
            if words[i] == "<":
                depth += 1
            elif words[i] == ">":
                depth -= 1
                if depth == 0:
                    break
            i += 1
        words = words[i + 1:]
    if not words:
        return []
    if words[0] == "namespace" or (words[0] == "using" and "=" not in words):
        return []  # namespace aliases (a clash does not compile), using-declarations
    if words[0] == "using" and len(words) > 1:
        return [words[1]]  # using X = ...;
    for i, w in enumerate(words):
        if w in ("struct", "class", "enum", "union"):
            rest = [x for x in words[i + 1:] if x not in ("class", "struct", "final")]
            if rest and ident(rest[0]) and (len(rest) == 1 or rest[1] != "::"):
                return [rest[0]]
            return []
        if w in ("(", "=", "[", "{"):
            break
    if "operator" in words:
        return []
    # Split into declarators at top-level commas (not inside (), [], {}, <...> or initializers).
    segments, cur, depth, angle, init = [], [], 0, 0, False
    for w in words:
        if w in ("(", "[", "{"):
            depth += 1
        elif w in (")", "]", "}"):
            depth -= 1
        elif depth == 0 and not init and w == "<":
            angle += 1
        elif depth == 0 and not init and w == ">" and angle:
            angle -= 1
        elif depth == 0 and angle == 0 and w == "=":
            init = True
        elif depth == 0 and angle == 0 and w == ",":
            segments.append(cur)
            cur, init = [], False
            continue
        cur.append(w)
    segments.append(cur)
    # Each declarator's name: the identifier before its first top-level '(', '[', '{' or '='
    # (a function's name before its parameters: then the declaration has no other declarator).
    names = []
    for seg in segments:
        depth, angle, end = 0, 0, len(seg)
        for i, w in enumerate(seg):
            if w == "<" and depth == 0:
                angle += 1
            elif w == ">" and depth == 0 and angle:
                angle -= 1
            elif angle == 0 and depth == 0 and w in ("(", "[", "{", "="):
                end = i
                break
        if end == 0:
            continue
        name = seg[end - 1]
        if end >= 2 and seg[end - 2] in ("::", "~"):
            continue  # Class::member, destructors: not new names
        if ident(name):
            names.append(name)
        if end < len(seg) and seg[end] == "(" and seg is segments[0]:
            return names[:1]
    return names


def file_local_names(path):
    """{name: first line} of what the file declares in anonymous namespaces or as `static` at
    namespace scope."""
    try:
        with open(path, encoding="utf-8") as f:
            text = f.read()
    except OSError:
        return {}
    names = {}
    scopes = []  # "anon", "ns", "other" ("extern" blocks count as namespace scope)
    stmt = []    # tokens of the current namespace-scope declaration
    toks = list(tokens(text))
    i = 0

    def at_namespace_scope():
        return all(s in ("anon", "ns") for s in scopes)

    def record(decl):
        if not decl:
            return
        local = "anon" in scopes or any(t == "static" for _, t, _ in decl[:3])
        if not local:
            return
        for name in decl_names(decl):
            if not MACRO.match(name):
                names.setdefault(name, decl[0][2])

    while i < len(toks):
        kind, t, line = toks[i]
        if not at_namespace_scope():
            if t == "{":
                scopes.append("other")
            elif t == "}":
                scopes.pop()
            i += 1
            continue
        if t == "namespace" and not stmt:
            j = i + 1
            while j < len(toks) and toks[j][1] not in ("{", ";", "="):
                j += 1
            if j < len(toks) and toks[j][1] == "{":
                scopes.append("anon" if j == i + 1 else "ns")
                i = j + 1
                continue
        if t == "extern" and i + 2 < len(toks) and toks[i + 1][0] == "str" and toks[i + 2][1] == "{":
            scopes.append("ns")
            i += 3
            continue
        if t == "{":
            # A body or a braced initializer: the declaration ends where its braces close.
            record(stmt + [toks[i]])
            depth, i = 1, i + 1
            while i < len(toks) and depth:
                depth += {"{": 1, "}": -1}.get(toks[i][1], 0)
                i += 1
            # "= {...};", "struct X {...} x;": the rest up to ';' belongs to the same statement.
            if i < len(toks) and toks[i][1] == ";":
                i += 1
            stmt = []
            continue
        if t == ";":
            record(stmt)
            stmt = []
        elif t == "}":
            if scopes:
                scopes.pop()
            stmt = []
        else:
            stmt.append(toks[i])
        i += 1
    return names


def targets(build):
    """{target dir: [sources]} of every unity-built target in BUILD_DIR/compile_commands.json
    (the batches of the current configuration; older ones may still lie in the build tree)."""
    out = {}
    try:
        with open(os.path.join(build, "compile_commands.json"), encoding="utf-8") as f:
            db = json.load(f)
    except OSError:
        return out
    for e in db:
        u = os.path.normpath(os.path.join(e["directory"], e["file"]))
        if not UNITY_FILE.search(u):
            continue
        with open(u, encoding="utf-8") as f:
            srcs = re.findall(r'^#include "([^"]+)"', f.read(), re.M)
        out.setdefault(os.path.dirname(os.path.dirname(u)), []).extend(srcs)
    return out


def main():
    if len(sys.argv) != 2:
        print(__doc__)
        return 2
    build = sys.argv[1]
    src_root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    found = targets(build)
    if not found:
        print(f"SKIP unity_names: no unity batches in {build}/compile_commands.json "
              "(SMARTBUS_UNITY_BUILD=OFF?)")
        return 77
    clashes, files = 0, 0
    for target, srcs in sorted(found.items()):
        seen = {}
        for s in srcs:
            files += 1
            for name, line in file_local_names(s).items():
                seen.setdefault(name, []).append(f"{os.path.relpath(s, src_root)}:{line}")
        for name, where in sorted(seen.items()):
            if len(where) > 1:
                clashes += 1
                print(f"FAIL {name}: file-local in {len(where)} sources of the unity-built target "
                      f"{os.path.basename(target)[:-4]}: {', '.join(where)}")
    print(f"unity_names: {files} sources of {len(found)} unity-built targets, {clashes} file-local "
          "names declared in more than one source of a target")
    return 1 if clashes else 0


if __name__ == "__main__":
    sys.exit(main())
