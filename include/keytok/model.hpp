// keytok/model.hpp: a loaded GGUF model (weights, vocabulary, chat template).
//
// A Model is immutable after load and shared between Sessions through shared_ptr<const Model>;
// all its methods are const and thread-safe. Loading goes through llama.cpp.
#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "keytok/status.hpp"
#include "keytok/types.hpp"

namespace keytok {

/// Per-model load options.
struct ModelParams {
  std::string path;       // GGUF file; required
  int n_gpu_layers = 0;   // layers offloaded to a GPU backend (CUDA builds); 0 = CPU, -1 = all
  bool use_mmap = true;   // map the file instead of reading it
  bool vocab_only = false; // load the vocabulary and metadata only (listing, tokenizing); such a
                           // Model cannot back a Session
  bool verbose = false;   // pass llama.cpp's own log (info and above) to stderr; else errors only
  std::string chat_template;  // a llama.cpp built-in template name ("chatml", "gemma", "llama3",
                              // ...) used instead of the GGUF's; empty = the GGUF's own
  /// llama.cpp rpc-servers ("HOST:PORT", started with ggml-rpc-server on other machines) whose
  /// devices take the model's layers, split by their memory (docs/scale-out.md). With servers
  /// and n_gpu_layers 0, every layer goes to them. Each is checked for a TCP answer first.
  std::vector<std::string> rpc_servers;

  /// invalid_argument when path is empty or n_gpu_layers < -1.
  Status validate() const;
};

/// One message of a chat, for Model::apply_chat_template.
struct ChatMessage {
  std::string role;     // "system", "user" or "assistant"
  std::string content;  // UTF-8
};

/// A loaded model. Create with Model::load. Thread-safe (immutable).
class Model {
 public:
  /// Loads a GGUF file. Errors: not_found (no file), format_error (not GGUF: wrong magic or too
  /// short), load_failed (llama.cpp rejected it, e.g. truncated), each with a hint.
  /// Cost: mmap plus llama.cpp's load (about 0.1 s for a 135M model).
  static Result<std::shared_ptr<const Model>> load(const ModelParams& params);

  ~Model();
  Model(const Model&) = delete;
  Model& operator=(const Model&) = delete;

  /// Tokenizes UTF-8 text. add_special adds BOS/EOS as the model's metadata says;
  /// parse_special turns special-token text such as "<|im_start|>" into special tokens (set it
  /// for chat-template output, never for user text). invalid_argument on malformed UTF-8.
  Result<std::vector<token_id>> tokenize(std::string_view text, bool add_special,
                                         bool parse_special = false) const;

  /// The bytes of one token as the model would print it (special tokens rendered). A piece can
  /// be part of a multi-byte UTF-8 character.
  std::string token_piece(token_id id) const;

  /// Concatenated text of a token sequence (special tokens rendered as text).
  std::string detokenize(std::span<const token_id> tokens) const;

  int n_vocab() const;          ///< vocabulary size
  int n_ctx_train() const;      ///< the context length the model was trained with
  bool is_eog(token_id id) const;  ///< end of generation (EOS, EOT, ...)
  bool adds_bos() const;        ///< whether tokenize(add_special = true) prepends BOS
  token_id bos() const;         ///< the BOS token, -1 when the vocabulary has none

  /// Whether a chat template is available (the GGUF's, or ModelParams::chat_template).
  bool has_chat_template() const;

  /// Formats a chat with the model's template (llama_chat_apply_template; known templates by
  /// pattern, not a Jinja engine). add_assistant appends the assistant turn's opening.
  /// invalid_argument when the model has none or llama.cpp does not recognise it.
  Result<std::string> apply_chat_template(std::span<const ChatMessage> messages,
                                          bool add_assistant) const;

  /// Tokens of a user prompt as generation should see it: through the chat template as one user
  /// turn followed by the assistant's opening (special tokens parsed), or with `raw` (or a model
  /// without a template) the plain text with BOS where the model wants one.
  Result<std::vector<token_id>> encode_prompt(std::string_view user_prompt, bool raw) const;

  /// Tokens of a whole chat through the chat template, ready for the assistant's reply.
  /// invalid_argument when the model has no template, or a message is not valid UTF-8.
  Result<std::vector<token_id>> encode_chat(std::span<const ChatMessage> messages) const;

  const std::string& path() const;   ///< the path it was loaded from
  std::string name() const;          ///< general.name from the GGUF, else the file name
  std::string description() const;   ///< llama.cpp's one-line description (arch, size, type)
  std::string architecture() const;  ///< general.architecture from the GGUF, e.g. "qwen2"
  bool vocab_only() const;           ///< loaded with ModelParams::vocab_only
  std::uint64_t file_size() const;   ///< bytes

  /// Internal state, defined in src/ (holds the llama_model). Not part of the stable API.
  struct Impl;
  const Impl& impl() const { return *impl_; }

 private:
  explicit Model(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

/// Whether two models can hand tokens to each other (a cascade's small and large model): the
/// same number of tokens, the same text and attributes for each, and the same special tokens
/// (BOS, EOS, EOT). invalid_argument naming both models and the first difference. Cost: one
/// pass over the vocabulary (about 150k tokens: a few milliseconds).
Status check_same_vocabulary(const Model& small, const Model& large);

}  // namespace keytok
