// A DecodeTarget without a model: a tiny vocabulary whose next-token distribution is a function
// of each sequence's generated tokens, written by the test. It keeps llama.cpp's observable
// rules that PathRunner depends on: logits exist only for the sequences of the most recent
// decode (and forks of them), forks share their parent's cells, a closed sequence frees the
// cells no other sequence holds, and the pool of cells is bounded (kv_full).
#pragma once

#include <cmath>
#include <functional>
#include <map>
#include <set>
#include <string>
#include <vector>

#include "keytok/decode_target.hpp"

namespace keytok::testing {

class ScriptedTarget final : public DecodeTarget {
 public:
  static constexpr int kVocab = 8;
  static constexpr token_id kEog = 7;

  /// Probabilities (kVocab of them) of the next token after `generated` (the tokens after the
  /// prompt).
  using Script = std::function<std::vector<float>(const std::vector<token_id>& generated)>;

  explicit ScriptedTarget(Script script, int n_ctx = 256, int n_seq_max = 16, int kv_cells = 4096)
      : script_(std::move(script)), n_ctx_(n_ctx), n_seq_max_(n_seq_max), kv_cells_(kv_cells) {}

  // --- test controls and probes
  int fail_at_step = -1;  // the step call (0-based) that returns an internal error; -1 = none
  int open_sequences() const { return static_cast<int>(seqs_.size()); }
  int cells_in_use() const {
    std::set<int> cells;
    for (const auto& [id, s] : seqs_) cells.insert(s.cells.begin(), s.cells.end());
    return static_cast<int>(cells.size());
  }
  /// Each step's batch: the tokens decoded per sequence id.
  std::vector<std::map<seq_id, token_id>> steps;

  // --- tokens: token t is the letter 'a' + t; the end-of-generation token has no text.
  Result<std::vector<token_id>> encode_prompt(std::string_view prompt, bool) const override {
    if (prompt.empty()) return Status::invalid_argument("empty prompt");
    std::vector<token_id> out;
    for (char c : prompt) out.push_back(static_cast<token_id>(static_cast<unsigned char>(c) % (kVocab - 1)));
    return out;
  }
  Result<std::vector<token_id>> encode_chat(std::span<const ChatMessage> messages) const override {
    std::string all;
    for (const ChatMessage& m : messages) all += m.content;
    return encode_prompt(all, true);
  }
  bool is_eog(token_id t) const override { return t == kEog; }
  std::string detokenize(std::span<const token_id> tokens) const override {
    std::string s;
    for (token_id t : tokens) s += token_piece(t);
    return s;
  }
  std::string token_piece(token_id t) const override {
    return t == kEog ? std::string() : std::string(1, static_cast<char>('a' + t));
  }

