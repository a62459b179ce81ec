// The GGUF pre-check (llama/gguf_precheck.hpp). The layout, as the pinned loader reads it
// (ggml/src/gguf.cpp, GGUF v2 and v3, little-endian):
//   "GGUF", u32 version, u64 n_tensors, u64 n_kv,
//   n_kv times: u64 key length, key bytes, u32 value type, value;
//   a value is a scalar of its type's size, a string (u64 length, bytes), or an array
//   (u32 element type, u64 count, elements); then the tensor descriptions, which stay unread.
#include "llama/gguf_precheck.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <array>
#include <cstring>
#include <filesystem>
#include <memory>
#include <optional>
#include <unordered_map>
#include <vector>

namespace keytok::detail {

namespace {

constexpr std::uint64_t kHeaderBytes = 24;                    // magic, version, two counts
constexpr std::uint64_t kMinKvBytes = 8 + 1 + 4 + 1;          // name length, name, type, u8
constexpr std::uint64_t kMinTensorInfoBytes = 8 + 4 + 4 + 8;  // name length, n_dims, type, offset
// The loader's limits (GGUF_MAX_STRING_LENGTH, GGUF_MAX_ARRAY_ELEMENTS).
constexpr std::uint64_t kMaxStringBytes = std::uint64_t{1} << 30;
constexpr std::uint64_t kMaxArrayElements = std::uint64_t{1} << 30;
// No real key is longer; the cap bounds the memory the names take (they are kept for the
// duplicate check).
constexpr std::uint64_t kMaxKeyBytes = 65536;

// gguf_type: index = the type's number; size 0 for string and array.
struct GgufType {
  const char* name;
  std::uint64_t size;
};
constexpr std::array<GgufType, 13> kTypes = {{{"u8", 1},
                                              {"i8", 1},
                                              {"u16", 2},
                                              {"i16", 2},
                                              {"u32", 4},
                                              {"i32", 4},
                                              {"f32", 4},
                                              {"bool", 1},
                                              {"string", 0},
                                              {"array", 0},
                                              {"u64", 8},
                                              {"i64", 8},
                                              {"f64", 8}}};
constexpr std::uint32_t kU32 = 4, kString = 8, kArray = 9;

// A file's bytes, whole in memory or read from a stream in chunks. The walk checks that bytes
// exist (remaining()) before it reads or skips them, so a failed read is an I/O error.
class ByteReader {
 public:
  explicit ByteReader(std::span<const unsigned char> bytes) : size_(bytes.size()), window_(bytes) {}
  ByteReader(std::FILE* file, std::uint64_t size, std::size_t chunk_bytes)
      : size_(size), file_(file), buffer_(std::max<std::size_t>(chunk_bytes, 1)) {}

  std::uint64_t pos() const { return pos_; }
  std::uint64_t remaining() const { return size_ - pos_; }

  // n <= remaining(); false when the stream fails.
  bool read(unsigned char* out, std::size_t n) {
    while (n > 0) {
      if (pos_ < window_start_ || pos_ - window_start_ >= window_.size()) {
        if (!refill()) return false;
      }
      const std::size_t offset = static_cast<std::size_t>(pos_ - window_start_);
      const std::size_t take = std::min(n, window_.size() - offset);
      std::memcpy(out, window_.data() + offset, take);
      out += take;
      n -= take;
      pos_ += take;
    }
    return true;
  }
  template <class T>
  bool read_le(T* out) {
    unsigned char b[sizeof(T)];
    if (!read(b, sizeof b)) return false;
    T v = 0;
    for (std::size_t i = 0; i < sizeof b; ++i) v |= static_cast<T>(b[i]) << (8 * i);
    *out = v;
    return true;
  }
  // n <= remaining(). A stream seeks at the next read.
  void skip(std::uint64_t n) { pos_ += n; }

 private:
  bool refill() {
    if (file_ == nullptr) return false;
    if (fseeko(file_, static_cast<off_t>(pos_), SEEK_SET) != 0) return false;
    const auto want =
        static_cast<std::size_t>(std::min<std::uint64_t>(buffer_.size(), remaining()));
    const std::size_t got = std::fread(buffer_.data(), 1, want, file_);
    if (got == 0) return false;
    window_ = std::span<const unsigned char>(buffer_.data(), got);
    window_start_ = pos_;
    return true;
  }

  std::uint64_t size_ = 0;
  std::uint64_t pos_ = 0;
  std::FILE* file_ = nullptr;
  std::vector<unsigned char> buffer_;
  std::span<const unsigned char> window_;  // bytes [window_start_, + size) of the file
  std::uint64_t window_start_ = 0;
};

// A key's name for messages: printable ASCII, at most 80 characters.
std::string printable(std::string_view name) {
  std::string out;
  for (char c : name.substr(0, 80)) out += c >= 0x20 && c < 0x7f ? c : '?';
  if (name.size() > 80) out += "...";
  return out;
}

class MetadataWalk {
 public:
  MetadataWalk(ByteReader& in, std::string_view source) : in_(in), source_(source) {}

