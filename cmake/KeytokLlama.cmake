# Provides the `llama` target: an installed llama.cpp (find_package) or the pinned source tree.
if(KEYTOK_USE_SYSTEM_LLAMA)
  find_package(llama REQUIRED)
  message(STATUS "keytok: using installed llama.cpp ${LLAMA_VERSION}")
  return()
endif()

if(NOT EXISTS "${KEYTOK_LLAMA_SOURCE_DIR}/include/llama.h")
  find_package(llama QUIET)
  if(llama_FOUND)
    message(STATUS "keytok: no pinned tree; using installed llama.cpp ${LLAMA_VERSION}")
    return()
  endif()
  message(FATAL_ERROR
    "keytok: llama.cpp not found at ${KEYTOK_LLAMA_SOURCE_DIR}.\n"
    "HINT: run scripts/fetch_llama.sh, pass -DKEYTOK_LLAMA_SOURCE_DIR=<checkout>, "
    "or install llama.cpp and pass -DKEYTOK_USE_SYSTEM_LLAMA=ON")
endif()

# The subproject is built static so the keytok binary has no RUNPATH puzzles (llama-cpp-notes §1).
set(BUILD_SHARED_LIBS OFF CACHE BOOL "" FORCE)
set(LLAMA_BUILD_TESTS OFF CACHE BOOL "" FORCE)
set(LLAMA_BUILD_EXAMPLES OFF CACHE BOOL "" FORCE)
set(LLAMA_BUILD_SERVER OFF CACHE BOOL "" FORCE)
set(LLAMA_BUILD_APP OFF CACHE BOOL "" FORCE)
set(LLAMA_BUILD_COMMON ${KEYTOK_LLAMA_TOOLS} CACHE BOOL "" FORCE)
set(LLAMA_BUILD_TOOLS ${KEYTOK_LLAMA_TOOLS} CACHE BOOL "" FORCE)
set(LLAMA_OPENSSL OFF CACHE BOOL "" FORCE)
set(LLAMA_USE_PREBUILT_UI OFF CACHE BOOL "" FORCE)
set(GGML_NATIVE ${KEYTOK_NATIVE} CACHE BOOL "" FORCE)
set(GGML_CUDA ${KEYTOK_CUDA} CACHE BOOL "" FORCE)
set(GGML_CCACHE OFF CACHE BOOL "" FORCE)  # keytok sets the launcher itself
# EXCLUDE_FROM_ALL: only what keytok links (and llama-batched-bench when asked) gets built.
add_subdirectory(${KEYTOK_LLAMA_SOURCE_DIR} ${CMAKE_BINARY_DIR}/llama.cpp EXCLUDE_FROM_ALL SYSTEM)
