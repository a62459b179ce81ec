// The GGUF pre-check (src/llama/gguf_precheck.hpp) on files built in memory: a valid minimal
// file, every truncation point, bad versions, absurd counts, lengths past the end, and the
// file-level checks Model::load relies on.
#include "llama/gguf_precheck.hpp"

#include <gtest/gtest.h>

#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <memory>
#include <span>
#include <string>
#include <string_view>

namespace keytok {
namespace {

using detail::check_gguf_bytes;
using detail::check_gguf_file;
using detail::check_gguf_stream;
using detail::GgufHeader;

// GGUF value types (ggml/src/gguf.cpp).
constexpr std::uint32_t kU8 = 0, kU32 = 4, kF32 = 6, kString = 8, kArray = 9;

std::string le32(std::uint32_t v) {
  std::string out(4, '\0');
  for (int i = 0; i < 4; ++i) out[i] = static_cast<char>(v >> (8 * i));
  return out;
}
std::string le64(std::uint64_t v) {
  std::string out(8, '\0');
  for (int i = 0; i < 8; ++i) out[i] = static_cast<char>(v >> (8 * i));
  return out;
}
std::string gstr(std::string_view s) { return le64(s.size()) + std::string(s); }
std::string header(std::uint32_t version, std::uint64_t n_tensors, std::uint64_t n_kv) {
  return "GGUF" + le32(version) + le64(n_tensors) + le64(n_kv);
}
std::string kv(std::string_view key, std::uint32_t type, const std::string& value) {
  return gstr(key) + le32(type) + value;
}
std::string array(std::uint32_t type, std::uint64_t n, const std::string& items) {
  return le32(type) + le64(n) + items;
}

// The smallest file that looks like a model: four keys (a string, the alignment, an array of
// strings, an array of floats) and one tensor description, then padding and its data.
struct MinimalGguf {
  std::string metadata;  // header + key/value section
  std::string bytes;     // the whole file
};
MinimalGguf minimal_gguf(std::uint32_t version = 3) {
  MinimalGguf g;
  g.metadata =
      header(version, 1, 4) + kv("general.architecture", kString, gstr("llama")) +
      kv("general.alignment", kU32, le32(32)) +
      kv("tokenizer.ggml.tokens", kArray, array(kString, 3, gstr("<s>") + gstr("a") + gstr("bc"))) +
      kv("tokenizer.ggml.scores", kArray, array(kF32, 3, std::string(12, '\0')));
  const std::string tensor_info = gstr("t") + le32(1) + le64(4) + le32(0) + le64(0);
  g.bytes = g.metadata + tensor_info;
  g.bytes += std::string((32 - g.bytes.size() % 32) % 32, '\0') + std::string(16, '\0');
  return g;
}

Result<GgufHeader> check(std::string_view bytes) {
  return check_gguf_bytes(
      std::span(reinterpret_cast<const unsigned char*>(bytes.data()), bytes.size()), "m.gguf");
}

// The same bytes as a stream read in chunks of `chunk` bytes.
Result<GgufHeader> check_streamed(std::string bytes, std::size_t chunk) {
  const std::size_t size = bytes.size();
  if (bytes.empty()) bytes.push_back('\0');  // fmemopen refuses an empty buffer
  std::unique_ptr<std::FILE, int (*)(std::FILE*)> file(fmemopen(bytes.data(), bytes.size(), "rb"),
                                                       &std::fclose);
  EXPECT_NE(file, nullptr);
  return check_gguf_stream(file.get(), size, "m.gguf", chunk);
}

void expect_error(const Result<GgufHeader>& r, std::string_view text) {
  ASSERT_FALSE(r.ok()) << "expected an error containing: " << text;
  EXPECT_EQ(r.status().code(), StatusCode::format_error) << r.status().message();
  EXPECT_NE(r.status().message().find(text), std::string::npos) << r.status().message();
}

TEST(GgufPrecheck, AcceptsAValidMinimalFile) {
  for (const std::uint32_t version : {2u, 3u}) {
    const MinimalGguf g = minimal_gguf(version);
    const auto r = check(g.bytes);
    ASSERT_TRUE(r.ok()) << r.status().message();
    EXPECT_EQ(r->version, version);
    EXPECT_EQ(r->n_tensors, 1u);
    EXPECT_EQ(r->n_kv, 4u);
    EXPECT_EQ(r->metadata_end, g.metadata.size());
    EXPECT_EQ(r->file_size, g.bytes.size());
  }
}

TEST(GgufPrecheck, ReportsEveryTruncationPoint) {
  const MinimalGguf g = minimal_gguf();
  // The metadata and one minimal tensor description (24 bytes) must be there; the tensor data
  // is never read, so a file cut after that passes the pre-check (llama.cpp then refuses it).
  const std::size_t needed = g.metadata.size() + 24;
  for (std::size_t cut = 0; cut < g.bytes.size(); ++cut) {
    const std::string prefix = g.bytes.substr(0, cut);
    const auto r = check(prefix);
    if (cut >= needed) {
      EXPECT_TRUE(r.ok()) << "cut at " << cut << ": " << r.status().message();
      continue;
    }
    SCOPED_TRACE("cut at " + std::to_string(cut));
    if (cut < 4) {
      expect_error(r, "not a GGUF file (no 'GGUF' magic at the start): m.gguf");
    } else if (cut < 24) {
      expect_error(r, "GGUF file is truncated (" + std::to_string(cut) +
                          " bytes, shorter than its header): m.gguf");
    } else {
      expect_error(r, "GGUF file m.gguf is truncated or corrupt: ");
      EXPECT_NE(r.status().message().find("download it again (scripts/fetch_models.sh)"),
                std::string::npos);
    }
    // Read in chunks, the answer is the same.
    const auto streamed = check_streamed(prefix, 5);
    EXPECT_EQ(streamed.ok(), r.ok());
    if (!r.ok() && !streamed.ok()) {
      EXPECT_EQ(streamed.status().message(), r.status().message());
    }
  }
}

TEST(GgufPrecheck, NamesTheKeyWhereTheFileEnds) {
  const MinimalGguf g = minimal_gguf();
  // Inside the tokens array: the third string's length is there, its two bytes are not.
  const std::size_t at =
      g.metadata.find("tokenizer.ggml.tokens") + 21 + 4 + 4 + 8 + (8 + 3) + (8 + 1) + 8;
  expect_error(check(g.bytes.substr(0, at)),
               "key 2 ('tokenizer.ggml.tokens'): string 2 of its array says it is 2 bytes long, "
               "but only 0 bytes remain");
}

TEST(GgufPrecheck, RefusesVersionsLlamaCppDoesNotRead) {
  for (const std::uint32_t version : {0u, 1u, 4u, 0x03000000u}) {
    std::string bytes = minimal_gguf().bytes;
    bytes.replace(4, 4, le32(version));
    expect_error(check(bytes), "GGUF version " + std::to_string(version) +
                                   " is not one llama.cpp reads (2 and 3): m.gguf");
  }
  std::string v1 = minimal_gguf().bytes;
  v1.replace(4, 4, le32(1));
  expect_error(check(v1), "version 1 is obsolete");
}

TEST(GgufPrecheck, RefusesAbsurdCounts) {
  expect_error(check(header(3, 0, std::uint64_t{1} << 62) + std::string(100, '\0')),
               "its header says it holds 4611686018427387904 key/value pairs, but only 100 bytes "
               "follow the header (a pair takes at least 14)");
  expect_error(check(header(3, ~std::uint64_t{0}, 0) + std::string(100, '\0')),
               "its header says it holds 18446744073709551615 tensors, but only 100 bytes follow "
               "its metadata (a tensor's description takes at least 24)");
  // Plausible against the file, but the metadata leaves no room for the tensors' descriptions.
  expect_error(
      check(header(3, 2, 1) + kv("a", kString, gstr(std::string(40, 'x'))) + std::string(30, '\0')),
      "its header says it holds 2 tensors, but only 30 bytes follow its metadata");
}

TEST(GgufPrecheck, RefusesLengthsPastTheEnd) {
  expect_error(check(header(3, 0, 1) +
                     kv("tokenizer.ggml.tokens", kArray, array(kString, 151936, gstr("a")))),
               "key 0 ('tokenizer.ggml.tokens') says its array holds 151936 strings, but only 9 "
               "bytes remain (each takes at least 8)");
  expect_error(
      check(header(3, 0, 1) + kv("scores", kArray, array(kF32, 1000, std::string(8, '\0')))),
      "key 0 ('scores') says its array holds 1000 f32 values, but only 8 bytes remain");
  expect_error(check(header(3, 0, 1) + kv("name", kString, le64(1000) + "short")),
               "key 0 ('name'): its string value says it is 1000 bytes long, but only 5 bytes "
               "remain");
  expect_error(check(header(3, 0, 1) + le64(1u << 20) + "key" + std::string(10, '\0')),
               "key 0 says its name is 1048576 bytes long, but only 13 bytes remain");
  expect_error(check(header(3, 0, 2) + kv("a", kU8, "\1") + gstr("b") + le32(kU32) + "\1"),
               "key 1 ('b') is cut off: its u32 value takes 4 bytes, but only 1 remain");
}

TEST(GgufPrecheck, RefusesWhatTheLoaderRefuses) {
  expect_error(check(header(3, 0, 1) + kv("", kU8, "\1") + std::string(8, '\0')),
               "key 0 has an empty name");
  expect_error(check(header(3, 0, 2) + kv("a", kU8, "\1") + kv("a", kU8, "\2")),
               "key 1 ('a') appears twice (first as key 0)");
  expect_error(check(header(3, 0, 1) + kv("a", 13, "\1") + std::string(8, '\0')),
               "key 0 ('a') has value type 13, which is not a GGUF type (0 to 12)");
  expect_error(
      check(header(3, 0, 1) + kv("a", kArray, array(kArray, 1, le32(kU8) + le64(1) + "\1"))),
      "key 0 ('a') is an array of arrays, which the llama.cpp keytok is built on does not "
      "read");
  expect_error(check(header(3, 0, 1) + kv("general.alignment", kU32, le32(24))),
               "key 0 ('general.alignment') is 24, not a power of two");
  expect_error(check(header(3, 0, 1) + kv("general.alignment", kU8, "\x20") + std::string(8, '\0')),
               "key 0 ('general.alignment') must be a u32, but its type is u8");
  // A key name with bytes that are not printable is shown with '?' for them.
  expect_error(check(header(3, 0, 2) + kv("a\nb", kU8, "\1") + kv("a\nb", kU8, "\1")),
               "key 1 ('a?b') appears twice");
}

TEST(GgufPrecheck, ChecksFilesOnDisk) {
  const std::string dir = ::testing::TempDir() + "keytok_gguf_precheck";
  std::filesystem::create_directories(dir);
  const MinimalGguf g = minimal_gguf();
  const std::string good = dir + "/good.gguf", text = dir + "/text.gguf";
  std::ofstream(good, std::ios::binary) << g.bytes;
  std::ofstream(text, std::ios::binary) << "this is plain text, not a model\n";

  const auto ok = check_gguf_file(good);
  ASSERT_TRUE(ok.ok()) << ok.status().message();
  EXPECT_EQ(ok->file_size, g.bytes.size());
  EXPECT_EQ(ok->metadata_end, g.metadata.size());

  const auto missing = check_gguf_file(dir + "/missing.gguf");
  EXPECT_EQ(missing.status().code(), StatusCode::not_found);
  EXPECT_EQ(missing.status().message(),
            "model file not found: " + dir + "/missing.gguf; " + detail::kModelFetchHint);
  EXPECT_EQ(check_gguf_file(dir).status().code(), StatusCode::invalid_argument);
  EXPECT_EQ(
      check_gguf_file(text).status().message(),
      "not a GGUF file (no 'GGUF' magic at the start): " + text + "; " + detail::kModelFetchHint);
  std::filesystem::remove_all(dir);
}

TEST(GgufPrecheck, StreamedInAnyChunkSizeGivesTheSameAnswer) {
  const MinimalGguf g = minimal_gguf();
  for (const std::size_t chunk :
       {std::size_t{1}, std::size_t{3}, std::size_t{64}, std::size_t{1} << 20}) {
    const auto r = check_streamed(g.bytes, chunk);
    ASSERT_TRUE(r.ok()) << "chunk " << chunk << ": " << r.status().message();
    EXPECT_EQ(r->metadata_end, g.metadata.size());
  }
}

}  // namespace
}  // namespace keytok
