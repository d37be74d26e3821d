#include "engine/tokenizer/regex.h"

#include "core/error.h"
#include "engine/tokenizer/utf8.h"

#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>

#include <optional>

namespace dlmscope::tok {

// ---- Oniguruma -> PCRE2 pattern rewriting -------------------------------------------------

namespace {

// Oniguruma's \s under Unicode: the White_Space property, i.e. TAB..CR, NEL and the Z
// categories (Zs, Zl, Zp). PCRE2's own \s would also take U+180E.
constexpr std::string_view kSpaceItems = "\\t\\n\\x0B\\f\\r\\x{85}\\p{Z}";

}  // namespace

std::string translate_oniguruma(std::string_view p) {
    std::string out;
    out.reserve(p.size() + 64);
    bool in_class = false;
    for (size_t i = 0; i < p.size(); ++i) {
        const char c = p[i];
        if (c == '\\' && i + 1 < p.size()) {
            const char e = p[i + 1];
            if (e == 'Q') {  // \Q...\E is literal text: copy it untouched
                const size_t end = p.find("\\E", i + 2);
                const size_t stop = end == std::string_view::npos ? p.size() : end + 2;
                out.append(p.substr(i, stop - i));
                i = stop - 1;
            } else if (e == 's' && in_class) {
                out.append(kSpaceItems);
                ++i;
            } else if (e == 's' || e == 'S') {
                out += e == 's' ? "[" : "[^";
                out.append(kSpaceItems);
                out += ']';
                ++i;
            } else {
                // \S inside a class is left to PCRE2 (differs from Oniguruma at U+180E only).
                out += c;
                out += e;
                ++i;
            }
            continue;
        }
        if (!in_class && c == '[') {
            in_class = true;
            out += c;
            // A ']' right after '[' or '[^' is a literal, not the end of the class.
            if (i + 1 < p.size() && p[i + 1] == '^') out += p[++i];
            if (i + 1 < p.size() && p[i + 1] == ']') out += p[++i];
            continue;
        }
        if (in_class && c == '[') {
            if (i + 1 < p.size() && p[i + 1] == ':') {  // POSIX [:alpha:] means the same in both
                const size_t end = p.find(":]", i + 2);
                if (end != std::string_view::npos) {
                    out.append(p.substr(i, end + 2 - i));
                    i = end + 1;
                    continue;
                }
            }
            fail("regex '{}': nested character classes (Oniguruma set operations) are not supported", p);
        }
        if (in_class && c == ']') in_class = false;
        out += c;
    }
    return out;
}

// ---- compiled pattern ---------------------------------------------------------------------

struct Regex::Code {
    pcre2_code* re = nullptr;
    ~Code() { pcre2_code_free(re); }
};

Regex::Regex(std::string_view pattern, const std::string& what) : code_(std::make_unique<Code>()), what_(what) {
    const std::string translated = translate_oniguruma(pattern);
    int err = 0;
    PCRE2_SIZE err_off = 0;
    // UTF: the subject is UTF-8 code points, not bytes. UCP: \p{..}, \d, \w, case folding and
    // the POSIX classes use Unicode properties, as Oniguruma does for UTF-8 patterns.
    code_->re = pcre2_compile(reinterpret_cast<PCRE2_SPTR>(translated.data()), translated.size(),
                              PCRE2_UTF | PCRE2_UCP, &err, &err_off, nullptr);
    if (!code_->re) {
        PCRE2_UCHAR msg[256];
        pcre2_get_error_message(err, msg, sizeof msg);
        fail("{}: cannot compile regex '{}': {} (at offset {} of the PCRE2 form '{}')", what, pattern,
             reinterpret_cast<const char*>(msg), err_off, translated);
    }
    // JIT is only a speed-up; without it (or if it fails) the interpreter gives the same matches.
    pcre2_jit_compile(code_->re, PCRE2_JIT_COMPLETE);
}

Regex::Regex(Regex&&) noexcept = default;
Regex& Regex::operator=(Regex&&) noexcept = default;
Regex::~Regex() = default;

namespace {

// Per-call matching state. A JIT stack is made only when the default 32 KiB machine stack
// proves too small (pathological inputs), so ordinary calls allocate nothing big.
struct MatchState {
    pcre2_match_data* md = nullptr;
    pcre2_match_context* ctx = nullptr;
    pcre2_jit_stack* stack = nullptr;

    explicit MatchState(const pcre2_code* re) : md(pcre2_match_data_create_from_pattern(re, nullptr)) {}
    ~MatchState() {
        pcre2_match_data_free(md);
        pcre2_match_context_free(ctx);
        pcre2_jit_stack_free(stack);
    }
    MatchState(const MatchState&) = delete;
    MatchState& operator=(const MatchState&) = delete;

    bool grow_stack() {
        if (stack) return false;
        ctx = pcre2_match_context_create(nullptr);
        stack = pcre2_jit_stack_create(64 * 1024, 256 * 1024 * 1024, nullptr);
        if (!ctx || !stack) return false;
        pcre2_jit_stack_assign(ctx, nullptr, stack);
        // The interpreter's heap limit (20 MB by default) gets the same generous bound.
        pcre2_set_heap_limit(ctx, 256 * 1024);
        return true;
    }
};

}  // namespace

std::vector<std::pair<size_t, size_t>> Regex::find_all(std::string_view text) const {
    std::vector<std::pair<size_t, size_t>> found;
    MatchState st(code_->re);
    if (!st.md) fail("{}: out of memory for regex match data", what_);
    const auto* subject = reinterpret_cast<PCRE2_SPTR>(text.data());

    // The `onig` crate's FindMatches: search from last_end; an empty match ending where the
    // previous match ended is skipped by stepping one character forward.
    size_t last_end = 0;
    std::optional<size_t> last_match_end;
    while (last_end <= text.size()) {
        // NO_UTF_CHECK: callers pass valid UTF-8 (Tokenizer repairs its input first).
        int rc = pcre2_match(code_->re, subject, text.size(), last_end, PCRE2_NO_UTF_CHECK, st.md, st.ctx);
        if ((rc == PCRE2_ERROR_JIT_STACKLIMIT || rc == PCRE2_ERROR_HEAPLIMIT) && st.grow_stack())
            rc = pcre2_match(code_->re, subject, text.size(), last_end, PCRE2_NO_UTF_CHECK, st.md, st.ctx);
        if (rc == PCRE2_ERROR_NOMATCH) break;
        if (rc < 0) {
            PCRE2_UCHAR msg[256];
            pcre2_get_error_message(rc, msg, sizeof msg);
            fail("{}: regex match failed at byte {} of a {}-byte piece: {}", what_, last_end, text.size(),
                 reinterpret_cast<const char*>(msg));
        }
        const PCRE2_SIZE* ov = pcre2_get_ovector_pointer(st.md);
        const size_t b = ov[0], e = ov[1];
        if (b == e && last_match_end == e) {
            last_end += last_end < text.size() ? next_utf8(text, last_end).len : 1;
            continue;
        }
        found.emplace_back(b, e);
        last_end = e;
        last_match_end = e;
    }
    return found;
}

void Regex::split_isolated(std::string_view text, std::vector<std::string_view>& out) const {
    size_t prev = 0;
    for (const auto& [b, e] : find_all(text)) {
        if (b > prev) out.push_back(text.substr(prev, b - prev));
        if (e > b) out.push_back(text.substr(b, e - b));
        prev = e;
    }
    if (prev < text.size()) out.push_back(text.substr(prev));
}

}  // namespace dlmscope::tok
