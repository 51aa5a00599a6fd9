#!/usr/bin/env python3
"""Function length check: prints the longest functions in C++ sources and fails when one is
longer than the limit (house rule: no function in services/ over 120 lines).

Usage: function_length.py [--max N] [--top K] [--allow FILE] DIR...
--allow FILE lists functions already over the limit ("LINES PATH NAME" per line, NAME the
function's qualified name): each may stay, but not grow; anything else over the limit fails.
A brace counter, not a parser: comments, string and character literals (raw strings too) are
blanked first; a '{' opened at namespace or class scope whose header has a '(' starts a
function (lambdas and blocks inside it count as part of it). Length = lines from the line
holding the header's first token to the closing brace."""
import argparse
import os
import re
import sys

SOURCE_EXT = ('.cc', '.h', '.cpp', '.hpp')


def blank(text):
    """Comments and literals replaced by spaces (newlines kept, so line numbers hold)."""
    out = []
    i, n = 0, len(text)
    while i < n:
        c = text[i]
        if text.startswith('//', i):
            j = text.find('\n', i)
            j = n if j < 0 else j
            out.append(' ' * (j - i))
            i = j
        elif text.startswith('/*', i):
            j = text.find('*/', i + 2)
            j = n if j < 0 else j + 2
            out.append(re.sub(r'[^\n]', ' ', text[i:j]))
            i = j
        elif c == 'R' and text.startswith('R"', i) and (i == 0 or not text[i - 1].isalnum()):
            m = re.match(r'R"([^(\s]*)\(', text[i:])
            if not m:
                out.append(c)
                i += 1
                continue
            end = ')' + m.group(1) + '"'
            j = text.find(end, i + m.end())
            j = n if j < 0 else j + len(end)
            out.append(re.sub(r'[^\n]', ' ', text[i:j]))
            i = j
        elif c in '"\'':
            if c == "'" and i > 0 and text[i - 1].isalnum():  # digit separator 1'000
                out.append(' ')
                i += 1
                continue
            j = i + 1
            while j < n and text[j] != c and text[j] != '\n':
                j += 2 if text[j] == '\\' else 1
            j = min(n, j + 1)
            out.append(' ' * (j - i))
            i = j
        else:
            out.append(c)
            i += 1
    return ''.join(out)


def functions(path):
    text = blank(open(path, encoding='utf-8', errors='replace').read())
    stack = []  # scope kinds: ns, class, func, block
    header_start = 0
    results = []
    line = 1
    func_start = {}
    for i, c in enumerate(text):
        if c == '\n':
            line += 1
        elif c in ';':
            if not stack or stack[-1] in ('ns', 'class'):
                header_start = i + 1
        elif c == '{':
            top = stack[-1] if stack else 'ns'
            header = text[header_start:i]
            if top in ('func', 'block'):
                stack.append('block')
            elif re.search(r'\bnamespace\b|\bextern\s*$', header):
                stack.append('ns')
            elif '(' in header and not re.search(r'=\s*$', header.strip()) and \
                    not re.match(r'\s*(class|struct|union|enum)\b', header):
                stack.append('func')
                first = len(header) - len(header.lstrip())
                func_start[len(stack)] = (text.count('\n', 0, header_start + first) + 1,
                                          ' '.join(header.split())[:100])
            elif re.search(r'=\s*$', header.strip()):
                stack.append('block')
            else:
                stack.append('class')
            header_start = i + 1
        elif c == '}':
            if not stack:
                continue
            kind = stack.pop()
            if kind == 'func':
                start, name = func_start.pop(len(stack) + 1)
                results.append((line - start + 1, path, start, name))
            if not stack or stack[-1] in ('ns', 'class'):
                header_start = i + 1
    return results


def QualifiedName(header):
    """The name a function header declares: the identifier chain before its first '('."""
    m = re.search(r'([A-Za-z_~][\w:~<>]*)\s*\(', header)
    return m.group(1) if m else header.split('(')[0].split()[-1]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument('--max', type=int, default=120)
    ap.add_argument('--top', type=int, default=5)
    ap.add_argument('--allow', default='')
    ap.add_argument('dirs', nargs='+')
    a = ap.parse_args()
    found = []
    for d in a.dirs:
        for root, _, files in os.walk(d):
            for f in sorted(files):
                if f.endswith(SOURCE_EXT):
                    found += functions(os.path.join(root, f))
    found.sort(key=lambda r: -r[0])
    print(f'function_length: {len(found)} functions; the longest (limit {a.max} lines):')
    for n, path, start, name in found[:a.top]:
        print(f'  {n:4d}  {path}:{start}  {name}')
    allowed = {}
    if a.allow:
        for row in open(a.allow, encoding='utf-8'):
            row = row.split('#')[0].split()
            if len(row) == 3:
                allowed[(row[1], row[2])] = int(row[0])
    over = [r for r in found if r[0] > a.max and r[0] > allowed.get((r[1], QualifiedName(r[3])), 0)]
    known = [r for r in found if a.max < r[0] <= allowed.get((r[1], QualifiedName(r[3])), 0)]
    if known:
        print(f'function_length: {len(known)} known long functions (--allow; may only shrink)')
    if over:
        print(f'function_length: FAIL: {len(over)} over {a.max} lines')
        for n, path, start, name in over:
            print(f'  {n:4d}  {path}:{start}  {name}')
        return 1
    print('function_length: ok')
    return 0


if __name__ == '__main__':
    sys.exit(main())
