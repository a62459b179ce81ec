// Model::Impl: what a loaded Model holds. Only src/llama and code that must reach the raw
// llama_model (Session) include this.
#pragma once

#include <cstdint>
#include <string>

#include "keytok/model.hpp"
#include "llama/handles.hpp"

namespace keytok {

struct Model::Impl {
  detail::LlamaModelPtr model;
  const llama_vocab* vocab = nullptr;
  std::string path;
  std::string chat_template;  // override from ModelParams; empty = the GGUF's
  std::uint64_t file_size = 0;
  bool vocab_only = false;
};

}  // namespace keytok
