#!/usr/bin/env python3
"""services/core does no I/O (CONTRIBUTING.md): no file, directory, zip, thread or console
access in its sources. File I/O is services/files/; threads, sockets and clocks are the edges'.

Fails naming each file, line and what it found. Usage: core_io.py [services/core]
"""
import pathlib
import re
import sys

# What core may not use, with the reason printed on a finding.
FORBIDDEN = [
    (re.compile(r'#include\s*<(fstream|filesystem|thread|iostream)>'), 'file/thread header'),
    (re.compile(r'#include\s*<(zip|unistd|fcntl|sys/stat)\.h>'), 'system I/O header'),
    (re.compile(r'\bstd::(thread|jthread|async)\b'), 'starts a thread'),
    (re.compile(r'\b(fopen|fread|fwrite|freopen|opendir|isatty)\s*\('), 'file call'),
    (re.compile(r'\bstd::[io]?fstream\b|\bstd::filesystem::'), 'file stream / filesystem'),
    (re.compile(r'\b(f?printf\s*\(\s*stderr|std::cerr|std::cout)\b'), 'prints to the console'),
]
# Known debts, each named with why it stays (file -> allowed pattern descriptions).
ALLOWED = {
    # Gives parsed pages of a big stop_times.txt buffer back to the kernel (madvise/sysconf):
    # memory management of a buffer core owns, not I/O.
    'services/core/gtfs/loader.cc': {'system I/O header'},
}


def main(argv):
    root = pathlib.Path(argv[1] if len(argv) > 1 else 'services/core')
    found = 0
    files = sorted(p for p in root.rglob('*') if p.suffix in ('.cc', '.h'))
    for path in files:
        allowed = ALLOWED.get(path.as_posix(), set())
        for n, line in enumerate(path.read_text(encoding='utf-8').splitlines(), 1):
            code = line.split('//', 1)[0]
            for pattern, what in FORBIDDEN:
                if what not in allowed and pattern.search(code):
                    print(f'{path}:{n}: {what}: {line.strip()}')
                    found += 1
    print(f'core_io: {len(files)} files of {root} read, {found} findings')
    return 1 if found else 0


if __name__ == '__main__':
    sys.exit(main(sys.argv))
