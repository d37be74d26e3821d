// dlmscope tokenizer (internal): the pre-tokenizer regexes, run with PCRE2 but with the
// semantics of Oniguruma, the engine the Hugging Face `tokenizers` library uses.
//
// Differences that matter for tokenizer patterns, and how they are bridged:
//   \s, \S   Oniguruma: the Unicode White_Space property. PCRE2 (UCP) adds U+180E MONGOLIAN
//            VOWEL SEPARATOR (a format character since Unicode 6.3). Both are rewritten to an
//            explicit class before compiling (translate_oniguruma).
//   find_iter  empty matches are skipped when they touch the previous match (the `onig` crate's
//            FindMatches); find_all reproduces that loop.
//   Unicode  PCRE2 10.42 knows Unicode 14; newer Oniguruma builds know 15.x, so letters assigned
//            after Unicode 14 (e.g. CJK Extension H) count as \p{L} there and not here.
// No stability guarantee.
#pragma once

#include <cstddef>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace dlmscope::tok {

// Rewrites Oniguruma-only syntax into PCRE2 syntax with the same meaning (see above).
// Throws Error for constructs whose meaning differs and cannot be rewritten (nested classes).
std::string translate_oniguruma(std::string_view pattern);

class Regex {
public:
    // Compiles an Oniguruma-style pattern (UTF-8, Unicode properties); `what` names it in errors.
    Regex(std::string_view pattern, const std::string& what);
    Regex(Regex&&) noexcept;
    Regex& operator=(Regex&&) noexcept;
    ~Regex();

    // All matches in `text` (valid UTF-8) as byte ranges [begin, end), left to right, exactly
    // as the `onig` crate's find_iter reports them.
    std::vector<std::pair<size_t, size_t>> find_all(std::string_view text) const;

    // Cuts text into pieces at every match, keeping matches and the gaps between them as
    // pieces of their own (the library's SplitDelimiterBehavior::Isolated); empty pieces dropped.
    void split_isolated(std::string_view text, std::vector<std::string_view>& out) const;

private:
    struct Code;
    std::unique_ptr<Code> code_;
    std::string what_;
};

}  // namespace dlmscope::tok