  // --- sequences
  int n_ctx() const override { return n_ctx_; }
  int n_seq_max() const override { return n_seq_max_; }
  void reset() override {
    seqs_.clear();
    fresh_.clear();
  }
  void reset_counters() override { counters_ = {}; }
  Result<Branch> open() override {
    for (seq_id id = 0; id < n_seq_max_; ++id) {
      if (seqs_.count(id) == 0) {
        seqs_[id] = Seq{};
        note_live();
        return Branch{id};
      }
    }
    return Status::invalid_argument("no free sequence");
  }
  Result<Branch> fork(const Branch& parent) override {
    auto b = open();
    if (!b.ok()) return b;
    seqs_[b->id] = seqs_.at(parent.id);
    if (fresh_.count(parent.id) != 0) fresh_.insert(b->id);
    return b;
  }
  void close(const Branch& branch) override {
    seqs_.erase(branch.id);
    fresh_.erase(branch.id);
  }
  using DecodeTarget::feed;
  /// The first feed into an empty sequence is its prompt; later feeds continue it.
  Status feed(const Branch& branch, std::span<const token_id> tokens, const LogitsCallback& on_logits) override {
    Seq& s = seqs_.at(branch.id);
    if (s.n_past() + static_cast<int>(tokens.size()) > n_ctx_) return Status::context_overflow("context");
    if (cells_in_use() + static_cast<int>(tokens.size()) > kv_cells_) return Status::kv_full("kv full");
    const bool prompt = s.n_past() == 0;
    for (std::size_t i = 0; i < tokens.size(); ++i) {
      s.push(tokens[i], next_cell_++);
      if (on_logits) {
        const std::vector<float> l = prompt ? to_logits(script_({})) : logits_after(s);
        on_logits(i, l);
      }
    }
    if (prompt) s.n_prompt = s.n_past();
    ++counters_.decode_calls;
    counters_.tokens_decoded += static_cast<std::int64_t>(tokens.size());
    feeds.push_back({branch.id, {tokens.begin(), tokens.end()}});
    fresh_ = {branch.id};
    s.logits = logits_after(s);
    return Status::ok_status();
  }
  Status truncate(const Branch& branch, pos keep) override {
    Seq& s = seqs_.at(branch.id);
    if (keep < 0 || keep > s.n_past()) return Status::invalid_argument("truncate out of range");
    s.tokens.resize(static_cast<std::size_t>(keep));
    s.cells.resize(static_cast<std::size_t>(keep));
    fresh_.erase(branch.id);
    ++truncations;
    return Status::ok_status();
  }
  /// Each feed: the sequence and the tokens fed.
  std::vector<std::pair<seq_id, std::vector<token_id>>> feeds;
  int truncations = 0;
  /// The tokens sequence `id` holds (prompt included); empty when it is not open.
  std::vector<token_id> held_tokens(seq_id id) const {
    const auto it = seqs_.find(id);
    return it == seqs_.end() ? std::vector<token_id>() : it->second.tokens;
  }
  Status step(std::span<const Branch> branches, std::span<const token_id> tokens) override {
    const int call = static_cast<int>(steps.size());
    steps.emplace_back();
    if (call == fail_at_step) return Status::internal("scripted decode failure");
    if (cells_in_use() + static_cast<int>(branches.size()) > kv_cells_) return Status::kv_full("kv full");
    fresh_.clear();
    for (std::size_t i = 0; i < branches.size(); ++i) {
      Seq& s = seqs_.at(branches[i].id);
      if (s.n_past() + 1 > n_ctx_) return Status::context_overflow("context");
      s.push(tokens[i], next_cell_++);
      s.logits = logits_after(s);
      fresh_.insert(branches[i].id);
      steps.back()[branches[i].id] = tokens[i];
    }
    ++counters_.decode_calls;
    counters_.tokens_decoded += static_cast<std::int64_t>(branches.size());
    return Status::ok_status();
  }
  std::span<const float> logits(const Branch& branch) const override {
    if (fresh_.count(branch.id) == 0) return {};
    return seqs_.at(branch.id).logits;
  }
  pos n_past(const Branch& branch) const override { return seqs_.at(branch.id).n_past(); }
  const SessionCounters& counters() const override { return counters_; }
  void set_abort_flag(const std::atomic<bool>* flag) override { abort_flag = flag; }
  const std::atomic<bool>* abort_flag = nullptr;  // what the runner set, for tests

  /// Logits (natural log of the probabilities) for a distribution.
  static std::vector<float> to_logits(const std::vector<float>& probs) {
    std::vector<float> l;
    for (float p : probs) l.push_back(std::log(std::max(p, 1e-12f)));
    return l;
  }

 private:
  struct Seq {
    std::vector<token_id> tokens;
    std::vector<int> cells;
    int n_prompt = 0;
    std::vector<float> logits;
    int n_past() const { return static_cast<int>(tokens.size()); }
    void push(token_id t, int cell) {
      tokens.push_back(t);
      cells.push_back(cell);
    }
  };
  std::vector<float> logits_after(const Seq& s) const {
    const std::vector<token_id> generated(s.tokens.begin() + s.n_prompt, s.tokens.end());
    return to_logits(script_(generated));
  }
  void note_live() {
    counters_.peak_live_branches = std::max(counters_.peak_live_branches, static_cast<int>(seqs_.size()));
  }

  Script script_;
  int n_ctx_, n_seq_max_, kv_cells_;
  int next_cell_ = 0;
  std::map<seq_id, Seq> seqs_;
  std::set<seq_id> fresh_;
  SessionCounters counters_;
};

/// A distribution with probability `p` on token `t` and the rest spread evenly over the other
/// tokens except end of generation (or on end of generation when t is it).
inline std::vector<float> peaked(token_id t, float p = 0.99f) {
  std::vector<float> probs(ScriptedTarget::kVocab, 0.0f);
  const float rest = (1.0f - p) / static_cast<float>(ScriptedTarget::kVocab - 2);
  for (token_id i = 0; i < ScriptedTarget::kVocab - 1; ++i) probs[static_cast<std::size_t>(i)] = rest;
  probs[static_cast<std::size_t>(t)] = p;
  if (t == ScriptedTarget::kEog) probs[static_cast<std::size_t>(ScriptedTarget::kEog)] = p;
  return probs;
}

}  // namespace keytok::testing
