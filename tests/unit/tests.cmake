dlmscope_add_test(NAME test-tokenizer SOURCES unit/test-tokenizer.cpp LABELS unit)
