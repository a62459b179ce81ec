# Embeds the web viewer's static files (web/*.html, *.js, *.css) into the server
# (tools/server/web_assets.cpp includes the generated web_assets.inc), so the page works offline
# and needs no install step. `keytok serve --web-dir web` serves them from disk instead.
file(GLOB _web_files CONFIGURE_DEPENDS ${PROJECT_SOURCE_DIR}/web/*.html ${PROJECT_SOURCE_DIR}/web/*.js
  ${PROJECT_SOURCE_DIR}/web/*.css)
list(SORT _web_files)
set(_web_inc "// Generated from web/ by cmake/KeytokWeb.cmake; do not edit.\n")
foreach(_f ${_web_files})
  set_property(DIRECTORY APPEND PROPERTY CMAKE_CONFIGURE_DEPENDS ${_f})
  get_filename_component(_name ${_f} NAME)
  get_filename_component(_ext ${_f} LAST_EXT)
  if(_ext STREQUAL ".html")
    set(_type "text/html; charset=utf-8")
  elseif(_ext STREQUAL ".js")
    set(_type "text/javascript; charset=utf-8")
  else()
    set(_type "text/css; charset=utf-8")
  endif()
  file(READ ${_f} _body)
  if(_body MATCHES "\\)keytok_web\"")
    message(FATAL_ERROR "keytok: ${_f} contains the raw-string delimiter )keytok_web\"")
  endif()
  string(APPEND _web_inc "{\"${_name}\", \"${_type}\", R\"keytok_web(${_body})keytok_web\"},\n")
endforeach()
file(WRITE ${CMAKE_BINARY_DIR}/generated/web_assets.inc.tmp "${_web_inc}")
file(COPY_FILE ${CMAKE_BINARY_DIR}/generated/web_assets.inc.tmp ${CMAKE_BINARY_DIR}/generated/web_assets.inc
  ONLY_IF_DIFFERENT)