  Result<GgufHeader> run() {
    GgufHeader h{.file_size = in_.remaining()};
    unsigned char magic[4] = {};
    if (h.file_size >= 4 && !in_.read(magic, 4)) return read_error();
    if (h.file_size < 4 || std::memcmp(magic, "GGUF", 4) != 0) {
      return Status::format_error(fmt::format(
          "not a GGUF file (no 'GGUF' magic at the start): {}; {}", source_, kModelFetchHint));
    }
    if (h.file_size < kHeaderBytes) {
      return Status::format_error(fmt::format(
          "GGUF file is truncated ({} bytes, shorter than its header): {}", h.file_size, source_));
    }
    if (!in_.read_le(&h.version) || !in_.read_le(&h.n_tensors) || !in_.read_le(&h.n_kv)) {
      return read_error();
    }
    KEYTOK_RETURN_IF_ERROR(check_version(h.version));
    if (h.n_kv > in_.remaining() / kMinKvBytes) {
      return corrupt(
          fmt::format("its header says it holds {} key/value pairs, but only {} bytes "
                      "follow the header (a pair takes at least {})",
                      h.n_kv, in_.remaining(), kMinKvBytes));
    }
    // The tensor count is checked after the walk, against what follows the metadata: a file cut
    // short is then reported where it ends.
    for (std::uint64_t i = 0; i < h.n_kv; ++i) KEYTOK_RETURN_IF_ERROR(check_kv(i));
    h.metadata_end = in_.pos();
    if (h.n_tensors > in_.remaining() / kMinTensorInfoBytes) {
      return corrupt(
          fmt::format("its header says it holds {} tensors, but only {} bytes follow "
                      "its metadata (a tensor's description takes at least {})",
                      h.n_tensors, in_.remaining(), kMinTensorInfoBytes));
    }
    return h;
  }

 private:
  Status corrupt(std::string_view what) const {
    return Status::format_error(fmt::format(
        "GGUF file {} is truncated or corrupt: {}; download it again (scripts/fetch_models.sh)",
        source_, what));
  }
  Status read_error() const {
    return Status::io_error(
        fmt::format("could not read model file {} (did it change while it was read?)", source_));
  }
  // format_error unless `n` bytes remain for `what` (a part of the current key).
  Status need(std::uint64_t n, std::string_view what) const {
    if (n <= in_.remaining()) return Status::ok_status();
    return corrupt(fmt::format("{} is cut off: {} takes {} bytes, but only {} remain", key_, what,
                               n, in_.remaining()));
  }

  // llama.cpp reads versions 2 and 3; 1 is refused, a byte-swapped 3 reads as 0x03000000.
  Status check_version(std::uint32_t v) const {
    if (v == 2 || v == 3) return Status::ok_status();
    std::string why;
    if (v == 1) {
      why = "version 1 is obsolete; convert the model again with a current llama.cpp";
    } else if (v == 0 || (v & 0xFFFFu) == 0) {
      why =
          "the header is corrupt, or the file was written for a big-endian machine; download it "
          "again (scripts/fetch_models.sh)";
    } else {
      why = "the file is newer than this keytok's llama.cpp; update keytok";
    }
    return Status::format_error(fmt::format(
        "GGUF version {} is not one llama.cpp reads (2 and 3): {}; {}", v, source_, why));
  }

  Status check_kv(std::uint64_t index) {
    key_ = fmt::format("key {}", index);
    std::uint64_t len = 0;
    KEYTOK_RETURN_IF_ERROR(need(8, "its name's length"));
    if (!in_.read_le(&len)) return read_error();
    if (len == 0) return corrupt(key_ + " has an empty name");
    if (len > in_.remaining()) {
      return corrupt(fmt::format("{} says its name is {} bytes long, but only {} bytes remain",
                                 key_, len, in_.remaining()));
    }
    if (len > kMaxKeyBytes) {
      return corrupt(
          fmt::format("{} says its name is {} bytes long (key names are short; at "
                      "most {} here)",
                      key_, len, kMaxKeyBytes));
    }
    std::string name(static_cast<std::size_t>(len), '\0');
    if (!in_.read(reinterpret_cast<unsigned char*>(name.data()), name.size())) return read_error();
    key_ = fmt::format("key {} ('{}')", index, printable(name));
    if (const auto [it, inserted] = seen_.emplace(name, index); !inserted) {
      return corrupt(fmt::format("{} appears twice (first as key {})", key_, it->second));
    }
    std::uint32_t type = 0;
    KEYTOK_RETURN_IF_ERROR(need(4, "its value type"));
    if (!in_.read_le(&type)) return read_error();
    if (type >= kTypes.size()) {
      return corrupt(fmt::format("{} has value type {}, which is not a GGUF type (0 to {})", key_,
                                 type, kTypes.size() - 1));
    }
    if (name == "general.alignment") return check_alignment(type);
    if (type == kArray) return check_array();
    if (type == kString) return check_string(std::nullopt);
    KEYTOK_RETURN_IF_ERROR(need(kTypes[type].size, fmt::format("its {} value", kTypes[type].name)));
    in_.skip(kTypes[type].size);
    return Status::ok_status();
  }

