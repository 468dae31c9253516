// visualrwkv eval --checkpoint C --questions Q --answers OUT.jsonl [--image-folder DIR] [--format F]
//     [--batch-size B] [--max-tokens N] [--temperature T] [--top-p P] [--seed S] [--model-id NAME]
//     [--benchmark NAME [--annotations PATH] [--submission OUT]] [--report R.json] [--set key=value]...
// Answers a benchmark's questions with a trained checkpoint (batched recurrent decoding, sharded
// over the ranks of a torchrun launch, resumable), then scores the answers as the original does:
// the command line becomes an EvalRequest for run_eval (eval_pipeline.h).
#include "cli_args.h"
#include "commands.h"
#include "eval_pipeline.h"

namespace {

using namespace vrwkv;

const char* kUsage =
    "visualrwkv eval --checkpoint CHECKPOINT|OUTPUT_DIR --questions FILE --answers OUT.jsonl [--image-folder DIR]\n"
    "    [--format auto|jsonl|scienceqa|mmbench|mmbench_cn] [--batch-size 16] [--max-tokens 128]\n"
    "    [--temperature 0] [--top-p 1] [--seed 0] [--model-id NAME]\n"
    "    [--benchmark NAME [--annotations PATH] [--submission OUT]] [--report REPORT.json] [--set key=value]...\n"
    "  launch with torchrun (or any launcher's RANK / WORLD_SIZE) to shard the questions over ranks;\n"
    "  run the same command again to resume; `visualrwkv score --benchmark list` lists the benchmarks";

}  // namespace

int cmd_eval(const std::vector<std::string>& argv) {
  const auto a = cli::parse_args(argv,
                                 {"checkpoint", "questions", "answers", "image-folder", "format", "batch-size",
                                  "max-tokens", "temperature", "top-p", "seed", "model-id", "benchmark",
                                  "annotations", "submission", "report"},
                                 {}, kUsage);
  VRWKV_CHECK(a.positional.empty() && a.has("checkpoint") && a.has("questions") && a.has("answers"), "usage: ",
              kUsage);
  EvalRequest request;
  request.checkpoint = a.get("checkpoint");
  request.sets = a.sets;
  request.questions = a.get("questions");
  request.format = a.get("format", request.format);
  request.image_folder = a.get("image-folder", request.image_folder);
  request.answers = a.get("answers");
  request.batch_size = cli::number_option<int64_t>(a, "batch-size", request.batch_size);
  request.max_tokens = cli::number_option<int64_t>(a, "max-tokens", request.max_tokens);
  request.temperature = cli::number_option<double>(a, "temperature", request.temperature);
  request.top_p = cli::number_option<double>(a, "top-p", request.top_p);
  request.seed = cli::number_option<uint64_t>(a, "seed", request.seed);
  request.model_id = a.get("model-id");
  request.benchmark = a.get("benchmark");
  request.annotations = a.get("annotations");
  request.submission = a.get("submission");
  const auto report = run_eval(request);
  if (report.merged && a.has("report")) write_eval_report(a.get("report"), report);
  return 0;
}
