#include "core/error.h"

#include <cstdio>
#include <cstdlib>

namespace dlmscope::detail {

void assert_failed(const char* expr, const char* file, int line) {
    std::fprintf(stderr, "dlmscope: internal error: assertion failed: %s (%s:%d)\n", expr, file, line);
    std::abort();
}

}  // namespace dlmscope::detail
