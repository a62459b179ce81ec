# `cmake --install`: what another project needs to build on keytok (docs/build.md, "Installing
# and using the library"):
#   include/keytok/*.hpp                    the public API (standard library only, no llama.h)
#   lib/libkeytok.a (or .so)                 static by default, shared with BUILD_SHARED_LIBS=ON
#   lib/keytok/                              the llama.cpp libraries bundled with it, see below
#   bin/keytok                               the CLI
#   lib/cmake/keytok/keytokConfig*.cmake     find_package(keytok CONFIG) -> keytok::keytok
#   lib/pkgconfig/keytok.pc                  pkg-config --cflags --libs [--static] keytok
#
# The package never points back into the source or build tree:
# - A static libkeytok needs llama.cpp at link time. The pinned subproject's archives are
#   installed into lib/keytok/ (a folder of keytok's own, so they never shadow a system
#   llama.cpp's libllama.a) and exported as keytok::llama, keytok::ggml, ... . A shared
#   libkeytok has them linked in and needs nothing of them.
# - The portable build's llama.cpp and ggml are shared: they go into lib/keytok/, and the CPU
#   variant modules next to bin/keytok, where ggml looks for them (the executable's folder).
# - With KEYTOK_USE_SYSTEM_LLAMA the package finds that llama.cpp again (find_dependency).
# What the static archives link against (fmt, NLopt, OpenSSL, Threads, OpenMP for ggml's CPU
# backend, ...) is read from the targets' link interfaces, not kept in a list here, so a
# backend that llama.cpp adds (CUDA) is covered too.
include(CMakePackageConfigHelpers)

set(KEYTOK_INSTALL_CMAKEDIR ${CMAKE_INSTALL_LIBDIR}/cmake/keytok)
set(KEYTOK_INSTALL_BUNDLEDIR ${CMAKE_INSTALL_LIBDIR}/keytok)

# ---------------------------------------------------------------------------------------------
# What linking a target pulls in.

# Depth-first over INTERFACE_LINK_LIBRARIES (a static library lists its private dependencies
# there as $<LINK_ONLY:...>). Results go to global properties; see keytok_link_closure.
function(_keytok_visit target)
  get_property(seen GLOBAL PROPERTY _keytok_seen)
  if(target IN_LIST seen)
    return()
  endif()
  set_property(GLOBAL APPEND PROPERTY _keytok_seen ${target})
  get_target_property(deps ${target} INTERFACE_LINK_LIBRARIES)
  if(NOT deps)
    set(deps "")
  endif()
  foreach(dep IN LISTS deps)
    if(dep MATCHES "^\\$<LINK_ONLY:(.+)>$")
      set(dep "${CMAKE_MATCH_1}")
    endif()
    if(dep MATCHES "^\\$<" OR dep STREQUAL "")
      continue()  # $<BUILD_INTERFACE:...>: build-only (header-only libraries)
    endif()
    if(dep MATCHES "^::@")
      continue()  # CMake's marker around items linked from another directory (ggml-rpc's)
    endif()
    if(TARGET ${dep})
      get_target_property(aliased ${dep} ALIASED_TARGET)
      if(aliased)
        set(dep ${aliased})
      endif()
      get_target_property(imported ${dep} IMPORTED)
    else()
      # An imported target of a subdirectory (ggml's OpenMP::OpenMP_C) is not visible here.
      set(imported OFF)
      if(dep MATCHES "::")
        set(imported ON)
      endif()
    endif()
    if(imported)
      set_property(GLOBAL APPEND PROPERTY _keytok_imported ${dep})
    elseif(TARGET ${dep})
      _keytok_visit(${dep})
    else()
      set_property(GLOBAL APPEND PROPERTY _keytok_plain ${dep})  # m, dl
    endif()
  endforeach()
  get_target_property(type ${target} TYPE)
  if(NOT type STREQUAL "INTERFACE_LIBRARY")
    set_property(GLOBAL APPEND PROPERTY _keytok_postorder ${target})
  endif()
endfunction()

