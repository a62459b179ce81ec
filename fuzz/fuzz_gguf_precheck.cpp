// The GGUF pre-check (src/llama/gguf_precheck.hpp) that runs before llama.cpp loads a model
// file. Each input is checked whole in memory and again as a stream read in chunks of 1 to 64
// bytes (the first byte picks the size), so that the chunked reader's refills and seeks are
// exercised too. Invariants: both give the same answer; an error names the file; a file that
// passes has version 2 or 3, and its metadata section and minimal tensor descriptions fit.
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <memory>
#include <span>
#include <string>

#include "fuzz_check.hpp"
#include "llama/gguf_precheck.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string source = "fuzz.gguf";
  const auto header = keytok::detail::check_gguf_bytes(std::span(data, size), source);
  if (!keytok::fuzz::failed(header, source)) {
    FUZZ_CHECK(header->version == 2 || header->version == 3, "version");
    FUZZ_CHECK(header->file_size == size, "file size");
    FUZZ_CHECK(header->metadata_end >= 24 && header->metadata_end <= size, "metadata end");
    FUZZ_CHECK(header->n_tensors <= (size - header->metadata_end) / 24, "tensor count");
  }
  if (size == 0) return 0;  // fmemopen refuses an empty buffer
  std::unique_ptr<std::FILE, int (*)(std::FILE*)> file(
      fmemopen(const_cast<std::uint8_t*>(data), size, "rb"), &std::fclose);
  FUZZ_CHECK(file != nullptr, "fmemopen");
  const std::size_t chunk = 1 + data[0] % 64;
  const auto streamed = keytok::detail::check_gguf_stream(file.get(), size, source, chunk);
  FUZZ_CHECK(streamed.ok() == header.ok(), streamed.status().message());
  if (header.ok()) {
    FUZZ_CHECK(streamed->metadata_end == header->metadata_end, "same metadata end");
    FUZZ_CHECK(streamed->n_kv == header->n_kv && streamed->n_tensors == header->n_tensors,
               "same counts");
  } else {
    FUZZ_CHECK(streamed.status().message() == header.status().message(),
               streamed.status().message() + " vs " + header.status().message());
  }
  return 0;
}
