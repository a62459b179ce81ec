# Embeds data/calibration_prompts.jsonl into the library (src/calibration/calibration_prompts.cpp
# includes the generated calibration_prompts.inc), with its sha256 as the set's identity.
set(_prompts ${PROJECT_SOURCE_DIR}/data/calibration_prompts.jsonl)
set_property(DIRECTORY APPEND PROPERTY CMAKE_CONFIGURE_DEPENDS ${_prompts})
file(READ ${_prompts} _body)
file(SHA256 ${_prompts} _sha)
if(_body MATCHES "\\)keytok_prompts\"")
  message(FATAL_ERROR "keytok: ${_prompts} contains the raw-string delimiter )keytok_prompts\"")
endif()
# file(WRITE), not file(CONFIGURE): the prompts may contain ${...} or @...@.
file(WRITE ${CMAKE_BINARY_DIR}/generated/calibration_prompts.inc.tmp
  "constexpr char kBuiltinPromptsSha256[] = \"${_sha}\";\n"
  "constexpr char kBuiltinPromptsJsonl[] = R\"keytok_prompts(${_body})keytok_prompts\";\n")
# Rewrite only on change, so an unrelated re-configure recompiles nothing.
file(COPY_FILE ${CMAKE_BINARY_DIR}/generated/calibration_prompts.inc.tmp
  ${CMAKE_BINARY_DIR}/generated/calibration_prompts.inc ONLY_IF_DIFFERENT)
