// Subcommands of the visualrwkv tool; each takes the arguments after its name and returns the exit code.
#pragma once
#include <string>
#include <vector>

// visualrwkv inspect FILE: list the tensors of a checkpoint and count parameters per component.
int cmd_inspect(const std::vector<std::string>& args);
