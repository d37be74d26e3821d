dlmscope_add_test(NAME test-tokenizer SOURCES unit/test-tokenizer.cpp LABELS unit)
dlmscope_add_test(NAME test-checkpoint SOURCES unit/test-checkpoint.cpp LABELS unit)
dlmscope_add_test(NAME test-capture SOURCES unit/test-capture.cpp LABELS unit LIBS dlmscope_capture)
