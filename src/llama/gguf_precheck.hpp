// The GGUF pre-check: a model file's header and metadata section validated before llama.cpp
// loads it, so that a wrong, cut-off or corrupt file gets one message that says what is wrong,
// where, and what to do.
//
// Why it exists: llama.cpp's loader (gguf_init_from_file_impl, ggml/src/gguf.cpp) answers a
// malformed file with log lines from inside the loader and a NULL model, so keytok could only
// say "could not load". This is a validation in front of that loader, not a second loader: it
// reads the fixed header and walks the key/value section (a few MB even for a 262k-token
// vocabulary), checking every count and length against the bytes that remain, and stops where
// the tensor descriptions begin; tensor infos and tensor data are never read. It accepts what
// the pinned loader accepts there (versions 2 and 3; the twelve scalar types, strings, and
// arrays of those; unique, non-empty keys; a u32 power-of-two `general.alignment`) and refuses
// with its own message what the loader would refuse. One limit is its own: key names longer
// than 64 KiB, which no real model has, are refused too (the names are kept for the duplicate
// check).
//
// llama-free on purpose: the fuzz target fuzz/fuzz_gguf_precheck.cpp builds it without
// llama.cpp (docs/fuzzing.md).
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <span>
#include <string>
#include <string_view>

#include "keytok/status.hpp"

namespace keytok::detail {

/// The hint that ends the messages for a missing or non-GGUF model file.
inline constexpr char kModelFetchHint[] =
    "pass -m PATH to a GGUF model, or run scripts/fetch_models.sh for the default";

/// What the pre-check read from a file that passed it.
struct GgufHeader {
  std::uint32_t version = 0;       // 2 or 3
  std::uint64_t n_tensors = 0;     // from the header; their descriptions are not read
  std::uint64_t n_kv = 0;          // key/value pairs, all walked
  std::uint64_t metadata_end = 0;  // offset just past the key/value section
  std::uint64_t file_size = 0;     // bytes
};

/// Checks a GGUF file held whole in `bytes`; `source` names it in messages (a path).
/// format_error, each naming `source` and, past the fixed header, the key (index and name) and
/// what it claims against the bytes that remain: no "GGUF" magic; shorter than the 24-byte
/// header; a version other than 2 or 3; a key/value or tensor count the file cannot hold; a
/// key, string or array cut off by the end of the file; an empty or duplicate key; an unknown
/// value type or an array of arrays; a bad `general.alignment`.
/// Cost: one pass over the metadata section, no allocation beyond the keys' names.
Result<GgufHeader> check_gguf_bytes(std::span<const unsigned char> bytes, std::string_view source);

/// The same checks over an open stream of `size` bytes positioned anywhere (the check seeks),
/// read in chunks of `chunk_bytes` up to the end of the metadata section; large strings inside
/// arrays are skipped by seeking. io_error when a read fails (the file shrank while read).
/// The stream stays open and owned by the caller.
Result<GgufHeader> check_gguf_stream(std::FILE* file, std::uint64_t size, std::string_view source,
                                     std::size_t chunk_bytes = std::size_t{1} << 20);

/// The check Model::load runs on a path: not_found (with kModelFetchHint) when it does not
/// exist, invalid_argument for a directory, io_error when it cannot be opened, then
/// check_gguf_stream's checks.
Result<GgufHeader> check_gguf_file(const std::string& path);

}  // namespace keytok::detail
