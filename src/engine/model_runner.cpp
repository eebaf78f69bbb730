#include "engine/model_runner.h"

#include "engine/sequence.h"

namespace fathom {

ModelOutput ModelRunner::Execute(const SchedulerOutput& out) {
  FATHOM_CHECK(!out.empty());
  ModelOutput result;
  batch_.clear();
  for (const ScheduledSequence& s : out.scheduled) {
    Sequence& seq = *s.sequence;
    const std::vector<int32_t>& tokens = seq.tokens();
    const int64_t begin = seq.num_computed_tokens();
    batch_.push_back({.tokens = std::span<const int32_t>(tokens).subspan(begin, s.num_new_tokens),
                      .cache = &seq.cache()});
  }
  result.sampled.resize(out.scheduled.size());
  result.sample_errors.resize(out.scheduled.size());
  result.status = lm_->Forward(batch_, &logits_);
  if (!result.status.ok()) return result;

  const int64_t vocab = lm_->config().vocab_size;
  for (size_t i = 0; i < out.scheduled.size(); ++i) {
    const ScheduledSequence& s = out.scheduled[i];
    if (!s.is_sampled) continue;
    const std::span<const float> row(logits_.data() + i * vocab, vocab);
    Request& request = s.sequence->request();
    // At a fork point every choice draws from this row, each with its own sampler.
    const size_t num_choices = s.is_fork_point ? request.sequences.size() : 1;
    for (size_t c = 0; c < num_choices; ++c) {
      Sequence& chooser = s.is_fork_point ? *request.sequences[c] : *s.sequence;
      Result<int32_t> token = chooser.sampler().Sample(row, &scratch_);
      if (!token.ok()) {
        result.sample_errors[i] = token.status();
        result.sampled[i].clear();
        break;
      }
      SampledToken sampled{.token = *token, .time = EngineClock::now(), .logprobs = std::nullopt};
      if (request.params.logprobs) sampled.logprobs = ComputeLogprobs(row, *token, *request.params.logprobs);
      result.sampled[i].push_back(std::move(sampled));
    }
  }
  return result;
}

}  // namespace fathom