# keytok_link_closure(TARGET PREFIX): everything a program that links TARGET links too, TARGET
# excluded. Sets in the caller's scope:
#   PREFIX_TARGETS   this project's library targets, each before the ones it needs (link order)
#   PREFIX_IMPORTED  imported targets of other packages (fmt::fmt, OpenMP::OpenMP_C, ...)
#   PREFIX_PLAIN     plain library names (m, dl)
function(keytok_link_closure target prefix)
  foreach(p seen imported plain postorder)
    set_property(GLOBAL PROPERTY _keytok_${p} "")
  endforeach()
  _keytok_visit(${target})
  get_property(order GLOBAL PROPERTY _keytok_postorder)
  list(REMOVE_ITEM order ${target})
  list(REVERSE order)
  get_property(imported GLOBAL PROPERTY _keytok_imported)
  get_property(plain GLOBAL PROPERTY _keytok_plain)
  list(REMOVE_DUPLICATES imported)
  list(REMOVE_DUPLICATES plain)
  set(${prefix}_TARGETS "${order}" PARENT_SCOPE)
  set(${prefix}_IMPORTED "${imported}" PARENT_SCOPE)
  set(${prefix}_PLAIN "${plain}" PARENT_SCOPE)
endfunction()

keytok_link_closure(keytok KEYTOK_LINK)

# The llama.cpp libraries installed with keytok: the archives a static libkeytok needs, and in a
# portable build the shared libraries it runs with whether libkeytok is static or shared.
set(KEYTOK_BUNDLED ${KEYTOK_LINK_TARGETS})
if(TARGET llama)
  get_target_property(_imported llama IMPORTED)
  if(NOT _imported)
    keytok_link_closure(llama _llama)
    foreach(t llama ${_llama_TARGETS})
      get_target_property(_type ${t} TYPE)
      if(_type STREQUAL "SHARED_LIBRARY")
        list(APPEND KEYTOK_BUNDLED ${t})
      endif()
    endforeach()
  endif()
endif()
list(REMOVE_DUPLICATES KEYTOK_BUNDLED)

# ---------------------------------------------------------------------------------------------
# Install rules.

install(DIRECTORY ${PROJECT_SOURCE_DIR}/include/keytok
  DESTINATION ${CMAKE_INSTALL_INCLUDEDIR} FILES_MATCHING PATTERN "*.hpp")

install(TARGETS keytok EXPORT keytokTargets
  ARCHIVE DESTINATION ${CMAKE_INSTALL_LIBDIR}
  LIBRARY DESTINATION ${CMAKE_INSTALL_LIBDIR}
  RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR})  # include/: $<INSTALL_INTERFACE> in src/

set(_has_shared_bundled OFF)
foreach(t IN LISTS KEYTOK_BUNDLED)
  # llama.cpp's own include paths point into its source tree, which an export rejects, and its
  # headers are not installed: the bundled targets carry none (libkeytok's users never include
  # llama.h). Their PUBLIC_HEADER lists would put llama.h and ggml.h into include/.
  get_target_property(_inc ${t} INTERFACE_INCLUDE_DIRECTORIES)
  if(_inc)
    list(TRANSFORM _inc REPLACE "^(.+)$" "$<BUILD_INTERFACE:\\1>")
    set_target_properties(${t} PROPERTIES INTERFACE_INCLUDE_DIRECTORIES "${_inc}")
  endif()
  set_target_properties(${t} PROPERTIES PUBLIC_HEADER "")
  get_target_property(_type ${t} TYPE)
  if(_type STREQUAL "SHARED_LIBRARY")
    set(_has_shared_bundled ON)
    set_target_properties(${t} PROPERTIES INSTALL_RPATH "$ORIGIN")  # libllama finds libggml
  endif()
endforeach()
if(KEYTOK_BUNDLED)
  install(TARGETS ${KEYTOK_BUNDLED} EXPORT keytokTargets
    ARCHIVE DESTINATION ${KEYTOK_INSTALL_BUNDLEDIR}
    LIBRARY DESTINATION ${KEYTOK_INSTALL_BUNDLEDIR})
endif()

# The CLI finds a shared libkeytok and the bundled shared libraries relative to itself, so the
# installed tree can be moved. (An installed llama.cpp's directory is already in the RPATH:
# cmake/KeytokLlama.cmake.)
file(RELATIVE_PATH _bin_to_lib "/p/${CMAKE_INSTALL_BINDIR}" "/p/${CMAKE_INSTALL_LIBDIR}")
if(KEYTOK_SHARED)
  set_property(TARGET keytok-cli APPEND PROPERTY INSTALL_RPATH "$ORIGIN/${_bin_to_lib}")
  if(_has_shared_bundled)
    set_property(TARGET keytok APPEND PROPERTY INSTALL_RPATH "$ORIGIN/keytok")
  endif()
