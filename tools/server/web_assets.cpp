// The embedded web viewer (generated/web_assets.inc).
#include "web_assets.hpp"

namespace keytok::server {

namespace {

constexpr WebAsset kAssets[] = {
#include "web_assets.inc"
};

}  // namespace

const WebAsset* find_web_asset(std::string_view name) {
  for (const WebAsset& a : kAssets) {
    if (a.name == name) return &a;
  }
  return nullptr;
}

std::string_view web_content_type(std::string_view name) {
  if (name.ends_with(".html")) return "text/html; charset=utf-8";
  if (name.ends_with(".js")) return "text/javascript; charset=utf-8";
  if (name.ends_with(".css")) return "text/css; charset=utf-8";
  if (name.ends_with(".svg")) return "image/svg+xml";
  if (name.ends_with(".png")) return "image/png";
  return "application/octet-stream";
}

}  // namespace keytok::server
