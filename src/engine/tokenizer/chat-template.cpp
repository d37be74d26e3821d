// dlmscope engine: the chat templates of LLaDA-8B-Instruct and MMaDA (spec section 7.2, 7.3),
// rendered directly instead of through Jinja: one user message plus the generation prompt.
#include "core/error.h"
#include "engine/tokenizer/tokenizer-impl.h"
#include "engine/tokenizer/tokenizer.h"
#include "engine/tokenizer/utf8.h"

#include <algorithm>

namespace dlmscope {

namespace {

// Python's str.isspace(), which Jinja's `trim` filter (str.strip()) uses: the White_Space
// characters plus the ASCII information separators U+001C..U+001F.
bool is_python_space(char32_t c) {
    return (c >= 0x09 && c <= 0x0D) || (c >= 0x1C && c <= 0x20) || c == 0x85 || c == 0xA0 || c == 0x1680 ||
           (c >= 0x2000 && c <= 0x200A) || c == 0x2028 || c == 0x2029 || c == 0x202F || c == 0x205F || c == 0x3000;
}

std::string_view trim(std::string_view s) {
    // Forward scan over code points; remember where the last non-space ends.
    size_t begin = s.size(), end = 0;
    for (size_t pos = 0; pos < s.size();) {
        const tok::Utf8Step st = tok::next_utf8(s, pos);
        if (!st.valid || !is_python_space(st.cp)) {
            begin = std::min(begin, pos);
            end = pos + st.len;
        }
        pos += st.len;
    }
    return begin < end ? s.substr(begin, end - begin) : std::string_view();
}

}  // namespace

ChatTemplate parse_chat_template(std::string_view name) {
    if (name == "none") return ChatTemplate::none;
    if (name == "llada") return ChatTemplate::llada;
    if (name == "mmada") return ChatTemplate::mmada;
    if (name == "auto") return ChatTemplate::automatic;
    fail("unknown chat template '{}' (expected auto, none, llada or mmada)", name);
}

const char* chat_template_name(ChatTemplate t) {
    switch (t) {
        case ChatTemplate::none: return "none";
        case ChatTemplate::llada: return "llada";
        case ChatTemplate::mmada: return "mmada";
        case ChatTemplate::automatic: break;
    }
    return "auto";
}

std::string Tokenizer::apply_chat_template(std::string_view user_message, ChatTemplate tmpl) const {
    if (tmpl == ChatTemplate::none) return std::string(user_message);
    if (tmpl == ChatTemplate::automatic)
        fail("the chat template 'auto' follows the model's model_type; the tokenizer alone cannot resolve it");

    const char* bos = "<|startoftext|>";
    const char* start_header = "<|start_header_id|>";
    const char* end_header = "<|end_header_id|>";
    const char* eot = "<|eot_id|>";
    // Without these as tokens the rendered text would be tokenized as plain characters and the
    // model would see a prompt it was never trained on; better to stop here.
    for (const char* t : {bos, start_header, end_header, eot})
        if (!token_to_id(t))
            fail("{}: the {} chat template needs the token '{}', which this tokenizer lacks", impl_->file,
                 tmpl == ChatTemplate::llada ? "llada" : "mmada", t);

    // LLaDA-8B-Instruct puts "\n\n" after each header; MMaDA's generate.py override a single "\n".
    const char* nl = tmpl == ChatTemplate::llada ? "\n\n" : "\n";
    std::string out;
    out.reserve(user_message.size() + 128);
    out += bos;
    out += start_header, out += "user", out += end_header, out += nl;
    out += trim(user_message);
    out += eot;
    out += start_header, out += "assistant", out += end_header, out += nl;
    return out;
}

}  // namespace dlmscope