endif()
if(_has_shared_bundled)
  set_property(TARGET keytok-cli APPEND PROPERTY INSTALL_RPATH "$ORIGIN/${_bin_to_lib}/keytok")
endif()
install(TARGETS keytok-cli RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR})

# Portable build: ggml loads the best CPU variant module from the executable's folder (and the
# working directory), so they go next to bin/keytok; the AMX variant stays out unless
# KEYTOK_AMX, as in the build tree (cmake/KeytokLlama.cmake).
if(KEYTOK_PORTABLE AND GGML_AVAILABLE_BACKENDS)
  set(_modules "")
  foreach(t IN LISTS GGML_AVAILABLE_BACKENDS)
    if(NOT TARGET ${t})
      continue()
    endif()
    get_target_property(_type ${t} TYPE)
    if(_type STREQUAL "MODULE_LIBRARY" AND (KEYTOK_AMX OR NOT t STREQUAL "ggml-cpu-sapphirerapids"))
      list(APPEND _modules ${t})
    endif()
  endforeach()
  set_target_properties(${_modules} PROPERTIES INSTALL_RPATH "$ORIGIN/${_bin_to_lib}/keytok")
  install(TARGETS ${_modules} LIBRARY DESTINATION ${CMAKE_INSTALL_BINDIR})
endif()

# ---------------------------------------------------------------------------------------------
# What the static archive's users need: find_dependency() lines for keytokConfig.cmake and the
# Requires.private / Libs.private of keytok.pc, one entry per package of KEYTOK_LINK_IMPORTED.
set(_packages "")
set(_pc_requires "")
set(_pc_libs "")
foreach(dep IN LISTS KEYTOK_LINK_IMPORTED)
  if(dep STREQUAL "fmt::fmt")
    set(_pkg "fmt")
    list(APPEND _pc_requires fmt)
  elseif(dep STREQUAL "NLopt::nlopt")
    set(_pkg "NLopt")
    list(APPEND _pc_requires nlopt)
  elseif(dep STREQUAL "OpenSSL::Crypto")
    set(_pkg "OpenSSL COMPONENTS Crypto")
    list(APPEND _pc_requires libcrypto)
  elseif(dep STREQUAL "Threads::Threads")
    set(_pkg "Threads")
    list(APPEND _pc_libs -pthread)
  elseif(dep MATCHES "^OpenMP::")
    set(_pkg "OpenMP")
    set(_flags "$CACHE{OpenMP_CXX_FLAGS}")
    if(NOT _flags)
      set(_flags -fopenmp)
    endif()
    list(APPEND _pc_libs ${_flags})
  elseif(dep MATCHES "^CUDA::")
    set(_pkg "CUDAToolkit")
    message(WARNING "keytok: keytok.pc does not list the CUDA libraries for a static link; "
      "link through find_package(keytok) instead")
  elseif(dep STREQUAL "llama" OR dep MATCHES "^ggml::")
    set(_pkg "llama")
    list(APPEND _pc_requires llama)
  else()
    message(FATAL_ERROR "keytok: libkeytok links ${dep}, and cmake/KeytokInstall.cmake does not "
      "know which package provides it.\nHINT: add it to the list there")
  endif()
  list(APPEND _packages "${_pkg}")
endforeach()
list(REMOVE_DUPLICATES _packages)
list(REMOVE_DUPLICATES _pc_requires)

set(KEYTOK_CONFIG_DEPENDENCIES "")
foreach(_pkg IN LISTS _packages)
  string(APPEND KEYTOK_CONFIG_DEPENDENCIES "find_dependency(${_pkg})\n")
