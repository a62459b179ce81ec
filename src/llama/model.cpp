// Model: loading a GGUF through llama.cpp, tokenization and the chat template.
#include <algorithm>
#include <cstring>
#include <filesystem>
#include <string_view>
#include <vector>

#include "llama/gguf_precheck.hpp"
#include "llama/model_impl.hpp"
#include "llama/rpc_devices.hpp"
#include "util/utf8.hpp"

namespace keytok {

Status ModelParams::validate() const {
  if (path.empty()) {
    return Status::invalid_argument("no model path given; " + std::string(detail::kModelFetchHint));
  }
  if (n_gpu_layers < -1) return Status::invalid_argument("n_gpu_layers must be >= -1 (-1 = all)");
  return Status::ok_status();
}

Model::Model(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Model::~Model() = default;

Result<std::shared_ptr<const Model>> Model::load(const ModelParams& params) {
  KEYTOK_RETURN_IF_ERROR(params.validate());
  auto impl = std::make_unique<Impl>();
  // Before llama.cpp sees the file: a malformed one gets a message that says what is wrong.
  auto header = detail::check_gguf_file(params.path);
  if (!header.ok()) return header.status();
  impl->file_size = header->file_size;
  detail::ensure_backend(params.verbose);

  llama_model_params mp = llama_model_default_params();
  mp.n_gpu_layers = params.n_gpu_layers < 0 ? 999 : params.n_gpu_layers;
  // With rpc-servers: their devices first, then any local GPU, as llama.cpp's --rpc orders them;
  // the servers are not added to ggml's global registry, so other models stay local.
  std::vector<ggml_backend_dev_t> devices;
  if (!params.rpc_servers.empty()) {
    auto rpc = detail::rpc_devices(params.rpc_servers);
    if (!rpc.ok()) return rpc.status();
    devices = std::move(*rpc);
    for (std::size_t i = 0; i < ggml_backend_dev_count(); ++i) {
      ggml_backend_dev_t dev = ggml_backend_dev_get(i);
      if (ggml_backend_dev_type(dev) == GGML_BACKEND_DEVICE_TYPE_GPU) devices.push_back(dev);
    }
    devices.push_back(nullptr);
    mp.devices = devices.data();
    if (params.n_gpu_layers == 0) mp.n_gpu_layers = 999;
  }
  mp.load_mode = params.use_mmap ? LLAMA_LOAD_MODE_MMAP : LLAMA_LOAD_MODE_NONE;
  mp.vocab_only = params.vocab_only;
  impl->model.reset(llama_model_load_from_file(params.path.c_str(), mp));
  if (!impl->model) {
    return Status::load_failed("llama.cpp could not load " + params.path +
                               " (truncated or corrupt GGUF, or an unsupported architecture); "
                               "fetch it again or pass -m to another model");
  }
  impl->vocab = llama_model_get_vocab(impl->model.get());
  impl->path = params.path;
  impl->vocab_only = params.vocab_only;
  if (!params.chat_template.empty()) {
    // llama.cpp recognises a built-in name; an unknown one fails here, not at the first prompt.
    const llama_chat_message probe{"user", "x"};
    char buf[256];
    if (llama_chat_apply_template(params.chat_template.c_str(), &probe, 1, true, buf, sizeof buf) < 0) {
      return Status::invalid_argument("unknown chat template '" + params.chat_template +
                                      "'; use a llama.cpp built-in name such as chatml, gemma or llama3");
    }
    impl->chat_template = params.chat_template;
  }
  return std::shared_ptr<const Model>(new Model(std::move(impl)));
}

Result<std::vector<token_id>> Model::tokenize(std::string_view text, bool add_special,
                                              bool parse_special) const {
  if (const auto bad = detail::find_invalid_utf8(text); bad != std::string_view::npos) {
    return Status::invalid_argument("text is not valid UTF-8 (first bad byte at offset " +
                                    std::to_string(bad) + "); convert it to UTF-8 first");
  }
  std::vector<token_id> out(text.size() + 8);
  int n = llama_tokenize(impl_->vocab, text.data(), static_cast<int32_t>(text.size()), out.data(),
                         static_cast<int32_t>(out.size()), add_special, parse_special);
  if (n < 0) {
    out.resize(static_cast<std::size_t>(-n));
    n = llama_tokenize(impl_->vocab, text.data(), static_cast<int32_t>(text.size()), out.data(),
                       static_cast<int32_t>(out.size()), add_special, parse_special);
  }
  if (n < 0) return Status::internal("llama_tokenize failed");
  out.resize(static_cast<std::size_t>(n));
  return out;
}

std::string Model::token_piece(token_id id) const {
  char buf[256];
  int n = llama_token_to_piece(impl_->vocab, id, buf, sizeof buf, 0, /*special=*/true);
  if (n >= 0) return std::string(buf, static_cast<std::size_t>(n));
  std::string big(static_cast<std::size_t>(-n), '\0');
  n = llama_token_to_piece(impl_->vocab, id, big.data(), static_cast<int32_t>(big.size()), 0, true);
  big.resize(static_cast<std::size_t>(std::max(n, 0)));
  return big;
}

std::string Model::detokenize(std::span<const token_id> tokens) const {
  std::string out;
  for (token_id t : tokens) out += token_piece(t);
  return out;
}

int Model::n_vocab() const { return llama_vocab_n_tokens(impl_->vocab); }
int Model::n_ctx_train() const { return llama_model_n_ctx_train(impl_->model.get()); }
bool Model::is_eog(token_id id) const { return llama_vocab_is_eog(impl_->vocab, id); }
bool Model::adds_bos() const { return llama_vocab_get_add_bos(impl_->vocab); }
token_id Model::bos() const { return llama_vocab_bos(impl_->vocab); }
bool Model::has_chat_template() const {
  return !impl_->chat_template.empty() || llama_model_chat_template(impl_->model.get(), nullptr) != nullptr;
}

Result<std::string> Model::apply_chat_template(std::span<const ChatMessage> messages,
                                               bool add_assistant) const {
  const char* tmpl = impl_->chat_template.empty() ? llama_model_chat_template(impl_->model.get(), nullptr)
                                                  : impl_->chat_template.c_str();
  if (tmpl == nullptr) {
    return Status::invalid_argument("model " + name() + " has no chat template; pass --chat-template NAME or --raw");
  }
  std::vector<llama_chat_message> msgs;
  std::size_t total = 0;
  for (const auto& m : messages) {
    msgs.push_back({m.role.c_str(), m.content.c_str()});
    total += m.role.size() + m.content.size();
  }
  std::string buf(total * 2 + 256, '\0');
  int n = llama_chat_apply_template(tmpl, msgs.data(), msgs.size(), add_assistant, buf.data(),
                                    static_cast<int32_t>(buf.size()));
  if (n > static_cast<int>(buf.size())) {
    buf.resize(static_cast<std::size_t>(n));
    n = llama_chat_apply_template(tmpl, msgs.data(), msgs.size(), add_assistant, buf.data(),
                                  static_cast<int32_t>(buf.size()));
  }
  if (n < 0) {
    return Status::invalid_argument("llama.cpp does not recognise the chat template of " + name() +
                                    "; pass --raw");
  }
  buf.resize(static_cast<std::size_t>(n));
  return buf;
}

Result<std::vector<token_id>> Model::encode_prompt(std::string_view user_prompt, bool raw) const {
  if (raw || !has_chat_template()) return tokenize(user_prompt, /*add_special=*/true);
  if (const auto bad = detail::find_invalid_utf8(user_prompt); bad != std::string_view::npos) {
    return Status::invalid_argument("prompt is not valid UTF-8 (first bad byte at offset " +
                                    std::to_string(bad) + ")");
  }
  const ChatMessage msg{"user", std::string(user_prompt)};
  return encode_chat(std::span(&msg, 1));
}

Result<std::vector<token_id>> Model::encode_chat(std::span<const ChatMessage> messages) const {
  for (std::size_t i = 0; i < messages.size(); ++i) {
    if (const auto bad = detail::find_invalid_utf8(messages[i].content); bad != std::string_view::npos) {
      return Status::invalid_argument("message " + std::to_string(i) + " is not valid UTF-8 (first bad byte at offset " +
                                      std::to_string(bad) + ")");
    }
  }
  auto text = apply_chat_template(messages, /*add_assistant=*/true);
  if (!text.ok()) return text.status();
  // Templates that spell out BOS themselves must not get a second one from the tokenizer.
  const bool has_bos_text = adds_bos() && text->starts_with(token_piece(bos()));
  return tokenize(*text, /*add_special=*/!has_bos_text, /*parse_special=*/true);
}

const std::string& Model::path() const { return impl_->path; }
std::uint64_t Model::file_size() const { return impl_->file_size; }

std::string Model::name() const {
  char buf[256];
  if (llama_model_meta_val_str(impl_->model.get(), "general.name", buf, sizeof buf) > 0) return buf;
  return std::filesystem::path(impl_->path).filename().string();
}

std::string Model::architecture() const {
  char buf[128];
  if (llama_model_meta_val_str(impl_->model.get(), "general.architecture", buf, sizeof buf) > 0) return buf;
  return "unknown";
}

bool Model::vocab_only() const { return impl_->vocab_only; }

std::string Model::description() const {
  char buf[256];
  llama_model_desc(impl_->model.get(), buf, sizeof buf);
  return buf;
}

Status check_same_vocabulary(const Model& small, const Model& large) {
  const llama_vocab* a = small.impl().vocab;
  const llama_vocab* b = large.impl().vocab;
  const auto differ = [&](const std::string& what) {
    return Status::invalid_argument("the models do not share one vocabulary: " + small.name() + " and " +
                                    large.name() + " differ in " + what +
                                    "; a cascade needs two models of one family with one tokenizer "
                                    "(e.g. qwen2.5-coder-0.5b and qwen2.5-coder-1.5b)");
  };
  const int n = llama_vocab_n_tokens(a);
  if (n != llama_vocab_n_tokens(b)) {
    return differ("size (" + std::to_string(n) + " and " + std::to_string(llama_vocab_n_tokens(b)) + " tokens)");
  }
  if (llama_vocab_bos(a) != llama_vocab_bos(b)) return differ("the BOS token");
  if (llama_vocab_eos(a) != llama_vocab_eos(b)) return differ("the EOS token");
  if (llama_vocab_eot(a) != llama_vocab_eot(b)) return differ("the EOT token");
  for (llama_token t = 0; t < n; ++t) {
    const char* ta = llama_vocab_get_text(a, t);
    const char* tb = llama_vocab_get_text(b, t);
    if (std::string_view(ta != nullptr ? ta : "") != std::string_view(tb != nullptr ? tb : "") ||
        llama_vocab_get_attr(a, t) != llama_vocab_get_attr(b, t)) {
      return differ("token " + std::to_string(t));
    }
  }
  return Status::ok_status();
}

}  // namespace keytok
