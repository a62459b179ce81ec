// keytok/sampling.hpp: choosing the next token from logits through llama.cpp's samplers.
#pragma once

#include <cstdint>
#include <memory>
#include <span>

#include "keytok/status.hpp"
#include "keytok/types.hpp"

namespace keytok {

/// Sampling knobs, applied in llama.cpp's order top-k -> top-p -> min-p -> temperature -> draw.
struct SamplingParams {
  float temperature = 0.0f;  // <= 0 means greedy (argmax; the other knobs are ignored)
  int top_k = 40;            // keep the k most likely; <= 0 disables
  float top_p = 0.95f;       // nucleus mass in (0, 1]; 1 disables
  float min_p = 0.05f;       // drop tokens below min_p * p(top1), in [0, 1); 0 disables
  std::uint32_t seed = 0;    // random seed of the draw; equal seeds give equal draws

  bool greedy() const { return temperature <= 0.0f; }
  /// invalid_argument for top_p outside (0, 1], min_p outside [0, 1) or a NaN temperature.
  Status validate() const;
};

/// A stateful sampler (its random stream advances with every draw). One thread at a time.
class Sampler {
 public:
  /// Builds the llama.cpp sampler chain; errors only from params.validate().
  static Result<Sampler> create(const SamplingParams& params);
  ~Sampler();
  Sampler(Sampler&&) noexcept;
  Sampler& operator=(Sampler&&) noexcept;
  Sampler(const Sampler&) = delete;
  Sampler& operator=(const Sampler&) = delete;

  /// Picks a token from raw logits, (n_vocab). Greedy params return argmax without a draw.
  /// Cost: O(n_vocab) to copy the logits into llama.cpp's candidate array.
  token_id sample(std::span<const float> logits);

  const SamplingParams& params() const;

  struct Impl;

 private:
  explicit Sampler(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace keytok
