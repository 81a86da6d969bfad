#!/usr/bin/env python3
"""Checks that no source file of fedexec includes a header of a higher layer.

The layers, top first, are the one table LAYERS below: a file in a folder of
one row may include headers of the folders of its own row and of the rows
below it, never of a row above it (python/ sits beside tools/: the Python
package's extension may use what the program's tools offer, such as the
list of native functions). Headers of the generated
protocol buffers (federated_language/, tensorflow_federated/, fedexec/) are
the proto layer. testing/ holds test helpers: only tests (*_test.cc, fuzz
targets, benchmarks) and testing/ itself include them, and they may include
any layer. bench/, examples/ and fuzz/ sit on top of everything. Code of
executors/ (not its tests) reaches runtimes/ only through the headers of
RUNTIME_HEADERS_FOR_EXECUTORS (the external-runtime interface).

A top-level folder with C++ sources that is in no row and not listed as a
consumer fails the check too, so that a new folder gets its place in the
table when it is made.

  scripts/check_layers.py [ROOT]     check the tree at ROOT (default: the
                                     checkout this script is in)
  scripts/check_layers.py --self-test

Exit status 0 when every include goes down the layers, 1 with one line per
offending include ("ir/x.cc:12: includes stacks/y.h (stacks is above ir)").
"""

import os
import re
import sys
import tempfile

# The layers, top first. One row per layer; folders in one row are beside
# each other. The gRPC channel helpers sit under the executors: the remote
# executor dials through them, the service and the stacks use them too.
LAYERS = [
    ("tools", "python"),
    ("demo",),
    ("stacks",),
    ("service",),
    ("executors",),
    ("grpc", "net"),  # the gRPC channel helpers, in whichever name they get
    ("data",),
    ("runtimes",),
    ("ir",),
    ("core",),
    ("proto",),
]
# Include prefixes of generated code, and the layer they belong to.
GENERATED = {
    "federated_language": "proto",
    "tensorflow_federated": "proto",
    "fedexec": "proto",
}
# Folders above every layer: they may include anything.
CONSUMERS = ("bench", "examples", "fuzz")
# Test helpers: included only by tests, consumers and each other.
TEST_HELPERS = "testing"
# Not source folders.
IGNORED = ("cmake", "deploy", "docs", "interop", "scripts", "testdata")

# Known includes against the layers, each with the change that removes it:
# (file, included header). Keep this list short and shrinking.
EXCEPTIONS = {
    # The service tests serve real local stacks, built with the stacks'
    # factories; a service-level test executor would remove it.
    ("service/service_test_util.h", "stacks/executor_factory.h"),
}

# Executors see external runtimes only through their interface: the
# runtimes/ headers that executors/ code (not its tests) may include.
RUNTIME_HEADERS_FOR_EXECUTORS = {
    "runtimes/external_runtime.h",
    # The aggregations' folds use the native kernels' arithmetic (sum, min,
    # max, casts) on their own accumulators.
    "runtimes/native/kernels.h",
}

SOURCE_SUFFIXES = (".h", ".hpp", ".cc", ".cpp")
INCLUDE = re.compile(r'^\s*#\s*include\s+"([^"]+)"')


def rank_of(folder):
    """The row index of `folder` (0 is the top), or None."""
    for rank, row in enumerate(LAYERS):
        if folder in row:
            return rank
    return None


def is_test(path):
    name = os.path.basename(path)
    return re.search(r"_test\.(cc|cpp|h)$", name) is not None or (
        name.endswith("_test_util.h"))


def check(root):
    """Returns the list of violations in the tree at `root`."""
    problems = []
    folders = sorted(
        d for d in os.listdir(root)
        if os.path.isdir(os.path.join(root, d)) and not d.startswith(".")
        and not d.startswith("build"))
    for top in folders:
        if top in IGNORED:
            continue
        layered = rank_of(top) is not None
        if not layered and top not in CONSUMERS and top != TEST_HELPERS:
            has_sources = any(
                f.endswith(SOURCE_SUFFIXES)
                for _, _, files in os.walk(os.path.join(root, top))
                for f in files)
            if has_sources:
                problems.append(
                    f"{top}/: a source folder in no layer: add it to LAYERS "
                    "in scripts/check_layers.py")
            continue
        for dirpath, dirnames, files in os.walk(os.path.join(root, top)):
            dirnames[:] = [d for d in dirnames if not d.startswith(".")]
            for name in sorted(files):
                if not name.endswith(SOURCE_SUFFIXES):
                    continue
                path = os.path.join(dirpath, name)
                rel = os.path.relpath(path, root)
                problems.extend(check_file(root, rel, top))
    return problems


