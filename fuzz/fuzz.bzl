"""hostport_fuzzer: a libFuzzer target and the test that replays its corpus."""

load("@rules_cc//cc:defs.bzl", "cc_binary", "cc_test")

def hostport_fuzzer(name, srcs, deps, corpus):
    """Defines `name` (a fuzzer under --config=fuzz) and `name_corpus_test`.

    Both are test-only: fuzzers may use test-only libraries such as
    //hostport/properties:scenario.

    Args:
      name: the fuzzer binary.
      srcs: sources defining LLVMFuzzerTestOneInput.
      deps: libraries under test.
      corpus: the seed corpus directories (checked in under fuzz/corpus).
    """
    cc_binary(
        name = name,
        testonly = True,
        srcs = srcs,
        deps = deps + select({
            "//fuzz:fuzzing": [],
            "//conditions:default": ["//fuzz:replay_main"],
        }),
        linkopts = select({
            "//fuzz:fuzzing": ["-fsanitize=fuzzer"],
            "//conditions:default": [],
        }),
    )
    cc_test(
        name = name + "_corpus_test",
        size = "small",
        srcs = srcs,
        deps = deps + ["//fuzz:replay_main"],
        data = native.glob([c + "/**" for c in corpus]),
        args = ["fuzz/" + c for c in corpus],
    )
