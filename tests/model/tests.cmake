# The bundled default model (label "slow"): it has learned English and it is generate's default.
if(DLMSCOPE_BUILD_TOOLS)
    add_test(NAME model.default-quality
        COMMAND /usr/bin/python3 ${CMAKE_CURRENT_SOURCE_DIR}/model/test_default_model.py $<TARGET_FILE:dlmscope>
                $<TARGET_FILE:dlmscope-eval-model> ${PROJECT_SOURCE_DIR}/models/mmada-fortunes
                ${PROJECT_SOURCE_DIR}/models/mmada-tiny-random ${CMAKE_CURRENT_BINARY_DIR}/model-quality)
    set_tests_properties(model.default-quality PROPERTIES LABELS "slow" TIMEOUT 600
        PASS_REGULAR_EXPRESSION "[0-9]+ passed, 0 failed")
endif()
