# Provides the `llama` target: an installed llama.cpp (find_package) or the pinned source tree.
# An installed llama.cpp ships shared libraries with an empty RUNPATH, and the linker drops the
# executable's direct need of libggml (llama-cpp-notes §1): DT_RUNPATH does not cover transitive
# dependencies, so use an old-style DT_RPATH pointing at the install's lib directory.
macro(keytok_use_installed_llama)
  message(STATUS "keytok: using installed llama.cpp ${LLAMA_VERSION} (${LLAMA_LIB_DIR})")
  if(LLAMA_LIB_DIR)
    list(APPEND CMAKE_BUILD_RPATH "${LLAMA_LIB_DIR}")
    list(APPEND CMAKE_INSTALL_RPATH "${LLAMA_LIB_DIR}")
    add_link_options(LINKER:--disable-new-dtags)
  endif()
endmacro()

if(KEYTOK_USE_SYSTEM_LLAMA)
  find_package(llama REQUIRED)
  keytok_use_installed_llama()
  return()
endif()

if(NOT EXISTS "${KEYTOK_LLAMA_SOURCE_DIR}/include/llama.h")
  find_package(llama QUIET)
  if(llama_FOUND)
    keytok_use_installed_llama()
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
