#include "train/adamw.h"

#include <cmath>

#include "base/error.h"

namespace vrwkv::train {

bool decays(const torch::Tensor& t) {
  int64_t big = 0;
  for (auto s : t.sizes()) big += s > 1;
  return big >= 2;
}

namespace {

// The factor of the first prefix that `name` starts with; 1 when none does.
double lr_scale_of(const std::string& name, const std::vector<std::pair<std::string, double>>& scales) {
  for (const auto& [prefix, factor] : scales)
    if (name.rfind(prefix, 0) == 0) return factor;
  return 1.0;
}

}  // namespace

AdamW::AdamW(const io::NamedTensors& params, AdamWOptions options) : params_(params), options_(options) {
  torch::NoGradGuard no_grad;
  for (const auto& [name, p] : params_) {
    master_.push_back(p.detach().to(torch::kFloat32).clone());
    exp_avg_.push_back(torch::zeros_like(master_.back()));
    exp_avg_sq_.push_back(torch::zeros_like(master_.back()));
    decay_.push_back(decays(p));
    lr_scale_.push_back(lr_scale_of(name, options_.lr_scales));
  }
}

void AdamW::step(double lr) {
  std::vector<torch::Tensor> grads;
  for (const auto& [name, p] : params_) grads.push_back(p.grad());
  step(lr, grads);
}

void AdamW::step(double lr, const std::vector<torch::Tensor>& grads) {
  VRWKV_CHECK(grads.size() == params_.size(), "AdamW::step: ", grads.size(), " gradients for ", params_.size(),
              " tensors");
  torch::NoGradGuard no_grad;
  ++step_count_;
  const double b1 = options_.beta1, b2 = options_.beta2;
  const double bias1 = 1.0 - std::pow(b1, double(step_count_));
  const double bias2 = 1.0 - std::pow(b2, double(step_count_));
  for (size_t i = 0; i < params_.size(); ++i) {
    const auto& p = params_[i].second;
    if (!grads[i].defined()) continue;  // no gradient reached it this step (e.g. unused)
    const double lr_i = lr * lr_scale_[i];
    const auto g = grads[i].to(torch::kFloat32);
    auto& w = master_[i];
    if (decay_[i] && options_.weight_decay > 0) w.mul_(1.0 - lr_i * options_.weight_decay);
    exp_avg_[i].mul_(b1).add_(g, 1.0 - b1);
    exp_avg_sq_[i].mul_(b2).addcmul_(g, g, 1.0 - b2);
    const auto denom = (exp_avg_sq_[i] / bias2).sqrt_().add_(options_.eps);
    w.addcdiv_(exp_avg_[i], denom, -lr_i / bias1);
    p.copy_(w);
  }
}

io::NamedTensors AdamW::state() const {
  io::NamedTensors out;
  for (size_t i = 0; i < params_.size(); ++i) {
    const auto& name = params_[i].first;
    out.emplace_back(name + ".master", master_[i]);
    out.emplace_back(name + ".exp_avg", exp_avg_[i]);
    out.emplace_back(name + ".exp_avg_sq", exp_avg_sq_[i]);
  }
  out.emplace_back("step", torch::tensor(step_count_, torch::kInt64));
  return out;
}

void AdamW::load_state(const io::NamedTensors& state, const std::string& source) {
  torch::NoGradGuard no_grad;
  auto get = [&](const std::string& key, const torch::Tensor& like) {
    auto t = io::find_tensor(state, key);
    VRWKV_CHECK(t.defined(), source, ": optimizer state has no '", key, "'");
    VRWKV_CHECK(t.sizes() == like.sizes(), source, ": optimizer state '", key, "' has shape ", t.sizes(),
                " but the parameter has ", like.sizes());
    return t.to(like.device(), torch::kFloat32);
  };
  for (size_t i = 0; i < params_.size(); ++i) {
    const auto& name = params_[i].first;
    master_[i].copy_(get(name + ".master", master_[i]));
    exp_avg_[i].copy_(get(name + ".exp_avg", exp_avg_[i]));
    exp_avg_sq_[i].copy_(get(name + ".exp_avg_sq", exp_avg_sq_[i]));
    params_[i].second.copy_(master_[i]);
  }
  const auto step = io::find_tensor(state, "step");
  VRWKV_CHECK(step.defined(), source, ": optimizer state has no 'step'");
  step_count_ = step.item<int64_t>();
}

}  // namespace vrwkv::train