def check_file(root, rel, top):
    problems = []
    own = rank_of(top)
    with open(os.path.join(root, rel), encoding="utf-8",
              errors="replace") as f:
        for number, line in enumerate(f, 1):
            m = INCLUDE.match(line)
            if not m:
                continue
            included = m.group(1)
            head = included.split("/", 1)[0]
            if "/" not in included:
                continue  # a file beside it, or a library's flat header
            target = GENERATED.get(head, head)
            where = f"{rel}:{number}: includes {included}"
            if target == TEST_HELPERS:
                if not (is_test(rel) or top in CONSUMERS
                        or top == TEST_HELPERS):
                    problems.append(
                        f"{where} (test helpers are for tests only)")
                continue
            if own is None:
                continue  # consumers and test helpers include any layer
            if (rel, included) in EXCEPTIONS:
                continue
            theirs = rank_of(target)
            if theirs is None:
                if target in CONSUMERS:
                    problems.append(f"{where} ({target} is above every "
                                    "layer)")
                continue  # an external library's header
            if (top == "executors" and target == "runtimes"
                    and not is_test(rel)
                    and included not in RUNTIME_HEADERS_FOR_EXECUTORS):
                problems.append(f"{where} (executors see runtimes only "
                                "through runtimes/external_runtime.h)")
            if theirs < own:
                problems.append(f"{where} ({target} is above {top})")
    return problems


def self_test():
    """Checks the checker on small trees with and without violations."""
    def tree(files):
        root = tempfile.mkdtemp(prefix="check_layers_")
        for path, text in files.items():
            full = os.path.join(root, path)
            os.makedirs(os.path.dirname(full), exist_ok=True)
            with open(full, "w", encoding="utf-8") as f:
                f.write(text)
        return root

    good = tree({
        "core/a.h": '#include "absl/status/status.h"\n',
        "ir/b.h": '#include "core/a.h"\n#include "federated_language/x.pb.h"\n',
        "stacks/c.cc": '#include "ir/b.h"\n#include "stacks/d.h"\n',
        "stacks/c_test.cc": '#include "testing/t.h"\n#include "tools/x.h"\n',
        "testing/t.h": '#include "stacks/c.h"\n',
        "bench/b.cc": '#include "tools/x.h"\n',
        "python/p.cc": '#include "tools/x.h"\n',
        "docs/x.cc": '#include "tools/x.h"\n',
    })
    ok = True
    found = check(good)
    if [p for p in found if "stacks/c_test.cc" not in p] != []:
        print("self-test: a clean tree was flagged:", found)
        ok = False
    # A test still may not include a higher layer.
    if not any("stacks/c_test.cc:2: includes tools/x.h" in p for p in found):
        print("self-test: a test including tools/ was not flagged:", found)
        ok = False
    bad = tree({
        "core/a.h": '#include "ir/b.h"\n',
        "ir/b.cc": '#include "testing/t.h"\n',
        "tools/t.cc": '#include "demo/d.h"\n',
        "demo/d.cc": '#include "python/p.h"\n',
        "newfolder/n.cc": "int x;\n",
        "executors/e.cc": '#include "bench/b.h"\n',
        "executors/f.cc": '#include "runtimes/native/registry.h"\n'
                          '#include "runtimes/external_runtime.h"\n',
        "executors/f_test.cc": '#include "runtimes/native/registry.h"\n',
    })
    expected = [
        "core/a.h:1: includes ir/b.h (ir is above core)",
        "executors/e.cc:1: includes bench/b.h (bench is above every layer)",
        "executors/f.cc:1: includes runtimes/native/registry.h (executors "
        "see runtimes only through runtimes/external_runtime.h)",
        "ir/b.cc:1: includes testing/t.h (test helpers are for tests only)",
        "newfolder/: a source folder in no layer",
        "demo/d.cc:1: includes python/p.h (python is above demo)",
    ]
    found = check(bad)
    for e in expected:
        if not any(p.startswith(e) for p in found):
            print(f"self-test: not flagged: {e}; found: {found}")
            ok = False
    if len(found) != len(expected):
        print("self-test: unexpected findings:", found)
        ok = False
    print("check_layers self-test:", "ok" if ok else "FAILED")
    return 0 if ok else 1


def main(argv):
    if len(argv) > 1 and argv[1] == "--self-test":
        return self_test()
    root = argv[1] if len(argv) > 1 else os.path.join(
        os.path.dirname(os.path.abspath(__file__)), "..")
    problems = check(os.path.abspath(root))
    for p in problems:
        print(p)
    if problems:
        print(f"check_layers: {len(problems)} include(s) against the layers "
              "(tools > demo > stacks > service > executors > ... > proto; "
              "see LAYERS in scripts/check_layers.py)")
        return 1
    print("check_layers: every include goes down the layers")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
