// dlmscope tokenizer (internal): UTF-8 decoding, lossy repair, GPT-2 byte-level alphabet.
// No stability guarantee.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace dlmscope::tok {

// One step of UTF-8 decoding at s[pos]. For a valid sequence: its code point and length.
// For an invalid one: valid = false and len = the "maximal subpart" (the lead byte plus the
// continuation bytes that were still acceptable), the unit that gets one U+FFFD.
struct Utf8Step {
    char32_t cp = 0;
    size_t len = 1;
    bool valid = false;
};
Utf8Step next_utf8(std::string_view s, size_t pos);

// Appends the UTF-8 encoding of a code point (must be a Unicode scalar value).
void append_utf8(std::string& out, char32_t cp);

bool is_valid_utf8(std::string_view s);

// Bytes -> UTF-8 exactly like Rust's String::from_utf8_lossy, which the Hugging Face decoder
// uses: each maximal invalid subpart becomes one U+FFFD.
std::string utf8_lossy(std::string_view bytes);

// GPT-2 bytes_to_unicode: byte b is spelled as code point byte_char(b) in vocab strings, so
// that every token is printable text ("Ġ" = space 0x20, "Ċ" = newline 0x0A).
char32_t byte_char(uint8_t b);
// The inverse: the byte a vocab character stands for, or -1 for characters outside the alphabet.
int char_byte(char32_t c);

// Raw bytes -> vocab spelling ("a b" -> "aĠb").
std::string to_byte_level(std::string_view bytes);
// Vocab spelling -> raw bytes; nullopt when any character is outside the byte alphabet.
std::optional<std::string> from_byte_level(std::string_view token);

}  // namespace dlmscope::tok
