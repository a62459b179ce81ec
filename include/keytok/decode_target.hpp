// keytok/decode_target.hpp: what a strategy needs from a Session and its Model, and no more:
// sequences, batched steps, logits, and a few token facts (prompt encoding, end of generation,
// text).
//
// Strategies run on a DecodeTarget (Strategy::run). SessionTarget adapts one Session, which is
// what Strategy::run(Session&, ...) uses. Other targets share one Session between requests (the
// server batches every request's sequences into one decode per step) or script logits without
// a model (tests/unit/scripted_target.hpp), so that fork, prune, budget and vote logic can be
// tested on logits chosen to make each rule fire.
#pragma once

#include <atomic>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "keytok/model.hpp"
#include "keytok/session.hpp"
#include "keytok/status.hpp"
#include "keytok/types.hpp"

namespace keytok {

/// The contracts are Session's (keytok/session.hpp) and Model's (keytok/model.hpp).
class DecodeTarget {
 public:
  virtual ~DecodeTarget() = default;

  // Tokens (Model).
  virtual Result<std::vector<token_id>> encode_prompt(std::string_view prompt, bool raw) const = 0;
  virtual Result<std::vector<token_id>> encode_chat(std::span<const ChatMessage> messages) const = 0;
  virtual bool is_eog(token_id t) const = 0;
  virtual std::string detokenize(std::span<const token_id> tokens) const = 0;
  virtual std::string token_piece(token_id t) const = 0;

  // Sequences (Session).
  virtual int n_ctx() const = 0;
  /// Session::max_positions: the positions a branch can reach (n_ctx unless the KV policy evicts).
  virtual pos max_positions() const { return n_ctx(); }
  /// Session::room: tokens the branch can still take.
  pos room(const Branch& branch) const { return max_positions() - n_past(branch); }
  virtual int n_seq_max() const = 0;
  virtual void reset() = 0;
  virtual void reset_counters() = 0;
  virtual Result<Branch> open() = 0;
  virtual Result<Branch> fork(const Branch& parent) = 0;
  virtual void close(const Branch& branch) = 0;
  /// Session::feed; with `on_logits`, every fed token's next-token logits (teacher forcing).
  virtual Status feed(const Branch& branch, std::span<const token_id> tokens,
                      const LogitsCallback& on_logits) = 0;
  Status feed(const Branch& branch, std::span<const token_id> tokens) { return feed(branch, tokens, {}); }
  /// Session::truncate: the branch keeps its first `keep` positions.
  virtual Status truncate(const Branch& branch, pos keep) = 0;
  virtual Status step(std::span<const Branch> branches, std::span<const token_id> tokens) = 0;
  virtual std::span<const float> logits(const Branch& branch) const = 0;
  virtual pos n_past(const Branch& branch) const = 0;
  virtual const SessionCounters& counters() const = 0;
  virtual void set_abort_flag(const std::atomic<bool>* flag) = 0;
};

/// A Session as a DecodeTarget.
class SessionTarget final : public DecodeTarget {
 public:
  explicit SessionTarget(Session& session) : s_(session) {}

  Result<std::vector<token_id>> encode_prompt(std::string_view prompt, bool raw) const override {
    return s_.model().encode_prompt(prompt, raw);
  }
  Result<std::vector<token_id>> encode_chat(std::span<const ChatMessage> messages) const override {
    return s_.model().encode_chat(messages);
  }
  bool is_eog(token_id t) const override { return s_.model().is_eog(t); }
  std::string detokenize(std::span<const token_id> tokens) const override {
    return s_.model().detokenize(tokens);
  }
  std::string token_piece(token_id t) const override { return s_.model().token_piece(t); }

  int n_ctx() const override { return s_.n_ctx(); }
  pos max_positions() const override { return s_.max_positions(); }
  int n_seq_max() const override { return s_.n_seq_max(); }
  void reset() override { s_.reset(); }
  void reset_counters() override { s_.reset_counters(); }
  Result<Branch> open() override { return s_.open(); }
  Result<Branch> fork(const Branch& parent) override { return s_.fork(parent); }
  void close(const Branch& branch) override { s_.close(branch); }
  using DecodeTarget::feed;
  Status feed(const Branch& branch, std::span<const token_id> tokens, const LogitsCallback& on_logits) override {
    return s_.feed(branch, tokens, on_logits);
  }
  Status truncate(const Branch& branch, pos keep) override { return s_.truncate(branch, keep); }
  Status step(std::span<const Branch> branches, std::span<const token_id> tokens) override {
    return s_.step(branches, tokens);
  }
  std::span<const float> logits(const Branch& branch) const override { return s_.logits(branch); }
  pos n_past(const Branch& branch) const override { return s_.n_past(branch); }
  const SessionCounters& counters() const override { return s_.counters(); }
  void set_abort_flag(const std::atomic<bool>* flag) override { s_.set_abort_flag(flag); }

 private:
  Session& s_;
};

}  // namespace keytok
