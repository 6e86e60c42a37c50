// What the fuzz targets share: an invariant check that fails loudly. Both
// libFuzzer and the corpus replay (replay_main.cpp) report the abort with
// the input that caused it.
#pragma once

#include <cstdio>
#include <cstdlib>
#include <string>

#define FUZZ_CHECK(cond, detail)                                                           \
  do {                                                                                     \
    if (!(cond)) {                                                                         \
      std::fprintf(stderr, "%s:%d: invariant failed: %s: %s\n", __FILE__, __LINE__, #cond, \
                   std::string(detail).c_str());                                           \
      std::abort();                                                                        \
    }                                                                                      \
  } while (0)
