// The server's engine: one Session shared by every request, and one thread that owns its
// decodes. Each request's strategy runs on the request's own thread against a RequestTarget
// (a DecodeTarget); its feeds and steps are queued to the engine thread, which merges the steps
// of every running request (every live path of each) into one batched llama_decode per step,
// like llama-server's slots (continuous batching). Between decodes, requests compute their
// token statistics in parallel on their own threads.
//
// Sequences are reserved at admission: a request needs StrategyParams::max_live_sequences();
// requests beyond `parallel` running (or beyond the free sequences) wait in a queue, and beyond
// `queue` waiting they are refused (StatusCode::busy -> HTTP 429).
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <map>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

#include "keytok/decode_target.hpp"
#include "keytok/model.hpp"
#include "keytok/session.hpp"

namespace keytok::server {

struct EngineLimits {
  int parallel = 4;        // requests decoding at once
  int queue = 16;          // requests waiting for a slot; more are refused (busy)
  int sequences = 64;      // KV sequences over all requests (Session n_seq_max), <= 256
  double gather_ms = 2.0;  // how long a step waits for the other running requests' steps
};

struct EngineStats {
  int running = 0;                  // admitted requests
  int queued = 0;                   // waiting for admission
  int sequences_open = 0;           // KV sequences in use
  std::int64_t positions_held = 0;  // positions held by open sequences (a shared prefix counts
                                    // once per sequence that holds it)
  std::int64_t decode_calls = 0;    // batched decodes since start
  std::int64_t tokens_decoded = 0;  // tokens over those decodes
  int n_ctx = 0;                    // KV cells in the shared pool
  int cells_in_use = 0;             // KV cells holding a token now (a cell shared by forks once)
  std::int64_t cells_evicted = 0;   // cells the KV policy removed since start
};

class Engine;

/// One request's view of the shared Session. Not thread-safe: one request thread uses it.
class RequestTarget final : public DecodeTarget {
 public:
  ~RequestTarget() override;  // closes this request's sequences and frees its slot

  Result<std::vector<token_id>> encode_prompt(std::string_view prompt, bool raw) const override;
  Result<std::vector<token_id>> encode_chat(std::span<const ChatMessage> messages) const override;
  bool is_eog(token_id t) const override;
  std::string detokenize(std::span<const token_id> tokens) const override;
  std::string token_piece(token_id t) const override;

  int n_ctx() const override;
  pos max_positions() const override;
  int n_seq_max() const override { return reserved_; }
  void reset() override;  // closes this request's sequences only
  void reset_counters() override { counters_ = {}; }
  Result<Branch> open() override;
  Result<Branch> fork(const Branch& parent) override;
  void close(const Branch& branch) override;
  using DecodeTarget::feed;
  Status feed(const Branch& branch, std::span<const token_id> tokens, const LogitsCallback& on_logits) override;
  Status truncate(const Branch& branch, pos keep) override;
  Status step(std::span<const Branch> branches, std::span<const token_id> tokens) override;
  std::span<const float> logits(const Branch& branch) const override;
  pos n_past(const Branch& branch) const override;
  const SessionCounters& counters() const override { return counters_; }
  /// Ignored: the decode in flight holds other requests' tokens too, so a request cancels
  /// between steps (PathRunner checks its flag) instead of aborting the shared decode.
  void set_abort_flag(const std::atomic<bool>*) override {}

 private:
  friend class Engine;
  RequestTarget(Engine& engine, int reserved) : engine_(engine), reserved_(reserved) {}
  Engine& engine_;
  int reserved_;
  std::vector<seq_id> open_;                      // this request's sequences
  std::map<seq_id, std::vector<float>> logits_;   // latest logits per sequence, copied out
  SessionCounters counters_;
};

class Engine {
 public:
  /// Creates the shared Session (params.n_seq_max = limits.sequences) and starts the thread.
  static Result<std::unique_ptr<Engine>> create(std::shared_ptr<const Model> model,
                                                SessionParams params, const EngineLimits& limits);
  ~Engine();  // stops the thread; every RequestTarget must be gone
  Engine(const Engine&) = delete;
  Engine& operator=(const Engine&) = delete;

  /// A target for one request that needs `sequences` sequences. Waits while the engine is
  /// full; busy when `queue` requests already wait; aborted when `cancel` becomes true (or the
  /// engine stops) while waiting; invalid_argument when `sequences` exceeds the whole pool.
  Result<std::unique_ptr<RequestTarget>> admit(int sequences, const std::atomic<bool>* cancel);

  /// Wakes every waiting admit so that it returns aborted; new admits fail the same way.
  void stop_admitting();

  EngineStats stats() const;
  int n_ctx() const { return session_->n_ctx(); }  // fixed at create; no lock needed
  pos max_positions() const { return session_->max_positions(); }  // likewise
  const KvPolicyParams& kv_policy() const { return session_->kv_policy(); }  // likewise
  const Model& model() const { return *model_; }
  const std::shared_ptr<const Model>& model_ptr() const { return model_; }
  const EngineLimits& limits() const { return limits_; }

 private:
  friend class RequestTarget;
  struct Job {
    RequestTarget* owner = nullptr;
    bool feed = false;
    const LogitsCallback* on_logits = nullptr;  // a feed that wants every token's logits (decoded
                                                // on its own; called on the engine thread)
    std::vector<Branch> branches;
    std::vector<token_id> tokens;
    Status result;
    bool done = false;
  };

  Engine(std::shared_ptr<const Model> model, std::unique_ptr<Session> session, const EngineLimits& limits);
  void loop();
  Status submit(Job& job);                 // from a request thread; waits until done
  void run_batch(std::vector<Job*>& jobs);  // on the engine thread, lock held
  void copy_logits(RequestTarget& owner, const Branch& b);
  // Records a decode's outcome on `job`: its status, its sequences' logits, its counters.
  void settle(Job& job, const Status& st);
  void release(RequestTarget& target);

  std::shared_ptr<const Model> model_;
  std::unique_ptr<Session> session_;
  EngineLimits limits_;

  mutable std::mutex m_;
  std::condition_variable engine_cv_;  // jobs arrived, or stopping
  std::condition_variable done_cv_;    // jobs done
  std::condition_variable admit_cv_;   // a slot freed, or stopping
  std::deque<Job*> jobs_;
  int running_ = 0;
  int queued_ = 0;
  int reserved_ = 0;
  bool stopping_ = false;
  bool admitting_ = true;
  std::thread thread_;
};

}  // namespace keytok::server
