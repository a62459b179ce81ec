// file_sha256(): a model file's content digest, remembered per (path, size, mtime, inode) the way
// git's index and ccache's manifest avoid re-reading unchanged files.
#include "keytok/model_identity.hpp"

#include <openssl/evp.h>
#include <sys/stat.h>
#include <unistd.h>

#include <array>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <memory>
#include <sstream>
#include <vector>

namespace keytok {

namespace {

constexpr char kMemoMagic[] = "keytok-identity 1";

std::string hex(const unsigned char* d, unsigned n) {
  static constexpr char kDigits[] = "0123456789abcdef";
  std::string out;
  out.reserve(2 * n);
  for (unsigned i = 0; i < n; ++i) {
    out += kDigits[d[i] >> 4];
    out += kDigits[d[i] & 15];
  }
  return out;
}

struct EvpCtxDeleter {
  void operator()(EVP_MD_CTX* c) const { EVP_MD_CTX_free(c); }
};

Result<std::string> sha256_bytes(std::string_view data) {
  std::array<unsigned char, EVP_MAX_MD_SIZE> md{};
  unsigned n = 0;
  if (EVP_Digest(data.data(), data.size(), md.data(), &n, EVP_sha256(), nullptr) != 1) {
    return Status::internal("OpenSSL's SHA-256 failed");
  }
  return hex(md.data(), n);
}

Result<std::string> sha256_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return Status::io_error("cannot read " + path + " to identify it; check its permissions");
  std::unique_ptr<EVP_MD_CTX, EvpCtxDeleter> ctx(EVP_MD_CTX_new());
  if (!ctx || EVP_DigestInit_ex(ctx.get(), EVP_sha256(), nullptr) != 1) {
    return Status::internal("OpenSSL's SHA-256 could not start");
  }
  std::vector<char> buf(1 << 20);
  while (in) {
    in.read(buf.data(), static_cast<std::streamsize>(buf.size()));
    if (in.gcount() > 0) EVP_DigestUpdate(ctx.get(), buf.data(), static_cast<std::size_t>(in.gcount()));
  }
  if (in.bad()) return Status::io_error("reading " + path + " failed while identifying it");
  std::array<unsigned char, EVP_MAX_MD_SIZE> md{};
  unsigned n = 0;
  if (EVP_DigestFinal_ex(ctx.get(), md.data(), &n) != 1) return Status::internal("OpenSSL's SHA-256 failed");
  return hex(md.data(), n);
}

// What the memo keys on besides the path: the file as stat(2) sees it.
std::string stat_key(const struct stat& st) {
  std::ostringstream k;
  k << st.st_size << ' ' << st.st_mtim.tv_sec << '.' << st.st_mtim.tv_nsec << ' ' << st.st_dev << ' '
    << st.st_ino;
  return k.str();
}

}  // namespace

std::string cache_dir() {
  if (const char* env = std::getenv("KEYTOK_CACHE"); env != nullptr && *env != '\0') return env;
  if (const char* xdg = std::getenv("XDG_CACHE_HOME"); xdg != nullptr && *xdg != '\0') {
    return std::string(xdg) + "/keytok";
  }
  if (const char* home = std::getenv("HOME"); home != nullptr && *home != '\0') {
    return std::string(home) + "/.cache/keytok";
  }
  return std::filesystem::temp_directory_path().string() + "/keytok-cache";
}

Result<std::string> file_sha256(const std::string& path) {
  std::error_code ec;
  const std::string abs = std::filesystem::absolute(path, ec).lexically_normal().string();
  struct stat st {};
  if (ec || ::stat(abs.c_str(), &st) != 0) return Status::not_found("file not found: " + path);
  const std::string key = stat_key(st);
  auto name = sha256_bytes(abs);
  if (!name.ok()) return name.status();
  const std::filesystem::path dir = std::filesystem::path(cache_dir()) / "identity";
  const std::filesystem::path memo = dir / (name->substr(0, 32) + ".txt");

  // Memo: magic, absolute path, stat key, digest; one per line.
  if (std::ifstream in(memo); in) {
    std::string magic, p, k, digest;
    if (std::getline(in, magic) && std::getline(in, p) && std::getline(in, k) && std::getline(in, digest) &&
        magic == kMemoMagic && p == abs && k == key && digest.size() == 64) {
      return digest;
    }
  }
  auto digest = sha256_file(abs);
  if (!digest.ok()) return digest.status();
  std::filesystem::create_directories(dir, ec);
  const std::filesystem::path tmp = memo.string() + ".tmp" + std::to_string(::getpid());
  {
    std::ofstream out(tmp);
    out << kMemoMagic << '\n' << abs << '\n' << key << '\n' << *digest << '\n';
  }
  std::filesystem::rename(tmp, memo, ec);
  if (ec) std::filesystem::remove(tmp, ec);
  return digest;
}

}  // namespace keytok
