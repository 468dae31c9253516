// Subcommands of the visualrwkv tool; each takes the arguments after its name and returns the exit code.
#pragma once
#include <string>
#include <vector>

// visualrwkv inspect FILE: list the tensors of a checkpoint and count parameters per component.
int cmd_inspect(const std::vector<std::string>& args);
int cmd_tokenize(const std::vector<std::string>& args);  // visualrwkv tokenize --vocab FILE (--text T | --file F) [--kind K]: ids as JSON
int cmd_render(const std::vector<std::string>& args);         // visualrwkv render CONFIG --index N
int cmd_validate_data(const std::vector<std::string>& args);  // visualrwkv validate-data CONFIG
int cmd_clean_data(const std::vector<std::string>& args);     // visualrwkv clean-data IN OUT.jsonl
int cmd_check_config(const std::vector<std::string>& args);   // visualrwkv check-config CONFIG
int cmd_train(const std::vector<std::string>& args);          // visualrwkv train CONFIG [--resume] [--force]
int cmd_export(const std::vector<std::string>& args);         // visualrwkv export CHECKPOINT OUTDIR [--dtype]
int cmd_generate(const std::vector<std::string>& args);       // visualrwkv generate --checkpoint C (--prompt | --questions)
int cmd_eval(const std::vector<std::string>& args);           // visualrwkv eval --checkpoint C --questions Q --answers A
int cmd_score(const std::vector<std::string>& args);          // visualrwkv score --benchmark B --answers A
int cmd_demo(const std::vector<std::string>& args);           // visualrwkv demo [--out DIR] [--quick]
