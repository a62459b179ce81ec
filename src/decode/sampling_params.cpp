// SamplingParams::validate (keytok/sampling.hpp): plain data, apart from the llama.cpp sampler
// chain (llama/sampler.cpp), so that code which only checks requests links without llama.cpp
// (the request parser's fuzz target, docs/fuzzing.md).
#include <cmath>

#include "keytok/sampling.hpp"

namespace keytok {

Status SamplingParams::validate() const {
  if (std::isnan(temperature)) return Status::invalid_argument("temperature is NaN");
  if (!(top_p > 0.0f && top_p <= 1.0f)) return Status::invalid_argument("top-p must be in (0, 1]");
  if (!(min_p >= 0.0f && min_p < 1.0f)) return Status::invalid_argument("min-p must be in [0, 1)");
  return Status::ok_status();
}

}  // namespace keytok
