# One function per artefact kind.

# keytok_add_test(NAME LABELS l... SOURCES s... [LIBS lib...])
# Builds a GoogleTest binary and registers each TEST with CTest under the given labels.
function(keytok_add_test name)
  cmake_parse_arguments(ARG "" "" "LABELS;SOURCES;LIBS" ${ARGN})
  add_executable(${name} ${ARG_SOURCES})
  target_link_libraries(${name} PRIVATE keytok::keytok GTest::gtest GTest::gtest_main ${ARG_LIBS})
  target_include_directories(${name} PRIVATE ${PROJECT_SOURCE_DIR}/src ${PROJECT_SOURCE_DIR}/tests)
  target_compile_definitions(${name} PRIVATE
    KEYTOK_SOURCE_DIR="${PROJECT_SOURCE_DIR}" KEYTOK_BINARY_DIR="${CMAKE_BINARY_DIR}")
  keytok_set_warnings(${name})
  # Tests keep keytok's cache (model identities, automatic calibrations) inside the build tree:
  # a fresh build starts from nothing, as a new user does, and never touches ~/.cache/keytok.
  # NO_PRETTY_VALUES: every INSTANTIATE_TEST_SUITE_P names its cases (".../smollm2"); without it
  # CMake appends gtest's "# GetParam() = ..." comment to such names.
  gtest_discover_tests(${name} DISCOVERY_TIMEOUT 60 NO_PRETTY_VALUES
    PROPERTIES LABELS "${ARG_LABELS}" ENVIRONMENT "KEYTOK_CACHE=${CMAKE_BINARY_DIR}/test-cache")
endfunction()

# keytok_add_bench(NAME SOURCES s... [LIBS lib...]): a benchmark driver; built, never run by CTest.
function(keytok_add_bench name)
  cmake_parse_arguments(ARG "" "" "SOURCES;LIBS" ${ARGN})
  add_executable(${name} ${ARG_SOURCES})
  target_link_libraries(${name} PRIVATE keytok::keytok ${ARG_LIBS})
  target_include_directories(${name} PRIVATE ${PROJECT_SOURCE_DIR}/src)
  keytok_set_warnings(${name})
endfunction()