endforeach()
if("OpenMP" IN_LIST _packages)
  # ggml links OpenMP::OpenMP_C and _CXX; FindOpenMP only makes the target of a language the
  # consumer enabled, and a C++-only project has no C. Both stand for the same runtime.
  string(APPEND KEYTOK_CONFIG_DEPENDENCIES [[
if(TARGET OpenMP::OpenMP_CXX AND NOT TARGET OpenMP::OpenMP_C)
  add_library(OpenMP::OpenMP_C INTERFACE IMPORTED)
  set_property(TARGET OpenMP::OpenMP_C PROPERTY INTERFACE_LINK_LIBRARIES OpenMP::OpenMP_CXX)
endif()
]])
endif()

configure_package_config_file(${PROJECT_SOURCE_DIR}/cmake/keytokConfig.cmake.in
  ${CMAKE_CURRENT_BINARY_DIR}/keytokConfig.cmake INSTALL_DESTINATION ${KEYTOK_INSTALL_CMAKEDIR})
# 0.x: a minor release may change the API.
write_basic_package_version_file(${CMAKE_CURRENT_BINARY_DIR}/keytokConfigVersion.cmake
  COMPATIBILITY SameMinorVersion)
install(EXPORT keytokTargets NAMESPACE keytok:: DESTINATION ${KEYTOK_INSTALL_CMAKEDIR})
install(FILES ${CMAKE_CURRENT_BINARY_DIR}/keytokConfig.cmake
  ${CMAKE_CURRENT_BINARY_DIR}/keytokConfigVersion.cmake DESTINATION ${KEYTOK_INSTALL_CMAKEDIR})

# keytok.pc. Its prefix is found from the file's own place (${pcfiledir}), so a staged or moved
# install works as well as the configured prefix.
if(IS_ABSOLUTE "${CMAKE_INSTALL_LIBDIR}")
  set(KEYTOK_PC_PREFIX "${CMAKE_INSTALL_PREFIX}")
  set(KEYTOK_PC_LIBDIR "${CMAKE_INSTALL_LIBDIR}")
else()
  file(RELATIVE_PATH _up "/p/${CMAKE_INSTALL_LIBDIR}/pkgconfig" "/p")
  string(REGEX REPLACE "/$" "" _up "${_up}")
  set(KEYTOK_PC_PREFIX "\${pcfiledir}/${_up}")
  set(KEYTOK_PC_LIBDIR "\${prefix}/${CMAKE_INSTALL_LIBDIR}")
endif()
if(IS_ABSOLUTE "${CMAKE_INSTALL_INCLUDEDIR}")
  set(KEYTOK_PC_INCLUDEDIR "${CMAKE_INSTALL_INCLUDEDIR}")
else()
  set(KEYTOK_PC_INCLUDEDIR "\${prefix}/${CMAKE_INSTALL_INCLUDEDIR}")
endif()
# The bundled libraries in link order, then plain system libraries; a bundled shared library
# (portable build) also needs a run path.
set(_pc_bundled "")
foreach(t IN LISTS KEYTOK_LINK_TARGETS)
  get_target_property(_name ${t} OUTPUT_NAME)
  if(NOT _name)
    set(_name ${t})
  endif()
  list(APPEND _pc_bundled "-l${_name}")
endforeach()
if(_pc_bundled)
  set(_dir "\${libdir}/keytok")
  list(PREPEND _pc_bundled "-L${_dir}")
  if(_has_shared_bundled)
    list(APPEND _pc_bundled "-Wl,-rpath,${_dir}")
  endif()
endif()
set(_pc_plain "")
foreach(lib IN LISTS KEYTOK_LINK_PLAIN)
  if(lib MATCHES "^-" OR IS_ABSOLUTE "${lib}")
    list(APPEND _pc_plain "${lib}")  # a flag or a full path as it is
  else()
    list(APPEND _pc_plain "-l${lib}")
  endif()
endforeach()
list(REMOVE_DUPLICATES _pc_libs)
list(JOIN _pc_requires " " KEYTOK_PC_REQUIRES_PRIVATE)
string(JOIN " " KEYTOK_PC_LIBS_PRIVATE ${_pc_bundled} ${_pc_libs} ${_pc_plain})
configure_file(${PROJECT_SOURCE_DIR}/cmake/keytok.pc.in ${CMAKE_CURRENT_BINARY_DIR}/keytok.pc @ONLY)
install(FILES ${CMAKE_CURRENT_BINARY_DIR}/keytok.pc DESTINATION ${CMAKE_INSTALL_LIBDIR}/pkgconfig)