  // The loader requires a u32 power of two, and lays the tensor data out by it.
  Status check_alignment(std::uint32_t type) {
    if (type != kU32) {
      return corrupt(fmt::format("{} must be a u32, but its type is {}", key_, kTypes[type].name));
    }
    std::uint32_t alignment = 0;
    KEYTOK_RETURN_IF_ERROR(need(4, "its u32 value"));
    if (!in_.read_le(&alignment)) return read_error();
    if (alignment == 0 || (alignment & (alignment - 1)) != 0) {
      return corrupt(fmt::format("{} is {}, not a power of two", key_, alignment));
    }
    return Status::ok_status();
  }

  Status check_array() {
    std::uint32_t type = 0;
    std::uint64_t n = 0;
    KEYTOK_RETURN_IF_ERROR(need(4, "its array's element type"));
    if (!in_.read_le(&type)) return read_error();
    if (type == kArray) {
      // Allowed by the GGUF spec, refused by the pinned loader ("invalid GGUF type 9").
      return Status::format_error(fmt::format(
          "GGUF file {}: {} is an array of arrays, which the llama.cpp keytok is built on does "
          "not read; use another model file",
          source_, key_));
    }
    if (type >= kTypes.size()) {
      return corrupt(fmt::format("{} is an array of type {}, which is not a GGUF type (0 to {})",
                                 key_, type, kTypes.size() - 1));
    }
    KEYTOK_RETURN_IF_ERROR(need(8, "its array's length"));
    if (!in_.read_le(&n)) return read_error();
    // Every element takes at least its size (a string at least its 8-byte length).
    const std::uint64_t min_size = type == kString ? 8 : kTypes[type].size;
    if (n > in_.remaining() / min_size) {
      return corrupt(fmt::format("{} says its array holds {} {}{}, but only {} bytes remain{}",
                                 key_, n, type == kString ? "strings" : kTypes[type].name,
                                 type == kString ? "" : " values", in_.remaining(),
                                 type == kString ? " (each takes at least 8)" : ""));
    }
    if (n > kMaxArrayElements) {
      return corrupt(fmt::format("{} says its array holds {} elements; llama.cpp reads at most {}",
                                 key_, n, kMaxArrayElements));
    }
    if (type != kString) {
      in_.skip(n * min_size);
      return Status::ok_status();
    }
    for (std::uint64_t j = 0; j < n; ++j) KEYTOK_RETURN_IF_ERROR(check_string(j));
    return Status::ok_status();
  }

  // A string value: the key's own, or element `element` of its array.
  Status check_string(std::optional<std::uint64_t> element) {
    const auto what = [&] {
      return element ? fmt::format("{}: string {} of its array", key_, *element)
                     : fmt::format("{}: its string value", key_);
    };
    std::uint64_t len = 0;
    if (in_.remaining() < 8) {
      return corrupt(fmt::format("{} is cut off in its length (8 bytes; only {} remain)", what(),
                                 in_.remaining()));
    }
    if (!in_.read_le(&len)) return read_error();
    if (len > in_.remaining()) {
      return corrupt(fmt::format("{} says it is {} bytes long, but only {} bytes remain", what(),
                                 len, in_.remaining()));
    }
    if (len > kMaxStringBytes) {
      return corrupt(fmt::format("{} is {} bytes long; llama.cpp reads strings of at most {}",
                                 what(), len, kMaxStringBytes));
    }
    in_.skip(len);
    return Status::ok_status();
  }

  ByteReader& in_;
  std::string_view source_;
  std::string key_;  // "key 12 ('tokenizer.ggml.tokens')": the one being checked, for messages
  std::unordered_map<std::string, std::uint64_t> seen_;  // key name -> index
};

}  // namespace

Result<GgufHeader> check_gguf_bytes(std::span<const unsigned char> bytes, std::string_view source) {
  ByteReader in(bytes);
  return MetadataWalk(in, source).run();
}

Result<GgufHeader> check_gguf_stream(std::FILE* file, std::uint64_t size, std::string_view source,
                                     std::size_t chunk_bytes) {
  ByteReader in(file, size, chunk_bytes);
  return MetadataWalk(in, source).run();
}

Result<GgufHeader> check_gguf_file(const std::string& path) {
  std::error_code ec;
  if (!std::filesystem::exists(path, ec)) {
    return Status::not_found("model file not found: " + path + "; " + kModelFetchHint);
  }
  if (std::filesystem::is_directory(path, ec)) {
    return Status::invalid_argument("model path is a directory, not a GGUF file: " + path);
  }
  const std::unique_ptr<std::FILE, int (*)(std::FILE*)> file(std::fopen(path.c_str(), "rb"),
                                                             &std::fclose);
  if (!file) return Status::io_error("cannot read model file: " + path + "; check its permissions");
  const std::uint64_t size = std::filesystem::file_size(path, ec);
  if (ec) return Status::invalid_argument("model path is not a regular file: " + path);
  return check_gguf_stream(file.get(), size, path);
}

}  // namespace keytok::detail
