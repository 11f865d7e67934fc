# tandem_add_subdirs(): add every immediate subdirectory that has a CMakeLists.txt.
# Lets each module own its own build file without a central list to keep in sync.
function(tandem_add_subdirs)
  file(GLOB children RELATIVE ${CMAKE_CURRENT_SOURCE_DIR} ${CMAKE_CURRENT_SOURCE_DIR}/*)
  list(SORT children)
  foreach(child ${children})
    if(IS_DIRECTORY ${CMAKE_CURRENT_SOURCE_DIR}/${child} AND EXISTS ${CMAKE_CURRENT_SOURCE_DIR}/${child}/CMakeLists.txt)
      add_subdirectory(${child})
    endif()
  endforeach()
endfunction()

# tandem_add_test(NAME name SOURCES ... LIBS ... [LABELS ...])
# One gtest executable registered with CTest. TANDEM_SOURCE_DIR lets tests find
# the repository (its test data in tests/data, the oracles in tests/tools);
# the model cache and the Python come from environment variables that
# scripts/test.sh may set (TANDEM_MODEL_DIR, TANDEM_PYTHON;
# tests/common/test_paths.h).
function(tandem_add_test)
  cmake_parse_arguments(T "" "NAME" "SOURCES;LIBS;LABELS" ${ARGN})
  add_executable(${T_NAME} ${T_SOURCES})
  target_link_libraries(${T_NAME} PRIVATE ${T_LIBS} GTest::gtest GTest::gmock GTest::gtest_main)
  target_compile_definitions(${T_NAME} PRIVATE TANDEM_SOURCE_DIR="${PROJECT_SOURCE_DIR}")
  gtest_discover_tests(${T_NAME} DISCOVERY_TIMEOUT 60 PROPERTIES LABELS "${T_LABELS}")
  # Per-label build targets (tests_unit, tests_model, ...; tests/CMakeLists.txt)
  # let the sanitizer stages build just the tests they run.
  foreach(label ${T_LABELS})
    set_property(GLOBAL APPEND PROPERTY TANDEM_TESTS_${label} ${T_NAME})
  endforeach()
endfunction()
