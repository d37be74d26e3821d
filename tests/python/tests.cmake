# Runs that are read back by scripts: numpy alone reads a captured run, and crash safety.
add_test(NAME python.run-read-by-numpy
    COMMAND /usr/bin/python3 ${CMAKE_CURRENT_SOURCE_DIR}/python/test_run_numpy.py $<TARGET_FILE:dlmscope>
            ${PROJECT_SOURCE_DIR}/tests/fixtures/mmada-tiny/checkpoint ${CMAKE_CURRENT_BINARY_DIR}/python-run)
set_tests_properties(python.run-read-by-numpy PROPERTIES LABELS "cli" PASS_REGULAR_EXPRESSION "[0-9]+ passed, 0 failed")
add_test(NAME cli.crash-safety
    COMMAND bash ${CMAKE_CURRENT_SOURCE_DIR}/cli/crash-safety.sh $<TARGET_FILE:dlmscope>
            ${PROJECT_SOURCE_DIR}/tests/fixtures/mmada-tiny/checkpoint ${CMAKE_CURRENT_BINARY_DIR}/crash-safety)
set_tests_properties(cli.crash-safety PROPERTIES LABELS "cli" TIMEOUT 300)

# The Python package (python/): pytest over tests/python/api, with the module from this build and the
# bundled default model ($DLMSCOPE_MODEL cleared so the seed's examples see what a fresh clone sees).
if(TARGET dlmscope_python)
    add_test(NAME python.pytest
        COMMAND ${Python_EXECUTABLE} -m pytest ${CMAKE_CURRENT_SOURCE_DIR}/python/api -q -p no:cacheprovider
            --basetemp=${CMAKE_CURRENT_BINARY_DIR}/pytest-tmp)
    set_tests_properties(python.pytest PROPERTIES LABELS "cli" TIMEOUT 900
        ENVIRONMENT "PYTHONPATH=${CMAKE_BINARY_DIR}/python;DLMSCOPE_CLI=$<TARGET_FILE:dlmscope>;DLMSCOPE_MODEL=")
    # find_package(dlmscope) from an installed prefix, and the Python package in a virtual environment.
    add_test(NAME api.install-and-consume
        COMMAND bash ${PROJECT_SOURCE_DIR}/tests/api/install.sh ${PROJECT_SOURCE_DIR} ${CMAKE_BINARY_DIR}
            ${CMAKE_CURRENT_BINARY_DIR}/install-work)
    set_tests_properties(api.install-and-consume PROPERTIES LABELS "cli" TIMEOUT 600)
endif()
