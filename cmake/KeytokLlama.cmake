# Provides the `llama` target: an installed llama.cpp (find_package) or the pinned source tree.
# An installed llama.cpp ships shared libraries with an empty RUNPATH, and the linker drops the
# executable's direct need of libggml (docs/llama-cpp-notes.md §1): DT_RUNPATH does not cover transitive
# dependencies, so use an old-style DT_RPATH pointing at the install's lib directory.
macro(keytok_use_installed_llama)
  message(STATUS "keytok: using installed llama.cpp ${LLAMA_VERSION} (${LLAMA_LIB_DIR})")
  set(KEYTOK_CPU_BUILD "as the installed llama.cpp was built")
  set(KEYTOK_LLAMA_PIN "installed llama.cpp ${LLAMA_VERSION} (${LLAMA_LIB_DIR})")
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

# CPU code generation (docs/build.md):
# - KEYTOK_NATIVE (default): one static ggml-cpu for this CPU (-march=native), with AMX switched
#   off. The pinned llama.cpp's AMX path crashes on CPUs that advertise AMX (Sapphire Rapids and
#   later: SIGILL at `tilezero`, or SIGSEGV in ggml_backend_amx_mul_mat, at the first decode):
#   it asks the kernel for tile-data permission on one thread only (open upstream PR
#   "ggml-cpu/amx: request XFD XTILEDATA permission per thread"). Explicit -mno-amx-* flags win
#   over -march=native whatever their order (docs/llama-cpp-notes.md, 2026-11-30).
# - KEYTOK_PORTABLE: llama.cpp's release-binary scheme. Shared libraries, every x86-64 variant of
#   ggml-cpu built as a module (x64 ... zen4), and the best one the CPU supports loaded at run
#   time from the executable's directory. The AMX variant (sapphirerapids) is built but left out
#   of that directory unless KEYTOK_AMX, so it can never be picked.
# - Neither: ggml's generic x86-64 build (AVX2/FMA/F16C, no -march=native).
# BUILD_SHARED_LIBS is set as a normal variable, which shadows the user's cache entry for the
# subproject only: it is put back after add_subdirectory, and libkeytok's own type comes from
# KEYTOK_SHARED (the user's choice, read in the top-level CMakeLists.txt).
if(KEYTOK_PORTABLE)
  set(BUILD_SHARED_LIBS ON)
  set(GGML_BACKEND_DL ON CACHE BOOL "" FORCE)
  set(GGML_CPU_ALL_VARIANTS ON CACHE BOOL "" FORCE)
  set(GGML_NATIVE OFF CACHE BOOL "" FORCE)
  set(KEYTOK_CPU_BUILD "portable (all CPU variants, picked at run time)")
else()
  # Static, so the keytok binary has no RUNPATH puzzles (docs/llama-cpp-notes.md §1).
  set(BUILD_SHARED_LIBS OFF)
  if(KEYTOK_SHARED)
    # A shared libkeytok links these archives into itself: their objects must be
    # position-independent (Debian's default -fPIE is not enough for a shared object).
    set(CMAKE_POSITION_INDEPENDENT_CODE ON)
  endif()
  set(GGML_BACKEND_DL OFF CACHE BOOL "" FORCE)
  set(GGML_CPU_ALL_VARIANTS OFF CACHE BOOL "" FORCE)
  set(GGML_NATIVE ${KEYTOK_NATIVE} CACHE BOOL "" FORCE)
  if(KEYTOK_NATIVE)
    set(KEYTOK_CPU_BUILD "native")
  else()
    set(KEYTOK_CPU_BUILD "generic x86-64 (AVX2)")
  endif()
endif()
if(KEYTOK_AMX)
  string(APPEND KEYTOK_CPU_BUILD ", AMX allowed")
else()
  string(APPEND KEYTOK_CPU_BUILD ", AMX off")
endif()
set(LLAMA_BUILD_TESTS OFF CACHE BOOL "" FORCE)
set(LLAMA_BUILD_EXAMPLES OFF CACHE BOOL "" FORCE)
# llama-server only as a benchmark anchor (bench/server_bench.py); its web UI is not fetched.
if(KEYTOK_LLAMA_SERVER AND KEYTOK_LLAMA_TOOLS)
  set(LLAMA_BUILD_SERVER ON CACHE BOOL "" FORCE)
else()
  set(LLAMA_BUILD_SERVER OFF CACHE BOOL "" FORCE)
endif()
set(LLAMA_BUILD_APP OFF CACHE BOOL "" FORCE)
set(LLAMA_BUILD_COMMON ${KEYTOK_LLAMA_TOOLS} CACHE BOOL "" FORCE)
set(LLAMA_BUILD_TOOLS ${KEYTOK_LLAMA_TOOLS} CACHE BOOL "" FORCE)
set(LLAMA_OPENSSL OFF CACHE BOOL "" FORCE)
set(LLAMA_USE_PREBUILT_UI OFF CACHE BOOL "" FORCE)
set(GGML_CUDA ${KEYTOK_CUDA} CACHE BOOL "" FORCE)
# --rpc HOST:PORT (docs/scale-out.md): the RPC backend inside ggml, and ggml-rpc-server among
# the tools (built on demand: tests/CMakeLists.txt asks for it).
set(GGML_RPC ${KEYTOK_RPC} CACHE BOOL "" FORCE)
set(GGML_CCACHE OFF CACHE BOOL "" FORCE)  # keytok sets the launcher itself
# EXCLUDE_FROM_ALL: only what keytok links (and llama-batched-bench when asked) gets built.
add_subdirectory(${KEYTOK_LLAMA_SOURCE_DIR} ${CMAKE_BINARY_DIR}/llama.cpp EXCLUDE_FROM_ALL SYSTEM)
set(BUILD_SHARED_LIBS ${KEYTOK_SHARED})

if(NOT KEYTOK_AMX)
  if(KEYTOK_PORTABLE)
    if(TARGET ggml-cpu-sapphirerapids)
      set_target_properties(ggml-cpu-sapphirerapids PROPERTIES
        LIBRARY_OUTPUT_DIRECTORY ${CMAKE_BINARY_DIR}/ggml-cpu-not-loaded)
    endif()
  elseif(KEYTOK_NATIVE AND TARGET ggml-cpu AND CMAKE_SYSTEM_PROCESSOR MATCHES "x86_64|AMD64|amd64"
         AND NOT MSVC)
    target_compile_options(ggml-cpu PRIVATE -mno-amx-tile -mno-amx-int8 -mno-amx-bf16)
  endif()
endif()

# Where the pinned source came from, for `keytok --version` (written by scripts/fetch_llama.sh).
set(KEYTOK_LLAMA_PIN "llama.cpp source at ${KEYTOK_LLAMA_SOURCE_DIR}")
if(EXISTS "${KEYTOK_LLAMA_SOURCE_DIR}/.keytok-pin")
  file(READ "${KEYTOK_LLAMA_SOURCE_DIR}/.keytok-pin" _pin)
  string(REGEX MATCH "^[^ ]+ [^ ]+" KEYTOK_LLAMA_PIN "${_pin}")
  string(APPEND KEYTOK_LLAMA_PIN " sdist")
endif()
