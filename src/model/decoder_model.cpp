#include "model/decoder_model.h"

namespace fathom {

DecoderModel::DecoderModel(WeightStore store, std::unique_ptr<Backend> backend, int64_t rot_dim)
    : store_(std::move(store)), config_(store_.config()), backend_(std::move(backend)), rope_(config_, rot_dim) {}

Status DecoderModel::LoadEnds() {
  FATHOM_ASSIGN_OR_RETURN(ends_, LmEnds::Load(store_, *backend_));
  return Status::Ok();
}

Status DecoderModel::Forward(std::span<const BatchEntry> batch, std::vector<float>* logits) {
  Backend& b = *backend_;
  FATHOM_RETURN_IF_ERROR(MakeForwardContext(config_, batch, b, &ctx_));
  const ForwardContext& ctx = ctx_;
  const int64_t rows = ctx.num_rows, h = config_.hidden_size, rot = rope_.rot_dim();
  rope_rows_.resize(rows * rot);
  rope_.CosSinRows(ctx.positions, rope_rows_.data());
  FATHOM_RETURN_IF_ERROR(b.BeginForward(ctx, rope_rows_, rot));
  using Buf = Workspace::Buf;
  float* hidden = ctx.ws->Floats(Buf::kHidden, rows * h);  // (rows, hidden): the residual stream
  float* normed = ctx.ws->Floats(Buf::kNormed, rows * h);  // (rows, hidden)
  float* delta = ctx.ws->Floats(Buf::kDelta, rows * h);    // (rows, hidden): a block's output
  auto step = [&] {
    ends_.Embed(ctx, hidden);
    Layers(ctx, hidden, normed, delta);
    ends_.Logits(ctx, hidden);
  };
  b.RunStep(step);
  ends_.CopyLogits(ctx, logits);
  FATHOM_RETURN_IF_ERROR(b.FinishForward());
  CommitCaches(ctx);
  return Status::Ok();
}

Result<KvCache> CausalLm::NewCache(int64_t capacity) const {
  return KvCache::Create(cache_shape(), capacity, backend());
}

}  // namespace fathom
