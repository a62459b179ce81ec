// llama.cpp's RPC backend (ggml-rpc): layers placed on rpc-servers on other machines
// (docs/scale-out.md). The backend is reached through the registry ("RPC"), as llama.cpp's
// own --rpc does, so a build without it gives a clear error instead of a link failure.
#include "llama/rpc_devices.hpp"

#include <fmt/format.h>
#include <netdb.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <charconv>
#include <cstring>
#include <fcntl.h>

namespace keytok::detail {

namespace {

constexpr int kConnectTimeoutMs = 3000;

Status parse_endpoint(const std::string& endpoint, std::string& host, std::string& port) {
  const std::size_t colon = endpoint.find(':');
  int n = 0;
  const char* p = endpoint.c_str() + (colon == std::string::npos ? 0 : colon + 1);
  const auto [end, ec] = std::from_chars(p, endpoint.c_str() + endpoint.size(), n);
  if (colon == std::string::npos || colon == 0 || endpoint.find(':', colon + 1) != std::string::npos ||
      ec != std::errc() || end != endpoint.c_str() + endpoint.size() || n < 1 || n > 65535) {
    return Status::invalid_argument(fmt::format(
        "--rpc: '{}' is not HOST:PORT (e.g. 192.168.1.20:50052; IPv6 addresses are not supported "
        "by llama.cpp's RPC backend)",
        endpoint));
  }
  host = endpoint.substr(0, colon);
  port = endpoint.substr(colon + 1);
  return Status::ok_status();
}

// Whether a TCP connection to host:port opens within the timeout; `why` says why not.
bool reachable(const std::string& host, const std::string& port, std::string& why) {
  addrinfo hints{};
  hints.ai_family = AF_INET;
  hints.ai_socktype = SOCK_STREAM;
  addrinfo* found = nullptr;
  if (const int rc = getaddrinfo(host.c_str(), port.c_str(), &hints, &found); rc != 0) {
    why = gai_strerror(rc);
    return false;
  }
  bool ok = false;
  why = "no address";
  for (addrinfo* a = found; a != nullptr && !ok; a = a->ai_next) {
    const int fd = socket(a->ai_family, a->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC, a->ai_protocol);
    if (fd < 0) continue;
    if (connect(fd, a->ai_addr, a->ai_addrlen) == 0) {
      ok = true;
    } else if (errno == EINPROGRESS) {
      pollfd pfd{.fd = fd, .events = POLLOUT, .revents = 0};
      int err = 0;
      socklen_t len = sizeof err;
      if (poll(&pfd, 1, kConnectTimeoutMs) == 1 && getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) == 0) {
        ok = err == 0;
        if (!ok) why = std::strerror(err);
      } else {
        why = "no answer within 3 s";
      }
    } else {
      why = std::strerror(errno);
    }
    close(fd);
  }
  freeaddrinfo(found);
  return ok;
}

}  // namespace

Result<std::vector<ggml_backend_dev_t>> rpc_devices(const std::vector<std::string>& endpoints) {
  ggml_backend_reg_t rpc = ggml_backend_reg_by_name("RPC");
  using AddServerFn = ggml_backend_reg_t (*)(const char* endpoint);
  const auto add_server = rpc == nullptr ? nullptr
                                         : reinterpret_cast<AddServerFn>(ggml_backend_reg_get_proc_address(
                                               rpc, "ggml_backend_rpc_add_server"));
  if (add_server == nullptr) {
    return Status::invalid_argument(
        "--rpc: this keytok was built without llama.cpp's RPC backend; configure it with "
        "-DKEYTOK_RPC=ON (the default) and build again");
  }
  std::vector<ggml_backend_dev_t> devices;
  for (const std::string& endpoint : endpoints) {
    std::string host, port, why;
    KEYTOK_RETURN_IF_ERROR(parse_endpoint(endpoint, host, port));
    if (!reachable(host, port, why)) {
      return Status::load_failed(fmt::format(
          "--rpc: cannot reach an rpc-server at {} ({}); start one there "
          "(ggml-rpc-server -H HOST -p PORT) or check the address",
          endpoint, why));
    }
    ggml_backend_reg_t reg = add_server(endpoint.c_str());
    if (reg == nullptr || ggml_backend_reg_dev_count(reg) == 0) {
      return Status::load_failed(fmt::format("--rpc: the rpc-server at {} offers no device", endpoint));
    }
    for (std::size_t i = 0; i < ggml_backend_reg_dev_count(reg); ++i) {
      devices.push_back(ggml_backend_reg_dev_get(reg, i));
    }
  }
  return devices;
}

}  // namespace keytok::detail
