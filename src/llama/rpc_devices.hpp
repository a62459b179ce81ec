// The devices of llama.cpp rpc-servers named by ModelParams::rpc_servers.
#pragma once

#include <string>
#include <vector>

#include "keytok/status.hpp"
#include "llama/handles.hpp"

namespace keytok::detail {

/// Checks each "HOST:PORT" (the form llama.cpp parses: the host, one colon, a port 1..65535),
/// that something accepts a TCP connection there within a few seconds, and returns the devices
/// each rpc-server offers, in order, for llama_model_params::devices. Checked first because
/// llama.cpp's RPC backend aborts the process on an endpoint it cannot reach. invalid_argument
/// for a malformed endpoint or a keytok built without llama.cpp's RPC backend (GGML_RPC);
/// load_failed when a server cannot be reached or offers no device.
Result<std::vector<ggml_backend_dev_t>> rpc_devices(const std::vector<std::string>& endpoints);

}  // namespace keytok::detail
