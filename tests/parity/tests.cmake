dlmscope_add_test(NAME test-parity SOURCES parity/test-parity.cpp LABELS parity)
dlmscope_add_test(NAME test-precision SOURCES parity/test-precision.cpp LABELS parity LIBS dlmscope_capture)
dlmscope_add_test(NAME test-fast-dllm SOURCES parity/test-fast-dllm.cpp LABELS parity)
