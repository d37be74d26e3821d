// dlmscope core: the one error type of the library and always-on assertions.
//
// Library code throws dlmscope::Error (include/dlmscope/error.h) with a message that names the file, key or value
// involved and, where useful, a hint. The CLI catches it at the top and turns it into one
// line on stderr and a non-zero exit. DLM_ASSERT checks invariants and is never compiled out.
#pragma once

#include "dlmscope/error.h"

#include <fmt/format.h>

#include <stdexcept>
#include <string>
#include <utility>

namespace dlmscope {

// Throws Error with a fmt-formatted message.
template <typename... Args>
[[noreturn]] void fail(fmt::format_string<Args...> f, Args&&... args) {
    throw Error(fmt::format(f, std::forward<Args>(args)...));
}

namespace detail {
[[noreturn]] void assert_failed(const char* expr, const char* file, int line);
}  // namespace detail

}  // namespace dlmscope

// Always-on invariant check (programmer errors, not user input).
#define DLM_ASSERT(cond) \
    do { \
        if (!(cond)) ::dlmscope::detail::assert_failed(#cond, __FILE__, __LINE__); \
    } while (0)
