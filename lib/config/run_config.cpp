#include "config/run_config.h"

#include <filesystem>
#include <fstream>

#include "base/error.h"

namespace vrwkv {

using namespace config;

const EnumNames<Precision>& precision_names() {
  static const EnumNames<Precision> names = {{"fp32", Precision::kFp32}, {"bf16", Precision::kBf16}};
  return names;
}

const EnumNames<DeviceSetting>& device_setting_names() {
  static const EnumNames<DeviceSetting> names = {
      {"auto", DeviceSetting::kAuto}, {"cpu", DeviceSetting::kCpu}, {"cuda", DeviceSetting::kCuda}};
  return names;
}

const EnumNames<ModelFamily>& model_family_names() {
  static const EnumNames<ModelFamily> names = {{"v6", ModelFamily::kV6}, {"v7", ModelFamily::kV7}};
  return names;
}

const EnumNames<FrozenWeights>& frozen_weights_names() {
  static const EnumNames<FrozenWeights> names = {{"reference", FrozenWeights::kReference},
                                                 {"copy", FrozenWeights::kCopy}};
  return names;
}

namespace {

// The member of RunConfig a key fills, e.g. MEMBER(train.steps).
#define MEMBER(path) [](RunConfig& c) -> auto& { return c.path; }

template <class Member>
Field into(Field field, Member member) {
  return bind<RunConfig>(std::move(field), member);
}
template <class Member, class Convert>
Field into(Field field, Member member, Convert convert) {
  return bind<RunConfig>(std::move(field), member, convert);
}
template <class Enum, class Member>
Field pick(std::string name, Enum def, std::string doc, const EnumNames<Enum>& names, Member member) {
  return choice<RunConfig>(std::move(name), def, std::move(doc), names, member);
}

// The keys both kinds of tower have, defaults from a full-size preset (one source of the sizes),
// then the kind's own.
template <class Tower>
Field tower_fields(const std::string& name, const std::string& doc, const Tower& d, std::vector<Field> own) {
  std::vector<Field> fields = {
      integer("width", d.width, "tower width", 1),
      integer("depth", d.depth, "blocks in its checkpoint (a timm tower's output is block depth - 2)", 1),
      integer("heads", d.heads, "attention heads", 1),
      integer("mlp_width", d.mlp_width, "MLP width", 1),
      integer("patch", d.patch, "patch side in pixels", 1),
      integer("image_size", d.image_size, "input side in pixels (its pixels are resized to it)", 1),
  };
  for (auto& f : own) fields.push_back(std::move(f));
  return object(name, doc, std::move(fields));
}

Field vit_tower_fields(const std::string& name, const std::string& doc, const VitTowerConfig& d) {
  return tower_fields(name, doc, d,
                      {integer("register_tokens", d.register_tokens, "register tokens after the class token", 0)});
}

Field sam_tower_fields(const SamEncoderConfig& d) {
  return tower_fields("sam", "SAM's image encoder (Meta's ViT-B)", d,
                      {integer("window", d.window, "window side of the windowed blocks", 1),
                       integer("global_attn_every", 3,
                               "every N-th block attends globally (ViT-B: 3, blocks 2, 5, 8, 11)", 1),
                       integer("neck_channels", d.neck_channels, "neck width (4x after space-to-depth)", 1)});
}

// The keys only one family reads: a config of the other family that sets one is an error.
const std::vector<std::string>& v6_only_model_keys() {
  static const std::vector<std::string> keys = {"dim_att", "dim_ffn", "d_mix", "grid_size", "scan_mode", "vision"};
  return keys;
}
const std::vector<std::string>& v7_only_model_keys() {
  static const std::vector<std::string> keys = {"d_aaa",           "d_mv",   "d_gate",    "projector",
                                                "tokens_per_image", "towers", "wkv_kernel"};
  return keys;
}

// The default value of a field (objects: their children's).
nlohmann::json default_of(const Field& field) {
  if (field.type != Type::kObject) return field.default_value;
  nlohmann::json out = nlohmann::json::object();
  for (const auto& c : field.children) out[c.name] = default_of(c);
  return out;
}

const Field& child_of(const Field& object, const std::string& name) {
  for (const auto& c : object.children)
    if (c.name == name) return c;
  throw Error(cat("config schema: no key ", object.name, ".", name));
}

}  // namespace

const Field& run_config_schema() {
  const VisionTowers7Config full_towers;
  // The model section is read by the model's own reader (model_config_from_json, which also reads
  // model.json files), so its sizes are not bound here.
  static const Field schema = object("", "", {
      object("model", "model sizes (SPEC section 1, SPEC-v7 sections 1, 5, 6) and how the image span is read", {
          pick("family", ModelFamily::kV6, "v6: CLIP + RWKV-6 (the paper); v7: DINOv2 + SigLIP + SAM + RWKV-7 "
               "(VisualRWKV v7.00)", model_family_names(), MEMBER(family)),
          integer("n_layer", 24, "RWKV blocks", 1),
          integer("n_embd", 2048, "model width C", 1),
          integer("dim_att", 0, "attention width (0: n_embd)", 0),
          integer("dim_ffn", 0, "channel-mix width (0: floor(n_embd * 3.5 / 32) * 32)", 0),
          integer("head_size", 64, "channels per WKV head", 1),
          integer("vocab_size", 65536, "vocabulary size", 1),
          integer("d_mix", 0, "ddlerp LoRA width (0: 32, or 64 when n_embd >= 4096)", 0),
          integer("d_decay", 0, "decay LoRA width (0: v6 64, or 128 when n_embd >= 4096; v7 the spec's formula)", 0),
          integer("d_aaa", 0, "v7: in-context learning rate LoRA width (0: the spec's formula)", 0),
          integer("d_mv", 0, "v7: value residual LoRA width (0: the spec's formula)", 0),
          integer("d_gate", 0, "v7: output gate LoRA width (0: the spec's formula)", 0),
          string("projector", "mlp", "v7: the projector (proj_type): mlp (gated, the scripts') or linear",
                 {"mlp", "linear"}),
          string("wkv_kernel", "recurrent", "v7: how WKV7 runs: recurrent (step by step, the original's kernel) or "
                 "chunked (16-step chunks of matrix products; the same numbers to rounding)", {"recurrent", "chunked"}),
          integer("tokens_per_image", 1024, "v7: image tokens K per image (a square; the grid is pooled to it)", 1),
          object("towers", "v7: the three frozen vision towers (defaults: the original's)", {
              vit_tower_fields("dino", "DINOv2-L/14 with registers (timm)", full_towers.dino),
              vit_tower_fields("siglip", "SigLIP So400m/14 (timm, open_clip's file)", full_towers.siglip),
              sam_tower_fields(full_towers.sam),
          }),
          integer("grid_size", -1, "image token pooling: -1 all patches + cls, 0 cls, 1 mean + cls, g > 1 g x g grid", -1),
          into(string("scan_mode", "bi", "order the image span is read in per block", {"uni", "bi", "multi"}),
               MEMBER(scan_mode), [](const nlohmann::json& v) { return scan_mode_from_string(v.get<std::string>()); }),
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
          into(string("kind", "world", "tokenizer family", {"world", "sentencepiece"}), MEMBER(tokenizer.kind)),
          into(string("path", nullptr, "the vocabulary file (World) or model file (sentencepiece)"),
               MEMBER(tokenizer.path)),
      }),
      object("data", "the training data", {
          into(string("file", "", "LLaVA-format JSON array or JSON Lines file"), MEMBER(data.file)),
          into(string("image_folder", "", "folder the samples' image paths are relative to"), MEMBER(data.image_folder)),
          into(string("prompt_style", "image_first", "where the image goes in the prompt",
                      {"image_first", "image_last", "sandwich"}),
               MEMBER(data.prompt_style),
               [](const nlohmann::json& v) { return text::prompt_style_from_string(v.get<std::string>()); }),
          into(integer("ctx_len", 1024, "sequence length after assembly (truncation rule of SPEC section 5)", 1),
               MEMBER(data.ctx_len)),
          into(boolean("drop_empty_replies", false, "drop rounds whose gpt reply is empty or missing"),
               MEMBER(data.drop_empty_replies)),
          into(number("max_skip_fraction", 0.01, "stop the job when a larger fraction of samples is bad", 0, 1),
               MEMBER(data.max_skip_fraction)),
          into(resumable(string("val_file", "", "validation samples (LLaVA format, images from image_folder): their "
                                "mean loss is logged (train.val_every_steps)")),
               MEMBER(data.val_file)),
          into(number("val_fraction", 0.0, "instead of val_file: hold this fraction of data.file out of training for "
                      "validation, chosen by the seed", 0, 0.5),
               MEMBER(data.val_fraction)),
          into(resumable(integer("num_workers", 2, "loader worker threads", 1)), MEMBER(data.num_workers)),
          into(resumable(integer("prefetch_batches", 4, "batches the loader may hold ready", 1)),
               MEMBER(data.prefetch_batches)),
          object("image", "pixel preprocessing", {
              into(integer("size", 336, "side of the square the image is resized and cropped to", 1),
                   MEMBER(data.image.size)),
              into(number_list("mean", nlohmann::json::array({0.48145466, 0.4578275, 0.40821073}), 3,
                               "per-channel mean"),
                   MEMBER(data.image.mean)),
              into(number_list("std", nlohmann::json::array({0.26862954, 0.26130258, 0.27577711}), 3,
                               "per-channel std"),
                   MEMBER(data.image.std)),
              into(string("aspect", "crop", "crop: resize the short side then center crop; pad: first pad to a "
                          "square with the mean colour (LLaVA-1.5)", {"crop", "pad"}),
                   MEMBER(data.image.aspect)),
              into(boolean("synthetic", false, "read no image files: each image is a fixed pseudo-random picture "
                           "drawn from its path (benchmarks, GPU checks and builds without an image decoder)"),
                   MEMBER(data.image.synthetic)),
          }),
      }),
      resumable(object("init", "where the weights come from (later sources override earlier ones; absent: random "
                       "init)", {
          into(string("rwkv", "", "an RWKV-6 checkpoint (.pth / .safetensors, plain or rwkv.-prefixed names)"),
               MEMBER(init.rwkv)),
          into(string("vision", "", "a Hugging Face CLIP file (model.safetensors, pytorch_model.bin) or its folder"),
               MEMBER(init.vision)),
          into(string("checkpoint", "", "a VisualRWKV checkpoint or export (e.g. the stage-1 result) loaded last"),
               MEMBER(init.checkpoint)),
      })),
      object("train", "what is trained and how", {
          into(integer("stage", 1, "1: projector only; 2: RWKV blocks, ln_out, head and projector (emb frozen)", 1, 2),
               MEMBER(train.stage)),
          into(integer("freeze_rwkv_layers", -1, "freeze the first N RWKV blocks; N = n_layer also freezes emb, "
                       "ln_out and head; -1: the stage's default (stage 1: all, stage 2: none)", -1),
               MEMBER(train.freeze_rwkv_layers)),
          into(boolean("freeze_emb", true, "keep the token embedding frozen"), MEMBER(train.freeze_emb)),
          into(boolean("freeze_proj", false, "keep the projector frozen (the paper's 7B stage 2)"),
               MEMBER(train.freeze_proj)),
          into(boolean("train_vision", false, "train the CLIP tower too"), MEMBER(train.train_vision)),
          into(integer("micro_batch_size", 8, "samples per rank per forward", 1), MEMBER(train.micro_batch_size)),
          into(resumable(integer("grad_accumulation", 1, "micro batches per optimizer step", 1)),
               MEMBER(train.grad_accumulation)),
          into(resumable(integer("steps", 1000, "optimizer steps of the whole run", 1)), MEMBER(train.steps)),
          pick("precision", Precision::kFp32, "bf16: bf16 weights and compute, fp32 master weights and optimizer state",
               precision_names(), MEMBER(train.precision)),
          into(boolean("grad_checkpointing", false, "recompute each block in backward instead of storing it"),
               MEMBER(train.grad_checkpointing)),
          pick("device", DeviceSetting::kAuto, "auto: the local GPU when there is one, else the CPU",
               device_setting_names(), MEMBER(train.device)),
          into(integer("zero_stage", 0, "1: shard the optimizer state over ranks (ZeRO-1)", 0, 1),
               MEMBER(train.zero_stage)),
          into(integer("bucket_mb", 25, "gradient all-reduce bucket size in MB", 1), MEMBER(train.bucket_mb)),
          into(resumable(number("dist_timeout_s", 600, "a collective that takes longer fails the job instead of "
                                "hanging", 1)),
               MEMBER(train.dist_timeout_s)),
          into(resumable(integer("max_bad_steps", 3, "stop the run after this many steps in a row whose loss or "
                                 "gradient norm is not finite (each is skipped: no update)", 1)),
               MEMBER(train.max_bad_steps)),
          into(resumable(integer("val_every_steps", 0, "with a validation set (data.val_file or data.val_fraction): "
                                 "its mean loss every N steps and after the last (0: after the last only)", 0)),
               MEMBER(train.val_every_steps)),
      }),
      object("optim", "AdamW and the learning-rate schedule", {
          into(number("lr_init", 1e-3, "learning rate after warm-up", 0), MEMBER(optim.lr_init)),
          into(number("lr_final", 1e-5, "learning rate at the last step (cosine from lr_init)", 0),
               MEMBER(optim.lr_final)),
          into(integer("warmup_steps", 0, "steps of warm-up (lr x (0.1 + 0.9 step / warmup_steps))", 0),
               MEMBER(optim.warmup_steps)),
          into(number("beta1", 0.9, "AdamW beta1", 0, 1), MEMBER(optim.beta1)),
          into(number("beta2", 0.99, "AdamW beta2", 0, 1), MEMBER(optim.beta2)),
          into(number("eps", 1e-8, "AdamW epsilon", 0), MEMBER(optim.eps)),
          into(number("weight_decay", 0.0, "decoupled weight decay, only on tensors of 2+ non-unit dims", 0),
               MEMBER(optim.weight_decay)),
          into(number("grad_clip", 1.0, "clip the global gradient norm to this (0: off)", 0), MEMBER(optim.grad_clip)),
          into(number("vision_lr_scale", 1.0, "the CLIP tower's learning rate is the schedule's times this (with "
                      "train.train_vision)", 0),
               MEMBER(optim.vision_lr_scale)),
      }),
      resumable(object("checkpoint", "saving and keeping checkpoints", {
          into(string("output_dir", "", "run folder: checkpoints, train.log, metrics.jsonl"),
               MEMBER(checkpoint.output_dir)),
          into(integer("every_steps", 500, "save every N steps (and at the end, and on SIGINT / SIGTERM)", 1),
               MEMBER(checkpoint.every_steps)),
          into(integer("keep_last", 3, "complete checkpoints to keep", 1), MEMBER(checkpoint.keep_last)),
          pick("frozen", FrozenWeights::kReference, "frozen weights a file supplied unchanged (init.*): reference: "
               "checkpoints record the file, name, size and hash (resume checks them); copy: every checkpoint "
               "holds every weight", frozen_weights_names(), MEMBER(checkpoint.frozen)),
      })),
      resumable(object("log", "progress output", {
          into(integer("every_steps", 10, "progress line and metrics.jsonl record every N steps", 1),
               MEMBER(log_every_steps)),
      })),
      into(integer("seed", 0, "seeds weights, data order and everything random", 0), MEMBER(seed)),
  });
  return schema;
}

#undef MEMBER

RunConfig run_config_from_json(const nlohmann::json& raw, const std::string& source) {
  RunConfig c;
  c.source = source;
  c.resolved = validate(run_config_schema(), raw, source);
  store_into(run_config_schema(), c.resolved, c);
  // A key only the other family reads would be silently ignored: refuse any value but its default
  // (a saved config holds every key, defaults included, and must read back).
  const bool v7 = c.family == ModelFamily::kV7;
  const auto& model_schema = child_of(run_config_schema(), "model");
  for (const auto& key : v7 ? v6_only_model_keys() : v7_only_model_keys())
    if (c.resolved.at("model").at(key) != default_of(child_of(model_schema, key)))
      throw Error(cat(source, ": model.", key, " is a ", v7 ? "v6" : "v7", " key, but model.family is ",
                      to_string(c.family)));
  if (v7) {
    c.model7 = visual_rwkv7_config_from_json(c.resolved.at("model"), source + ": model");
    // v7 has one prompt style (images first in their human turn) and per-tower pixels.
    if (c.data.prompt_style != text::PromptStyle::kImageFirst)
      throw Error(cat(source, ": data.prompt_style must be image_first for model.family v7 (its only layout)"));
    const auto& image_schema = child_of(child_of(run_config_schema(), "data"), "image");
    for (const char* key : {"size", "mean", "std", "aspect"})
      if (c.resolved.at("data").at("image").at(key) != default_of(child_of(image_schema, key)))
        throw Error(cat(source, ": data.image.", key, " is a v6 key: v7's towers each resize and normalise ",
                        "their own pixels (model.towers.*.image_size)"));
  } else {
    c.model = model_config_from_json(c.resolved.at("model"), source + ": model");
  }
  const int64_t n_layer = v7 ? c.model7.rwkv.n_layer : c.model.n_layer;
  // What one key alone cannot say.
  if (!c.data.val_file.empty() && c.data.val_fraction > 0)
    throw Error(cat(source, ": data.val_file and data.val_fraction both choose the validation set; set one"));
  if (c.train.freeze_rwkv_layers < 0) c.train.freeze_rwkv_layers = c.train.stage == 1 ? n_layer : 0;
  if (c.train.freeze_rwkv_layers > n_layer)
    throw Error(cat(source, ": train.freeze_rwkv_layers (", c.train.freeze_rwkv_layers, ") exceeds model.n_layer (",
                    n_layer, ")"));
  if (!v7 && c.data.image.size != c.model.vision.image_size)
    throw Error(cat(source, ": data.image.size (", c.data.image.size, ") must equal model.vision.image_size (",
                    c.model.vision.image_size, ")"));
  return c;
}

void require_family(const RunConfig& config, ModelFamily family, const std::string& command) {
  if (config.family != family)
    throw Error(cat(config.source, ": model.family is ", to_string(config.family), ", but `", command, "` runs ",
                    to_string(family), " models only so far"));
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
