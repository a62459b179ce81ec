// Sampler over llama.cpp's sampler chain, applied to logits keytok already holds (so branches
// in one batch can each be sampled from their own row).
#include <cmath>
#include <vector>

#include "keytok/sampling.hpp"
#include "keytok/token_stats.hpp"
#include "llama/handles.hpp"

namespace keytok {

struct Sampler::Impl {
  SamplingParams params;
  detail::LlamaSamplerPtr chain;
  std::vector<llama_token_data> candidates;
};

Sampler::Sampler(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Sampler::~Sampler() = default;
Sampler::Sampler(Sampler&&) noexcept = default;
Sampler& Sampler::operator=(Sampler&&) noexcept = default;

Result<Sampler> Sampler::create(const SamplingParams& params) {
  KEYTOK_RETURN_IF_ERROR(params.validate());
  auto impl = std::make_unique<Impl>();
  impl->params = params;
  if (!params.greedy()) {
    llama_sampler_chain_params cp = llama_sampler_chain_default_params();
    impl->chain.reset(llama_sampler_chain_init(cp));
    llama_sampler* c = impl->chain.get();
    if (params.top_k > 0) llama_sampler_chain_add(c, llama_sampler_init_top_k(params.top_k));
    if (params.top_p < 1.0f) llama_sampler_chain_add(c, llama_sampler_init_top_p(params.top_p, 1));
    if (params.min_p > 0.0f) llama_sampler_chain_add(c, llama_sampler_init_min_p(params.min_p, 1));
    llama_sampler_chain_add(c, llama_sampler_init_temp(params.temperature));
    llama_sampler_chain_add(c, llama_sampler_init_dist(params.seed));
  }
  return Sampler(std::move(impl));
}

token_id Sampler::sample(std::span<const float> logits) {
  if (impl_->params.greedy()) return argmax(logits);
  auto& cand = impl_->candidates;
  cand.resize(logits.size());
  for (std::size_t i = 0; i < logits.size(); ++i) {
    cand[i] = llama_token_data{static_cast<llama_token>(i), logits[i], 0.0f};
  }
  llama_token_data_array arr{cand.data(), cand.size(), -1, false};
  llama_sampler_apply(impl_->chain.get(), &arr);
  const llama_token t = arr.data[arr.selected].id;
  llama_sampler_accept(impl_->chain.get(), t);
  return t;
}

const SamplingParams& Sampler::params() const { return impl_->params; }

}  // namespace keytok
