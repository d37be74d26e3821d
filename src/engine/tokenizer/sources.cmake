target_sources(dlmscope_engine PRIVATE
    src/engine/tokenizer/added-tokens.cpp
    src/engine/tokenizer/bpe.cpp
    src/engine/tokenizer/chat-template.cpp
    src/engine/tokenizer/json-node.cpp
    src/engine/tokenizer/pretokenize.cpp
    src/engine/tokenizer/regex.cpp
    src/engine/tokenizer/tokenizer.cpp
    src/engine/tokenizer/utf8.cpp
)
