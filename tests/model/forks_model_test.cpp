// keytok forks on a real model (label `model`, SmolLM2): a forced candidate is the token the
// completion decodes next, a completion replayed from the forked cache continues as a fresh
// session fed the same tokens does, batched completions equal one-at-a-time ones, and a base
// answer the match mode cannot read is a clear error.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <map>
#include <tuple>
#include <string>
#include <vector>

#include "keytok/forks.hpp"
#include "keytok/session.hpp"
#include "keytok/token_stats.hpp"
#include "model/test_models.hpp"

namespace keytok::testing {
namespace {

const Task kAddTask{.id = "add", .prompt = "What is 12 plus 7? Answer with the number.", .answer = "19",
                    .match = MatchMode::number};

struct Trace {
  int index = 0, candidate = 0, sample = 0;
  std::vector<token_id> tokens;
  std::string text;
};

class ForkStudyModel : public ::testing::Test {
 protected:
  void SetUp() override {
    model_ = load_test_model(kSmolLM2);
    if (!model_) GTEST_SKIP() << "model absent: run scripts/fetch_models.sh";
  }
  // A session sized for `p` and the add task's prompt.
  std::unique_ptr<Session> session_for(const ForkStudyParams& p) {
    const int n_prompt = static_cast<int>(model_->encode_prompt(kAddTask.prompt, false).value().size());
    return Session::create(model_, {.n_ctx = p.context_cells(n_prompt), .n_seq_max = p.max_live_sequences(),
                                    .n_threads = 1})
        .value();
  }
  std::shared_ptr<const Model> model_;
};

ForkStudyParams small_params() {
  return {.samples = 3, .max_tokens = 24, .random_rate = 1.0, .seed = 7};
}

// Everything of a row but the timing-free figures the study derives from it.
void expect_same_row(const ForkPosition& a, const ForkPosition& b) {
  ASSERT_EQ(a.candidates.size(), b.candidates.size());
  for (std::size_t c = 0; c < a.candidates.size(); ++c) {
    EXPECT_EQ(a.candidates[c].token, b.candidates[c].token) << c;
    EXPECT_EQ(a.candidates[c].answers, b.candidates[c].answers) << c;
    EXPECT_EQ(a.candidates[c].tokens, b.candidates[c].tokens) << c;
  }
  EXPECT_EQ(a.p_change, b.p_change);
  EXPECT_EQ(a.forks, b.forks);
}

TEST_F(ForkStudyModel, PlanFlagsAndWeighsEveryPositionOfTheGreedyAnswer) {
  ForkStudyParams p = small_params();
  p.random_rate = 0.5;
  auto session = session_for(p);
  ForkStudy study(*session, KeyTokenDetector({.entropy_threshold_nats = 1.0f}), p);
  const ForkTask t = study.plan(kAddTask).value();
  ASSERT_FALSE(t.tokens.empty());
  EXPECT_FALSE(t.base_answer.empty());
  EXPECT_EQ(t.correct, t.base_answer == "19");
  ASSERT_EQ(t.pieces.size(), t.tokens.size());
  ASSERT_EQ(t.signals.size(), t.tokens.size());
  ASSERT_EQ(t.weights.size(), t.tokens.size());
  std::string text;
  for (const std::string& piece : t.pieces) text += piece;
  EXPECT_EQ(text, t.text);
  for (std::size_t i = 0; i < t.tokens.size(); ++i) {
    const bool planned = std::binary_search(t.plan.begin(), t.plan.end(), static_cast<int>(i));
    EXPECT_EQ(t.signals[i].key, t.signals[i].entropy >= 1.0f) << i;
    if (!t.contested[i]) {
      EXPECT_FALSE(planned) << i;
      EXPECT_EQ(t.weights[i], 1.0) << i;
      // An uncontested position costs nothing: its row comes back unstudied.
      const ForkPosition row = study.study(t, static_cast<int>(i)).value();
      EXPECT_FALSE(row.studied);
      EXPECT_TRUE(row.candidates.empty());
      EXPECT_EQ(row.tokens, 0);
    } else if (t.signals[i].key) {
      EXPECT_TRUE(planned) << i;
      EXPECT_EQ(t.weights[i], 1.0) << i;
    } else {
      EXPECT_EQ(t.weights[i], planned ? 2.0 : 0.0) << i;
    }
  }
}

// How far apart two runs' logits may be: batched and single-sequence decodes add up in other
// orders (llama.cpp's CPU matmuls take another path for a batch), so near-ties can flip.
constexpr float kNoise = 0.15f;

// Feeds prompt + base[0, index) + tokens[0, upto) to a fresh single-sequence session and
// returns the logits after each of tokens[0, upto) (teacher forcing).
std::vector<std::vector<float>> forced_logits(const std::shared_ptr<const Model>& model, const ForkTask& t,
                                              int index, const std::vector<token_id>& tokens) {
  auto fresh = Session::create(model, {.n_ctx = 512, .n_threads = 1}).value();
  const Branch b = fresh->open().value();
  std::vector<token_id> fed = model->encode_prompt(kAddTask.prompt, false).value();
  const std::size_t first = fed.size() + static_cast<std::size_t>(index);
  fed.insert(fed.end(), t.tokens.begin(), t.tokens.begin() + index);
  fed.insert(fed.end(), tokens.begin(), tokens.end());
  std::vector<std::vector<float>> out(tokens.size());
  EXPECT_TRUE(fresh->feed(b, fed, [&](std::size_t i, std::span<const float> logits) {
                     if (i >= first) out[i - first].assign(logits.begin(), logits.end());
                   }).ok());
  return out;
}

// The largest logit among end-of-generation tokens.
float eog_logit(const Model& model, const std::vector<float>& l) {
  float best = -1e30f;
  for (std::size_t i = 0; i < l.size(); ++i) {
    if (model.is_eog(static_cast<token_id>(i))) best = std::max(best, l[i]);
  }
  return best;
}

// The forced candidate is the first token of its completion, and a completion replayed from the
// forked cache is what a fresh session fed the prompt, the base answer's tokens before the
// position and the completion's own tokens predicts: with top-k 1 each next token is that
// session's argmax, up to near-ties within the noise of another batch size.
TEST_F(ForkStudyModel, ForcedCandidateIsDecodedNextAndReplayEqualsAFreshPrefix) {
  ForkStudyParams p = small_params();
  p.samples = 1;
  p.sampling.top_k = 1;
  auto session = session_for(p);
  ForkStudy study(*session, KeyTokenDetector(), p);
  std::vector<Trace> traces;
  study.on_completion([&](const ForkStudy::Completion& c) {
    traces.push_back({c.index, c.candidate, c.sample, {c.tokens.begin(), c.tokens.end()}, std::string(c.text)});
  });
  const ForkTask t = study.plan(kAddTask).value();
  ASSERT_FALSE(t.plan.empty()) << "no contested position in the base answer: " << t.text;
  const int index = t.plan.front();
  const ForkPosition row = study.study(t, index).value();
  ASSERT_TRUE(row.studied);
  ASSERT_GE(row.candidates.size(), 2u);
  ASSERT_EQ(traces.size(), row.candidates.size());
  EXPECT_EQ(row.candidates[0].token, t.tokens[static_cast<std::size_t>(index)]);

  int steps = 0, exact = 0;
  for (const Trace& tr : traces) {
    EXPECT_EQ(tr.index, index);
    ASSERT_FALSE(tr.tokens.empty());
    EXPECT_EQ(tr.tokens[0], row.candidates[static_cast<std::size_t>(tr.candidate)].token) << tr.candidate;
    EXPECT_EQ(model_->detokenize(tr.tokens), tr.text);
    const auto logits = forced_logits(model_, t, index, tr.tokens);
    for (std::size_t k = 0; k < tr.tokens.size(); ++k) {
      // The token after tokens[k]: the next one, or end-of-generation when the completion stopped
      // before max_tokens.
      const bool last = k + 1 == tr.tokens.size();
      if (last && index + static_cast<int>(tr.tokens.size()) >= p.max_tokens) break;
      const std::vector<float>& l = logits[k];
      const token_id best = argmax(l);
      token_id next = last ? best : tr.tokens[k + 1];
      if (last) {
        EXPECT_TRUE(model_->is_eog(best) || eog_logit(*model_, l) >= l[static_cast<std::size_t>(best)] - kNoise)
            << "candidate " << tr.candidate << " stopped where the fresh session does not";
        next = best;
      }
      ++steps;
      exact += next == best ? 1 : 0;
      EXPECT_GE(l[static_cast<std::size_t>(next)], l[static_cast<std::size_t>(best)] - kNoise)
          << "candidate " << tr.candidate << " step " << k;
    }
  }
  EXPECT_GE(exact * 10, steps * 9) << exact << " of " << steps << " steps are the fresh session's argmax";
}

// All completions of a position in one batch, or one at a time: each completion's sampler is
// seeded by (seed, pass, task, position, candidate, sample), so the two runs make the same
// completions, and where they part it is at a near-tie (the batch-size noise above).
TEST_F(ForkStudyModel, BatchedCompletionsEqualOneAtATime) {
  ForkStudyParams batched = small_params();
  batched.sampling.top_k = 1;
  ForkStudyParams single = batched;
  single.max_parallel = 1;
  auto s1 = session_for(batched);
  auto s2 = session_for(single);
  ForkStudy a(*s1, KeyTokenDetector(), batched);
  ForkStudy b(*s2, KeyTokenDetector(), single);
  std::map<std::tuple<int, int, int>, std::vector<token_id>> ta_tokens, tb_tokens;
  auto record = [](auto& into) {
    return [&into](const ForkStudy::Completion& c) {
      into[{c.index, c.candidate, c.sample}].assign(c.tokens.begin(), c.tokens.end());
    };
  };
  a.on_completion(record(ta_tokens));
  b.on_completion(record(tb_tokens));
  const ForkTask ta = a.plan(kAddTask).value();
  const ForkTask tb = b.plan(kAddTask).value();
  ASSERT_EQ(ta.tokens, tb.tokens);
  ASSERT_EQ(ta.plan, tb.plan);
  ASSERT_FALSE(ta.plan.empty());
  int identical = 0;
  for (std::size_t k = 0; k < std::min<std::size_t>(ta.plan.size(), 2); ++k) {
    const ForkPosition ra = a.study(ta, ta.plan[k]).value();
    const ForkPosition rb = b.study(tb, tb.plan[k]).value();
    ASSERT_EQ(ra.candidates.size(), rb.candidates.size());
    for (std::size_t c = 0; c < ra.candidates.size(); ++c) EXPECT_EQ(ra.candidates[c].token, rb.candidates[c].token);
    // Studying again gives the same row.
    expect_same_row(a.study(ta, ta.plan[k]).value(), ra);
  }
  ASSERT_EQ(ta_tokens.size(), tb_tokens.size());
  for (const auto& [key, x] : ta_tokens) {
    const std::vector<token_id>& y = tb_tokens.at(key);
    const auto [ix, iy] = std::mismatch(x.begin(), x.end(), y.begin(), y.end());
    if (ix == x.end() && iy == y.end()) {
      ++identical;
      continue;
    }
    const auto d = static_cast<std::size_t>(ix - x.begin());
    ASSERT_GT(d, 0u) << "the forced candidates differ";
    const std::vector<token_id> common(x.begin(), ix);
    const std::vector<float>& l = forced_logits(model_, ta, std::get<0>(key), common).back();
    const auto logit = [&](auto it, const std::vector<token_id>& seq) {
      return it == seq.end() ? eog_logit(*model_, l) : l[static_cast<std::size_t>(*it)];
    };
    EXPECT_LT(std::abs(logit(ix, x) - logit(iy, y)), kNoise)
        << "completion (" << std::get<0>(key) << ", " << std::get<1>(key) << ", " << std::get<2>(key)
        << ") parts at token " << d << " without a near-tie";
  }
  EXPECT_GE(identical * 2, static_cast<int>(ta_tokens.size())) << identical << " of " << ta_tokens.size();
  // The session holds only the base answer afterwards: no completion leaked cells.
  EXPECT_EQ(s1->live_branches(), 1);
  EXPECT_EQ(s2->live_branches(), 1);
}

TEST_F(ForkStudyModel, BaseAnswerWithoutAReadableAnswerIsAClearError) {
  ForkStudyParams p = small_params();
  auto session = session_for(p);
  ForkStudy study(*session, KeyTokenDetector(), p);
  const Task task{.id = "nothing", .prompt = kAddTask.prompt, .answer = "ZZZ(\\d+)", .match = MatchMode::regex};
  auto r = study.plan(task);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), StatusCode::invalid_argument);
  EXPECT_NE(r.status().message().find("task nothing: the base answer holds no answer that match mode `regex` can read"),
            std::string::npos)
      << r.status().message();
  // A position of a task never planned is refused.
  ForkTask other;
  other.task_id = "other";
  EXPECT_EQ(study.study(other, 0).status().code(), StatusCode::invalid_argument);
}

TEST_F(ForkStudyModel, TooSmallASessionIsRefusedByName) {
  ForkStudyParams p = small_params();
  auto session = Session::create(model_, {.n_ctx = 512, .n_seq_max = 2, .n_threads = 1}).value();
  ForkStudy study(*session, KeyTokenDetector(), p);
  auto r = study.plan(kAddTask);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().message(), "the session allows 2 sequences; a fork study needs " +
                                      std::to_string(p.max_live_sequences()));
}

}  // namespace
}  // namespace keytok::testing
