#include "engine/tokenizer/utf8.h"

#include <array>

namespace dlmscope::tok {

// ---- UTF-8 --------------------------------------------------------------------------------

Utf8Step next_utf8(std::string_view s, size_t pos) {
    const auto byte = [&](size_t i) { return static_cast<uint8_t>(s[i]); };
    const uint8_t b0 = byte(pos);
    if (b0 < 0x80) return {b0, 1, true};

    // Allowed range of the second byte and the total length, per the Unicode table of
    // well-formed sequences (Table 3-7). This rejects overlongs (C0, C1, E0 80..9F, F0 80..8F),
    // surrogates (ED A0..BF) and code points above U+10FFFF (F4 90.., F5..FF).
    size_t need = 0;
    uint8_t lo = 0x80, hi = 0xBF;
    char32_t cp = 0;
    if (b0 >= 0xC2 && b0 <= 0xDF) {
        need = 2, cp = b0 & 0x1F;
    } else if (b0 >= 0xE0 && b0 <= 0xEF) {
        need = 3, cp = b0 & 0x0F;
        if (b0 == 0xE0) lo = 0xA0;
        if (b0 == 0xED) hi = 0x9F;
    } else if (b0 >= 0xF0 && b0 <= 0xF4) {
        need = 4, cp = b0 & 0x07;
        if (b0 == 0xF0) lo = 0x90;
        if (b0 == 0xF4) hi = 0x8F;
    } else {
        return {0, 1, false};  // stray continuation byte or a byte that never starts a sequence
    }

    size_t len = 1;
    while (len < need) {
        if (pos + len >= s.size()) return {0, len, false};  // truncated
        const uint8_t b = byte(pos + len);
        if (b < lo || b > hi) return {0, len, false};
        cp = (cp << 6) | (b & 0x3F);
        lo = 0x80, hi = 0xBF;  // only the second byte has a narrowed range
        ++len;
    }
    return {cp, len, true};
}

void append_utf8(std::string& out, char32_t cp) {
    if (cp < 0x80) {
        out += static_cast<char>(cp);
    } else if (cp < 0x800) {
        out += static_cast<char>(0xC0 | (cp >> 6));
        out += static_cast<char>(0x80 | (cp & 0x3F));
    } else if (cp < 0x10000) {
        out += static_cast<char>(0xE0 | (cp >> 12));
        out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
        out += static_cast<char>(0x80 | (cp & 0x3F));
    } else {
        out += static_cast<char>(0xF0 | (cp >> 18));
        out += static_cast<char>(0x80 | ((cp >> 12) & 0x3F));
        out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
        out += static_cast<char>(0x80 | (cp & 0x3F));
    }
}

bool is_valid_utf8(std::string_view s) {
    for (size_t pos = 0; pos < s.size();) {
        const Utf8Step st = next_utf8(s, pos);
        if (!st.valid) return false;
        pos += st.len;
    }
    return true;
}

std::string utf8_lossy(std::string_view bytes) {
    std::string out;
    out.reserve(bytes.size());
    for (size_t pos = 0; pos < bytes.size();) {
        const Utf8Step st = next_utf8(bytes, pos);
        if (st.valid)
            out.append(bytes.substr(pos, st.len));
        else
            out += "\xEF\xBF\xBD";  // U+FFFD
        pos += st.len;
    }
    return out;
}

// ---- GPT-2 byte-level alphabet ------------------------------------------------------------

namespace {

// Printable bytes ('!'..'~', '¡'..'¬', '®'..'ÿ') stand for themselves; the other 68 bytes, in
// increasing order, are shifted to U+0100, U+0101, ... (GPT-2 encoder.py bytes_to_unicode).
struct ByteTables {
    std::array<char32_t, 256> to_char{};
    std::array<int16_t, 0x200> to_byte{};  // every alphabet character is below U+0144

    ByteTables() {
        to_byte.fill(-1);
        char32_t shifted = 0x100;
        for (int b = 0; b < 256; ++b) {
            const bool printable = (b >= 0x21 && b <= 0x7E) || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE && b <= 0xFF);
            const char32_t c = printable ? static_cast<char32_t>(b) : shifted++;
            to_char[b] = c;
            to_byte[c] = static_cast<int16_t>(b);
        }
    }
};

const ByteTables& tables() {
    static const ByteTables t;
    return t;
}

}  // namespace

char32_t byte_char(uint8_t b) { return tables().to_char[b]; }

int char_byte(char32_t c) { return c < tables().to_byte.size() ? tables().to_byte[c] : -1; }

std::string to_byte_level(std::string_view bytes) {
    std::string out;
    out.reserve(bytes.size() * 2);
    for (char ch : bytes) append_utf8(out, byte_char(static_cast<uint8_t>(ch)));
    return out;
}

std::optional<std::string> from_byte_level(std::string_view token) {
    std::string out;
    out.reserve(token.size());
    for (size_t pos = 0; pos < token.size();) {
        const Utf8Step st = next_utf8(token, pos);
        const int b = st.valid ? char_byte(st.cp) : -1;
        if (b < 0) return std::nullopt;
        out += static_cast<char>(b);
        pos += st.len;
    }
    return out;
}

}  // namespace dlmscope::tok
