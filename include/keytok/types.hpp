// keytok/types.hpp: the scalar types shared by every keytok header.
//
// keytok's public headers use these instead of llama.cpp's typedefs so that no public header
// includes llama.h. The widths match llama.cpp's (llama_token, llama_pos, llama_seq_id are
// int32_t), so values pass through unchanged.
#pragma once

#include <cstdint>

namespace keytok {

/// A token id in the model's vocabulary, 0 <= id < Model::n_vocab().
using token_id = std::int32_t;

/// A position inside one sequence of the KV cache, counted from 0.
using pos = std::int32_t;

/// A sequence id inside one Session's KV cache, 0 <= id < 256 (llama.cpp's LLAMA_MAX_SEQ).
using seq_id = std::int32_t;

/// The most sequences (live branches) one Session can hold; llama.cpp's hard limit.
inline constexpr int kMaxSequences = 256;

/// Number of physical CPU cores (not hyper-threads) of this machine; at least 1.
/// llama.cpp defaults to 4 threads, which on a 2-core machine runs many times slower, so
/// keytok's thread defaults come from here. Reads /proc/cpuinfo once per call (cheap).
int physical_core_count();

}  // namespace keytok
