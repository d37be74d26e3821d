dlmscope_add_test(NAME test-parity SOURCES parity/test-parity.cpp LABELS parity)
