# Runs that are read back by scripts: numpy alone reads a captured run, and crash safety.
add_test(NAME python.run-read-by-numpy
    COMMAND /usr/bin/python3 ${CMAKE_CURRENT_SOURCE_DIR}/python/test_run_numpy.py $<TARGET_FILE:dlmscope>
            ${PROJECT_SOURCE_DIR}/tests/fixtures/mmada-tiny/checkpoint ${CMAKE_CURRENT_BINARY_DIR}/python-run)
set_tests_properties(python.run-read-by-numpy PROPERTIES LABELS "cli" PASS_REGULAR_EXPRESSION "[0-9]+ passed, 0 failed")
add_test(NAME cli.crash-safety
    COMMAND bash ${CMAKE_CURRENT_SOURCE_DIR}/cli/crash-safety.sh $<TARGET_FILE:dlmscope>
            ${PROJECT_SOURCE_DIR}/tests/fixtures/mmada-tiny/checkpoint ${CMAKE_CURRENT_BINARY_DIR}/crash-safety)
set_tests_properties(cli.crash-safety PROPERTIES LABELS "cli" TIMEOUT 300)
