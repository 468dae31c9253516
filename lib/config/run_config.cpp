#include "config/run_config.h"

#include <filesystem>
#include <fstream>

#include "base/error.h"

namespace vrwkv {

using namespace config;

const Field& run_config_schema() {
  static const Field schema = object("", "", {
      object("model", "model sizes (SPEC section 1) and how the image span is read", {
          integer("n_layer", 24, "RWKV blocks", 1),
          integer("n_embd", 2048, "model width C", 1),
          integer("dim_att", 0, "attention width (0: n_embd)", 0),
          integer("dim_ffn", 0, "channel-mix width (0: floor(n_embd * 3.5 / 32) * 32)", 0),
          integer("head_size", 64, "channels per WKV head", 1),
          integer("vocab_size", 65536, "vocabulary size", 1),
          integer("d_mix", 0, "ddlerp LoRA width (0: 32, or 64 when n_embd >= 4096)", 0),
          integer("d_decay", 0, "decay LoRA width (0: 64, or 128 when n_embd >= 4096)", 0),
          integer("grid_size", -1, "image token pooling: -1 all patches + cls, 0 cls, 1 mean + cls, g > 1 g x g grid", -1),
          string("scan_mode", "bi", "order the image span is read in per block", {"uni", "bi", "multi"}),
          object("vision", "the CLIP vision tower", {
              integer("hidden_size", 1024, "vision width", 1),
              integer("intermediate_size", 4096, "vision MLP width", 1),
              integer("num_hidden_layers", 24, "vision encoder layers", 1),
              integer("num_attention_heads", 16, "vision attention heads", 1),
              integer("image_size", 336, "input side in pixels", 1),
              integer("patch_size", 14, "patch side in pixels", 1),
              number("layer_norm_eps", 1e-5, "LayerNorm epsilon", 0),
          }),
      }),
      object("tokenizer", "how text becomes ids", {
          string("kind", "world", "tokenizer family", {"world", "sentencepiece"}),
          string("path", nullptr, "the vocabulary file (World) or model file (sentencepiece)"),
      }),
      object("data", "the training data", {
          string("file", "", "LLaVA-format JSON array or JSON Lines file"),
          string("image_folder", "", "folder the samples' image paths are relative to"),
          string("prompt_style", "image_first", "where the image goes in the prompt",
                 {"image_first", "image_last", "sandwich"}),
          integer("ctx_len", 1024, "sequence length after assembly (truncation rule of SPEC section 5)", 1),
          boolean("drop_empty_replies", false, "drop rounds whose gpt reply is empty or missing"),
          number("max_skip_fraction", 0.01, "stop the job when a larger fraction of samples is bad", 0, 1),
          string("val_file", "", "validation samples (LLaVA format, images from image_folder): their mean loss "
                 "is logged (train.val_every_steps)"),
          number("val_fraction", 0.0, "instead of val_file: hold this fraction of data.file out of training for "
                 "validation, chosen by the seed", 0, 0.5),
          integer("num_workers", 2, "loader worker threads", 1),
          integer("prefetch_batches", 4, "batches the loader may hold ready", 1),
          object("image", "pixel preprocessing", {
              integer("size", 336, "side of the square the image is resized and cropped to", 1),
              number_list("mean", nlohmann::json::array({0.48145466, 0.4578275, 0.40821073}), 3, "per-channel mean"),
              number_list("std", nlohmann::json::array({0.26862954, 0.26130258, 0.27577711}), 3, "per-channel std"),
              string("aspect", "crop", "crop: resize the short side then center crop; pad: first pad to a square "
                     "with the mean colour (LLaVA-1.5)", {"crop", "pad"}),
              boolean("synthetic", false, "read no image files: each image is a fixed pseudo-random picture "
                      "drawn from its path (benchmarks, GPU checks and builds without an image decoder)"),
          }),
      }),
      object("init", "where the weights come from (later sources override earlier ones; absent: random init)", {
          string("rwkv", "", "an RWKV-6 checkpoint (.pth / .safetensors, plain or rwkv.-prefixed names)"),
          string("vision", "", "a Hugging Face CLIP file (model.safetensors, pytorch_model.bin) or its folder"),
          string("checkpoint", "", "a VisualRWKV checkpoint or export (e.g. the stage-1 result) loaded last"),
      }),
      object("train", "what is trained and how", {
          integer("stage", 1, "1: projector only; 2: RWKV blocks, ln_out, head and projector (emb frozen)", 1, 2),
          integer("freeze_rwkv_layers", -1, "freeze the first N RWKV blocks; N = n_layer also freezes emb, "
                  "ln_out and head; -1: the stage's default (stage 1: all, stage 2: none)", -1),
          boolean("freeze_emb", true, "keep the token embedding frozen"),
          boolean("freeze_proj", false, "keep the projector frozen (the paper's 7B stage 2)"),
          boolean("train_vision", false, "train the CLIP tower too"),
          integer("micro_batch_size", 8, "samples per rank per forward", 1),
          integer("grad_accumulation", 1, "micro batches per optimizer step", 1),
          integer("steps", 1000, "optimizer steps of the whole run", 1),
          string("precision", "fp32", "bf16: bf16 weights and compute, fp32 master weights and optimizer state",
                 {"fp32", "bf16"}),
          boolean("grad_checkpointing", false, "recompute each block in backward instead of storing it"),
          string("device", "auto", "auto: the local GPU when there is one, else the CPU", {"auto", "cpu", "cuda"}),
          integer("zero_stage", 0, "1: shard the optimizer state over ranks (ZeRO-1)", 0, 1),
          integer("bucket_mb", 25, "gradient all-reduce bucket size in MB", 1),
          number("dist_timeout_s", 600, "a collective that takes longer fails the job instead of hanging", 1),
          integer("max_bad_steps", 3, "stop the run after this many steps in a row whose loss or gradient norm "
                  "is not finite (each is skipped: no update)", 1),
          integer("val_every_steps", 0, "with a validation set (data.val_file or data.val_fraction): its mean "
                  "loss every N steps and after the last (0: after the last only)", 0),
      }),
      object("optim", "AdamW and the learning-rate schedule", {
          number("lr_init", 1e-3, "learning rate after warm-up", 0),
          number("lr_final", 1e-5, "learning rate at the last step (cosine from lr_init)", 0),
          integer("warmup_steps", 0, "steps of warm-up (lr x (0.1 + 0.9 step / warmup_steps))", 0),
          number("beta1", 0.9, "AdamW beta1", 0, 1),
          number("beta2", 0.99, "AdamW beta2", 0, 1),
          number("eps", 1e-8, "AdamW epsilon", 0),
          number("weight_decay", 0.0, "decoupled weight decay, only on tensors of 2+ non-unit dims", 0),
          number("grad_clip", 1.0, "clip the global gradient norm to this (0: off)", 0),
          number("vision_lr_scale", 1.0, "the CLIP tower's learning rate is the schedule's times this (with "
                 "train.train_vision)", 0),
      }),
      object("checkpoint", "saving and keeping checkpoints", {
          string("output_dir", "", "run folder: checkpoints, train.log, metrics.jsonl"),
          integer("every_steps", 500, "save every N steps (and at the end, and on SIGINT / SIGTERM)", 1),
          integer("keep_last", 3, "complete checkpoints to keep", 1),
          string("frozen", "reference", "frozen weights a file supplied unchanged (init.*): reference: "
                 "checkpoints record the file, name, size and hash (resume checks them); copy: every "
                 "checkpoint holds every weight", {"reference", "copy"}),
      }),
      object("log", "progress output", {
          integer("every_steps", 10, "progress line and metrics.jsonl record every N steps", 1),
      }),
      integer("seed", 0, "seeds weights, data order and everything random", 0),
  });
  return schema;
}

RunConfig run_config_from_json(const nlohmann::json& raw, const std::string& source) {
  RunConfig c;
  c.source = source;
  c.resolved = validate(run_config_schema(), raw, source);
  const auto& j = c.resolved;
  c.model = model_config_from_json(j.at("model"), source + ": model");
  c.scan_mode = scan_mode_from_string(j.at("model").at("scan_mode"));
  c.tokenizer = {j.at("tokenizer").at("kind"), j.at("tokenizer").at("path")};
  const auto& d = j.at("data");
  c.data.file = d.at("file");
  c.data.image_folder = d.at("image_folder");
  c.data.prompt_style = text::prompt_style_from_string(d.at("prompt_style"));
  c.data.ctx_len = d.at("ctx_len");
  c.data.drop_empty_replies = d.at("drop_empty_replies");
  c.data.max_skip_fraction = d.at("max_skip_fraction");
  c.data.val_file = d.at("val_file");
  c.data.val_fraction = d.at("val_fraction");
  if (!c.data.val_file.empty() && c.data.val_fraction > 0)
    throw Error(cat(source, ": data.val_file and data.val_fraction both choose the validation set; set one"));
  c.data.num_workers = d.at("num_workers");
  c.data.prefetch_batches = d.at("prefetch_batches");
  const auto& img = d.at("image");
  c.data.image.size = img.at("size");
  for (int i = 0; i < 3; ++i) {
    c.data.image.mean[i] = img.at("mean")[i].get<float>();
    c.data.image.std[i] = img.at("std")[i].get<float>();
  }
  c.data.image.aspect = img.at("aspect");
  c.data.image.synthetic = img.at("synthetic");
  c.seed = j.at("seed");
  const auto& in = j.at("init");
  c.init = {in.at("rwkv"), in.at("vision"), in.at("checkpoint")};
  const auto& t = j.at("train");
  c.train.stage = t.at("stage");
  c.train.freeze_rwkv_layers = t.at("freeze_rwkv_layers");
  if (c.train.freeze_rwkv_layers < 0) c.train.freeze_rwkv_layers = c.train.stage == 1 ? c.model.n_layer : 0;
  if (c.train.freeze_rwkv_layers > c.model.n_layer)
    throw Error(cat(source, ": train.freeze_rwkv_layers (", c.train.freeze_rwkv_layers, ") exceeds model.n_layer (",
                    c.model.n_layer, ")"));
  c.train.freeze_emb = t.at("freeze_emb");
  c.train.freeze_proj = t.at("freeze_proj");
  c.train.train_vision = t.at("train_vision");
  c.train.micro_batch_size = t.at("micro_batch_size");
  c.train.grad_accumulation = t.at("grad_accumulation");
  c.train.steps = t.at("steps");
  c.train.precision = t.at("precision");
  c.train.grad_checkpointing = t.at("grad_checkpointing");
  c.train.device = t.at("device");
  c.train.zero_stage = t.at("zero_stage");
  c.train.bucket_mb = t.at("bucket_mb");
  c.train.dist_timeout_s = t.at("dist_timeout_s");
  c.train.max_bad_steps = t.at("max_bad_steps");
  c.train.val_every_steps = t.at("val_every_steps");
  const auto& o = j.at("optim");
  c.optim = {o.at("lr_init"), o.at("lr_final"), o.at("warmup_steps"), o.at("beta1"), o.at("beta2"),
             o.at("eps"),     o.at("weight_decay"), o.at("grad_clip"), o.at("vision_lr_scale")};
  const auto& ck = j.at("checkpoint");
  c.checkpoint = {ck.at("output_dir"), ck.at("every_steps"), ck.at("keep_last"), ck.at("frozen")};
  c.log_every_steps = j.at("log").at("every_steps");
  if (c.data.image.size != c.model.vision.image_size)
    throw Error(cat(source, ": data.image.size (", c.data.image.size, ") must equal model.vision.image_size (",
                    c.model.vision.image_size, ")"));
  return c;
}

RunConfig load_run_config(const std::string& path, const std::vector<std::string>& overrides) {
  std::ifstream in(path);
  VRWKV_CHECK(in.good(), path, ": cannot open the config file");
  nlohmann::json raw;
  try {
    raw = nlohmann::json::parse(in);
  } catch (const nlohmann::json::parse_error& e) {
    throw Error(cat(path, ": not valid JSON: ", e.what()));
  }
  // Paths written in a config file are relative to that file; paths given with --set are relative
  // to the current directory, as on any command line.
  const auto base = std::filesystem::absolute(path).parent_path();
  for (const auto& [section, key] : {std::pair{"tokenizer", "path"}, {"data", "file"}, {"data", "image_folder"},
                                     {"data", "val_file"},
                                     {"init", "rwkv"}, {"init", "vision"}, {"init", "checkpoint"},
                                     {"checkpoint", "output_dir"}}) {
    if (!raw.is_object() || !raw.contains(section) || !raw[section].is_object() || !raw[section].contains(key)) continue;
    auto& value = raw[section][key];
    if (value.is_string() && !value.get<std::string>().empty() && std::filesystem::path(value.get<std::string>()).is_relative())
      value = (base / value.get<std::string>()).lexically_normal().string();
  }
  for (const auto& o : overrides) apply_override(raw, o);
  return run_config_from_json(raw, path);
}

}  // namespace vrwkv
