// keytok/model_identity.hpp: which model file this is, independent of where it lies.
//
// Per-model results (the automatic calibration) are cached by the file's content, not its path:
// a model copied or renamed keeps its calibration, and a different file at the same path (a
// re-quantisation, a fine-tune) gets its own.
#pragma once

#include <string>

#include "keytok/status.hpp"

namespace keytok {

/// keytok's cache folder: $KEYTOK_CACHE when set, else $XDG_CACHE_HOME/keytok, else
/// $HOME/.cache/keytok (the folder the setup scripts keep downloads in). Not created here.
std::string cache_dir();

/// The identity of a file: the SHA-256 of its bytes as 64 lower-case hex digits, the digest
/// that data/models.tsv pins and `sha256sum` prints. Hashing reads the whole file (about half a
/// second per 500 MB here); the digest is then remembered in cache_dir()/identity/, keyed by the
/// file's absolute path, size, modification time, device and inode, so later calls cost one
/// stat. A cache that cannot be written is skipped silently. Errors: not_found, io_error.
/// Thread-safe; concurrent processes may both hash, and the last write wins.
Result<std::string> file_sha256(const std::string& path);

}  // namespace keytok
