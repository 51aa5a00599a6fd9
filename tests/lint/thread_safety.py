#!/usr/bin/env python3
"""Clang's thread-safety analysis over the services/ sources that use the annotated mutexes.

    thread_safety.py BUILD_DIR [--jobs N]

Every translation unit of services/ in BUILD_DIR/compile_commands.json whose source or own header
uses services/core/common/mutex.h (Mutex, SharedMutex, ABSL_GUARDED_BY, ...) is compiled with
`clang++ -fsyntax-only -Wthread-safety -Werror=thread-safety` (the -I/-isystem/-D/-std flags of
its g++ command; no code generated, no other warning), so a guarded member read or written
without its mutex fails the test. In a unity build (SMARTBUS_UNITY_BUILD) a translation unit is a
batch of sources (CMakeFiles/<target>.dir/Unity/unity_N_cxx.cxx): a batch with such a source is
analysed whole, as g++ compiles it, its headers parsed once for all its sources. First the canary (thread_safety_canary.cc, a member read
without its lock) must FAIL to compile: else the check could not fail and it says so.
A bare std::mutex / std::shared_mutex / std::lock_guard / std::unique_lock<std::mutex> anywhere
in services/ (outside mutex.h) fails it too: the analysis cannot see those, so every mutex is
one of mutex.h's, with the state it guards ABSL_GUARDED_BY it. Exit 0 ok, 1 a finding,
77 (skipped) without clang++ or compile_commands.json.
"""
import argparse
import json
import os
import re
import shlex
import shutil
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor

ANNOTATED = re.compile(r"\b(MutexLock|UniqueLock|ReaderLock|WriterLock|SharedMutex)\b|"
                       r"ABSL_GUARDED_BY|ABSL_EXCLUSIVE_LOCKS_REQUIRED|^\s*(mutable\s+)?Mutex\s",
                       re.M)
BARE = re.compile(r"\bstd::(mutex|shared_mutex|recursive_mutex|timed_mutex|lock_guard|"
                  r"unique_lock|shared_lock|scoped_lock)\b")
UNITY_FILE = re.compile(r"[/\\]Unity[/\\]unity_\d+_cxx\.cxx$")
FLAGS = re.compile(r"^(-I|-isystem|-D|-std=)")
CHECK = ["-fsyntax-only", "-Wno-everything", "-Wthread-safety", "-Werror=thread-safety"]


def read(path):
    try:
        with open(path, encoding="utf-8") as f:
            return f.read()
    except OSError:
        return ""


def clang_args(command):
    """The -I/-isystem/-D/-std flags of a compile command (with their separate arguments)."""
    args, out, i = shlex.split(command), [], 1
    while i < len(args):
        a = args[i]
        if a in ("-I", "-isystem", "-D") and i + 1 < len(args):
            out += [a, args[i + 1]]
            i += 2
            continue
        if FLAGS.match(a):
            out.append(a)
        i += 1
    return out


def sources_of(path):
    """The sources a compile command compiles: a unity batch's #included files, or the file."""
    if UNITY_FILE.search(path):
        return [os.path.normpath(s) for s in re.findall(r'^#include "([^"]+)"', read(path), re.M)]
    return [path]


def run(clang, args, source, cwd):
    p = subprocess.run([clang] + CHECK + args + [source], cwd=cwd, capture_output=True, text=True)
    return p.returncode, p.stderr


def bare_locks(services, src_root):
    """file:line: text of every std:: mutex or lock in services/ outside mutex.h."""
    mutex_h = os.path.join(services, "core", "common", "mutex.h")
    out = []
    for root, dirs, files in os.walk(services):
        dirs.sort()
        for name in sorted(files):
            path = os.path.join(root, name)
            if not name.endswith((".h", ".cc")) or path == mutex_h:
                continue
            for n, line in enumerate(read(path).splitlines(), 1):
                if BARE.search(line.split("//")[0]):
                    out.append(f"{os.path.relpath(path, src_root)}:{n}: {line.strip()}")
    return out


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("build")
    ap.add_argument("--jobs", type=int, default=2)
    ap.add_argument("--only", default="", help="check only sources whose path contains this")
    opt = ap.parse_args()
    src_root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    services = os.path.join(src_root, "services") + os.sep
    bare = bare_locks(services, src_root)  # needs no clang
    for b in bare:
        print(f"FAIL {b}: a lock the analysis cannot see; use services/core/common/mutex.h "
              "(Mutex, MutexLock, UniqueLock, SharedMutex) and ABSL_GUARDED_BY")
    clang = shutil.which("clang++") or shutil.which("clang++-14")
    db_path = os.path.join(opt.build, "compile_commands.json")
    if not clang or not os.path.exists(db_path):
        print(f"SKIP thread_safety: needs clang++ (deploy/install-deps.sh installs it) and "
              f"{db_path}; {len(bare)} bare std:: locks")
        return 1 if bare else 77
    with open(db_path, encoding="utf-8") as f:
        db = json.load(f)

    # (translation unit, the annotated sources it holds, flags, directory)
    checked, seen = [], set()
    for e in db:
        unit = os.path.normpath(os.path.join(e["directory"], e["file"]))
        srcs = [s for s in sources_of(unit)
                if s.startswith(services) and s not in seen and opt.only in s]
        seen.update(srcs)
        annotated = [s for s in srcs
                     if ANNOTATED.search(read(s) + read(os.path.splitext(s)[0] + ".h"))]
        if annotated:
            checked.append((unit, annotated, clang_args(e["command"]), e["directory"]))
    canary = os.path.join(src_root, "tests", "lint", "thread_safety_canary.cc")
    rc, err = run(clang, ["-std=c++20", "-I", src_root] + (checked[0][2] if checked else []),
                  canary, src_root)
    if rc == 0 or "requires holding mutex" not in err:
        print("FAIL thread_safety: the canary (a guarded member read without its lock) was not "
              "flagged, so this check cannot fail:\n" + err)
        return 1

    with ThreadPoolExecutor(max_workers=opt.jobs) as pool:
        results = list(pool.map(lambda c: (c[1],) + run(clang, c[2], c[0], c[3]), checked))
    failed = [(srcs, err) for srcs, rc, err in results if rc != 0]
    for srcs, err in failed:
        print(f"FAIL {', '.join(os.path.relpath(s, src_root) for s in srcs)}:\n{err}")
    sources = sum(len(c[1]) for c in checked)
    print(f"thread_safety: {sources} sources checked in {len(checked)} translation units with "
          f"{os.path.basename(clang)} -Wthread-safety, {len(failed)} failed, {len(bare)} bare "
          "std:: locks; canary flagged as it must be")
    return 1 if failed or bare else 0


if __name__ == "__main__":
    sys.exit(main())
